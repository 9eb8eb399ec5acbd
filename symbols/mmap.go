package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// mapFile maps a file read-only; nil when it cannot (then the file is read
// through os.File instead).
func mapFile(f *os.File) []byte {
	st, err := f.Stat()
	if err != nil || st.Size() <= 0 || st.Size() != int64(int(st.Size())) {
		return nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

// mappedDWARF builds the DWARF reader over the mapped file's sections
// without copying them (a distribution vmlinux carries hundreds of MB of
// DWARF: reading it all took seconds). It returns nil when the sections are
// compressed or need relocations (ET_REL modules), for which debug/elf's
// own reader is used.
func mappedDWARF(ef *elf.File, mapped []byte) (*dwarf.Data, error) {
	if mapped == nil || ef.Type == elf.ET_REL {
		return nil, nil
	}
	sections := map[string][]byte{}
	for _, s := range ef.Sections {
		if !strings.HasPrefix(s.Name, ".debug_") {
			continue
		}
		if s.Flags&elf.SHF_COMPRESSED != 0 || s.Type == elf.SHT_NOBITS {
			return nil, nil
		}
		end := s.Offset + s.Size
		if end < s.Offset || end > uint64(len(mapped)) {
			return nil, fmt.Errorf("section %s at 0x%x+0x%x lies beyond the file", s.Name, s.Offset, s.Size)
		}
		sections[strings.TrimPrefix(s.Name, ".debug_")] = mapped[s.Offset:end:end]
	}
	d, err := dwarf.New(sections["abbrev"], nil, nil, sections["info"], sections["line"], nil, sections["ranges"], sections["str"])
	if err != nil {
		return nil, err
	}
	for name, b := range sections {
		switch name {
		case "abbrev", "info", "line", "ranges", "str":
			continue
		case "types":
			if err := d.AddTypes(".debug_types", b); err != nil {
				return nil, err
			}
		default:
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// sliceSection is a section's bytes within the mapped file, or false when
// the section is compressed, has no file contents or lies outside the file.
func sliceSection(mapped []byte, s *elf.Section) ([]byte, bool) {
	end := s.Offset + s.Size
	if s.Flags&elf.SHF_COMPRESSED != 0 || s.Type == elf.SHT_NOBITS || end < s.Offset || end > uint64(len(mapped)) {
		return nil, false
	}
	return mapped[s.Offset:end:end], true
}

// mappedBytes is a section's bytes as a slice of the image's mapping, not
// a copy: only the pages read become resident, and the mapping then
// outlives Close (the caller may read it lazily). False when the image is
// not mapped or closed, or sliceSection says no.
func (im *Image) mappedBytes(s *elf.Section) ([]byte, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.mapped == nil || im.closed {
		return nil, false
	}
	b, ok := sliceSection(im.mapped, s)
	if ok {
		im.mappingInUse = true
	}
	return b, ok
}
