// Package dwarfunit opens the units of a large .debug_info one at a time.
//
// debug/dwarf's New reads every unit's header and abbreviation table up
// front: on a distribution kernel (some 2,500 units, 170 MB) half a
// second, and every page of the section it walks stays resident. A stack
// trace needs a few dozen of those units and a type lookup a handful, so
// a Set opens a unit on first use: a dwarf.Data over just that unit's
// bytes (the other sections whole, their offsets being absolute). The
// entries its Reader returns are rebased to section offsets, their own
// and those of their references, so callers see one offset space, as
// with a dwarf.Data over the whole section (Whole).
package dwarfunit

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Sections are the raw DWARF sections a unit's dwarf.Data reads. Info and
// Abbrev are required.
type Sections struct {
	Info       []byte // .debug_info
	Abbrev     []byte // .debug_abbrev
	Line       []byte // .debug_line
	LineStr    []byte // .debug_line_str (DWARF 5)
	Ranges     []byte // .debug_ranges (DWARF 4)
	RngLists   []byte // .debug_rnglists (DWARF 5)
	Str        []byte // .debug_str
	StrOffsets []byte // .debug_str_offsets (DWARF 5)
	Addr       []byte // .debug_addr (DWARF 5)
}

// Header is a unit's place in .debug_info and its DWARF version.
type Header struct {
	Off, End dwarf.Offset // the header's offset, the next unit's
	Version  int
}

// ReadHeader reads the header of the unit at off.
func ReadHeader(info []byte, off dwarf.Offset, order binary.ByteOrder) (Header, bool) {
	o := uint64(off)
	if o+6 > uint64(len(info)) {
		return Header{}, false
	}
	length := uint64(order.Uint32(info[o:]))
	hdr := uint64(4)
	if length == 0xffffffff {
		if o+14 > uint64(len(info)) {
			return Header{}, false
		}
		length = order.Uint64(info[o+4:])
		hdr = 12
	} else if length >= 0xfffffff0 {
		return Header{}, false
	}
	if o+hdr+2 > uint64(len(info)) {
		return Header{}, false
	}
	v := int(order.Uint16(info[o+hdr:]))
	next := o + hdr + length
	if next <= o || next > uint64(len(info)) {
		return Header{}, false
	}
	return Header{off, dwarf.Offset(next), v}, true
}

// Headers walks every unit header of .debug_info (up to the first that
// does not parse).
func Headers(info []byte, order binary.ByteOrder) []Header {
	var out []Header
	for off := dwarf.Offset(0); ; {
		h, ok := ReadHeader(info, off, order)
		if !ok {
			return out
		}
		out = append(out, h)
		off = h.End
	}
}

// Unit is the dwarf.Data that holds an offset: one unit's, or the whole
// section's (Whole).
type Unit struct {
	Data *dwarf.Data
	// Base is where the unit starts in .debug_info (0 for Whole): the
	// Data's offsets are section offsets minus Base.
	Base  dwarf.Offset
	split bool
	info  []byte // the unit's bytes
	// refAddr lists, per abbreviation code, the attributes whose form is
	// DW_FORM_ref_addr (nil when the unit uses none, as a kernel's don't)
	refAddr map[uint64][]dwarf.Attr
}

// Whole wraps a dwarf.Data over the whole section: offsets need no
// rebasing.
func Whole(d *dwarf.Data) *Unit { return &Unit{Data: d} }

// Local is e with the Data's own offset, for the dwarf.Data methods that
// find an entry's unit by its offset (Ranges, LineReader).
func (u *Unit) Local(e *dwarf.Entry) *dwarf.Entry {
	if !u.split {
		return e
	}
	c := *e
	c.Offset -= u.Base
	return &c
}

