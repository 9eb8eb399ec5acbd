// Package dwarffunc answers two questions a stack unwinder cannot: which
// functions, inlined ones included, a pc belongs to (innermost first, as
// drgn's stack_trace shows them), and where a function's local variable or
// parameter lives at that pc, evaluated against a frame's registers.
//
// It works on a *dwarf.Data alone (plus the raw location sections Go's
// debug/dwarf does not decode) and needs no dump: the caller supplies
// registers and a memory reader. Addresses are DWARF (link-time) addresses:
// subtract the KASLR slide from a vmlinux pc first; modules are loaded with
// their runtime section addresses already applied (LoadModule).
//
// Lookups are lazy: the units are indexed by address range once (from
// .debug_aranges when the Funcs is made from raw sections, without
// reading .debug_info at all), and only the subprogram that holds a pc is
// decoded, with the per-unit subprogram ranges cached.
package dwarffunc

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
)

// ErrNoFunction is returned (wrapped) when no subprogram covers a pc.
var ErrNoFunction = errors.New("dwarffunc: no function covers the pc")

// Sections are raw DWARF sections. With New (over a *dwarf.Data) they
// carry what debug/dwarf keeps to itself or does not read, and all are
// optional: without Info every unit is assumed to be DWARF 5 when
// LocLists is present, else DWARF 4; without Loc/LocLists location lists
// cannot be evaluated; without Addr DW_FORM_addrx and the DW_LLE_*x
// entries cannot. NewFromSections reads everything from them: Info and
// Abbrev are required, Aranges saves reading every unit's first entry.
type Sections struct {
	// the sections a unit's dwarf.Data reads (Info, Abbrev, Line, Str,
	// Addr...; Info also gives each unit's version)
	dwarfunit.Sections
	Loc      []byte // .debug_loc (DWARF 4)
	LocLists []byte // .debug_loclists (DWARF 5)
	Aranges  []byte // .debug_aranges
}

// Func is one function of a pc's chain, innermost first.
type Func struct {
	Name string `json:"name"`
	// Inline is true for a DW_TAG_inlined_subroutine, false for the
	// DW_TAG_subprogram that contains them (always the last of a chain).
	Inline bool `json:"inline"`
	// Entry is the lowest address of the instance (its DW_AT_entry_pc when
	// present for an inlined one).
	Entry uint64 `json:"entry"`
	// CallFile and CallLine say where an inlined instance was inlined
	// into the next function of the chain.
	CallFile string `json:"call_file,omitempty"`
	CallLine int64  `json:"call_line,omitempty"`
	// Offset is the DWARF offset of the instance's entry.
	Offset uint64 `json:"offset"`
}

// Funcs looks up functions and their locals in one DWARF image. Its
// methods are safe for concurrent use.
type Funcs struct {
	d     *dwarf.Data // nil when each unit is opened on its own (NewFromSections)
	sec   Sections
	order binary.ByteOrder

	indexOnce sync.Once
	indexErr  error
	cuRanges  []cuRange          // sorted by lo
	versions  []dwarfunit.Header // every unit's, sorted (but with .debug_aranges)
	set       *dwarfunit.Set     // the units, opened on demand (NewFromSections)
	whole     *dwarfunit.Unit    // f.d as a unit (New)

	mu    sync.Mutex
	cus   map[dwarf.Offset]*cuInfo
	names map[dwarf.Offset]string
	types map[dwarf.Offset]typeInfo
	files map[dwarf.Offset][]string
}

type cuRange struct {
	lo, hi uint64
	cu     dwarf.Offset
}

// cuInfo is what a unit's lookups need, decoded on first use.
type cuInfo struct {
	entry    *dwarf.Entry
	version  int
	lowPC    uint64
	addrBase uint64
	locBase  uint64
	hasLocB  bool
	subs     []subRange // sorted by lo
}

type subRange struct {
	lo, hi uint64
	off    dwarf.Offset
}

// New makes a Funcs for d; sec carries the raw sections for location lists.
func New(d *dwarf.Data, sec Sections) *Funcs {
	f := &Funcs{
		d:     d,
		sec:   sec,
		order: binary.LittleEndian,
		cus:   map[dwarf.Offset]*cuInfo{},
		names: map[dwarf.Offset]string{},
		types: map[dwarf.Offset]typeInfo{},
		files: map[dwarf.Offset][]string{},
	}
	if d != nil {
		f.whole = dwarfunit.Whole(d)
	}
	return f
}

