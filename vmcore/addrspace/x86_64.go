package addrspace

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmtriage/vmtriage/vmcore"
)

// The x86_64 memory map constants of Documentation/arch/x86/x86_64/mm.rst,
// used only when the dump does not say otherwise (a kernel without
// CONFIG_RANDOMIZE_MEMORY keeps them; with it, page_offset_base,
// vmalloc_base and vmemmap_base are variables of the kernel image).
const (
	startKernelMap = 0xffffffff80000000 // __START_KERNEL_map, every x86_64 kernel

	pageOffset4     = 0xffff888000000000 // __PAGE_OFFSET_BASE_L4 since 4.20 (d52888aa2753)
	pageOffset4Old  = 0xffff880000000000 // before 4.20
	pageOffset5     = 0xff11000000000000 // __PAGE_OFFSET_BASE_L5 (4.20+)
	vmallocBase4    = 0xffffc90000000000 // __VMALLOC_BASE_L4
	vmallocBase5    = 0xffa0000000000000 // __VMALLOC_BASE_L5
	vmemmapBase4    = 0xffffea0000000000 // __VMEMMAP_BASE_L4
	vmemmapBase5    = 0xffd4000000000000 // __VMEMMAP_BASE_L5
	kernelHalf4     = 0xffff800000000000 // lowest canonical kernel address, 4-level
	kernelHalf5     = 0xff00000000000000 // and 5-level
	maxPhysBits4    = 46                 // MAX_PHYSMEM_BITS, 4-level
	maxPhysBits5    = 52                 // and 5-level
	imageSizeKASLR  = 1 << 30            // KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (4.x+)
	imageSizeNoKASL = 512 << 20          // and without
	kaslrAlign      = 2 << 20            // CONFIG_PHYSICAL_ALIGN of distribution kernels
)

// Symbols is what layout detection needs of the vmlinux: link-time
// addresses (before any KASLR slide) and initialised data.
type Symbols interface {
	LinkAddr(name string) (uint64, bool)
	ReadData(name string) ([]byte, error)
}

// Dump is what layout detection needs of a dump (*vmcore.Dump has it).
type Dump interface {
	PhysReader
	Path() string
	PageSize() uint64
	PhysBase() (uint64, bool)
	VMCoreInfo() string
	VMCoreInfoValue(key string) (string, bool)
	Segments() []vmcore.Segment
	QEMUCPUs() []vmcore.QEMUCPUState
}

// Detected is the memory layout of one dump, with how it was found.
type Detected struct {
	Layout
	Slide    uint64   // KASLR offset added to kernel-image symbols
	How      []string // how each part was found, for the report
	Warnings []string
}

// DetectOptions tune detection.
type DetectOptions struct {
	// IgnoreVMCOREINFO makes the dump's VMCOREINFO unseen (for a note
	// that lies, and to test the fallbacks on any dump).
	IgnoreVMCOREINFO bool
}

type detector struct {
	d    Dump
	syms Symbols
	opt  DetectOptions
	out  Detected
}

// DetectX86_64 computes an x86_64 dump's memory layout in one place: the
// KASLR slide (VMCOREINFO's KERNELOFFSET or SYMBOL()s; else linux_banner
// found through a CPU's CR3 from QEMU's notes; else found in physical
// memory), phys_base, 4- or 5-level paging, the kernel image size, the
// direct map's base and size, and the vmalloc and vmemmap bases (read from
// the kernel's own variables when it randomises them). RHEL 4's 2.6.9
// fixed map is recognised by its init_level4_pgt.
func DetectX86_64(d Dump, syms Symbols, opt DetectOptions) (Detected, error) {
	x := &detector{d: d, syms: syms, opt: opt}
	if err := x.detect(); err != nil {
		return x.out, err
	}
	return x.out, nil
}

func (x *detector) info(key string) (string, bool) {
	if x.opt.IgnoreVMCOREINFO {
		return "", false
	}
	return x.d.VMCoreInfoValue(key)
}

func (x *detector) howf(format string, args ...any) {
	x.out.How = append(x.out.How, fmt.Sprintf(format, args...))
}