// Rebase turns an entry read from u.Data into section offsets: its own
// and those of its references. A reference inside the unit
// (DW_FORM_ref1..ref_udata, all a kernel's units use) comes back
// unit-relative; a DW_FORM_ref_addr (Go's linker uses them between
// packages) comes back as the section offset it is and is left alone.
func (u *Unit) Rebase(e *dwarf.Entry) {
	if e == nil || !u.split {
		return
	}
	var global []dwarf.Attr
	if u.refAddr != nil {
		if code, _, ok := uleb(u.info, int(e.Offset)); ok {
			global = u.refAddr[code]
		}
	}
	e.Offset += u.Base
	for i := range e.Field {
		fl := &e.Field[i]
		if fl.Class != dwarf.ClassReference || slices.Contains(global, fl.Attr) {
			continue
		}
		if v, ok := fl.Val.(dwarf.Offset); ok {
			fl.Val = v + u.Base
		}
	}
}

// Reader reads entries in section offsets.
type Reader struct {
	u *Unit
	r *dwarf.Reader
}

// NewReader positions a reader of u at the entry at off (a section
// offset; for a unit's header offset, its first entry).
func NewReader(u *Unit, off dwarf.Offset) *Reader {
	r := u.Data.Reader()
	r.Seek(off - u.Base)
	return &Reader{u: u, r: r}
}

// Next reads the next entry (nil at the end of the unit or section).
func (r *Reader) Next() (*dwarf.Entry, error) {
	e, err := r.r.Next()
	r.u.Rebase(e)
	return e, err
}

// SkipChildren skips the children of the entry Next last returned.
func (r *Reader) SkipChildren() { r.r.SkipChildren() }

// Seek moves the reader to the entry at off, which must be in its unit.
func (r *Reader) Seek(off dwarf.Offset) { r.r.Seek(off - r.u.Base) }

// Set opens the units of one .debug_info on demand. Its methods are safe
// for concurrent use.
type Set struct {
	sec     Sections
	order   binary.ByteOrder
	starts  []dwarf.Offset // known unit offsets, sorted
	entries []dwarf.Offset // or the units' first entries, sorted (NewSetFromEntries)

	mu      sync.Mutex
	headers map[dwarf.Offset]Header
	units   map[dwarf.Offset]*Unit
}

// NewSet makes a Set; starts are unit header offsets known up front (from
// .debug_aranges, or Headers): a unit is found by walking headers from the
// last start at or before an offset.
func NewSet(sec Sections, order binary.ByteOrder, starts []dwarf.Offset) *Set {
	st := slices.Clone(starts)
	slices.Sort(st)
	return &Set{sec: sec, order: order, starts: slices.Compact(st),
		headers: map[dwarf.Offset]Header{}, units: map[dwarf.Offset]*Unit{}}
}

// NewSetFromEntries makes a Set from the offsets of the units' first
// entries (what an index of the units' entries records): a unit's header
// is found just before its first entry when the unit is first used, so
// that no other unit's bytes are read.
func NewSetFromEntries(sec Sections, order binary.ByteOrder, firstEntries []dwarf.Offset) *Set {
	s := NewSet(sec, order, nil)
	s.entries = slices.Clone(firstEntries)
	slices.Sort(s.entries)
	s.entries = slices.Compact(s.entries)
	return s
}

// headerLens are the sizes of a unit header: DWARF 2-4 and 5, 32- and
// 64-bit.
var headerLens = []struct {
	n        dwarf.Offset
	min, max int // versions
}{{11, 2, 4}, {12, 5, 5}, {23, 2, 4}, {24, 5, 5}}

// HeaderOf finds the header of the unit holding off.
func (s *Set) HeaderOf(off dwarf.Offset) (Header, error) {
	if s.entries != nil {
		return s.headerBefore(off)
	}
	i := sort.Search(len(s.starts), func(i int) bool { return s.starts[i] > off }) - 1
	at := dwarf.Offset(0)
	if i >= 0 {
		at = s.starts[i]
	}
	for {
		s.mu.Lock()
		h, ok := s.headers[at]
		s.mu.Unlock()
		if !ok {
			if h, ok = ReadHeader(s.sec.Info, at, s.order); !ok {
				return Header{}, fmt.Errorf("offset 0x%x is in no unit of .debug_info (0x%x bytes; no valid unit header at 0x%x)", off, len(s.sec.Info), at)
			}
			s.mu.Lock()
			s.headers[at] = h
			s.mu.Unlock()
		}
		if off < h.End {
			return h, nil
		}
		at = h.End
	}
}