// NewFromSections makes a Funcs that reads the raw sections itself and
// opens each unit only when a lookup needs it (see units.go): for a
// vmlinux, whose stack frames touch a few dozen of its thousands of units.
func NewFromSections(sec Sections) (*Funcs, error) {
	if len(sec.Info) == 0 || len(sec.Abbrev) == 0 {
		return nil, errors.New("dwarffunc: no .debug_info or .debug_abbrev")
	}
	return New(nil, sec), nil
}

// Prepare builds the index from pcs to units now (the first lookup does
// otherwise): in the background, ahead of the lookups.
func (f *Funcs) Prepare() error { return f.buildIndex() }

// buildIndex records every unit's address ranges (one entry per unit;
// the children are skipped without decoding) and the unit versions.
func (f *Funcs) buildIndex() error {
	f.indexOnce.Do(func() {
		defer func() {
			if p := recover(); p != nil {
				f.indexErr = fmt.Errorf("dwarffunc: malformed DWARF: %v", p)
			}
		}()
		if f.d == nil && len(f.sec.Aranges) > 0 {
			// the unit headers are read when a unit is first used:
			// walking them all touches every page of .debug_info
			rs, err := dwarfunit.Aranges(f.sec.Aranges, f.order)
			if err != nil {
				f.indexErr = fmt.Errorf("dwarffunc: %w", err)
				return
			}
			var starts []dwarf.Offset
			for _, r := range rs {
				f.cuRanges = append(f.cuRanges, cuRange{r.Lo, r.Hi, r.Unit})
				starts = append(starts, r.Unit)
			}
			f.set = dwarfunit.NewSet(f.sec.Sections, f.order, starts)
		} else {
			f.versions = dwarfunit.Headers(f.sec.Info, f.order)
			if f.d == nil {
				var starts []dwarf.Offset
				for _, u := range f.versions {
					starts = append(starts, u.Off)
				}
				f.set = dwarfunit.NewSet(f.sec.Sections, f.order, starts)
			}
			f.indexErr = f.indexUnitRanges()
		}
		sort.Slice(f.cuRanges, func(i, j int) bool { return f.cuRanges[i].lo < f.cuRanges[j].lo })
	})
	return f.indexErr
}

// indexUnitRanges reads each unit's first entry for its ranges (when there
// is no .debug_aranges to say them).
func (f *Funcs) indexUnitRanges() error {
	// (inside buildIndex's Once: the units are reached directly, not
	// through dataAt)
	var units []*dwarfunit.Unit
	var starts []dwarf.Offset
	if f.d == nil {
		for _, h := range f.versions {
			u, err := f.set.Unit(h.Off)
			if err != nil {
				return fmt.Errorf("dwarffunc: %w", err)
			}
			units, starts = append(units, u), append(starts, h.Off)
		}
	} else {
		units, starts = []*dwarfunit.Unit{f.whole}, []dwarf.Offset{0}
	}
	for i, u := range units {
		r := dwarfunit.NewReader(u, starts[i])
		for {
			e, err := r.Next()
			if err != nil {
				return fmt.Errorf("dwarffunc: indexing units: %w", err)
			}
			if e == nil {
				break
			}
			if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
				if rs, err := u.Data.Ranges(u.Local(e)); err == nil {
					for _, rg := range rs {
						if rg[1] > rg[0] {
							f.cuRanges = append(f.cuRanges, cuRange{rg[0], rg[1], e.Offset})
						}
					}
				}
			}
			r.SkipChildren()
			if f.d == nil {
				break // one unit per reader
			}
		}
	}
	return nil
}

func (f *Funcs) unitVersion(cu dwarf.Offset) int {
	if f.set != nil {
		if h, err := f.set.HeaderOf(cu); err == nil {
			return h.Version
		}
	} else if i := sort.Search(len(f.versions), func(i int) bool { return f.versions[i].Off > cu }) - 1; i >= 0 {
		return f.versions[i].Version
	}
	if f.sec.LocLists != nil && f.sec.Loc == nil {
		return 5
	}
	return 4
}

// cuFor finds the unit whose ranges hold pc.
func (f *Funcs) cuFor(pc uint64) (dwarf.Offset, bool) {
	rs := f.cuRanges
	i := sort.Search(len(rs), func(i int) bool { return rs[i].lo > pc })
	// ranges of different units do not overlap in practice, but a unit
	// with a huge range (asm stubs) may precede; scan back a little
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		if rs[j].lo <= pc && pc < rs[j].hi {
			return rs[j].cu, true
		}
	}
	return 0, false
}

