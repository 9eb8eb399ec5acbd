package analyzer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/dwarffunc"
	"github.com/vmtriage/vmtriage/symbols/orc"
	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/addrspace"
)

// A dump without its vmlinux: the running kernel keeps what the analysis
// needs of the vmlinux in its own memory, so the dump carries it.
//
//   - Symbols: the kallsyms tables (kernel/kallsyms.c), whose addresses
//     VMCOREINFO gives on 6.0+ (SYMBOL(kallsyms_names), ...) and which
//     FindKallsyms looks for in the image of older kernels.
//   - Types: the kernel's BTF between __start_BTF and __stop_BTF
//     (CONFIG_DEBUG_INFO_BTF, 5.2+), and each module's split BTF, which
//     the kernel copies into the struct btf of its btf_modules list
//     (kernel/bpf/btf.c, CONFIG_DEBUG_INFO_BTF_MODULES, 5.11+); struct
//     module's btf_data points at the module's load image, freed once it
//     is initialised, and is only a fallback.
//   - Unwinding: the ORC tables between __start_orc_unwind_ip and
//     __stop_orc_unwind_ip, __start_orc_unwind and __stop_orc_unwind
//     (and the .orc_header of 6.3.10+). There is no DWARF: no CFI for the
//     callee-saved registers of outer frames, no inline frames, no frame
//     locals (the dio is then found by scanning the stack, FindDIO).

// TypesBTFFromDump is Kernel.TypesFrom for types read from the BTF in the
// dump's memory; SymbolsKallsyms is Kernel.SymbolsFrom for symbols from
// the dump's kallsyms.
const (
	TypesBTFFromDump = "btf-from-dump"
	SymbolsKallsyms  = "kallsyms"
)

// OpenWithoutVmlinux opens a dump and analyses it with the symbols and
// types the kernel keeps in its memory (see NewFromDump).
func OpenWithoutVmlinux(dumpPath string, opt Options) (*Kernel, error) {
	d, err := vmcore.Open(dumpPath)
	if err != nil {
		return nil, err
	}
	k, err := NewFromDump(d, opt)
	if err != nil {
		d.Close()
		return nil, err
	}
	return k, nil
}

// NewFromDump builds the kernel model of a dump without its vmlinux: the
// symbols are decoded from the kernel's kallsyms tables, the types are the
// kernel's and its modules' BTF, all read from the dump (see the
// package's notes above). It needs the dump's VMCOREINFO (KERNELOFFSET,
// phys_base, init_top_pgt) to read the kernel image before any symbol is
// known. opt.Types other than "" or "btf" is an error (there is no DWARF).
func NewFromDump(d *vmcore.Dump, opt Options) (*Kernel, error) {
	im, err := KallsymsImage(d, opt)
	if err != nil {
		return nil, err
	}
	return NewWith(d, im, opt)
}

// KallsymsImage reads the symbols and BTF of the dump's kernel into an
// image without a file (symbols.NewKallsymsImage).
func KallsymsImage(d *vmcore.Dump, opt Options) (*symbols.Image, error) {
	if opt.IgnoreVMCOREINFO {
		return nil, fmt.Errorf("%s: without a vmlinux the dump's VMCOREINFO is needed (it locates the kernel image and its kallsyms)", d.Path())
	}
	switch opt.Types {
	case "", TypesBTF:
	default:
		return nil, fmt.Errorf("%s: without a vmlinux the types can only come from the BTF in the dump (not %q)", d.Path(), opt.Types)
	}
	boot, slide, err := bootSpace(d)
	if err != nil {
		return nil, err
	}
	tabs, err := kallsymsTables(d, boot)
	if err != nil {
		return nil, err
	}
	ks, err := symbols.DecodeKallsyms(boot, tabs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Path(), err)
	}
	bt, err := dumpBTF(d, boot, ks)
	if err != nil {
		return nil, err
	}
	id, _ := d.VMCoreInfoValue("BUILD-ID")
	im := symbols.NewKallsymsImage(ks, slide, bt, id)
	for _, name := range pointerArrays {
		trimPointerArray(im, boot, slide, name)
	}
	return im, nil
}

