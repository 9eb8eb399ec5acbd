package symbols

import "sync"

// View is one dump's run-time view of a kernel image: the image's symbols
// moved by that dump's KASLR slide, plus the symbols of the modules loaded
// in that dump. The image itself is never changed, so one opened (and
// decoded) vmlinux serves every dump of its kernel, each through its own
// view. A View is safe for concurrent use.
type View struct {
	im    *Image
	slide uint64

	mu      sync.RWMutex
	modules symTable

	rec *SnapshotBuilder // records the vmlinux symbols and data used
}

// Record makes the view record every vmlinux symbol and data it serves
// into b (see Snapshot).
func (v *View) Record(b *SnapshotBuilder) { v.rec = b }

func (v *View) recordSym(name string) {
	if v.rec == nil {
		return
	}
	if i, ok := v.im.kernel.byName(name); ok {
		s := &v.im.kernel.byAddr[i]
		v.rec.Symbol(v.im.kernel.symbol(s), s.text)
	}
}

// View returns a view of the image with its kernel-image symbols moved by
// slide (the KASLR offset; per-CPU symbols stay put) and no module symbols.
func (im *Image) View(slide uint64) *View { return &View{im: im, slide: slide} }

// Image is the kernel image the view is of.
func (v *View) Image() *Image { return v.im }

// Path is the vmlinux's file name.
func (v *View) Path() string { return v.im.path }

// BuildID is the vmlinux's GNU build-id.
func (v *View) BuildID() string { return v.im.buildID }

// Slide is the KASLR offset of the view.
func (v *View) Slide() uint64 { return v.slide }

// Types are the image's types (shared by all its views).
func (v *View) Types() (*Types, error) { return v.im.Types() }

// ReadData returns the initialized bytes of a vmlinux data symbol (see
// Image.ReadData); they do not depend on the slide.
func (v *View) ReadData(name string) ([]byte, error) {
	d, err := v.im.ReadData(name)
	if err == nil && v.rec != nil {
		v.recordSym(name)
		v.rec.Data(name, d)
	}
	return d, err
}

// Symbol returns the named symbol at its run-time address, from vmlinux
// first, then from the module symbols added with AddModuleSymbols.
func (v *View) Symbol(name string) (Symbol, bool) {
	if s, ok := v.im.symbol(name, v.slide); ok {
		v.recordSym(name)
		return s, true
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if i, ok := v.modules.byName(name); ok {
		return v.modules.symbol(&v.modules.byAddr[i]), true
	}
	return Symbol{}, false
}

// Addr returns the run-time address of the named symbol.
func (v *View) Addr(name string) (uint64, error) { return addrOf(v.im.path, name, v.Symbol) }

// Lookup returns the symbol containing the run-time address addr and
// addr's offset into it (see Image.Lookup); module symbols take part.
func (v *View) Lookup(addr uint64) (Symbol, uint64, bool) {
	var ks *sym
	var kq int
	if addr >= v.slide {
		ks, kq = v.im.kernel.lookup(addr - v.slide)
	}
	v.mu.RLock()
	ms, mq := v.modules.lookup(addr)
	var msym Symbol
	if mq > 0 {
		msym = v.modules.symbol(ms)
	}
	v.mu.RUnlock()
	var best Symbol
	switch {
	case kq == 0 && mq == 0:
		return Symbol{}, 0, false
	case kq > mq, kq == mq && ks.Addr+v.slide >= msym.Addr:
		best = v.im.kernel.symbol(ks)
		if v.rec != nil {
			v.rec.Symbol(best, ks.text)
		}
		best.Addr += v.slide
	default:
		best = msym
	}
	return best, addr - best.Addr, true
}

// Describe renders a run-time addr as "name+0xoff" (with " [module]"
// appended for module symbols), or as "0x..." when no symbol covers it.
func (v *View) Describe(addr uint64) string { return describe(addr, v.Lookup) }

// AddModuleSymbols merges symbols found in the dump (typically module
// symbols read from its memory) into Symbol, Addr, Lookup and Describe.
// Their addresses are run-time addresses; vmlinux symbols win name clashes.
func (v *View) AddModuleSymbols(syms []Symbol) {
	v.mu.Lock()
	defer v.mu.Unlock()
	all := make([]sym, 0, len(v.modules.byAddr)+len(syms))
	all = append(all, v.modules.byAddr...)
	modules := append([]string(nil), v.modules.modules...)
	index := map[string]uint16{}
	for i, m := range modules {
		index[m] = uint16(i + 1)
	}
	for _, s := range syms {
		if s.Name == "" {
			continue
		}
		var m uint16
		if s.Module != "" {
			var ok bool
			if m, ok = index[s.Module]; !ok && len(modules) < 1<<16-1 {
				modules = append(modules, s.Module)
				m = uint16(len(modules))
				index[s.Module] = m
			}
		}
		all = append(all, sym{Name: s.Name, Addr: s.Addr, Size: s.Size, Kind: s.Kind, text: s.Kind == SymFunc, global: true, module: m})
	}
	v.modules = buildTable(all, modules)
}