// cu decodes (once) what lookups in a unit need: its bases and the ranges
// of its top-level (and namespace-nested) subprograms.
func (f *Funcs) cu(off dwarf.Offset) (*cuInfo, error) {
	f.mu.Lock()
	c := f.cus[off]
	f.mu.Unlock()
	if c != nil {
		return c, nil
	}
	r, err := f.readerAt(off)
	if err != nil {
		return nil, err
	}
	e, err := r.Next()
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("dwarffunc: no unit at 0x%x", off)
	}
	c = &cuInfo{entry: e, version: f.unitVersion(off)}
	c.lowPC, _ = e.Val(dwarf.AttrLowpc).(uint64)
	if v, ok := e.Val(dwarf.AttrAddrBase).(int64); ok {
		c.addrBase = uint64(v)
	}
	if v, ok := e.Val(dwarf.AttrLoclistsBase).(int64); ok {
		c.locBase, c.hasLocB = uint64(v), true
	}
	if e.Children {
		depth := 1
		for depth > 0 {
			e, err := r.Next()
			if err != nil {
				return nil, err
			}
			if e == nil {
				break
			}
			if e.Tag == 0 {
				depth--
				continue
			}
			switch e.Tag {
			case dwarf.TagSubprogram:
				rs, _ := f.ranges(e)
				for _, rg := range rs {
					if rg[1] > rg[0] {
						c.subs = append(c.subs, subRange{rg[0], rg[1], e.Offset})
					}
				}
				r.SkipChildren()
			case dwarf.TagNamespace, dwarf.TagModule:
				if e.Children {
					depth++
				}
			default:
				r.SkipChildren()
			}
		}
	}
	sort.Slice(c.subs, func(i, j int) bool { return c.subs[i].lo < c.subs[j].lo })
	f.mu.Lock()
	f.cus[off] = c
	f.mu.Unlock()
	return c, nil
}

// scope is one function instance of a chain with the variables visible in
// it at the pc: blocks[0] holds the instance's own children, each further
// block a nested lexical block containing the pc.
type scope struct {
	entry  *dwarf.Entry
	inline bool
	blocks [][]*dwarf.Entry
}

// chain is a pc's scopes, outermost (the subprogram) first.
type chain struct {
	cu     *cuInfo
	scopes []*scope
}

