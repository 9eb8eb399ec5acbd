// Package addrspace translates x86_64 Linux kernel virtual addresses to
// physical addresses in a dump: the direct map, the kernel image mapping
// and, for everything else (modules, vmalloc, vmapped stacks), a walk of
// the kernel's own page tables with 4 KiB, 2 MiB and 1 GiB pages, 4 or 5
// levels.
package addrspace

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PhysReader reads physical memory; *vmcore.Dump implements it.
type PhysReader interface {
	ReadPhys(paddr uint64, p []byte) error
}

// Layout is the kernel's x86_64 memory map.
type Layout struct {
	PageOffset    uint64 // start of the direct map of physical memory
	DirectMapSize uint64 // its size
	KernelMap     uint64 // __START_KERNEL_map
	KernelMapSize uint64 // size of the kernel image mapping
	PhysBase      uint64 // physical address the image mapping starts at (phys_base)
	TopPGT        uint64 // physical address of the top-level page table (0: none known)
	Levels        int    // 4 or 5
	VmallocBase   uint64 // start of the vmalloc area (vmapped stacks, vmalloc)
	VmemmapBase   uint64 // start of the struct page array (0: none)
	PageSize      uint64 // bytes per page
	PhysEnd       uint64 // end of the highest physical memory in the dump
}

// IsKernelAddr reports whether va lies in the kernel's half of the
// address space (or, on 2.6.9, in its direct map), so it may point at a
// kernel object. It says nothing of whether the address is mapped.
func (l Layout) IsKernelAddr(va uint64) bool {
	if l.PageOffset != 0 && l.PageOffset < kernelHalf5 {
		// 2.6.9's direct map sits in the user half's range
		if va >= l.PageOffset && va-l.PageOffset < l.DirectMapSize {
			return true
		}
	}
	if l.Levels == 5 {
		return va >= kernelHalf5
	}
	return va >= kernelHalf4
}

// InDirectMap reports whether va is a direct-map address.
func (l Layout) InDirectMap(va uint64) bool {
	return va >= l.PageOffset && va-l.PageOffset < l.DirectMapSize
}

// RHEL4 is the 2.6.9 x86_64 layout: the direct map at 0x10000000000, the
// kernel image at 0xffffffff80000000 (40 MiB) and modules above it.
func RHEL4() Layout {
	return Layout{
		PageOffset:    0x0000010000000000,
		DirectMapSize: 1 << 46,
		KernelMap:     0xffffffff80000000,
		KernelMapSize: 0x20000000,
		Levels:        4,
		PageSize:      4096,
	}
}

// ErrNotMapped means the page tables hold no mapping for an address.
var ErrNotMapped = errors.New("not mapped")

// AddrError is a failed read of kernel virtual memory.
type AddrError struct {
	VA  uint64
	Err error
}

func (e *AddrError) Error() string { return fmt.Sprintf("kernel address 0x%x: %v", e.VA, e.Err) }
func (e *AddrError) Unwrap() error { return e.Err }

// Space reads kernel virtual memory.
type Space struct {
	phys   PhysReader
	layout Layout
}

// New returns a kernel address space over physical memory.
func New(phys PhysReader, l Layout) *Space {
	if l.Levels == 0 {
		l.Levels = 4
	}
	return &Space{phys: phys, layout: l}
}

// Layout returns the layout in use.
func (s *Space) Layout() Layout { return s.layout }

// SetTopPGT sets the physical address of the top-level page table.
func (s *Space) SetTopPGT(pa uint64) { s.layout.TopPGT = pa }

// Translate returns the physical address of a kernel virtual address.
func (s *Space) Translate(va uint64) (uint64, error) {
	l := s.layout
	switch {
	case va >= l.PageOffset && va-l.PageOffset < l.DirectMapSize:
		return va - l.PageOffset, nil
	case va >= l.KernelMap && va-l.KernelMap < l.KernelMapSize:
		return va - l.KernelMap + l.PhysBase, nil
	}
	pa, err := s.walk(va)
	if err != nil {
		return 0, &AddrError{VA: va, Err: err}
	}
	return pa, nil
}

const (
	pagePresent = 1 << 0
	pageLarge   = 1 << 7
	addrMask    = 0x000ffffffffff000
)

// walk translates through the page tables.
func (s *Space) walk(va uint64) (uint64, error) {
	if s.layout.TopPGT == 0 {
		return 0, fmt.Errorf("outside the direct and kernel image maps and no page table is known")
	}
	table := s.layout.TopPGT
	shifts := []uint{39, 30, 21, 12}
	if s.layout.Levels == 5 {
		shifts = []uint{48, 39, 30, 21, 12}
	}
	names := map[uint]string{48: "PGD(5)", 39: "PGD", 30: "PUD", 21: "PMD", 12: "PTE"}
	var buf [8]byte
	for _, sh := range shifts {
		idx := va >> sh & 511
		if err := s.phys.ReadPhys(table+idx*8, buf[:]); err != nil {
			return 0, fmt.Errorf("reading %s entry %d at physical 0x%x: %w", names[sh], idx, table+idx*8, err)
		}
		e := binary.LittleEndian.Uint64(buf[:])
		if e&pagePresent == 0 {
			return 0, fmt.Errorf("%s entry %d (0x%x at physical 0x%x): %w", names[sh], idx, e, table+idx*8, ErrNotMapped)
		}
		if sh != 12 && (sh == 30 || sh == 21) && e&pageLarge != 0 {
			mask := uint64(1)<<sh - 1
			return e&addrMask&^mask | va&mask, nil
		}
		table = e & addrMask
	}
	return table | va&0xfff, nil
}

// Read reads len(p) bytes at a kernel virtual address, across pages.
func (s *Space) Read(va uint64, p []byte) error {
	for len(p) > 0 {
		n := 4096 - va%4096
		if n > uint64(len(p)) {
			n = uint64(len(p))
		}
		pa, err := s.Translate(va)
		if err != nil {
			return err
		}
		if err := s.phys.ReadPhys(pa, p[:n]); err != nil {
			return &AddrError{VA: va, Err: err}
		}
		va += n
		p = p[n:]
	}
	return nil
}

// U64 reads a little-endian 64-bit word.
func (s *Space) U64(va uint64) (uint64, error) {
	var b [8]byte
	if err := s.Read(va, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
