package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
)

// Types decode through one dwarf.Data over the whole .debug_info, or,
// when the image is mapped and the type index was built from the mapped
// sections (indexFast, or its cache), through one dwarf.Data per unit
// opened when a type of that unit is first decoded (dwarfunit): the whole
// Data's New parses every unit's abbreviations (half a second on a
// distribution kernel), while a lookup needs a handful of units. godwarf
// then caches per unit, under the unit's own offsets, and the types it
// makes are rebased to section offsets, so the rest of Types sees one
// offset space either way.

// typeUnits makes the per-unit Set over the mapped sections, or returns
// nil when the image is not mapped or a section is compressed.
func (im *Image) typeUnits(firstEntries []dwarf.Offset) *dwarfunit.Set {
	if im.file.Type == elf.ET_REL || len(firstEntries) == 0 {
		return nil
	}
	var sec dwarfunit.Sections
	for name, dst := range map[string]*[]byte{".debug_info": &sec.Info, ".debug_abbrev": &sec.Abbrev,
		".debug_line": &sec.Line, ".debug_line_str": &sec.LineStr, ".debug_ranges": &sec.Ranges,
		".debug_rnglists": &sec.RngLists, ".debug_str": &sec.Str, ".debug_str_offsets": &sec.StrOffsets,
		".debug_addr": &sec.Addr} {
		s := im.file.Section(name)
		if s == nil {
			continue
		}
		b, ok := im.mappedBytes(s)
		if !ok {
			return nil
		}
		*dst = b
	}
	if len(sec.Info) == 0 || len(sec.Abbrev) == 0 {
		return nil
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if im.file.ByteOrder == binary.BigEndian {
		order = binary.BigEndian
	}
	return dwarfunit.NewSetFromEntries(sec, order, firstEntries)
}

// unit is the reader holding off; the caller holds t.mu.
func (t *Types) unit(off dwarf.Offset) (*dwarfunit.Unit, error) {
	if t.units == nil {
		return t.whole, nil
	}
	return t.units.Unit(off)
}

// unitCache is godwarf's cache for one unit's types (the whole section
// is the unit at 0), keyed by the unit's own offsets.
type unitCache struct {
	types map[dwarf.Offset]godwarf.Type
	// rebased is how many of types carry section offsets: when godwarf
	// added none, there is nothing to rebase
	rebased int
}

// cacheOf is u's cache.
func (t *Types) cacheOf(u *dwarfunit.Unit) *unitCache {
	c := t.gcache[u.Base]
	if c == nil {
		c = &unitCache{types: map[dwarf.Offset]godwarf.Type{}}
		t.gcache[u.Base] = c
	}
	return c
}

// cached returns godwarf's cached type at off (nil when none).
func (t *Types) cached(off dwarf.Offset) godwarf.Type {
	u, err := t.unit(off)
	if err != nil {
		return nil
	}
	return t.cacheOf(u).types[off-u.Base]
}

// setCached puts a stand-in (which carries its section offset) or, with
// nil, removes godwarf's cached type at off.
func (t *Types) setCached(off dwarf.Offset, g godwarf.Type) {
	u, err := t.unit(off)
	if err != nil {
		return
	}
	c := t.cacheOf(u)
	_, had := c.types[off-u.Base]
	switch {
	case g == nil && had:
		delete(c.types, off-u.Base)
		c.rebased--
	case g != nil:
		c.types[off-u.Base] = g
		if !had {
			c.rebased++
		}
	}
}

// godwarfRead is godwarf.ReadType at a section offset (no stand-ins
// seeded: readType does that).
func (t *Types) godwarfRead(off dwarf.Offset) (godwarf.Type, error) {
	u, err := t.unit(off)
	if err != nil {
		return nil, err
	}
	c := t.cacheOf(u)
	g, err := godwarf.ReadType(u.Data, 0, off-u.Base, c.types)
	if u.Base != 0 && len(c.types) != c.rebased {
		// the types godwarf just made carry the unit's offsets (their
		// key); the stand-ins and the types rebased before carry section
		// offsets already
		for k, v := range c.types {
			if cm := v.Common(); cm.Offset == k {
				cm.Offset += u.Base
			}
		}
	}
	c.rebased = len(c.types)
	return g, err
}

// readerAt positions an entry reader at off.
func (t *Types) readerAt(off dwarf.Offset) (*dwarfunit.Reader, error) {
	u, err := t.unit(off)
	if err != nil {
		return nil, err
	}
	return dwarfunit.NewReader(u, off), nil
}
