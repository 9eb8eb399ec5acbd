package analyzer

import (
	"encoding/binary"
	"fmt"

	"github.com/vmtriage/vmtriage/symbols"
)

// Module is a loaded kernel module found on the kernel's modules list.
type Module struct {
	Name     string
	Addr     uint64 // struct module
	Core     uint64 // module_core
	CoreSize uint64
	Symbols  int
}

// Modules lists the loaded modules.
func (k *Kernel) Modules() []Module { return k.modules }

// maxModuleSymbols bounds a module's symbol table read from the dump.
const maxModuleSymbols = 1 << 18

// loadModules reads every module's symbol table from the dump's memory
// (as crash does when it has no module debuginfo) and adds the function
// symbols to the symbol image, so module addresses on stacks get names.
func (k *Kernel) loadModules() {
	head, err := k.Addr("modules")
	if err != nil {
		return
	}
	err = k.ListEach(head, func(node uint64) error {
		addr, err := k.containerOf(node, "struct module", "list")
		if err != nil {
			return err
		}
		m, err := k.Object("struct module", addr)
		if err != nil {
			return err
		}
		name, _ := m.Chars("name")
		mod := Module{Name: name, Addr: addr}
		mod.Core, _ = m.First("module_core", "core_layout.base", "mem.base")
		mod.CoreSize, _ = m.First("core_size", "core_layout.size", "mem.size")
		syms, err := k.moduleSymbols(m, name)
		if err != nil {
			k.warnf("module %s at 0x%x: %v", name, addr, err)
		}
		mod.Symbols = len(syms)
		k.Syms.AddSymbols(syms)
		k.modules = append(k.modules, mod)
		return nil
	})
	if err != nil {
		k.warnf("modules list: %v", err)
	}
}

func (k *Kernel) moduleSymbols(m Object, name string) ([]symbols.Symbol, error) {
	if m.Has("kallsyms") { // 4.5+: the symbols live in struct mod_kallsyms
		ks, err := m.Deref("kallsyms", "struct mod_kallsyms")
		if err != nil {
			return nil, err
		}
		m = ks
	}
	symtab, err := m.First("symtab", "core_symtab")
	if err != nil {
		return nil, err
	}
	n, err := m.First("num_symtab", "core_num_syms")
	if err != nil {
		return nil, err
	}
	strtab, err := m.First("strtab", "core_strtab")
	if err != nil {
		return nil, err
	}
	if n > maxModuleSymbols {
		return nil, fmt.Errorf("num_symtab %d is implausible", n)
	}
	// Elf64_Sym is the ELF ABI: st_name(4) st_info(1) st_other(1) st_shndx(2) st_value(8) st_size(8).
	const symSize = 24
	raw := make([]byte, n*symSize)
	if err := k.Mem.Read(symtab, raw); err != nil {
		return nil, fmt.Errorf("symtab: %w", err)
	}
	var out []symbols.Symbol
	for i := uint64(0); i < n; i++ {
		e := raw[i*symSize:]
		nameOff := uint64(binary.LittleEndian.Uint32(e))
		info := e[4]
		value := binary.LittleEndian.Uint64(e[8:])
		size := binary.LittleEndian.Uint64(e[16:])
		if nameOff == 0 || value == 0 {
			continue
		}
		s, err := k.CString(strtab+nameOff, 256)
		if err != nil || s == "" {
			continue
		}
		kind := symbols.SymObject
		if info&0xf == 2 {
			kind = symbols.SymFunc
		}
		out = append(out, symbols.Symbol{Name: s, Addr: value, Size: size, Kind: kind, Module: name})
	}
	return out, nil
}
