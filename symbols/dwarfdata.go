package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
)

// DWARF returns the image's DWARF reader, the one its Types decode, without
// building the types' name index (see Types).
func (im *Image) DWARF() (*dwarf.Data, error) { return im.dwarfData() }

// DWARFSection returns the contents of one DWARF section (".debug_loc",
// ".debug_loclists", ".debug_addr", ".debug_info"...), nil without error
// when the image has none. The bytes are shared with the image (its
// mapping when DWARF reads from it): do not modify them, nor use them
// after Close.
func (im *Image) DWARFSection(name string) ([]byte, error) {
	if im.file == nil {
		return nil, fmt.Errorf("symbols: %s: a snapshot image has no DWARF sections", im.path)
	}
	s := im.file.Section(name)
	if s == nil {
		return nil, nil
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return nil, fmt.Errorf("symbols: %s: DWARFSection after Close", im.path)
	}
	// a slice of the mapping (which then outlives Close: the caller may
	// read it lazily), not a copy: only the pages read become resident
	if im.mapped != nil && s.Type != elf.SHT_NOBITS && s.Flags&elf.SHF_COMPRESSED == 0 {
		end := s.Offset + s.Size
		if end >= s.Offset && end <= uint64(len(im.mapped)) {
			im.mappingInUse = true
			return im.mapped[s.Offset:end:end], nil
		}
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: %s: %w", im.path, name, err)
	}
	return b, nil
}
