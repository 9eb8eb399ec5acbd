package analyzer

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// cfiIndex finds the .debug_frame FDE of a pc without parsing them all:
// a vmlinux has some 60k FDEs and an unwind needs a few hundred, so only
// the headers are read up front (each FDE's range and where it and its
// CIE are) and an FDE is parsed, with its CIE, when first asked for.
type cfiIndex struct {
	data []byte
	fdes []fdeRef // sorted by begin

	mu     sync.Mutex
	parsed map[int]*frame.FrameDescriptionEntry // by index into fdes
}

// fdeRef is where one FDE and its CIE are in .debug_frame, and the
// link-time range it covers.
type fdeRef struct {
	begin, end   uint64
	off, size    int // the FDE, length field included
	cieOff, cieN int // its CIE, likewise
}

// newCFIIndex reads the entry headers of a .debug_frame section (32-bit
// DWARF, 8-byte addresses, as x86-64 kernels have it).
func newCFIIndex(data []byte) (*cfiIndex, error) {
	le := binary.LittleEndian
	x := &cfiIndex{data: data, parsed: map[int]*frame.FrameDescriptionEntry{}}
	cieSize := map[int]int{}
	for off := 0; off < len(data); {
		if off+4 > len(data) {
			return nil, fmt.Errorf(".debug_frame: entry at 0x%x is truncated", off)
		}
		length := int(le.Uint32(data[off:]))
		if length == 0 { // padding
			off += 4
			continue
		}
		if uint32(length) >= 0xfffffff0 {
			return nil, fmt.Errorf(".debug_frame: entry at 0x%x has length 0x%x (64-bit DWARF is not supported)", off, uint32(length))
		}
		size := 4 + length
		if length < 4 || off+size > len(data) || off+size < off {
			return nil, fmt.Errorf(".debug_frame: entry at 0x%x of 0x%x bytes runs past the section (0x%x bytes)", off, length, len(data))
		}
		id := le.Uint32(data[off+4:])
		if id == 0xffffffff {
			cieSize[off] = size
		} else {
			if length < 4+16 {
				return nil, fmt.Errorf(".debug_frame: FDE at 0x%x of 0x%x bytes is too short for its address range", off, length)
			}
			begin := le.Uint64(data[off+8:])
			x.fdes = append(x.fdes, fdeRef{begin: begin, end: begin + le.Uint64(data[off+16:]), off: off, size: size, cieOff: int(id)})
		}
		off += size
	}
	for i := range x.fdes {
		n, ok := cieSize[x.fdes[i].cieOff]
		if !ok {
			return nil, fmt.Errorf(".debug_frame: FDE at 0x%x names a CIE at 0x%x, where there is none", x.fdes[i].off, x.fdes[i].cieOff)
		}
		x.fdes[i].cieN = n
	}
	slices.SortFunc(x.fdes, func(a, b fdeRef) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.off, b.off))
	})
	return x, nil
}

// Len is the number of FDEs.
func (x *cfiIndex) Len() int { return len(x.fdes) }

// FDEForPC returns the FDE covering a link-time pc.
func (x *cfiIndex) FDEForPC(pc uint64) (*frame.FrameDescriptionEntry, error) {
	i := sort.Search(len(x.fdes), func(i int) bool { return x.fdes[i].begin > pc }) - 1
	if i < 0 || pc >= x.fdes[i].end {
		return nil, fmt.Errorf("no FDE for pc %#x", pc)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if f, ok := x.parsed[i]; ok {
		return f, nil
	}
	f, err := x.parse(x.fdes[i])
	if err != nil {
		return nil, err
	}
	x.parsed[i] = f
	return f, nil
}

// parse parses one FDE with its CIE: the two copied side by side, the
// FDE's CIE pointer made 0, the CIE's offset in the copy.
func (x *cfiIndex) parse(r fdeRef) (*frame.FrameDescriptionEntry, error) {
	buf := make([]byte, 0, r.cieN+r.size)
	buf = append(buf, x.data[r.cieOff:r.cieOff+r.cieN]...)
	buf = append(buf, x.data[r.off:r.off+r.size]...)
	binary.LittleEndian.PutUint32(buf[r.cieN+4:], 0)
	fdes, err := parseFrames(buf)
	if err != nil {
		return nil, fmt.Errorf("FDE at .debug_frame+0x%x: %w", r.off, err)
	}
	if len(fdes) != 1 {
		return nil, fmt.Errorf("FDE at .debug_frame+0x%x: parsed into %d entries", r.off, len(fdes))
	}
	return fdes[0], nil
}

// parseFrames is delve's parser, its panics on malformed input turned
// into errors.
func parseFrames(b []byte) (fdes frame.FrameDescriptionEntries, err error) {
	defer func() {
		if p := recover(); p != nil {
			fdes, err = nil, fmt.Errorf("malformed CFI: %v", p)
		}
	}()
	return frame.Parse(b, binary.LittleEndian, 0, 8, 0)
}
