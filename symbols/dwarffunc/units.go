package dwarffunc

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

// A vmlinux's .debug_info is some 2,500 units and 170 MB. debug/dwarf's
// New reads every unit's header and abbreviation table up front (half a
// second, and every page of the section it touches stays resident), while
// the stack frames of one dump need a few dozen units. So a Funcs made
// from raw sections (NewFromSections) opens each unit on its own, on first
// use: a dwarf.Data over just that unit's bytes, found through
// .debug_aranges. The entries it returns are rebased to section offsets,
// so the rest of the package sees one offset space either way.

// unitData is the DWARF reader that holds one offset: the whole section's
// (base 0), or one unit's (base: where the unit starts in .debug_info).
type unitData struct {
	d    *dwarf.Data
	base dwarf.Offset
	size dwarf.Offset // the unit's length, header included (lazy only)
	lazy bool
	info []byte // the unit's bytes (lazy only)
	// refAddr lists, per abbreviation code, the attributes whose form is
	// DW_FORM_ref_addr (nil when the unit uses none, as a kernel's don't)
	refAddr map[uint64][]dwarf.Attr
}

// dataAt returns the reader for the unit holding off.
func (f *Funcs) dataAt(off dwarf.Offset) (*unitData, error) {
	if f.d != nil {
		return &unitData{d: f.d}, nil
	}
	if err := f.buildIndex(); err != nil {
		return nil, err
	}
	return f.unitAt(off)
}

// unitOf finds the header of the unit holding off: from the last unit
// start known at or before off, walking headers forward (a unit without
// code is in no .debug_aranges set).
func (f *Funcs) unitOf(off dwarf.Offset) (unitVersion, error) {
	i := sort.Search(len(f.starts), func(i int) bool { return f.starts[i] > off }) - 1
	at := dwarf.Offset(0)
	if i >= 0 {
		at = f.starts[i]
	}
	for {
		f.mu.Lock()
		u, ok := f.headers[at]
		f.mu.Unlock()
		if !ok {
			if u, ok = unitHeader(f.sec.Info, at, f.order); !ok {
				return unitVersion{}, fmt.Errorf("dwarffunc: offset 0x%x is in no unit of .debug_info (0x%x bytes; no valid unit header at 0x%x)", off, len(f.sec.Info), at)
			}
			f.mu.Lock()
			f.headers[at] = u
			f.mu.Unlock()
		}
		if off < u.end {
			return u, nil
		}
		at = u.end
	}
}

// unitAt opens (once) the unit holding off.
func (f *Funcs) unitAt(off dwarf.Offset) (*unitData, error) {
	u, err := f.unitOf(off)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	ud := f.units[u.off]
	f.mu.Unlock()
	if ud != nil {
		return ud, nil
	}
	d, err := f.openUnit(u)
	if err != nil {
		return nil, err
	}
	info := f.sec.Info[u.off:u.end:u.end]
	ud = &unitData{d: d, base: u.off, size: u.end - u.off, lazy: true, info: info}
	if ud.refAddr, err = refAddrAttrs(info, f.sec.Abbrev, f.order); err != nil {
		return nil, fmt.Errorf("dwarffunc: unit at 0x%x: %w", u.off, err)
	}
	f.mu.Lock()
	if prev := f.units[u.off]; prev != nil {
		ud = prev
	} else {
		f.units[u.off] = ud
	}
	f.mu.Unlock()
	return ud, nil
}

// openUnit makes a dwarf.Data over one unit's bytes (the other sections
// whole: their offsets are absolute).
func (f *Funcs) openUnit(u unitVersion) (d *dwarf.Data, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("dwarffunc: malformed unit at 0x%x: %v", u.off, p)
		}
	}()
	s := f.sec
	d, err = dwarf.New(s.Abbrev, nil, nil, s.Info[u.off:u.end:u.end], s.Line, nil, s.Ranges, s.Str)
	if err != nil {
		return nil, fmt.Errorf("dwarffunc: unit at 0x%x: %w", u.off, err)
	}
	for name, b := range map[string][]byte{".debug_addr": s.Addr, ".debug_line_str": s.LineStr,
		".debug_str_offsets": s.StrOffsets, ".debug_rnglists": s.RngLists} {
		if b != nil {
			if err := d.AddSection(name, b); err != nil {
				return nil, fmt.Errorf("dwarffunc: unit at 0x%x: %s: %w", u.off, name, err)
			}
		}
	}
	return d, nil
}