func (x *detector) warnf(format string, args ...any) {
	x.out.Warnings = append(x.out.Warnings, fmt.Sprintf(format, args...))
}

func (x *detector) detect() error {
	l := &x.out.Layout
	l.KernelMap = startKernelMap
	l.Levels = 4
	l.PageSize = x.d.PageSize()
	if v, ok := x.info("PAGESIZE"); ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n >= 4096 && n&(n-1) == 0 {
			l.PageSize = n
		}
	}
	if l.PageSize == 0 {
		l.PageSize = 4096
	}
	if pb, ok := x.d.PhysBase(); ok {
		l.PhysBase = pb
	}
	l.PhysEnd = physEnd(x.d)
	// RHEL 4 (2.6.9): no KASLR, the direct map at 0x10000000000 and the
	// top page table is init_level4_pgt (renamed init_top_pgt in 4.13,
	// 65ade2f872b4).
	if pgt, ok := x.syms.LinkAddr("init_level4_pgt"); ok {
		old := RHEL4()
		l.PageOffset, l.DirectMapSize, l.KernelMapSize = old.PageOffset, old.DirectMapSize, old.KernelMapSize
		l.VmallocBase, l.VmemmapBase = 0xffffff0000000000, 0 // VMALLOC_START of 2.6.9
		l.TopPGT = pgt - l.KernelMap + l.PhysBase
		x.howf("fixed 2.6 layout (init_level4_pgt): direct map at 0x%x", l.PageOffset)
		return nil
	}
	if err := x.slide(); err != nil {
		return err
	}
	if v, ok := x.info("NUMBER(phys_base)"); ok {
		pb, err := strconv.ParseInt(v, 10, 64) // signed: negative under KASLR
		if err != nil {
			return fmt.Errorf("%s: VMCOREINFO NUMBER(phys_base)=%q: %w", x.d.Path(), v, err)
		}
		l.PhysBase = uint64(pb)
	}
	l.KernelMapSize = imageSizeNoKASL
	if _, ok := x.syms.LinkAddr("kaslr_get_random_long"); ok || x.out.Slide != 0 {
		l.KernelMapSize = imageSizeKASLR
	}
	if v, ok := x.info("NUMBER(KERNEL_IMAGE_SIZE)"); ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > 0 {
			l.KernelMapSize = n
		}
	}
	maxPhysBits := uint64(maxPhysBits4)
	l.PageOffset, l.VmallocBase, l.VmemmapBase = pageOffset4, vmallocBase4, vmemmapBase4
	if v, ok := x.info("NUMBER(pgtable_l5_enabled)"); ok && v == "1" {
		l.Levels, maxPhysBits = 5, maxPhysBits5
		l.PageOffset, l.VmallocBase, l.VmemmapBase = pageOffset5, vmallocBase5, vmemmapBase5
	}
	if v, ok := x.info("NUMBER(MAX_PHYSMEM_BITS)"); ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > 30 && n <= 52 {
			maxPhysBits = n
		}
	}
	top, ok := x.syms.LinkAddr("init_top_pgt")
	if !ok {
		return fmt.Errorf("%s: the vmlinux has neither init_top_pgt nor init_level4_pgt: not an x86_64 kernel vmlinux", x.d.Path())
	}
	l.TopPGT = top + x.out.Slide - l.KernelMap + l.PhysBase
	// Before 4.20 (d52888aa2753) the 4-level direct map started at
	// 0xffff880000000000; such kernels have no page_offset_base without
	// CONFIG_RANDOMIZE_MEMORY (4.8+), so tell by the image's own mapping.
	x.readBase(l, "page_offset_base", &l.PageOffset, l.Levels)
	x.readBase(l, "vmalloc_base", &l.VmallocBase, l.Levels)
	x.readBase(l, "vmemmap_base", &l.VmemmapBase, l.Levels)
	if _, ok := x.syms.LinkAddr("page_offset_base"); !ok && l.Levels == 4 {
		if _, ok := x.syms.LinkAddr("__sme_cmp"); !ok && !x.probeDirectMap(pageOffset4) && x.probeDirectMap(pageOffset4Old) {
			l.PageOffset = pageOffset4Old
		}
	}
	// The direct map covers physical memory and no more; the vmalloc and
	// vmemmap areas may start well inside PageOffset + 2^MAX_PHYSMEM_BITS
	// when KASLR packs the regions (a vmapped stack is not a direct-map
	// address).
	l.DirectMapSize = 1 << maxPhysBits
	for _, next := range []uint64{l.VmallocBase, l.VmemmapBase} {
		if next > l.PageOffset && next-l.PageOffset < l.DirectMapSize {
			l.DirectMapSize = next - l.PageOffset
		}
	}
	x.howf("page_offset_base 0x%x, vmalloc_base 0x%x, vmemmap_base 0x%x, %d-level paging, kernel image %d MiB at phys_base 0x%x",
		l.PageOffset, l.VmallocBase, l.VmemmapBase, l.Levels, l.KernelMapSize>>20, l.PhysBase)
	return nil
}

