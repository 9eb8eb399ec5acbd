// Package analyzer is vmtriage's model of the kernel in a dump: tasks and
// their stacks, run queues, wait queues, journals, direct-I/O requests,
// open files and paths, read through the dump's own type information.
// Nothing here knows a field offset: every layout comes from the vmlinux's
// DWARF, and where kernels renamed a member the accessors try each name.
package analyzer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/addrspace"
)

// Kernel is an opened dump with its vmlinux.
type Kernel struct {
	Dump  *vmcore.Dump
	Mem   *addrspace.Space
	Syms  *symbols.Image
	Types *TypeSet

	warnings []string
	modules  []Module

	physBase    uint64 // found with the KASLR slide when the dump has no VMCOREINFO
	hasPhysBase bool

	ignoreVMCOREINFO bool
}

// vmcoreinfo reads a VMCOREINFO key, unless told to ignore the note.
func (k *Kernel) vmcoreinfo(key string) (string, bool) {
	if k.ignoreVMCOREINFO {
		return "", false
	}
	return k.Dump.VMCoreInfoValue(key)
}

// Options tune how a dump is opened.
type Options struct {
	// DebugDirs are searched for the loaded modules' debug info
	// (NAME.ko or NAME.ko.debug, at any depth), whose types the vmlinux
	// lacks on distribution kernels (ext4, jbd2, ...).
	// /usr/lib/debug/lib/modules/RELEASE is always searched.
	DebugDirs []string
	// IgnoreVMCOREINFO makes the dump's VMCOREINFO note unseen: KASLR is
	// then found from CR3 and linux_banner, as for a dump without one
	// (for a note that lies, and to test that path on any dump).
	IgnoreVMCOREINFO bool
}

// Open opens a dump and the vmlinux it was taken from.
func Open(dumpPath, vmlinuxPath string) (*Kernel, error) {
	return OpenWith(dumpPath, vmlinuxPath, Options{})
}

// OpenWith opens a dump and its vmlinux with options.
func OpenWith(dumpPath, vmlinuxPath string, opt Options) (*Kernel, error) {
	d, err := vmcore.Open(dumpPath)
	if err != nil {
		return nil, err
	}
	im, err := symbols.Open(vmlinuxPath)
	if err != nil {
		d.Close()
		return nil, err
	}
	k, err := NewWith(d, im, opt)
	if err != nil {
		d.Close()
		return nil, err
	}
	return k, nil
}

// New builds the kernel model over an opened dump and symbol image.
func New(d *vmcore.Dump, im *symbols.Image) (*Kernel, error) {
	return NewWith(d, im, Options{})
}

// NewWith builds the kernel model with options.
func NewWith(d *vmcore.Dump, im *symbols.Image, opt Options) (*Kernel, error) {
	types, err := im.Types()
	if err != nil {
		return nil, err
	}
	k := &Kernel{Dump: d, Syms: im, Types: newTypeSet(types), ignoreVMCOREINFO: opt.IgnoreVMCOREINFO}
	k.warnings = append(k.warnings, d.Warnings()...)
	layout, err := k.layout()
	if err != nil {
		return nil, err
	}
	k.Mem = addrspace.New(d, layout)
	if err := k.checkBuildID(); err != nil {
		return nil, err
	}
	if err := k.checkBanner(); err != nil {
		return nil, err
	}
	k.loadModules()
	dirs := append([]string(nil), opt.DebugDirs...)
	if rel, ok := k.vmcoreinfo("OSRELEASE"); ok {
		dirs = append(dirs, "/usr/lib/debug/lib/modules/"+rel)
	}
	var names []string
	for _, m := range k.modules {
		names = append(names, m.Name)
	}
	k.Types.AddModuleDebugDirs(dirs, names)
	return k, nil
}

// Close releases the dump.
func (k *Kernel) Close() error { return k.Dump.Close() }

// Warnings are problems met while reading that did not stop the analysis.
func (k *Kernel) Warnings() []string { return k.warnings }

