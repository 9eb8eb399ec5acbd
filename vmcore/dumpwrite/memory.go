// Package dumpwrite writes synthetic Linux crash dumps (ELF cores,
// kdump-compressed and makedumpfile flattened files) from a sparse model of
// physical memory. The output is byte-for-byte deterministic for the same
// input, so it can be used to generate checked-in test fixtures.
package dumpwrite

import (
	"slices"

	"github.com/vmtriage/vmtriage/vmcore"
)

// PageSize is the page size of the dumps written by this package.
const PageSize = 4096

// Memory is a sparse physical memory made of 4 KiB pages. The zero value
// is not usable; call NewMemory.
type Memory struct {
	pages map[uint64]*[PageSize]byte
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{pages: make(map[uint64]*[PageSize]byte)}
}

// Write copies b to physical address paddr, creating (zeroed) pages as
// needed. Writes may span pages.
func (m *Memory) Write(paddr uint64, b []byte) {
	for len(b) > 0 {
		pfn, off := paddr/PageSize, paddr%PageSize
		pg := m.pages[pfn]
		if pg == nil {
			pg = new([PageSize]byte)
			m.pages[pfn] = pg
		}
		n := copy(pg[off:], b)
		b = b[n:]
		paddr += uint64(n)
	}
}

// Read fills b from physical address paddr; absent pages read as zeros.
func (m *Memory) Read(paddr uint64, b []byte) {
	for len(b) > 0 {
		pfn, off := paddr/PageSize, paddr%PageSize
		n := min(len(b), int(PageSize-off))
		if pg := m.pages[pfn]; pg != nil {
			copy(b[:n], pg[off:])
		} else {
			clear(b[:n])
		}
		b = b[n:]
		paddr += uint64(n)
	}
}

// PFNs returns the populated page frame numbers in increasing order.
func (m *Memory) PFNs() []uint64 {
	pfns := make([]uint64, 0, len(m.pages))
	for pfn := range m.pages {
		pfns = append(pfns, pfn)
	}
	slices.Sort(pfns)
	return pfns
}

// page returns the page pfn, or nil.
func (m *Memory) page(pfn uint64) []byte {
	if pg := m.pages[pfn]; pg != nil {
		return pg[:]
	}
	return nil
}

// CPU is one CPU's state, written as an NT_PRSTATUS note.
type CPU struct {
	PID  int32
	Regs vmcore.X86_64Regs
}

// Utsname is the kernel's new_utsname, written into the kdump header.
type Utsname = vmcore.Utsname

// Meta is everything in a dump besides the memory.
type Meta struct {
	CPUs       []CPU
	VMCoreInfo string // VMCOREINFO note text; omitted if empty
	Utsname    Utsname
	PhysBase   uint64 // kdump sub-header phys_base
	// MaxMapnr is the number of page frames the kdump bitmaps describe;
	// 0 means the highest populated pfn + 1.
	MaxMapnr uint64
	// ELFVaddrOffset gives PT_LOAD p_vaddr = p_paddr + ELFVaddrOffset;
	// 0 writes p_vaddr 0 (like QEMU's dump-guest-memory without paging).
	ELFVaddrOffset uint64
	Timestamp      int64 // seconds, for the kdump header

	// ELFPNXNUM makes WriteELF use PN_XNUM (e_phnum 0xffff, the real
	// count in section header 0's sh_info) with the program headers after
	// a one-entry section header table, as QEMU does, even when fewer than
	// 0xffff program headers are needed.
	ELFPNXNUM bool
	// KdumpBlockSize is the block (and page) size of kdump files: 0 means
	// 4096; 512, 1024 and 2048 split each 4 KiB page into several dump
	// pages, which makes tiny files for fuzz seeds.
	KdumpBlockSize uint64
	// QEMUCPUs are written by WriteELF as "QEMU" notes after the
	// NT_PRSTATUS notes.
	QEMUCPUs []vmcore.QEMUCPUState
}

// Compression selects the page compression of a kdump file.
type Compression int

// Page compressions.
const (
	None Compression = iota
	Zlib
	LZO
	Snappy
	Zstd
)

// String returns the name vmcore.Dump.Compression reports.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Zlib:
		return "zlib"
	case LZO:
		return "lzo"
	case Snappy:
		return "snappy"
	case Zstd:
		return "zstd"
	}
	return "unknown"
}