// readBase reads a randomised region base (page_offset_base, vmalloc_base,
// vmemmap_base: CONFIG_RANDOMIZE_MEMORY, 4.8+ (0483e1fa6e09)) through the
// kernel image mapping.
func (x *detector) readBase(l *Layout, name string, dst *uint64, levels int) {
	a, ok := x.syms.LinkAddr(name)
	if !ok {
		return
	}
	tmp := New(x.d, *l)
	v, err := tmp.U64(a + x.out.Slide)
	if err != nil {
		x.warnf("reading %s: %v (assuming 0x%x)", name, err, *dst)
		return
	}
	lowest := uint64(kernelHalf4)
	if levels == 5 {
		lowest = kernelHalf5
	}
	if v < lowest {
		x.warnf("%s reads 0x%x, not a kernel address (assuming 0x%x)", name, v, *dst)
		return
	}
	*dst = v
}

// probeDirectMap reports whether the page tables map base to physical 0.
func (x *detector) probeDirectMap(base uint64) bool {
	l := x.out.Layout
	l.PageOffset, l.DirectMapSize = 0, 0
	pa, err := New(x.d, l).Translate(base)
	return err == nil && pa == 0
}

// physEnd is the end of the highest physical memory the dump holds.
func physEnd(d Dump) uint64 {
	var end uint64
	for _, s := range d.Segments() {
		if e := s.Paddr + s.MemSize; e > end {
			end = e
		}
	}
	return end
}

// slide sets the KASLR offset: VMCOREINFO's KERNELOFFSET, else the
// difference between a VMCOREINFO SYMBOL() and the vmlinux's, else (no
// VMCOREINFO) linux_banner through CR3 or in physical memory.
func (x *detector) slide() error {
	if v, ok := x.info("KERNELOFFSET"); ok {
		off, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		if err != nil {
			return fmt.Errorf("%s: VMCOREINFO KERNELOFFSET=%q: %w", x.d.Path(), v, err)
		}
		x.out.Slide = off
		x.howf("KASLR offset 0x%x from VMCOREINFO KERNELOFFSET", off)
		return nil
	}
	for _, name := range []string{"init_uts_ns", "swapper_pg_dir", "_stext"} {
		v, ok := x.info("SYMBOL(" + name + ")")
		if !ok {
			continue
		}
		run, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			continue
		}
		if link, ok := x.syms.LinkAddr(name); ok {
			x.out.Slide = run - link
			x.howf("KASLR offset 0x%x from VMCOREINFO SYMBOL(%s)", x.out.Slide, name)
			return nil
		}
	}
	if !x.opt.IgnoreVMCOREINFO && x.d.VMCoreInfo() != "" {
		return nil // a VMCOREINFO without KASLR: the kernel is not relocated
	}
	want, err := x.syms.ReadData("linux_banner")
	if err != nil {
		return fmt.Errorf("%s has no VMCOREINFO and the vmlinux's linux_banner cannot be read to find KASLR: %w", x.d.Path(), err)
	}
	want = cstr(want)
	var roots []uint64
	for _, c := range x.d.QEMUCPUs() {
		if cr3 := c.CR[3] &^ 0x1fff; cr3 != 0 { // PCID bits and the PTI user-half bit
			roots = append(roots, cr3)
		}
	}
	var errs []error
	for _, root := range roots {
		err := x.slideFromCR3(root, want)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	// no CPU's page tables map the banner (a CPU caught on a trampoline or
	// an early page table): find the image in physical memory instead
	if err := x.slideFromPhysScan(want); err == nil || len(errs) == 0 {
		return err
	}
	return errs[0]
}