// pointerArrays are arrays of pointers the analysis reads whole by their
// symbol's size, which kallsyms does not give (the distance to the next
// symbol includes the alignment padding after them).
var pointerArrays = []string{"task_state_array"}

// trimPointerArray sizes an array of pointers by its leading kernel
// pointers: the padding after it is zero.
func trimPointerArray(im *symbols.Image, mem *addrspace.Space, slide uint64, name string) {
	s, ok := im.Symbol(name)
	if !ok || s.Size == 0 || s.Size > 4096 {
		return
	}
	addr := s.Addr
	if addr >= 0xffffffff80000000 {
		addr += slide
	}
	buf := make([]byte, s.Size&^7)
	if mem.Read(addr, buf) != nil {
		return
	}
	n := uint64(0)
	for ; n < uint64(len(buf))/8; n++ {
		if binary.LittleEndian.Uint64(buf[n*8:]) < 0xffff800000000000 {
			break
		}
	}
	if n > 0 {
		im.SetKallsymsSize(name, n*8)
	}
}

// bootSpace is enough of the address space to read the kernel image
// (through its mapping at phys_base) and, through init_top_pgt, the
// rest; the full layout is detected once symbols are known.
func bootSpace(d *vmcore.Dump) (*addrspace.Space, uint64, error) {
	hex := func(key string) (uint64, error) {
		v, ok := d.VMCoreInfoValue(key)
		if !ok {
			return 0, fmt.Errorf("%s: VMCOREINFO has no %s, needed to analyse the dump without its vmlinux", d.Path(), key)
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: VMCOREINFO %s=%q: %w", d.Path(), key, v, err)
		}
		return n, nil
	}
	slide, err := hex("KERNELOFFSET")
	if err != nil {
		return nil, 0, err
	}
	l := addrspace.Layout{KernelMap: 0xffffffff80000000, KernelMapSize: 1 << 30, Levels: 4, PageSize: d.PageSize()}
	if v, ok := d.VMCoreInfoValue("NUMBER(phys_base)"); ok {
		pb, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: VMCOREINFO NUMBER(phys_base)=%q: %w", d.Path(), v, err)
		}
		l.PhysBase = uint64(pb)
	} else if pb, ok := d.PhysBase(); ok {
		l.PhysBase = pb
	} else {
		return nil, 0, fmt.Errorf("%s: neither VMCOREINFO nor the dump gives phys_base, needed to analyse the dump without its vmlinux", d.Path())
	}
	if v, ok := d.VMCoreInfoValue("NUMBER(pgtable_l5_enabled)"); ok && v == "1" {
		l.Levels = 5
	}
	if top, err := hex("SYMBOL(init_top_pgt)"); err == nil {
		l.TopPGT = top - l.KernelMap + l.PhysBase
	}
	return addrspace.New(d, l), slide, nil
}

// kallsymsTables locates the kallsyms tables: VMCOREINFO names them on
// 6.0+; older kernels' are looked for in the image (FindKallsyms).
func kallsymsTables(d *vmcore.Dump, mem *addrspace.Space) (symbols.KallsymsTables, error) {
	var t symbols.KallsymsTables
	sym := func(name string) uint64 {
		v, ok := d.VMCoreInfoValue("SYMBOL(" + name + ")")
		if !ok {
			return 0
		}
		n, _ := strconv.ParseUint(v, 16, 64)
		return n
	}
	t.NumSyms, t.Names = sym("kallsyms_num_syms"), sym("kallsyms_names")
	t.TokenTable, t.TokenIndex = sym("kallsyms_token_table"), sym("kallsyms_token_index")
	t.Offsets, t.RelativeBase = sym("kallsyms_offsets"), sym("kallsyms_relative_base")
	t.Anchor, t.AnchorAddr = "_stext", sym("_stext")
	if t.NumSyms != 0 && t.Names != 0 && t.TokenTable != 0 && t.TokenIndex != 0 && t.Offsets != 0 {
		return t, nil
	}
	found, err := FindKallsyms(d, mem)
	if err != nil {
		return t, fmt.Errorf("%s: VMCOREINFO does not locate the kallsyms tables (a kernel before 6.0) and they were not found in the kernel image: %w", d.Path(), err)
	}
	found.Anchor, found.AnchorAddr = t.Anchor, t.AnchorAddr
	return found, nil
}

