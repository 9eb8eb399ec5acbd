package analyzer

import (
	"fmt"
	"sync"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/dwarffunc"
)

// maxModuleSections bounds a module's section list read from the dump.
const maxModuleSections = 1 << 12

// ModuleSections reads where each ELF section of a loaded module was put
// (section name -> runtime address), as /sys/module/NAME/sections shows
// it: what relocating the module's debug info needs (see
// dwarffunc.LoadModule). The layout of mod->sect_attrs is probed from the
// vmlinux's types:
//
//   - 5.8 to 6.13 (5.10, 6.1, 6.12): struct module_sect_attrs { grp;
//     nsections; struct module_sect_attr attrs[] } with attrs[i] =
//     { struct bin_attribute battr; unsigned long address }, the name in
//     battr.attr.name (ed66f991bb19 "module: Refactor section attr into
//     bin attribute");
//   - before 5.8: attrs[i] = { mattr; char *name; unsigned long address };
//   - 6.14+ (7.2): attrs[] are struct bin_attribute themselves, the
//     address in their private pointer, nsections gone: the count comes
//     from grp.bin_attrs, NULL-terminated ("module: sysfs: Drop member
//     'module_sect_attr::address'" and "...'module_sect_attrs::nsections'").
//
// A kernel built without CONFIG_KALLSYMS or CONFIG_SYSFS has no
// sect_attrs: that is an error.
func (k *Kernel) ModuleSections(m Module) (map[string]uint64, error) {
	const mt = "struct module"
	if !k.hasMember(mt, "sect_attrs") {
		return nil, fmt.Errorf("struct module has no sect_attrs (a kernel without CONFIG_SYSFS or CONFIG_KALLSYMS)")
	}
	mod, err := k.Object(mt, m.Addr)
	if err != nil {
		return nil, err
	}
	sa, err := mod.Uint("sect_attrs")
	if err != nil {
		return nil, err
	}
	if sa == 0 {
		return nil, fmt.Errorf("module %s: sect_attrs is NULL", m.Name)
	}
	attrs, err := k.Types.KernelLookup("struct module_sect_attrs")
	if err != nil {
		return nil, err
	}
	arrField, err := attrs.Field("attrs")
	if err != nil {
		return nil, err
	}
	arr := arrField.Type.Resolve()
	if arr.Elem == nil {
		return nil, fmt.Errorf("struct module_sect_attrs.attrs is not an array")
	}
	elem := arr.Elem.Resolve()
	if elem.Size == 0 {
		return nil, fmt.Errorf("struct module_sect_attrs.attrs has elements of size 0")
	}
	hdr, err := k.objectOfType(attrs, sa)
	if err != nil {
		return nil, err
	}
	var n uint64
	if hdr.Has("nsections") {
		if n, err = hdr.Uint("nsections"); err != nil {
			return nil, err
		}
	} else {
		// count the NULL-terminated grp.bin_attrs
		p, err := hdr.Uint("grp.bin_attrs")
		if err != nil {
			return nil, err
		}
		if p == 0 {
			return nil, fmt.Errorf("module %s: sect_attrs->grp.bin_attrs is NULL", m.Name)
		}
		for n = 0; n < maxModuleSections; n++ {
			v, err := k.U64(p + 8*n)
			if err != nil {
				return nil, fmt.Errorf("module %s: sect_attrs->grp.bin_attrs[%d]: %w", m.Name, n, err)
			}
			if v == 0 {
				break
			}
		}
	}
	if n > maxModuleSections {
		return nil, fmt.Errorf("module %s: %d sections is implausible", m.Name, n)
	}
	// where the name and the address are in one element
	var namePath, addrPath string
	switch {
	case elem.HasField("battr") && elem.HasField("address"):
		namePath, addrPath = "battr.attr.name", "address"
	case elem.HasField("name") && elem.HasField("address"):
		namePath, addrPath = "name", "address"
	case elem.HasField("attr.name") && elem.HasField("private"):
		namePath, addrPath = "attr.name", "private"
	default:
		return nil, fmt.Errorf("struct module_sect_attrs.attrs[] (%s) has no known name/address members", elem)
	}
	out := make(map[string]uint64, n)
	base := sa + arrField.Offset
	for i := uint64(0); i < n; i++ {
		o, err := k.objectOfType(elem, base+i*elem.Size)
		if err != nil {
			return nil, fmt.Errorf("module %s: section %d: %w", m.Name, i, err)
		}
		np, err := o.Uint(namePath)
		if err != nil {
			return nil, err
		}
		addr, err := o.Uint(addrPath)
		if err != nil {
			return nil, err
		}
		name, err := k.CString(np, 256)
		if err != nil {
			return nil, fmt.Errorf("module %s: section %d name at 0x%x: %w", m.Name, i, np, err)
		}
		out[name] = addr
	}
	// the per-CPU section is not allocated with the module, so sysfs does
	// not list it: its variables are at mod->percpu (as drgn has it)
	if _, ok := out[".data..percpu"]; !ok && mod.Has("percpu") {
		if p, err := mod.Uint("percpu"); err == nil && p != 0 {
			out[".data..percpu"] = p
		}
	}
	return out, nil
}