func (k *Kernel) warnf(format string, args ...any) {
	k.warnings = append(k.warnings, fmt.Sprintf(format, args...))
}

// layout works out the x86_64 memory map: RHEL 4's fixed one when the
// kernel has init_level4_pgt, else the current one with KASLR (the slide
// from VMCOREINFO), phys_base, 4- or 5-level page tables and the direct
// map's base read from page_offset_base.
func (k *Kernel) layout() (addrspace.Layout, error) {
	l := addrspace.RHEL4()
	if pb, ok := k.Dump.PhysBase(); ok {
		l.PhysBase = pb
	}
	if s, ok := k.Syms.Symbol("init_level4_pgt"); ok {
		l.TopPGT = s.Addr - l.KernelMap + l.PhysBase
		return l, nil
	}
	if err := k.applySlide(); err != nil {
		return l, err
	}
	if k.hasPhysBase {
		l.PhysBase = k.physBase
	}
	if v, ok := k.vmcoreinfo("NUMBER(phys_base)"); ok {
		pb, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return l, fmt.Errorf("%s: VMCOREINFO NUMBER(phys_base)=%q: %w", k.Dump.Path(), v, err)
		}
		l.PhysBase = uint64(pb)
	}
	l.KernelMapSize = 1 << 30 // KERNEL_IMAGE_SIZE with KASLR
	l.DirectMapSize = 1 << 46
	if v, ok := k.vmcoreinfo("NUMBER(pgtable_l5_enabled)"); ok && v == "1" {
		l.Levels, l.DirectMapSize = 5, 1<<52
	}
	top, err := k.Addr("init_top_pgt")
	if err != nil {
		return l, fmt.Errorf("%s: no init_top_pgt: %w", k.Syms.Path(), err)
	}
	l.TopPGT = top - l.KernelMap + l.PhysBase
	// the direct map's base is a variable of the kernel image
	l.PageOffset = 0xffff888000000000
	if a, err := k.Addr("page_offset_base"); err == nil {
		tmp := addrspace.New(k.Dump, l)
		if v, err := tmp.U64(a); err == nil && v >= 0xff00000000000000 {
			l.PageOffset = v
		} else if err != nil {
			k.warnf("reading page_offset_base: %v (assuming 0x%x)", err, l.PageOffset)
		}
	}
	return l, nil
}

// applySlide sets the KASLR offset of the kernel image: VMCOREINFO's
// KERNELOFFSET, else the difference between a VMCOREINFO symbol and the
// vmlinux's.
func (k *Kernel) applySlide() error {
	if v, ok := k.vmcoreinfo("KERNELOFFSET"); ok {
		off, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		if err != nil {
			return fmt.Errorf("%s: VMCOREINFO KERNELOFFSET=%q: %w", k.Dump.Path(), v, err)
		}
		k.Syms.SetSlide(off)
		return nil
	}
	for _, name := range []string{"init_uts_ns", "swapper_pg_dir", "_stext"} {
		v, ok := k.vmcoreinfo("SYMBOL(" + name + ")")
		if !ok {
			continue
		}
		run, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			continue
		}
		if s, ok := k.Syms.Symbol(name); ok {
			k.Syms.SetSlide(run - (s.Addr - k.Syms.Slide()))
			return nil
		}
	}
	if k.ignoreVMCOREINFO || k.Dump.VMCoreInfo() == "" {
		return k.slideFromCR3()
	}
	return nil
}