// local turns a section offset into the unit reader's.
func (u *unitData) local(off dwarf.Offset) dwarf.Offset { return off - u.base }

// rebase turns an entry read from a unit reader into section offsets: its
// own and those of its references. A reference inside the unit
// (DW_FORM_ref1..ref_udata, all a kernel's units use) comes back
// unit-relative; a DW_FORM_ref_addr (Go's linker uses them between
// packages) comes back as the section offset it is and is left as it is.
func (u *unitData) rebase(e *dwarf.Entry) {
	if e == nil || !u.lazy {
		return
	}
	var global []dwarf.Attr
	if u.refAddr != nil {
		if code, _, ok := ulebAt(u.info, int(e.Offset)); ok {
			global = u.refAddr[code]
		}
	}
	e.Offset += u.base
	for i := range e.Field {
		fl := &e.Field[i]
		if fl.Class != dwarf.ClassReference || slices.Contains(global, fl.Attr) {
			continue
		}
		if v, ok := fl.Val.(dwarf.Offset); ok {
			fl.Val = v + u.base
		}
	}
}

// DWARF forms refAddrAttrs needs to know.
const (
	formRefAddr       = 0x10
	formImplicitConst = 0x21
)

// refAddrAttrs reads a unit's header and its abbreviation table for the
// attributes encoded as DW_FORM_ref_addr, by abbreviation code.
func refAddrAttrs(info, abbrev []byte, order binary.ByteOrder) (map[uint64][]dwarf.Attr, error) {
	if len(info) < 4 {
		return nil, fmt.Errorf("unit header truncated")
	}
	off, offSize := 4, 4
	if order.Uint32(info) == 0xffffffff {
		off, offSize = 12, 8
	}
	if off+2 > len(info) {
		return nil, fmt.Errorf("unit header truncated")
	}
	version := order.Uint16(info[off:])
	off += 2
	if version >= 5 {
		off += 2 // unit_type, address_size
	}
	if off+offSize > len(info) {
		return nil, fmt.Errorf("unit header truncated")
	}
	var at uint64
	if offSize == 8 {
		at = order.Uint64(info[off:])
	} else {
		at = uint64(order.Uint32(info[off:]))
	}
	if at >= uint64(len(abbrev)) {
		return nil, fmt.Errorf("abbreviation table at 0x%x is past .debug_abbrev's end (0x%x)", at, len(abbrev))
	}
	var out map[uint64][]dwarf.Attr
	p := int(at)
	for {
		code, n, ok := ulebAt(abbrev, p)
		if !ok {
			return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
		}
		p = n
		if code == 0 {
			return out, nil
		}
		if _, p, ok = ulebAt(abbrev, p); !ok || p >= len(abbrev) { // tag
			return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
		}
		p++ // has children
		for {
			var attr, form uint64
			if attr, p, ok = ulebAt(abbrev, p); ok {
				form, p, ok = ulebAt(abbrev, p)
			}
			if !ok {
				return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
			}
			if attr == 0 && form == 0 {
				break
			}
			if form == formImplicitConst {
				if _, p, ok = ulebAt(abbrev, p); !ok { // its value (an sleb: same length)
					return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
				}
			}
			if form == formRefAddr {
				if out == nil {
					out = map[uint64][]dwarf.Attr{}
				}
				out[code] = append(out[code], dwarf.Attr(attr))
			}
		}
	}
}

// ulebAt reads an unsigned LEB128 at b[p:]: the value and the next offset.
func ulebAt(b []byte, p int) (v uint64, next int, ok bool) {
	for shift := uint(0); p < len(b) && shift < 64; shift += 7 {
		c := b[p]
		p++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, p, true
		}
	}
	return 0, p, false
}

// unitLocal is a shallow copy of e with the unit reader's offset, for the
// dwarf.Data methods that find an entry's unit by its offset.
func (u *unitData) unitLocal(e *dwarf.Entry) *dwarf.Entry {
	if !u.lazy {
		return e
	}
	c := *e
	c.Offset = u.local(e.Offset)
	return &c
}

