package symbols

import (
	"debug/dwarf"
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
	im.mu.RLock()
	closed := im.closed
	im.mu.RUnlock()
	if closed {
		return nil, fmt.Errorf("symbols: %s: DWARFSection after Close", im.path)
	}
	if b, ok := im.mappedBytes(s); ok {
		return b, nil
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: %s: %w", im.path, name, err)
	}
	return b, nil
}