// maxBTF bounds the kernel's BTF read from the dump.
const maxBTF = 64 << 20

// dumpBTF reads the kernel's BTF from __start_BTF to __stop_BTF.
func dumpBTF(d *vmcore.Dump, mem *addrspace.Space, ks *symbols.Kallsyms) (*symbols.BTFTypes, error) {
	var start, stop uint64
	for _, s := range ks.Symbols {
		switch s.Name {
		case "__start_BTF":
			start = s.Addr
		case "__stop_BTF":
			stop = s.Addr
		}
	}
	if start == 0 || stop <= start {
		return nil, fmt.Errorf("%s: the kernel has no BTF (no __start_BTF in its kallsyms: built without CONFIG_DEBUG_INFO_BTF): it cannot be analysed without its vmlinux", d.Path())
	}
	if stop-start > maxBTF {
		return nil, fmt.Errorf("%s: the kernel's BTF (%#x-%#x) is implausibly large", d.Path(), start, stop)
	}
	blob := make([]byte, stop-start)
	if err := mem.Read(start, blob); err != nil {
		return nil, fmt.Errorf("%s: reading the kernel's BTF: %w", d.Path(), err)
	}
	return symbols.ParseBTF(blob, "the BTF in "+d.Path())
}

// maxModuleBTF bounds a module's BTF read from the dump.
const maxModuleBTF = 16 << 20

// addModuleBTF makes the loaded modules' split BTF, read from the dump,
// type sources after the kernel's (ext4, jbd2, fat... are modules).
func (k *Kernel) addModuleBTF() {
	base := k.Types.btf
	if base == nil {
		return
	}
	blobs := map[string][]byte{}
	var order []string
	add := func(name string, data, size uint64) error {
		if _, dup := blobs[name]; dup || data == 0 || size == 0 {
			return nil
		}
		if size > maxModuleBTF {
			return fmt.Errorf("its BTF of %d bytes is implausible", size)
		}
		b := make([]byte, size)
		if err := k.Mem.Read(data, b); err != nil {
			return err
		}
		blobs[name] = b
		order = append(order, name)
		return nil
	}
	if _, err := k.Addr("btf_modules"); err != nil && !k.hasMember("struct module", "btf_data") {
		k.warnf("the kernel keeps no BTF of its modules (CONFIG_DEBUG_INFO_BTF_MODULES, 5.11+): without a vmlinux and the modules' debug files, the types of modules (ext4, jbd2, ...) are unknown")
	}
	// the copies bpf keeps (btf_module_notify, kernel/bpf/btf.c)
	if head, err := k.Addr("btf_modules"); err == nil {
		err := k.ListEach(head, func(node uint64) error {
			addr, err := k.containerOf(node, "struct btf_module", "list")
			if err != nil {
				return err
			}
			bm, err := k.Object("struct btf_module", addr)
			if err != nil {
				return err
			}
			b, err := bm.Deref("btf", "struct btf")
			if err != nil {
				return nil
			}
			name, _ := b.Chars("name")
			data, _ := b.Uint("data")
			size, _ := b.Uint("data_size")
			if name == "" {
				if m, err := bm.Deref("module", "struct module"); err == nil {
					name, _ = m.Chars("name")
				}
			}
			if err := add(name, data, size); err != nil {
				k.warnOncef("btf-mod-"+name, "module %s: its BTF cannot be read from the dump: %v", name, err)
			}
			return nil
		})
		if err != nil {
			k.warnf("btf_modules list: %v", err)
		}
	}
	// a module's own pointer, while it is still set
	if k.hasMember("struct module", "btf_data") {
		for _, m := range k.modules {
			if _, ok := blobs[m.Name]; ok {
				continue
			}
			o, err := k.Object("struct module", m.Addr)
			if err != nil {
				continue
			}
			data, _ := o.Uint("btf_data")
			size, _ := o.Uint("btf_data_size")
			if err := add(m.Name, data, size); err != nil {
				k.warnOncef("btf-mod-"+m.Name, "module %s: its BTF cannot be read from the dump: %v", m.Name, err)
			}
		}
	}
	var srcs []symbols.TypeSource
	for _, name := range order {
		bt, err := symbols.ParseSplitBTF(blobs[name], base, "the BTF of module "+name+" in "+k.Dump.Path())
		if err != nil {
			k.warnOncef("btf-mod-"+name, "module %s: its BTF in the dump does not parse: %v", name, err)
			continue
		}
		srcs = append(srcs, bt)
	}
	ts := k.Types
	ts.mu.Lock()
	ts.opened = append(srcs, ts.opened...)
	ts.mu.Unlock()
}