// reader reads entries in section offsets.
type reader struct {
	u *unitData
	r *dwarf.Reader
}

// readerAt positions a reader at the entry at off.
func (f *Funcs) readerAt(off dwarf.Offset) (*reader, error) {
	u, err := f.dataAt(off)
	if err != nil {
		return nil, err
	}
	r := u.d.Reader()
	r.Seek(u.local(off))
	return &reader{u: u, r: r}, nil
}

// Next reads the next entry (nil at the end of the unit or section).
func (r *reader) Next() (*dwarf.Entry, error) {
	e, err := r.r.Next()
	r.u.rebase(e)
	return e, err
}

// SkipChildren skips the children of the entry Next last returned.
func (r *reader) SkipChildren() { r.r.SkipChildren() }

// ranges are an entry's address ranges.
func (f *Funcs) ranges(e *dwarf.Entry) ([][2]uint64, error) {
	u, err := f.dataAt(e.Offset)
	if err != nil {
		return nil, err
	}
	return u.d.Ranges(u.unitLocal(e))
}

// lineReader is the line table of a unit's entry.
func (f *Funcs) lineReader(cu *dwarf.Entry) (*dwarf.LineReader, error) {
	u, err := f.dataAt(cu.Offset)
	if err != nil {
		return nil, err
	}
	return u.d.LineReader(u.unitLocal(cu))
}

// arangeUnits reads .debug_aranges: each address range and the unit
// (its offset in .debug_info) it belongs to.
func arangeUnits(b []byte, order binary.ByteOrder) ([]cuRange, error) {
	var out []cuRange
	for off := 0; off < len(b); {
		start := off
		if off+4 > len(b) {
			return nil, fmt.Errorf("dwarffunc: .debug_aranges: truncated set header at 0x%x", start)
		}
		length := uint64(order.Uint32(b[off:]))
		off += 4
		dwarf64 := false
		if length == 0xffffffff {
			if off+8 > len(b) {
				return nil, fmt.Errorf("dwarffunc: .debug_aranges: truncated 64-bit length at 0x%x", start)
			}
			length, dwarf64 = order.Uint64(b[off:]), true
			off += 8
		}
		end := uint64(off) + length
		if length > uint64(len(b)) || end > uint64(len(b)) {
			return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x is 0x%x bytes, past the section's end (0x%x)", start, length, len(b))
		}
		set := b[:end]
		if off+2 > len(set) {
			return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x has no version", start)
		}
		if v := order.Uint16(set[off:]); v != 2 {
			return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x has version %d, want 2", start, v)
		}
		off += 2
		var cu uint64
		if dwarf64 {
			if off+8 > len(set) {
				return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x is truncated", start)
			}
			cu = order.Uint64(set[off:])
			off += 8
		} else {
			if off+4 > len(set) {
				return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x is truncated", start)
			}
			cu = uint64(order.Uint32(set[off:]))
			off += 4
		}
		if off+2 > len(set) {
			return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x is truncated", start)
		}
		addrSize, segSize := int(set[off]), int(set[off+1])
		off += 2
		if addrSize != 8 && addrSize != 4 || segSize != 0 {
			return nil, fmt.Errorf("dwarffunc: .debug_aranges: set at 0x%x has address size %d, segment size %d (want 4 or 8, and 0)", start, addrSize, segSize)
		}
		// the tuples start at a multiple of their size from the set's start
		tuple := 2 * addrSize
		if r := (off - start) % tuple; r != 0 {
			off += tuple - r
		}
		for ; off+tuple <= len(set); off += tuple {
			var lo, n uint64
			if addrSize == 8 {
				lo, n = order.Uint64(set[off:]), order.Uint64(set[off+8:])
			} else {
				lo, n = uint64(order.Uint32(set[off:])), uint64(order.Uint32(set[off+4:]))
			}
			if lo == 0 && n == 0 {
				break
			}
			if n > 0 && lo+n > lo {
				out = append(out, cuRange{lo, lo + n, dwarf.Offset(cu)})
			}
		}
		off = int(end)
	}
	return out, nil
}
