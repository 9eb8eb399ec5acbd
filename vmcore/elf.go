package vmcore

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
)

const (
	elfClass32  = 1
	elfClass64  = 2
	elfDataLSB  = 1
	etCore      = 4
	emX86_64    = 62
	ptLoad      = 1
	ptNote      = 4
	pnXNum      = 0xffff
	maxNoteSize = 64 << 20
)

// elfSeg is a PT_LOAD segment.
type elfSeg struct {
	Segment
	maxEnd uint64 // max Paddr+MemSize over this and all earlier sorted segments
}

type elfBackend struct {
	path     string
	r        io.ReaderAt
	size     int64
	pageSize uint64
	segs     []elfSeg  // sorted by Paddr
	file     []Segment // file order
	cache    elfPageCache
}

// elfPageCache keeps the last pages read whole from an ELF dump, so that
// the analyses' many small reads (a pointer here, a page-table entry
// there: 30k of them on a 1 GiB dump) cost a system call per page, not
// per read. Direct-mapped by page frame.
type elfPageCache struct {
	mu    sync.Mutex
	tags  [elfCacheSlots]uint64 // page frame + 1 (0: empty)
	pages [elfCacheSlots][4096]byte
}

const elfCacheSlots = 64

func openELF(d *Dump, r io.ReaderAt, size int64) error {
	path := d.path
	ident := make([]byte, 16)
	if err := readFull(path, r, size, 0, ident, "ELF identification"); err != nil {
		return err
	}
	class := ident[4]
	if class != elfClass32 && class != elfClass64 {
		return &FormatError{Path: path, Off: 4, Msg: fmt.Sprintf("ELF class %d, expected 1 (ELFCLASS32) or 2 (ELFCLASS64)", class), Err: ErrCorrupt}
	}
	if ident[5] != elfDataLSB {
		return &FormatError{Path: path, Off: 5, Msg: fmt.Sprintf("ELF data encoding %d, expected 1 (little-endian); big-endian dumps are not supported", ident[5]), Err: ErrCorrupt}
	}
	is64 := class == elfClass64
	ehsize := 52
	if is64 {
		ehsize = 64
	}
	eh := make([]byte, ehsize)
	if err := readFull(path, r, size, 0, eh, "ELF header"); err != nil {
		return err
	}
	le := binary.LittleEndian
	etype := le.Uint16(eh[16:])
	machine := le.Uint16(eh[18:])
	if etype != etCore {
		return &FormatError{Path: path, Off: 16, Msg: fmt.Sprintf("ELF type %d, expected 4 (ET_CORE)", etype), Err: ErrCorrupt}
	}
	var phoff, shoff uint64
	var phentsize, phnum, shentsize uint64
	if is64 {
		phoff, shoff = le.Uint64(eh[32:]), le.Uint64(eh[40:])
		phentsize, phnum = uint64(le.Uint16(eh[54:])), uint64(le.Uint16(eh[56:]))
		shentsize = uint64(le.Uint16(eh[58:]))
	} else {
		phoff, shoff = uint64(le.Uint32(eh[28:])), uint64(le.Uint32(eh[32:]))
		phentsize, phnum = uint64(le.Uint16(eh[42:])), uint64(le.Uint16(eh[44:]))
		shentsize = uint64(le.Uint16(eh[46:]))
	}
	wantPh, wantSh := uint64(32), uint64(40)
	if is64 {
		wantPh, wantSh = 56, 64
	}
	if phentsize != wantPh {
		return &FormatError{Path: path, Off: 0, Msg: fmt.Sprintf("e_phentsize %d, expected %d", phentsize, wantPh), Err: ErrCorrupt}
	}
	if phnum == pnXNum {
		// PN_XNUM: the real count is in section header 0's sh_info.
		if shentsize < wantSh || shoff == 0 {
			return &FormatError{Path: path, Off: 0, Msg: fmt.Sprintf("e_phnum is PN_XNUM but there is no section header 0 (e_shoff %#x, e_shentsize %d)", shoff, shentsize), Err: ErrCorrupt}
		}
		sh := make([]byte, wantSh)
		if shoff > uint64(size) {
			return &FormatError{Path: path, Off: int64(min(shoff, 1<<62)), Msg: fmt.Sprintf("section header 0 for PN_XNUM lies past the end of the file (%d bytes)", size), Err: ErrTruncated}
		}
		if err := readFull(path, r, size, int64(shoff), sh, "section header 0 (PN_XNUM program header count)"); err != nil {
			return err
		}
		if is64 {
			phnum = uint64(le.Uint32(sh[44:]))
		} else {
			phnum = uint64(le.Uint32(sh[28:]))
		}
	}
	if phnum == 0 {
		return &FormatError{Path: path, Off: int64(phoff), Msg: "ELF core has no program headers, expected PT_NOTE and PT_LOAD", Err: ErrCorrupt}
	}
	if phoff > uint64(size) || phnum > (uint64(size)-phoff)/phentsize {
		return &FormatError{Path: path, Off: int64(min(phoff, 1<<62)), Msg: fmt.Sprintf("file is too short (%d bytes) for %d program headers of %d bytes", size, phnum, phentsize), Err: ErrTruncated}
	}
	ph := make([]byte, phnum*phentsize)
	if err := readFull(path, r, size, int64(phoff), ph, "program headers"); err != nil {
		return err
	}
	// QEMU's paging dumps have a PT_LOAD per page mapping (65k for 1 GiB)
	be := &elfBackend{path: path, r: r, size: size, pageSize: 4096, file: make([]Segment, 0, phnum)}
	x86 := machine == emX86_64
	var ns noteSet
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*phentsize:]
		var typ uint32
		var s Segment
		if is64 {
			typ = le.Uint32(p[0:])
			s = Segment{FileOff: le.Uint64(p[8:]), Vaddr: le.Uint64(p[16:]), Paddr: le.Uint64(p[24:]), FileSize: le.Uint64(p[32:]), MemSize: le.Uint64(p[40:])}
		} else {
			typ = le.Uint32(p[0:])
			s = Segment{FileOff: uint64(le.Uint32(p[4:])), Vaddr: uint64(le.Uint32(p[8:])), Paddr: uint64(le.Uint32(p[12:])), FileSize: uint64(le.Uint32(p[16:])), MemSize: uint64(le.Uint32(p[20:]))}
		}
		phOff := int64(phoff + i*phentsize)
		switch typ {
		case ptNote:
			if s.FileSize == 0 {
				continue
			}
			if s.FileSize > maxNoteSize {
				d.warns = append(d.warns, fmt.Sprintf("%s: offset %#x: PT_NOTE of %#x bytes is implausibly large; ignored", path, phOff, s.FileSize))
				continue
			}
			if s.FileOff > uint64(size) || s.FileSize > uint64(size)-s.FileOff {
				return &FormatError{Path: path, Off: int64(min(s.FileOff, 1<<62)), Msg: fmt.Sprintf("file is too short (%d bytes) for the PT_NOTE segment of %#x bytes described by the program header at %#x", size, s.FileSize, phOff), Err: ErrTruncated}
			}
			buf := make([]byte, s.FileSize)
			if err := readFull(path, r, size, int64(s.FileOff), buf, "PT_NOTE segment"); err != nil {
				return err
			}
			parseNotes(path, buf, int64(s.FileOff), x86, &ns)
		case ptLoad:
			if s.MemSize == 0 {
				continue
			}
			if s.Paddr+s.MemSize < s.Paddr || s.FileOff+s.FileSize < s.FileOff {
				d.warns = append(d.warns, fmt.Sprintf("%s: offset %#x: PT_LOAD (paddr %#x, memsz %#x, offset %#x, filesz %#x) wraps around; ignored", path, phOff, s.Paddr, s.MemSize, s.FileOff, s.FileSize))
				continue
			}
			if s.FileSize > s.MemSize {
				s.FileSize = s.MemSize
			}
			be.file = append(be.file, s)
		}
	}
	d.cpus, d.qemuCPUs, d.vmcoreinfo = ns.cpus, ns.qemu, ns.vmcoreinfo
	d.warns = append(d.warns, ns.warns...)
	if len(be.file) == 0 {
		d.warns = append(d.warns, fmt.Sprintf("%s: ELF core has no PT_LOAD segments: no memory can be read", path))
	}
	be.segs = disjointSegments(be.file)
	if t, w := be.truncation(); t != nil {
		d.trunc = t
		d.warns = append(d.warns, w)
	}
	d.be = be
	return nil
}

