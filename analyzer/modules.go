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

// ModuleFeatures say how struct module describes its memory and symbols.
type ModuleFeatures struct {
	// Memory is "mem" (6.4+, ac3b43283923 "module: replace module_layout
	// with module_memory": mem[MOD_TEXT]), "core_layout" (4.5+,
	// 7523e4dc5057) or "module_core" (2.6).
	Memory string
	// Kallsyms is true when the symbols live in struct mod_kallsyms
	// (4.6+, 8244062ef1e5), not in struct module itself.
	Kallsyms bool
}

func (k *Kernel) probeModules(f *Features) {
	m := &f.Modules
	const mt = "struct module"
	switch {
	case k.hasMember(mt, "mem"):
		m.Memory = "mem"
	case k.hasMember(mt, "core_layout"):
		m.Memory = "core_layout"
	case k.hasMember(mt, "module_core"):
		m.Memory = "module_core"
	}
	m.Kallsyms = k.hasMember(mt, "kallsyms")
	f.set("module.memory", "%s", orNone(m.Memory))
	f.set("module.kallsyms", "%t", m.Kallsyms)
}

// moduleCore reads where a module's core text is.
func (k *Kernel) moduleCore(m Object) (base, size uint64, err error) {
	switch k.Features.Modules.Memory {
	case "mem":
		mem, err := m.Type.Field("mem")
		if err != nil {
			return 0, 0, err
		}
		// mem[MOD_TEXT], MOD_TEXT = 0
		arr := mem.Type.Resolve()
		if arr.Elem == nil {
			return 0, 0, fmt.Errorf("struct module.mem is not an array")
		}
		o, err := k.objectOfType(arr.Elem.Resolve(), m.Addr+mem.Offset)
		if err != nil {
			return 0, 0, err
		}
		base, _ = o.Uint("base")
		size, _ = o.Uint("size")
		return base, size, nil
	case "core_layout":
		base, _ = m.Uint("core_layout.base")
		size, _ = m.Uint("core_layout.size")
		return base, size, nil
	case "module_core":
		base, _ = m.Uint("module_core")
		size, _ = m.Uint("core_size")
		return base, size, nil
	}
	return 0, 0, fmt.Errorf("struct module has none of mem, core_layout, module_core")
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
	var all []symbols.Symbol // added at once: each addition rebuilds the view's module table
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
		if mod.Core, mod.CoreSize, err = k.moduleCore(m); err != nil {
			k.warnf("module %s at 0x%x: %v", name, addr, err)
		}
		syms, err := k.moduleSymbols(m, name)
		if err != nil {
			k.warnf("module %s at 0x%x: %v", name, addr, err)
		}
		mod.Symbols = len(syms)
		all = append(all, syms...)
		k.modules = append(k.modules, mod)
		return nil
	})
	if err != nil {
		k.warnf("modules list: %v", err)
	}
	k.Syms.AddModuleSymbols(all)
}

func (k *Kernel) moduleSymbols(m Object, name string) ([]symbols.Symbol, error) {
	if k.Features.Modules.Kallsyms {
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