// slideFromCR3 finds the KASLR offset of a dump without VMCOREINFO (as
// crash's --kaslr auto does): walk the page tables a CPU's CR3 (from QEMU's
// notes) points to and try every 2 MiB-aligned slide of the kernel image
// until linux_banner reads as the vmlinux's. It also sets the phys_base
// that layout then uses.
func (k *Kernel) slideFromCR3() error {
	want, err := k.Syms.ReadData("linux_banner")
	if err != nil {
		return fmt.Errorf("%s has no VMCOREINFO and the vmlinux's linux_banner cannot be read to find KASLR: %w", k.Dump.Path(), err)
	}
	want = cstr(want)
	banner, _ := k.Addr("linux_banner")
	var roots []uint64
	for _, c := range k.Dump.QEMUCPUs() {
		if cr3 := c.CR[3] &^ 0x1fff; cr3 != 0 { // PCID bits and the PTI user-half bit
			roots = append(roots, cr3)
		}
	}
	if len(roots) == 0 {
		return k.slideFromPhysScan(want)
	}
	const step, maxSlide = 2 << 20, 1 << 30
	got := make([]byte, len(want))
	for _, root := range roots[:1] {
		l := addrspace.RHEL4()
		l.PageOffset, l.DirectMapSize, l.KernelMapSize = 0, 0, 0 // page-table walk only
		l.TopPGT = root
		space := addrspace.New(k.Dump, l)
		for slide := uint64(0); slide < maxSlide; slide += step {
			if err := space.Read(banner+slide, got); err != nil {
				continue
			}
			if string(got) == string(want) {
				k.Syms.SetSlide(slide)
				pa, _ := space.Translate(banner + slide)
				k.physBase = pa - (banner + slide - 0xffffffff80000000)
				k.hasPhysBase = true
				return nil
			}
		}
	}
	return fmt.Errorf("%s has no VMCOREINFO, and linux_banner of %s was not found at any KASLR offset through CR3: the vmlinux does not match the dump", k.Dump.Path(), k.Syms.Path())
}

// slideFromPhysScan finds KASLR for a dump with neither VMCOREINFO nor CPU
// page table roots (QEMU's kdump-zlib of a guest without fw_cfg): the
// kernel image is physically contiguous and 2 MiB aligned, so linux_banner
// sits at base + (linux_banner - _text) for some base; there, the image's
// own init_top_pgt gives the page tables, and the virtual slide is the one
// that maps the banner's virtual address onto the banner found.
func (k *Kernel) slideFromPhysScan(want []byte) error {
	text, ok1 := k.Syms.Symbol("_text")
	banner, ok2 := k.Syms.Symbol("linux_banner")
	top, ok3 := k.Syms.Symbol("init_top_pgt")
	if !ok1 || !ok2 || !ok3 {
		k.warnf("%s has no VMCOREINFO and no CPU page table root: assuming the kernel is not relocated (KASLR off)", k.Dump.Path())
		return nil
	}
	var end uint64
	for _, s := range k.Dump.Segments() {
		if e := s.Paddr + s.MemSize; e > end && e < 1<<46 {
			end = e
		}
	}
	const align, maxSlide = 2 << 20, 1 << 30
	got := make([]byte, len(want))
	for base := uint64(0); base+banner.Addr-text.Addr < end; base += align {
		pa := base + banner.Addr - text.Addr
		if k.Dump.ReadPhys(pa, got) != nil || string(got) != string(want) {
			continue
		}
		l := addrspace.RHEL4()
		l.PageOffset, l.DirectMapSize, l.KernelMapSize = 0, 0, 0
		l.TopPGT = base + top.Addr - text.Addr
		space := addrspace.New(k.Dump, l)
		for slide := uint64(0); slide < maxSlide; slide += align {
			if p, err := space.Translate(banner.Addr + slide); err == nil && p == pa {
				k.Syms.SetSlide(slide)
				k.physBase = base - (text.Addr + slide - 0xffffffff80000000)
				k.hasPhysBase = true
				k.warnf("%s has no VMCOREINFO nor CPU registers: KASLR offset 0x%x found by scanning physical memory for linux_banner", k.Dump.Path(), slide)
				return nil
			}
		}
	}
	return fmt.Errorf("%s has no VMCOREINFO, and linux_banner of %s was found nowhere in physical memory: the vmlinux does not match the dump", k.Dump.Path(), k.Syms.Path())
}

