package dwarffunc

import (
	"debug/dwarf"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
)

// A Funcs made from raw sections (NewFromSections) opens each unit on its
// own when a lookup needs it (dwarfunit), the units found through
// .debug_aranges; one made from a dwarf.Data reads that. The entries come
// back in section offsets either way.

// dataAt returns the reader for the unit holding off.
func (f *Funcs) dataAt(off dwarf.Offset) (*dwarfunit.Unit, error) {
	if f.d != nil {
		return f.whole, nil
	}
	if err := f.buildIndex(); err != nil {
		return nil, err
	}
	return f.set.Unit(off)
}

// readerAt positions a reader at the entry at off.
func (f *Funcs) readerAt(off dwarf.Offset) (*dwarfunit.Reader, error) {
	u, err := f.dataAt(off)
	if err != nil {
		return nil, err
	}
	return dwarfunit.NewReader(u, off), nil
}

// ranges are an entry's address ranges.
func (f *Funcs) ranges(e *dwarf.Entry) ([][2]uint64, error) {
	u, err := f.dataAt(e.Offset)
	if err != nil {
		return nil, err
	}
	return u.Data.Ranges(u.Local(e))
}

// lineReader is the line table of a unit's entry.
func (f *Funcs) lineReader(cu *dwarf.Entry) (*dwarf.LineReader, error) {
	u, err := f.dataAt(cu.Offset)
	if err != nil {
		return nil, err
	}
	return u.Data.LineReader(u.Local(cu))
}
