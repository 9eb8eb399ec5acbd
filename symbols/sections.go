package symbols

import (
	"debug/elf"
	"fmt"
	"io"
	"sort"
)

// maxSection bounds Section so that a corrupt header cannot exhaust memory.
const maxSection = 512 << 20

// HasSections reports whether the image has its ELF file (an image loaded
// from a snapshot has only the recorded symbols, data and types).
func (im *Image) HasSections() bool { return im.file != nil }

// Section returns the contents and link-time address of the named ELF
// section (".orc_unwind_ip", ".debug_frame", ...). A missing section, or
// an image without its file (a snapshot), is an ErrNotFound error; a
// section without file contents (SHT_NOBITS) is an error. The bytes may
// be the image's read-only mapping of its file: do not modify them.
func (im *Image) Section(name string) (data []byte, addr uint64, err error) {
	if im.file == nil {
		return nil, 0, &notFoundError{what: "section " + name + " (a snapshot has no sections)", file: im.path}
	}
	im.mu.RLock()
	closed := im.closed
	im.mu.RUnlock()
	if closed {
		return nil, 0, fmt.Errorf("symbols: %s: Section after Close", im.path)
	}
	sec := im.file.Section(name)
	if sec == nil {
		return nil, 0, &notFoundError{what: "section " + name, file: im.path}
	}
	if sec.Type == elf.SHT_NOBITS {
		return nil, 0, fmt.Errorf("symbols: section %s of %s has no contents in the file", name, im.path)
	}
	if sec.Size > maxSection {
		return nil, 0, fmt.Errorf("symbols: section %s of %s is too large to read (%d bytes)", name, im.path, sec.Size)
	}
	defer func() {
		if p := recover(); p != nil {
			data, addr, err = nil, 0, fmt.Errorf("symbols: reading section %s of %s: %v", name, im.path, p)
		}
	}()
	if b, ok := im.mappedBytes(sec); ok {
		return b, sec.Addr, nil
	}
	data, err = io.ReadAll(io.LimitReader(sec.Open(), int64(sec.Size)))
	if err != nil {
		return nil, 0, fmt.Errorf("symbols: reading section %s of %s: %w", name, im.path, err)
	}
	return data, sec.Addr, nil
}

// LookupFunc is Lookup for naming a function as its debug info does:
// where several vmlinux symbols of the same size alias the function (the
// global __x64_sys_sync and __ia32_sys_sync stubs are aliases of the
// static __do_sys_sync that SYSCALL_DEFINE0 defines), the local one is
// the function the DWARF describes and is preferred; Lookup prefers the
// global ones.
func (v *View) LookupFunc(addr uint64) (Symbol, uint64, bool) {
	s, off, ok := v.Lookup(addr)
	if !ok || s.Module != "" || s.Kind != SymFunc || s.Size == 0 || s.Addr < v.slide {
		return s, off, ok
	}
	link := s.Addr - v.slide
	syms := v.im.kernel.byAddr
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Addr >= link })
	for ; i < len(syms) && syms[i].Addr == link; i++ {
		c := &syms[i]
		if !c.global && c.Kind == SymFunc && c.Size == s.Size && c.Name != s.Name {
			cs := v.im.kernel.symbol(c)
			if v.rec != nil {
				v.rec.Symbol(cs, c.text)
			}
			cs.Addr += v.slide
			return cs, off, true
		}
	}
	return s, off, ok
}
