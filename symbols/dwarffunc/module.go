package dwarffunc

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
)

// FromELF reads the DWARF of a linked (ET_EXEC/ET_DYN) ELF file, such as
// a vmlinux. For a relocatable module use LoadModule.
func FromELF(f *elf.File) (*Funcs, error) {
	if f.Type == elf.ET_REL {
		return nil, errors.New("dwarffunc: a relocatable file needs its section addresses (LoadModule)")
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, err
	}
	sec := Sections{}
	for name, dst := range map[string]*[]byte{".debug_info": &sec.Info, ".debug_loc": &sec.Loc,
		".debug_loclists": &sec.LocLists, ".debug_addr": &sec.Addr} {
		if s := f.Section(name); s != nil {
			if *dst, err = s.Data(); err != nil {
				return nil, fmt.Errorf("dwarffunc: %s: %w", name, err)
			}
		}
	}
	return New(d, sec), nil
}

// LoadModule opens a module's debug file (NAME.ko, ET_REL) and relocates
// its DWARF to where the module's sections are in the running kernel:
// sections maps a section name (".text", ".init.text", ".data"...) to its
// runtime address, as read from the dump (analyzer's ModuleSections).
// Allocated sections missing from the map stay at 0, so their pcs match
// nothing.
func LoadModule(path string, sections map[string]uint64) (*Funcs, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ModuleFromELF(f, sections)
}

// ModuleFromELF is LoadModule on an opened file.
func ModuleFromELF(f *elf.File, sections map[string]uint64) (*Funcs, error) {
	if f.Type != elf.ET_REL {
		return FromELF(f)
	}
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("dwarffunc: relocating a %v %v module is not supported", f.Class, f.Machine)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("dwarffunc: module symbols: %w", err)
	}
	// a symbol's runtime value: its offset in its section plus where the
	// section is (debug sections stay at 0: their offsets are what DWARF
	// forms refer to)
	secAddr := make([]uint64, len(f.Sections))
	for i, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 {
			secAddr[i] = sections[s.Name]
		}
	}
	symVal := make([]uint64, len(syms)+1) // index 0 is the null symbol
	for i, s := range syms {
		v := s.Value
		if int(s.Section) > 0 && int(s.Section) < len(secAddr) {
			v += secAddr[s.Section]
		}
		symVal[i+1] = v
	}
	data := map[string][]byte{}
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, ".debug_") || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("dwarffunc: %s: %w", s.Name, err)
		}
		data[s.Name] = b
	}
	for i, rs := range f.Sections {
		if rs.Type != elf.SHT_RELA || int(rs.Info) >= len(f.Sections) {
			continue
		}
		target := f.Sections[rs.Info]
		b, ok := data[target.Name]
		if !ok {
			continue
		}
		raw, err := rs.Data()
		if err != nil {
			return nil, fmt.Errorf("dwarffunc: %s: %w", rs.Name, err)
		}
		if err := ApplyRela(b, raw, symVal, 0); err != nil {
			return nil, fmt.Errorf("dwarffunc: section %d %s: %w", i, rs.Name, err)
		}
	}
	d, err := dwarf.New(data[".debug_abbrev"], nil, nil, data[".debug_info"], data[".debug_line"],
		nil, data[".debug_ranges"], data[".debug_str"])
	if err != nil {
		return nil, fmt.Errorf("dwarffunc: module DWARF: %w", err)
	}
	for _, n := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
		if b, ok := data[n]; ok {
			if err := d.AddSection(n, b); err != nil {
				return nil, err
			}
		}
	}
	return New(d, Sections{Sections: dwarfunit.Sections{Info: data[".debug_info"], Addr: data[".debug_addr"]},
		Loc: data[".debug_loc"], LocLists: data[".debug_loclists"]}), nil
}

// x86-64 relocation types the DWARF of a module uses.
const (
	rX8664_64   = 1
	rX8664_PC32 = 2
	rX8664_32   = 10
	rX8664_32S  = 11
	rX8664_PC64 = 24
)

// ApplyRela applies the Elf64_Rela entries of rela to sec, whose runtime
// address is secAddr (for PC-relative types): S is symVal[symbol index]
// (0 for index 0), A the addend. Unknown types, bad symbol indexes and
// places outside sec are errors.
func ApplyRela(sec, rela []byte, symVal []uint64, secAddr uint64) error {
	const entSize = 24
	if len(rela)%entSize != 0 {
		return fmt.Errorf("relocation section size %d is not a multiple of %d", len(rela), entSize)
	}
	le := binary.LittleEndian
	for i := 0; i+entSize <= len(rela); i += entSize {
		off := le.Uint64(rela[i:])
		info := le.Uint64(rela[i+8:])
		add := int64(le.Uint64(rela[i+16:]))
		sym, typ := info>>32, uint32(info)
		if sym >= uint64(len(symVal)) {
			return fmt.Errorf("relocation %d: symbol %d out of range", i/entSize, sym)
		}
		v := symVal[sym] + uint64(add)
		size := uint64(0)
		switch typ {
		case 0: // R_X86_64_NONE
			continue
		case rX8664_64:
			size = 8
		case rX8664_PC64:
			size, v = 8, v-(secAddr+off)
		case rX8664_32, rX8664_32S:
			size = 4
		case rX8664_PC32:
			size, v = 4, v-(secAddr+off)
		default:
			return fmt.Errorf("relocation %d: unsupported type %d", i/entSize, typ)
		}
		if off > uint64(len(sec)) || uint64(len(sec))-off < size {
			return fmt.Errorf("relocation %d: offset 0x%x outside the section (%d bytes)", i/entSize, off, len(sec))
		}
		if size == 8 {
			le.PutUint64(sec[off:], v)
		} else {
			le.PutUint32(sec[off:], uint32(v))
		}
	}
	return nil
}

// Source is a DWARF image that gives its raw sections too; a
// *symbols.Image is one.
type Source interface {
	DWARF() (*dwarf.Data, error)
	DWARFSection(name string) ([]byte, error)
}

// Open makes a Funcs for a Source (a vmlinux's *symbols.Image). It reads
// the raw sections and opens units on demand (NewFromSections) unless the
// source has no .debug_info/.debug_abbrev section as such (compressed or
// .zdebug sections: then through the Source's dwarf.Data).
func Open(src Source) (*Funcs, error) {
	var sec Sections
	for name, dst := range map[string]*[]byte{".debug_info": &sec.Info, ".debug_loc": &sec.Loc,
		".debug_loclists": &sec.LocLists, ".debug_addr": &sec.Addr, ".debug_abbrev": &sec.Abbrev,
		".debug_aranges": &sec.Aranges, ".debug_line": &sec.Line, ".debug_line_str": &sec.LineStr,
		".debug_ranges": &sec.Ranges, ".debug_rnglists": &sec.RngLists, ".debug_str": &sec.Str,
		".debug_str_offsets": &sec.StrOffsets} {
		b, err := src.DWARFSection(name)
		if err != nil {
			return nil, err
		}
		*dst = b
	}
	if len(sec.Info) > 0 && len(sec.Abbrev) > 0 {
		return NewFromSections(sec)
	}
	d, err := src.DWARF()
	if err != nil {
		return nil, err
	}
	return New(d, sec), nil
}