// ModuleByName returns the loaded module of that name ("-" and "_" are
// the same, as for modprobe).
func (k *Kernel) ModuleByName(name string) (Module, bool) {
	want := underscores(name)
	for _, m := range k.modules {
		if underscores(m.Name) == want {
			return m, true
		}
	}
	return Module{}, false
}

// ModuleDebugFile returns the debug file (NAME.ko or NAME.ko.debug) of a
// module found under Options.DebugDirs, "" when there is none.
func (k *Kernel) ModuleDebugFile(name string) string {
	k.Types.mu.Lock()
	defer k.Types.mu.Unlock()
	return k.Types.find(name)
}

func underscores(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// DebugFuncs finds the DWARF functions (inline frames, frame locals) of
// the image that holds a runtime pc: the vmlinux, or a module whose debug
// file is under Options.DebugDirs, relocated to where the dump has its
// sections. Images are opened on first use and kept. Safe for concurrent
// use.
type DebugFuncs struct {
	k       *Kernel
	mu      sync.Mutex
	vmlinux *dwarffunc.Funcs
	vmErr   error
	mods    map[string]*dwarffunc.Funcs
	errs    map[string]error
}

// NewDebugFuncs makes a DebugFuncs for the dump.
func (k *Kernel) NewDebugFuncs() *DebugFuncs {
	return &DebugFuncs{k: k, mods: map[string]*dwarffunc.Funcs{}, errs: map[string]error{}}
}

// At returns the Funcs for a runtime pc, the pc as its DWARF has it, and
// the slide for Regs.Slide (the KASLR slide for the vmlinux, 0 for a
// module), with the module's name ("" for the vmlinux). Look up a return
// address minus one.
func (d *DebugFuncs) At(pc uint64) (f *dwarffunc.Funcs, dwarfPC, slide uint64, module string, err error) {
	sym, _, ok := d.k.Syms.Lookup(pc)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok || sym.Module == "" {
		if d.vmlinux == nil && d.vmErr == nil {
			d.vmlinux, d.vmErr = imageFuncs(d.k.Syms.Image())
		}
		return d.vmlinux, pc - d.k.Syms.Slide(), d.k.Syms.Slide(), "", d.vmErr
	}
	name := sym.Module
	if f, ok := d.mods[name]; ok {
		return f, pc, 0, name, nil
	}
	if err, ok := d.errs[name]; ok {
		return nil, 0, 0, name, err
	}
	f, err = d.loadModule(name)
	if err != nil {
		d.errs[name] = err
		return nil, 0, 0, name, err
	}
	d.mods[name] = f
	return f, pc, 0, name, nil
}

func (d *DebugFuncs) loadModule(name string) (*dwarffunc.Funcs, error) {
	m, ok := d.k.ModuleByName(name)
	if !ok {
		return nil, fmt.Errorf("module %s is not loaded", name)
	}
	path := d.k.ModuleDebugFile(name)
	if path == "" {
		return nil, fmt.Errorf("module %s: no debug file (NAME.ko) under the debug directories", name)
	}
	secs, err := d.k.ModuleSections(m)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	f, err := dwarffunc.LoadModule(path, secs)
	if err != nil {
		return nil, fmt.Errorf("module %s: %s: %w", name, path, err)
	}
	return f, nil
}

// imageFuncsCache holds each image's frame DWARF.
var imageFuncsCache perImage[imageFuncsValue]

type imageFuncsValue struct {
	funcs *dwarffunc.Funcs
	err   error
}

// imageFuncs is the vmlinux's frame DWARF (inline frames, locals), opened
// once per image: the dumps of a batch that share a vmlinux share its
// index and the units it has parsed.
func imageFuncs(im *symbols.Image) (*dwarffunc.Funcs, error) {
	v := imageFuncsCache.get(im, func() imageFuncsValue {
		f, err := dwarffunc.Open(im)
		return imageFuncsValue{f, err}
	})
	return v.funcs, v.err
}

// prefetchFrames opens the vmlinux's frame DWARF and builds its pc index
// in the background: the first backtrace needs them, and until then the
// analysis reads the dump on one CPU. It reads only the vmlinux, so
// nothing waits for it.
func (k *Kernel) prefetchFrames() {
	im := k.Syms.Image()
	if k.codeReplay != nil || !im.HasSections() || im.FromDump() {
		return
	}
	go func() {
		if f, err := imageFuncs(im); err == nil {
			f.Prepare()
		}
	}()
}