// checkBuildID compares VMCOREINFO's BUILD-ID with the vmlinux's.
func (k *Kernel) checkBuildID() error {
	want, ok := k.vmcoreinfo("BUILD-ID")
	got := k.Syms.BuildID()
	if !ok || got == "" {
		return nil
	}
	if !strings.EqualFold(want, got) {
		return fmt.Errorf("%s does not match %s: build-id %s, the dump's kernel is %s", k.Syms.Path(), k.Dump.Path(), got, want)
	}
	return nil
}

// checkBanner compares linux_banner in the vmlinux and in the dump, so a
// vmlinux from another build is an error, not a wrong report.
func (k *Kernel) checkBanner() error {
	want, err := k.Syms.ReadData("linux_banner")
	if err != nil {
		k.warnf("cannot check that the vmlinux matches the dump: %v", err)
		return nil
	}
	addr, _ := k.Syms.Addr("linux_banner")
	got := make([]byte, len(want))
	if err := k.Mem.Read(addr, got); err != nil {
		return fmt.Errorf("%s does not seem to match %s: its linux_banner cannot be read from the dump (%v)", k.Syms.Path(), k.Dump.Path(), err)
	}
	want, got = cstr(want), cstr(got)
	if !bytes.Equal(want, got) {
		return fmt.Errorf("%s does not match %s: its linux_banner is %q, the dump's is %q",
			k.Syms.Path(), k.Dump.Path(), want, got)
	}
	return nil
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// Addr is a symbol's address.
func (k *Kernel) Addr(name string) (uint64, error) { return k.Syms.Addr(name) }

// U64 reads a 64-bit word of kernel memory.
func (k *Kernel) U64(va uint64) (uint64, error) { return k.Mem.U64(va) }

// CString reads a NUL-terminated string of at most max bytes.
func (k *Kernel) CString(va uint64, max int) (string, error) {
	var out []byte
	buf := make([]byte, 64)
	for len(out) < max {
		n := 64 - int(va%64)
		if err := k.Mem.Read(va, buf[:n]); err != nil {
			return string(out), err
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:n]...)
		va += uint64(n)
	}
	return string(out[:max]), nil
}

// Object is a typed kernel object read from the dump.
type Object struct {
	k    *Kernel
	Type *symbols.Type
	Addr uint64
	data []byte
}

// Object reads an object of the named type ("struct dio", "transaction_t").
func (k *Kernel) Object(typeName string, addr uint64) (Object, error) {
	t, err := k.Types.Lookup(typeName)
	if err != nil {
		return Object{}, err
	}
	if addr == 0 {
		return Object{}, fmt.Errorf("%s at NULL", typeName)
	}
	data := make([]byte, t.Size)
	if err := k.Mem.Read(addr, data); err != nil {
		return Object{}, fmt.Errorf("reading %s at 0x%x: %w", typeName, addr, err)
	}
	return Object{k: k, Type: t, Addr: addr, data: data}, nil
}

// Variable reads a global variable with the type its DWARF gives it.
func (k *Kernel) Variable(name string) (Object, error) {
	addr, err := k.Addr(name)
	if err != nil {
		return Object{}, err
	}
	t, err := k.Types.Variable(name)
	if err != nil {
		return Object{}, err
	}
	data := make([]byte, t.Size)
	if err := k.Mem.Read(addr, data); err != nil {
		return Object{}, fmt.Errorf("reading %s at 0x%x: %w", name, addr, err)
	}
	return Object{k: k, Type: t, Addr: addr, data: data}, nil
}

// Has reports whether the object's type has a member.
func (o Object) Has(path string) bool { return o.Type != nil && o.Type.HasField(path) }

// FieldAddr is the address of a member.
func (o Object) FieldAddr(path string) (uint64, error) {
	f, err := o.Type.Field(path)
	if err != nil {
		return 0, err
	}
	return o.Addr + f.Offset, nil
}