// errNoDWARF answers the code questions that need DWARF.
var errNoDWARF = errors.New("no DWARF: the dump is analysed without its vmlinux")

// dumpCode is the Code of a kernel analysed without its vmlinux: the
// unwind tables from the dump's memory, and no DWARF.
type dumpCode struct {
	k    *Kernel
	once sync.Once
	tabs UnwindTables
}

func (c *dumpCode) tables() UnwindTables {
	c.once.Do(func() {
		c.tabs = noTables{}
		t, err := c.k.UnwindTables()
		if err != nil {
			c.k.warnOncef("unwind-tables", "no unwind tables (%v): stacks are scanned", err)
			return
		}
		c.tabs = t
	})
	return c.tabs
}

func (c *dumpCode) HasORC() bool                    { return c.tables().HasORC() }
func (c *dumpCode) ORC(pc uint64) (orc.Entry, bool) { return c.tables().ORC(pc) }
func (c *dumpCode) CFI(pc uint64) (CFIRow, bool)    { return c.tables().CFI(pc) }
func (c *dumpCode) Frames(uint64) ([]dwarffunc.Func, error) {
	return nil, errNoDWARF
}
func (c *dumpCode) Local(uint64, string, string, dwarffunc.Regs) (dwarffunc.Value, error) {
	return dwarffunc.Value{}, errNoDWARF
}

// maxDumpORC bounds the kernel's ORC tables read from the dump.
const maxDumpORC = 64 << 20

// dumpImageTables reads the kernel's ORC tables from the dump's memory,
// at link-time addresses like readImageTables' (no CFI: no DWARF).
func (k *Kernel) dumpImageTables() *imageTables {
	it := &imageTables{}
	region := func(start, stop string) ([]byte, uint64, error) {
		a, err := k.Addr(start)
		if err != nil {
			return nil, 0, err
		}
		b, err := k.Addr(stop)
		if err != nil {
			return nil, 0, err
		}
		if b < a || b-a > maxDumpORC {
			return nil, 0, fmt.Errorf("%s-%s (%#x-%#x) is implausible", start, stop, a, b)
		}
		buf := make([]byte, b-a)
		if err := k.Mem.Read(a, buf); err != nil {
			return nil, 0, fmt.Errorf("reading %s: %w", start, err)
		}
		return buf, a, nil
	}
	var err error
	var ipAddr uint64
	if it.orcIP, ipAddr, err = region("__start_orc_unwind_ip", "__stop_orc_unwind_ip"); err != nil {
		it.err = err
	} else if it.orcEntries, _, err = region("__start_orc_unwind", "__stop_orc_unwind"); err != nil {
		it.err = err
	}
	it.orcIPAddr = ipAddr - k.Syms.Slide()
	if h, _, err := region("__start_orc_header", "__stop_orc_header"); err == nil && len(h) > 0 {
		it.header = h
	}
	return it
}

// maxImageScan bounds how much of the kernel image FindKallsyms reads.
const maxImageScan = 128 << 20