// slideFromCR3 walks the page tables a CPU's CR3 points to and tries every
// 2 MiB-aligned slide of the kernel image until linux_banner reads as the
// vmlinux's (as crash's --kaslr auto does). It also sets phys_base.
func (x *detector) slideFromCR3(root uint64, want []byte) error {
	banner, _ := x.syms.LinkAddr("linux_banner")
	l := Layout{KernelMap: startKernelMap, TopPGT: root, Levels: 4}
	space := New(x.d, l)
	got := make([]byte, len(want))
	for slide := uint64(0); slide < imageSizeKASLR; slide += kaslrAlign {
		if err := space.Read(banner+slide, got); err != nil || !bytes.Equal(got, want) {
			continue
		}
		x.out.Slide = slide
		pa, _ := space.Translate(banner + slide)
		x.out.PhysBase = pa - (banner + slide - startKernelMap)
		x.howf("no VMCOREINFO: KASLR offset 0x%x found through CR3 0x%x (linux_banner)", slide, root)
		return nil
	}
	return fmt.Errorf("%s has no VMCOREINFO, and linux_banner was not found at any KASLR offset through CR3 0x%x: the vmlinux does not match the dump", x.d.Path(), root)
}

// slideFromPhysScan finds KASLR for a dump with neither VMCOREINFO nor CPU
// page table roots (QEMU's kdump-zlib of a guest without fw_cfg): the
// kernel image is physically contiguous and 2 MiB aligned, so linux_banner
// sits at base + (linux_banner - _text) for some base; there, the image's
// own init_top_pgt gives the page tables, and the virtual slide is the one
// that maps the banner's virtual address onto the banner found.
func (x *detector) slideFromPhysScan(want []byte) error {
	text, ok1 := x.syms.LinkAddr("_text")
	banner, ok2 := x.syms.LinkAddr("linux_banner")
	top, ok3 := x.syms.LinkAddr("init_top_pgt")
	if !ok1 || !ok2 || !ok3 {
		x.warnf("%s has no VMCOREINFO and no CPU page table root: assuming the kernel is not relocated (KASLR off)", x.d.Path())
		return nil
	}
	end := x.out.PhysEnd
	if end > 1<<maxPhysBits4 {
		end = 1 << maxPhysBits4
	}
	got := make([]byte, len(want))
	for base := uint64(0); base+banner-text < end; base += kaslrAlign {
		pa := base + banner - text
		if x.d.ReadPhys(pa, got) != nil || !bytes.Equal(got, want) {
			continue
		}
		l := Layout{KernelMap: startKernelMap, TopPGT: base + top - text, Levels: 4}
		space := New(x.d, l)
		for slide := uint64(0); slide < imageSizeKASLR; slide += kaslrAlign {
			if p, err := space.Translate(banner + slide); err == nil && p == pa {
				x.out.Slide = slide
				x.out.PhysBase = base - (text + slide - startKernelMap)
				x.warnf("%s has no VMCOREINFO nor CPU registers: KASLR offset 0x%x found by scanning physical memory for linux_banner", x.d.Path(), slide)
				x.howf("no VMCOREINFO nor CPU registers: KASLR offset 0x%x from linux_banner found in physical memory", slide)
				return nil
			}
		}
	}
	return fmt.Errorf("%s has no VMCOREINFO, and the vmlinux's linux_banner was found nowhere in physical memory: the vmlinux does not match the dump", x.d.Path())
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