// Uint reads an integer, enum or pointer member (bitfields included).
func (o Object) Uint(path string) (uint64, error) {
	f, err := o.Type.Field(path)
	if err != nil {
		return 0, err
	}
	rt := f.Type.Resolve()
	size := rt.Size
	if size == 0 || size > 8 || f.Offset+size > uint64(len(o.data)) {
		return 0, fmt.Errorf("%s.%s at 0x%x: cannot read a %d-byte %s as an integer", o.Type, path, o.Addr+f.Offset, size, f.Type)
	}
	var buf [8]byte
	copy(buf[:], o.data[f.Offset:f.Offset+size])
	v := binary.LittleEndian.Uint64(buf[:])
	if f.BitSize > 0 {
		v = v >> f.BitOffset & (1<<f.BitSize - 1)
	}
	return v, nil
}

// Int reads a signed integer member, sign-extended.
func (o Object) Int(path string) (int64, error) {
	v, err := o.Uint(path)
	if err != nil {
		return 0, err
	}
	f, _ := o.Type.Field(path)
	bits := f.Type.Resolve().Size * 8
	if f.BitSize > 0 {
		bits = f.BitSize
	}
	if bits < 64 && v&(1<<(bits-1)) != 0 {
		v |= ^uint64(0) << bits
	}
	return int64(v), nil
}

// First reads the first of several member names that the type has (for
// members renamed between kernel versions, such as state and __state).
func (o Object) First(paths ...string) (uint64, error) {
	for _, p := range paths {
		if o.Has(p) {
			return o.Uint(p)
		}
	}
	return 0, fmt.Errorf("%s has none of the members %q", o.Type, paths)
}

// Chars reads a char array member as a string.
func (o Object) Chars(path string) (string, error) {
	f, err := o.Type.Field(path)
	if err != nil {
		return "", err
	}
	end := f.Offset + f.Type.Resolve().Size
	if end > uint64(len(o.data)) {
		return "", fmt.Errorf("%s.%s: beyond the object", o.Type, path)
	}
	return string(cstr(o.data[f.Offset:end])), nil
}

// Deref reads the object a pointer member points to.
func (o Object) Deref(path, typeName string) (Object, error) {
	p, err := o.Uint(path)
	if err != nil {
		return Object{}, err
	}
	if p == 0 {
		return Object{}, fmt.Errorf("%s.%s at 0x%x is NULL", o.Type, path, o.Addr)
	}
	return o.k.Object(typeName, p)
}

// errStop ends a list walk early without error.
var errStop = errors.New("stop")

// maxListLen bounds every list walk, so a corrupt list cannot hang us.
const maxListLen = 1 << 20

// ListEach calls fn for every node of the list_head at head (the node
// addresses are those of the list_head members). Walks stop at the head,
// on a NULL or unreadable pointer (an error) or on a cycle not through the
// head (an error).
func (k *Kernel) ListEach(head uint64, fn func(node uint64) error) error {
	lh, err := k.Types.Lookup("struct list_head")
	if err != nil {
		return err
	}
	nextOff, err := lh.Offset("next")
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	cur := head
	for n := 0; ; n++ {
		next, err := k.U64(cur + nextOff)
		if err != nil {
			return fmt.Errorf("list at 0x%x: reading next of 0x%x: %w", head, cur, err)
		}
		if next == head {
			return nil
		}
		if next == 0 {
			return fmt.Errorf("list at 0x%x: NULL next pointer in node 0x%x", head, cur)
		}
		if seen[next] || n >= maxListLen {
			return fmt.Errorf("list at 0x%x: cycle or runaway list at node 0x%x after %d nodes", head, next, n)
		}
		seen[next] = true
		if err := fn(next); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
		cur = next
	}
}

// containerOf turns the address of a member into the address of its
// containing object.
func (k *Kernel) containerOf(member uint64, typeName, path string) (uint64, error) {
	t, err := k.Types.Lookup(typeName)
	if err != nil {
		return 0, err
	}
	off, err := t.Offset(path)
	if err != nil {
		return 0, err
	}
	return member - off, nil
}