func (f *Funcs) chainAt(pc uint64) (ch *chain, err error) {
	defer func() {
		if p := recover(); p != nil {
			ch, err = nil, fmt.Errorf("dwarffunc: malformed DWARF at pc 0x%x: %v", pc, p)
		}
	}()
	if err := f.buildIndex(); err != nil {
		return nil, err
	}
	cuOff, ok := f.cuFor(pc)
	if !ok {
		return nil, fmt.Errorf("%w: 0x%x is in no unit's ranges", ErrNoFunction, pc)
	}
	c, err := f.cu(cuOff)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(c.subs), func(i int) bool { return c.subs[i].lo > pc })
	var sub dwarf.Offset
	found := false
	for j := i - 1; j >= 0 && j >= i-32; j-- {
		if c.subs[j].lo <= pc && pc < c.subs[j].hi {
			sub, found = c.subs[j].off, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: 0x%x (unit at 0x%x)", ErrNoFunction, pc, cuOff)
	}
	r, err := f.readerAt(sub)
	if err != nil {
		return nil, err
	}
	e, err := r.Next()
	if err != nil {
		return nil, err
	}
	ch = &chain{cu: c}
	s := &scope{entry: e, blocks: [][]*dwarf.Entry{nil}}
	ch.scopes = append(ch.scopes, s)
	if e.Children {
		if err := f.walk(r, pc, ch, s); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// walk reads the children of the current entry (up to its terminator),
// recording variables into s's innermost block and descending into the
// lexical blocks and inlined subroutines that contain pc.
func (f *Funcs) walk(r *dwarfunit.Reader, pc uint64, ch *chain, s *scope) error {
	block := len(s.blocks) - 1
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		switch e.Tag {
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			s.blocks[block] = append(s.blocks[block], e)
			r.SkipChildren()
		case dwarf.TagLexDwarfBlock:
			if !e.Children {
				continue
			}
			if f.contains(e, pc) {
				s.blocks = append(s.blocks, nil)
				if err := f.walk(r, pc, ch, s); err != nil {
					return err
				}
			} else {
				r.SkipChildren()
			}
		case dwarf.TagInlinedSubroutine:
			if f.contains(e, pc) {
				in := &scope{entry: e, inline: true, blocks: [][]*dwarf.Entry{nil}}
				ch.scopes = append(ch.scopes, in)
				if e.Children {
					if err := f.walk(r, pc, ch, in); err != nil {
						return err
					}
				}
			} else {
				r.SkipChildren()
			}
		default:
			r.SkipChildren()
		}
	}
}

func (f *Funcs) contains(e *dwarf.Entry, pc uint64) bool {
	rs, err := f.ranges(e)
	if err != nil {
		return false
	}
	for _, rg := range rs {
		if rg[0] <= pc && pc < rg[1] {
			return true
		}
	}
	return false
}

// Frames returns the functions at pc, innermost first: the inlined
// subroutines whose ranges hold pc, then their containing subprogram. For
// a return address, look up the address minus one: that is every frame of
// a sleeping task, the first one included (its pc was saved by the call
// to __switch_to_asm), as drgn does; only a frame interrupted by an
// exception or interrupt is looked up at its pc. A pc in no DWARF
// function (assembly such as entry_SYSCALL_64) is ErrNoFunction: name it
// by its ELF symbol.
func (f *Funcs) Frames(pc uint64) ([]Func, error) {
	ch, err := f.chainAt(pc)
	if err != nil {
		return nil, err
	}
	out := make([]Func, 0, len(ch.scopes))
	for i := len(ch.scopes) - 1; i >= 0; i-- {
		s := ch.scopes[i]
		fn := Func{Name: f.name(s.entry), Inline: s.inline, Offset: uint64(s.entry.Offset)}
		if rs, err := f.ranges(s.entry); err == nil && len(rs) > 0 {
			fn.Entry = rs[0][0]
			for _, rg := range rs {
				fn.Entry = min(fn.Entry, rg[0])
			}
		}
		if s.inline {
			if v, ok := s.entry.Val(dwarf.AttrEntrypc).(uint64); ok {
				fn.Entry = v
			}
			if v, ok := s.entry.Val(dwarf.AttrCallLine).(int64); ok {
				fn.CallLine = v
			}
			if v, ok := s.entry.Val(dwarf.AttrCallFile).(int64); ok {
				fn.CallFile = f.fileName(ch.cu, v)
			}
		}
		out = append(out, fn)
	}
	return out, nil
}

// fileName resolves a DW_AT_call_file index through the unit's line table.
func (f *Funcs) fileName(c *cuInfo, idx int64) string {
	f.mu.Lock()
	files, ok := f.files[c.entry.Offset]
	f.mu.Unlock()
	if !ok {
		if lr, err := f.lineReader(c.entry); err == nil && lr != nil {
			for _, fe := range lr.Files() {
				if fe == nil {
					files = append(files, "")
				} else {
					files = append(files, fe.Name)
				}
			}
		}
		f.mu.Lock()
		f.files[c.entry.Offset] = files
		f.mu.Unlock()
	}
	if idx >= 0 && idx < int64(len(files)) {
		return files[idx]
	}
	return ""
}

// entryAt decodes the entry at off.
func (f *Funcs) entryAt(off dwarf.Offset) (*dwarf.Entry, error) {
	r, err := f.readerAt(off)
	if err != nil {
		return nil, err
	}
	e, err := r.Next()
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("dwarffunc: no entry at 0x%x", off)
	}
	return e, nil
}

// name is an entry's DW_AT_name, following DW_AT_abstract_origin and
// DW_AT_specification (possibly across units) when it has none.
func (f *Funcs) name(e *dwarf.Entry) string {
	for range 8 {
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			return n
		}
		ref, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			ref, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			return ""
		}
		f.mu.Lock()
		n, cached := f.names[ref]
		f.mu.Unlock()
		if cached {
			return n
		}
		o, err := f.entryAt(ref)
		if err != nil {
			return ""
		}
		if n, ok := o.Val(dwarf.AttrName).(string); ok {
			f.mu.Lock()
			f.names[ref] = n
			f.mu.Unlock()
			return n
		}
		e = o
	}
	return ""
}

// origin follows DW_AT_abstract_origin once, or returns nil.
func (f *Funcs) origin(e *dwarf.Entry) *dwarf.Entry {
	ref, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	if !ok {
		return nil
	}
	o, err := f.entryAt(ref)
	if err != nil {
		return nil
	}
	return o
}