// FindKallsyms looks for the kallsyms tables of a kernel whose VMCOREINFO
// does not name them (before 6.0), by their structure in the image from
// _stext on, in the order scripts/kallsyms.c writes them (base-relative,
// 4.6+): kallsyms_offsets, kallsyms_relative_base, kallsyms_num_syms,
// kallsyms_names, kallsyms_markers, kallsyms_token_table and
// kallsyms_token_index, each 8-byte aligned. The token index is found
// first (256 increasing 16-bit offsets from 0, each past its token's
// NUL in the table before it), then the markers before the table (one
// 32-bit offset per 256 names, from 0), then the count before the names,
// checked against the markers.
func FindKallsyms(d *vmcore.Dump, mem *addrspace.Space) (symbols.KallsymsTables, error) {
	var t symbols.KallsymsTables
	v, ok := d.VMCoreInfoValue("SYMBOL(_stext)")
	if !ok {
		return t, errors.New("VMCOREINFO has no SYMBOL(_stext) to start from")
	}
	start, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return t, err
	}
	img := make([]byte, 0, maxImageScan)
	chunk := make([]byte, 2<<20)
	misses := 0
	for off := uint64(0); off < maxImageScan && misses < 8; off += uint64(len(chunk)) {
		if mem.Read(start+off, chunk) != nil {
			// pages the dump lacks (freed init memory, excluded by
			// makedumpfile) read as zeros; the image ends where
			// whole chunks are missing
			misses++
			for p := 0; p < len(chunk); p += 4096 {
				if mem.Read(start+off+uint64(p), chunk[p:p+4096]) != nil {
					clear(chunk[p : p+4096])
				} else {
					misses = 0
				}
			}
		}
		img = append(img, chunk...)
	}
	le := binary.LittleEndian
	u32 := func(at int) uint32 { return le.Uint32(img[at:]) }
	for idx := 0; idx+512 <= len(img); idx += 8 {
		if le.Uint16(img[idx:]) != 0 || le.Uint16(img[idx+2:]) == 0 {
			continue
		}
		good := true
		for i := 1; i < 256 && good; i++ {
			step := int(le.Uint16(img[idx+2*i:])) - int(le.Uint16(img[idx+2*i-2:]))
			good = step >= 2 && step <= 64
		}
		if !good {
			continue
		}
		last := int(le.Uint16(img[idx+510:]))
		// the token table ends (NUL, then alignment) right before
		for tab := idx - last - 2; tab >= idx-last-80 && tab >= 0; tab-- {
			if tab%8 != 0 {
				continue
			}
			ok := true
			for i := 1; i < 256 && ok; i++ {
				end := tab + int(le.Uint16(img[idx+2*i:])) - 1
				ok = img[end] == 0 && img[end-1] != 0
			}
			if !ok {
				continue
			}
			if tt, err := fromTokenTable(img, tab, u32); err == nil {
				tt.TokenTable, tt.TokenIndex = start+uint64(tab), start+uint64(idx)
				tt.Names += start
				tt.NumSyms += start
				tt.RelativeBase += start
				tt.Offsets += start
				return tt, nil
			}
		}
	}
	return t, fmt.Errorf("no kallsyms_token_index in the %d MiB of the kernel image after _stext", len(img)>>20)
}

// fromTokenTable finds the tables before kallsyms_token_table (image
// offsets).
func fromTokenTable(img []byte, tab int, u32 func(int) uint32) (symbols.KallsymsTables, error) {
	var t symbols.KallsymsTables
	// markers: increasing, from 0, ending before the token table
	end := tab
	for end >= 4 && u32(end-4) == 0 && end > tab-8 {
		end -= 4 // alignment padding (a marker of 0 is only the first)
	}
	m := end - 4
	for m >= 4 && u32(m-4) < u32(m) && u32(m) != 0 {
		m -= 4
	}
	if u32(m) != 0 {
		return t, errors.New("no kallsyms_markers")
	}
	nm := (end - m) / 4
	if nm < 2 {
		return t, errors.New("too few markers")
	}
	// names before the markers; the count before the names
	for names := m - 8; names >= 8 && m-names < maxKallsymsNamesScan; names -= 8 {
		n := int(u32(names - 8))
		if n <= (nm-1)*256 || n > nm*256 {
			continue
		}
		// the 256th name starts at markers[1]
		p := names
		for i := 0; i < 256 && p < m; i++ {
			p += 1 + int(img[p])
		}
		if p-names != int(u32(m+4)) {
			continue
		}
		t.Names, t.NumSyms, t.RelativeBase = uint64(names), uint64(names-8), uint64(names-16)
		t.Offsets = uint64(names-16) - uint64((4*n+7)&^7)
		return t, nil
	}
	return t, errors.New("no kallsyms_num_syms before the names")
}

// maxKallsymsNamesScan bounds the backward search for kallsyms_names.
const maxKallsymsNamesScan = 16 << 20