// headerBefore finds the header just before the last first entry at or
// before off: the one header size whose version fits and whose unit
// holds off.
func (s *Set) headerBefore(off dwarf.Offset) (Header, error) {
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i] > off }) - 1
	if i < 0 {
		return Header{}, fmt.Errorf("offset 0x%x is before the first unit's entries (0x%x)", off, s.entries[0])
	}
	e := s.entries[i]
	s.mu.Lock()
	h, ok := s.headers[e]
	s.mu.Unlock()
	if !ok {
		for _, hl := range headerLens {
			if e < hl.n {
				continue
			}
			c, valid := ReadHeader(s.sec.Info, e-hl.n, s.order)
			if valid && c.Version >= hl.min && c.Version <= hl.max && c.End > e {
				h, ok = c, true
				break
			}
		}
		if !ok {
			return Header{}, fmt.Errorf("no unit header before the entry at 0x%x", e)
		}
		s.mu.Lock()
		s.headers[e] = h
		s.mu.Unlock()
	}
	if off >= h.End {
		return Header{}, fmt.Errorf("offset 0x%x is past the end (0x%x) of the unit at 0x%x", off, h.End, h.Off)
	}
	return h, nil
}

// Unit opens (once) the unit holding off.
func (s *Set) Unit(off dwarf.Offset) (*Unit, error) {
	h, err := s.HeaderOf(off)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	u := s.units[h.Off]
	s.mu.Unlock()
	if u != nil {
		return u, nil
	}
	if u, err = s.open(h); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.units[h.Off]; prev != nil {
		return prev, nil
	}
	s.units[h.Off] = u
	return u, nil
}

