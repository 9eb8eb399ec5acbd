package analyzer

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"

	"github.com/vmtriage/vmtriage/symbols/offheap"
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
// link-time range it covers, in 24 bytes (a vmlinux has 60k of them).
type fdeRef struct {
	begin  uint64
	length uint32 // of the range covered
	off    uint32 // of the FDE, at its length field
	size   uint32 // of the FDE, length field included
	cieOff uint32 // of its CIE, likewise
}

func (r fdeRef) end() uint64 { return r.begin + uint64(r.length) }

// cieSize is the size of the CIE at off (length field included), or 0 when
// there is none there.
func cieSize(data []byte, off uint32) int {
	o := int(off)
	if o < 0 || o+8 > len(data) || binary.LittleEndian.Uint32(data[o+4:]) != 0xffffffff {
		return 0
	}
	n := int(binary.LittleEndian.Uint32(data[o:]))
	if n < 4 || n >= 0xfffffff0 || o+4+n > len(data) {
		return 0
	}
	return 4 + n
}

// newCFIIndex reads the entry headers of a .debug_frame section (32-bit
// DWARF, 8-byte addresses, as x86-64 kernels have it): a first pass
// counts the FDEs, the second fills an index of that size.
func newCFIIndex(data []byte) (*cfiIndex, error) {
	le := binary.LittleEndian
	if uint64(len(data)) >= 1<<32 {
		return nil, fmt.Errorf(".debug_frame: %d bytes, over the 4 GiB that 32-bit DWARF addresses", len(data))
	}
	count := 0
	var cies []uint32 // the CIEs' offsets, ascending: an FDE must name one
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
		if le.Uint32(data[off+4:]) == 0xffffffff {
			cies = append(cies, uint32(off))
		} else {
			if length < 4+16 {
				return nil, fmt.Errorf(".debug_frame: FDE at 0x%x of 0x%x bytes is too short for its address range", off, length)
			}
			count++
		}
		off += size
	}
	x := &cfiIndex{data: data, parsed: map[int]*frame.FrameDescriptionEntry{}}
	fdes, free := offheap.Slice[fdeRef](count) // 1.5 MB for a kernel: see package offheap
	runtime.AddCleanup(x, func(free func()) { free() }, free)
	x.fdes = fdes[:0]
	sorted := true
	for off := 0; off < len(data); {
		length := int(le.Uint32(data[off:]))
		if length == 0 {
			off += 4
			continue
		}
		id := le.Uint32(data[off+4:])
		if id != 0xffffffff {
			if _, found := slices.BinarySearch(cies, id); !found {
				return nil, fmt.Errorf(".debug_frame: FDE at 0x%x names a CIE at 0x%x, where there is none", off, id)
			}
			begin, n := le.Uint64(data[off+8:]), le.Uint64(data[off+16:])
			if n >= 1<<32 {
				return nil, fmt.Errorf(".debug_frame: FDE at 0x%x covers 0x%x bytes (over 4 GiB)", off, n)
			}
			r := fdeRef{begin: begin, length: uint32(n), off: uint32(off), size: uint32(4 + length), cieOff: id}
			if k := len(x.fdes); k > 0 && cmpFDE(x.fdes[k-1], r) > 0 {
				sorted = false
			}
			x.fdes = append(x.fdes, r)
		}
		off += 4 + length
	}
	if !sorted {
		slices.SortFunc(x.fdes, cmpFDE)
	}
	return x, nil
}

func cmpFDE(a, b fdeRef) int { return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.off, b.off)) }

// Len is the number of FDEs.
func (x *cfiIndex) Len() int { return len(x.fdes) }

// FDEForPC returns the FDE covering a link-time pc.
func (x *cfiIndex) FDEForPC(pc uint64) (*frame.FrameDescriptionEntry, error) {
	i := sort.Search(len(x.fdes), func(i int) bool { return x.fdes[i].begin > pc }) - 1
	if i < 0 || pc >= x.fdes[i].end() {
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
	cieN := cieSize(x.data, r.cieOff)
	buf := make([]byte, 0, cieN+int(r.size))
	buf = append(buf, x.data[r.cieOff:int(r.cieOff)+cieN]...)
	buf = append(buf, x.data[r.off:r.off+r.size]...)
	binary.LittleEndian.PutUint32(buf[cieN+4:], 0)
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