// truncation reports the first PT_LOAD (in file order) whose data runs
// past the end of the file.
func (be *elfBackend) truncation() (*Truncation, string) {
	byOff := append([]Segment(nil), be.file...)
	slices.SortStableFunc(byOff, func(a, b Segment) int { return cmp.Compare(a.FileOff, b.FileOff) })
	fsize := uint64(be.size)
	var expected uint64
	for _, s := range byOff {
		expected = max(expected, s.FileOff+s.FileSize)
	}
	for i, s := range byOff {
		if s.FileOff+s.FileSize <= fsize {
			continue
		}
		missing := s.Paddr
		if s.FileOff < fsize {
			missing = (s.Paddr + (fsize - s.FileOff)) &^ (be.pageSize - 1)
		}
		more := ""
		if n := len(byOff) - i - 1; n > 0 {
			more = fmt.Sprintf(" (and %d later segments)", n)
		}
		t := &Truncation{Kind: TruncELF, Offset: be.size, FileSize: be.size, ExpectedSize: int64(min(expected, 1<<62)), MissingFrom: missing, HasMissing: true}
		return t, fmt.Sprintf("%s is truncated: %d bytes, segment at file offset %#x needs %#x bytes; pages from physical %#x on are missing%s",
			be.path, be.size, s.FileOff, s.FileOff+s.FileSize, missing, more)
	}
	return nil, ""
}