// open makes the dwarf.Data of one unit.
func (s *Set) open(h Header) (u *Unit, err error) {
	defer func() {
		if p := recover(); p != nil {
			u, err = nil, fmt.Errorf("malformed unit at 0x%x: %v", h.Off, p)
		}
	}()
	sec := s.sec
	info := sec.Info[h.Off:h.End:h.End]
	d, err := dwarf.New(sec.Abbrev, nil, nil, info, sec.Line, nil, sec.Ranges, sec.Str)
	if err != nil {
		return nil, fmt.Errorf("unit at 0x%x: %w", h.Off, err)
	}
	for _, x := range []struct {
		name string
		b    []byte
	}{{".debug_addr", sec.Addr}, {".debug_line_str", sec.LineStr}, {".debug_str_offsets", sec.StrOffsets}, {".debug_rnglists", sec.RngLists}} {
		if x.b != nil {
			if err := d.AddSection(x.name, x.b); err != nil {
				return nil, fmt.Errorf("unit at 0x%x: %s: %w", h.Off, x.name, err)
			}
		}
	}
	u = &Unit{Data: d, Base: h.Off, split: true, info: info}
	if u.refAddr, err = refAddrAttrs(info, sec.Abbrev, s.order); err != nil {
		return nil, fmt.Errorf("unit at 0x%x: %w", h.Off, err)
	}
	return u, nil
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
		code, n, ok := uleb(abbrev, p)
		if !ok {
			return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
		}
		p = n
		if code == 0 {
			return out, nil
		}
		if _, p, ok = uleb(abbrev, p); !ok || p >= len(abbrev) { // tag
			return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
		}
		p++ // has children
		for {
			var attr, form uint64
			if attr, p, ok = uleb(abbrev, p); ok {
				form, p, ok = uleb(abbrev, p)
			}
			if !ok {
				return nil, fmt.Errorf("abbreviation table at 0x%x truncated", at)
			}
			if attr == 0 && form == 0 {
				break
			}
			if form == formImplicitConst {
				if _, p, ok = uleb(abbrev, p); !ok { // its value (an sleb: same length)
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

// uleb reads an unsigned LEB128 at b[p:]: the value and the next offset.
func uleb(b []byte, p int) (v uint64, next int, ok bool) {
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

// Range is an address range of a unit, from .debug_aranges.
type Range struct {
	Lo, Hi uint64
	Unit   dwarf.Offset // the unit's header offset
}

// Aranges reads .debug_aranges: each address range and its unit.
func Aranges(b []byte, order binary.ByteOrder) ([]Range, error) {
	var out []Range
	for off := 0; off < len(b); {
		start := off
		if off+4 > len(b) {
			return nil, fmt.Errorf(".debug_aranges: truncated set header at 0x%x", start)
		}
		length := uint64(order.Uint32(b[off:]))
		off += 4
		dwarf64 := false
		if length == 0xffffffff {
			if off+8 > len(b) {
				return nil, fmt.Errorf(".debug_aranges: truncated 64-bit length at 0x%x", start)
			}
			length, dwarf64 = order.Uint64(b[off:]), true
			off += 8
		}
		end := uint64(off) + length
		if length > uint64(len(b)) || end > uint64(len(b)) {
			return nil, fmt.Errorf(".debug_aranges: set at 0x%x is 0x%x bytes, past the section's end (0x%x)", start, length, len(b))
		}
		set := b[:end]
		if off+2 > len(set) {
			return nil, fmt.Errorf(".debug_aranges: set at 0x%x has no version", start)
		}
		if v := order.Uint16(set[off:]); v != 2 {
			return nil, fmt.Errorf(".debug_aranges: set at 0x%x has version %d, want 2", start, v)
		}
		off += 2
		var cu uint64
		if dwarf64 {
			if off+8 > len(set) {
				return nil, fmt.Errorf(".debug_aranges: set at 0x%x is truncated", start)
			}
			cu = order.Uint64(set[off:])
			off += 8
		} else {
			if off+4 > len(set) {
				return nil, fmt.Errorf(".debug_aranges: set at 0x%x is truncated", start)
			}
			cu = uint64(order.Uint32(set[off:]))
			off += 4
		}
		if off+2 > len(set) {
			return nil, fmt.Errorf(".debug_aranges: set at 0x%x is truncated", start)
		}
		addrSize, segSize := int(set[off]), int(set[off+1])
		off += 2
		if addrSize != 8 && addrSize != 4 || segSize != 0 {
			return nil, fmt.Errorf(".debug_aranges: set at 0x%x has address size %d, segment size %d (want 4 or 8, and 0)", start, addrSize, segSize)
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
				out = append(out, Range{lo, lo + n, dwarf.Offset(cu)})
			}
		}
		off = int(end)
	}
	return out, nil
}

// AppendAranges encodes a .debug_aranges section (version 2, 32-bit
// offsets, 8-byte little-endian addresses): one set per unit, in the
// order the ranges come. For test fixtures: a linker writes the real one.
func AppendAranges(dst []byte, rs []Range) []byte {
	byUnit := map[dwarf.Offset][]Range{}
	var order []dwarf.Offset
	for _, r := range rs {
		if _, ok := byUnit[r.Unit]; !ok {
			order = append(order, r.Unit)
		}
		byUnit[r.Unit] = append(byUnit[r.Unit], r)
	}
	le := binary.LittleEndian
	for _, cu := range order {
		set := le.AppendUint16(nil, 2)
		set = le.AppendUint32(set, uint32(cu))
		set = append(set, 8, 0)
		set = append(set, make([]byte, 4)...) // to 16 bytes from the set's start
		for _, r := range byUnit[cu] {
			set = le.AppendUint64(set, r.Lo)
			set = le.AppendUint64(set, r.Hi-r.Lo)
		}
		set = append(set, make([]byte, 16)...)
		dst = le.AppendUint32(dst, uint32(len(set)))
		dst = append(dst, set...)
	}
	return dst
}