func (be *elfBackend) segments() []Segment { return append([]Segment(nil), be.file...) }

// scan finds nothing more: an ELF core's truncation is known at open.
func (be *elfBackend) scan() (*Truncation, []string) { return nil, nil }

func (be *elfBackend) problems() []string { return nil }

// disjointSegments turns the PT_LOADs into non-overlapping pieces sorted by
// physical address. QEMU's paging:true dumps hold tens of thousands of
// segments that map the same physical pages under several virtual
// addresses (direct map, kernel image, vmalloc); any one of them gives the
// bytes, so the segment starting lowest keeps each range (file order breaks
// ties) and later ones only fill what is not covered yet. Lookups are then
// a binary search.
func disjointSegments(file []Segment) []elfSeg {
	order := make([]Segment, len(file))
	copy(order, file)
	slices.SortStableFunc(order, func(a, b Segment) int { return cmp.Compare(a.Paddr, b.Paddr) })
	out := make([]elfSeg, 0, len(order))
	var covered uint64
	for _, s := range order {
		end := s.Paddr + s.MemSize
		if s.MemSize == 0 || end <= covered {
			continue
		}
		if s.Paddr < covered { // keep the uncovered tail
			cut := covered - s.Paddr
			s.Paddr, s.MemSize, s.FileOff = covered, s.MemSize-cut, s.FileOff+cut
			if s.FileSize > cut {
				s.FileSize -= cut
			} else {
				s.FileSize = 0
			}
		}
		out = append(out, elfSeg{Segment: s, maxEnd: end})
		covered = end
	}
	return out
}

// cachedRead copies p from the cached page at page (file offset foff),
// reading the page first if it is not cached; false on a read error (the
// caller then reads directly and reports it).
func (be *elfBackend) cachedRead(page, foff uint64, p []byte, at uint64) bool {
	c := &be.cache
	slot := (page >> 12) % elfCacheSlots
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tags[slot] != page>>12+1 {
		c.tags[slot] = 0
		if got, err := be.r.ReadAt(c.pages[slot][:], int64(foff)); got != 4096 && err != nil {
			return false
		}
		c.tags[slot] = page>>12 + 1
	}
	copy(p, c.pages[slot][at:])
	return true
}

// find returns the segment containing paddr, or nil.
func (be *elfBackend) find(paddr uint64) *elfSeg {
	i := sort.Search(len(be.segs), func(i int) bool { return be.segs[i].Paddr > paddr }) - 1
	for ; i >= 0 && be.segs[i].maxEnd > paddr; i-- {
		s := &be.segs[i]
		if paddr-s.Paddr < s.MemSize {
			return s
		}
	}
	return nil
}

func (be *elfBackend) readPhys(paddr uint64, p []byte) (int, error) {
	s := be.find(paddr)
	if s == nil {
		return 0, &PageError{Path: be.path, Paddr: paddr, Reason: "not in any PT_LOAD segment", Err: ErrNotPresent}
	}
	off := paddr - s.Paddr
	n := uint64(len(p))
	if rem := s.MemSize - off; n > rem {
		n = rem
	}
	if off >= s.FileSize {
		// Between p_filesz and p_memsz: zero-filled.
		clear(p[:n])
		return int(n), nil
	}
	if rem := s.FileSize - off; n > rem {
		n = rem
	}
	foff := s.FileOff + off
	if page := paddr &^ 4095; n <= 4096 && paddr+n <= page+4096 && page >= s.Paddr && page+4096 <= s.Paddr+s.FileSize &&
		s.FileOff+(page-s.Paddr)+4096 <= uint64(be.size) {
		if be.cachedRead(page, s.FileOff+(page-s.Paddr), p[:n], paddr-page) {
			return int(n), nil
		}
	}
	if foff >= uint64(be.size) {
		return 0, &PageError{Path: be.path, Paddr: paddr, Reason: fmt.Sprintf("truncated: file ends at %#x, data is at file offset %#x", be.size, foff), Err: ErrTruncated}
	}
	if rem := uint64(be.size) - foff; n > rem {
		n = rem
	}
	got, err := be.r.ReadAt(p[:n], int64(foff))
	if got > 0 {
		return got, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return 0, &PageError{Path: be.path, Paddr: paddr, Reason: fmt.Sprintf("reading file offset %#x: %v", foff, err), Err: err}
}
