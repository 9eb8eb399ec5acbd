package symbols

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
)

// Types gives access to the type layouts in an image's DWARF. It is built
// by Image.Types with one pass over the top-level debugging entries; each
// type is decoded on first use and cached. Its methods are safe for
// concurrent use.
type Types struct {
	path     string
	data     *dwarf.Data     // the whole .debug_info (nil with units)
	whole    *dwarfunit.Unit // data as a unit
	units    *dwarfunit.Set  // or its units, each opened on demand (typeunits.go)
	order    binary.ByteOrder
	addrSize uint64

	// Built once by the index pass, read-only afterwards.
	index  map[string]dwarf.Offset // "struct dio", "enum x", "transaction_t", "int"
	consts map[string]int64        // enumerator values
	vars   map[string]dwarf.Offset // global variable -> its type's entry
	// every named struct/union definition (each unit has its own copies)
	namedOffs []dwarf.Offset
	cuOffs    []dwarf.Offset // where each unit's entries start, ascending

	mu     sync.Mutex
	gcache map[dwarf.Offset]*unitCache // godwarf's, per unit (by its offset; 0 with data)
	// Stand-ins are seeded into gcache for every named
	// struct and union: godwarf decodes eagerly through pointers, which on
	// a kernel means most of its 100k types for one task_struct; with the
	// stand-ins it stops at the next named struct, decoded on demand.
	seededCU map[int]bool // units whose stand-ins are in gcache
	stubs    map[string]*Type
	byOff    map[dwarf.Offset]*Type // converted structs and unions by entry
	conv     map[godwarf.Type]*Type
	ptrs     map[*Type]*Type // pointer types made by Lookup("T *")
	void     *Type
}

// dwarfData opens the image's DWARF once (mapped when the file is), without
// indexing anything: one dwarf.Data over all units, for what cannot go
// unit by unit (a compressed or unmapped file, a relocatable module, the
// serial index, DWARF()).
func (im *Image) dwarfData() (*dwarf.Data, error) {
	im.dwarfOnce.Do(func() { im.dwarf, im.dwarfErr = im.openDWARF() })
	return im.dwarf, im.dwarfErr
}

func (im *Image) openDWARF() (data *dwarf.Data, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("symbols: %s: malformed DWARF: %v", im.path, p)
		}
	}()
	if im.file == nil {
		return nil, fmt.Errorf("symbols: %s: a snapshot has no DWARF", im.path)
	}
	hasInfo := false
	for _, s := range im.file.Sections {
		if s.Name == ".debug_info" || s.Name == ".zdebug_info" {
			hasInfo = true
		}
	}
	if !hasInfo {
		return nil, fmt.Errorf("symbols: %s has no DWARF debug info (.debug_info); a vmlinux built with CONFIG_DEBUG_INFO, or its separate debuginfo file, is needed for types", im.path)
	}
	im.mu.RLock()
	closed := im.closed
	im.mu.RUnlock()
	if closed {
		return nil, fmt.Errorf("symbols: %s: DWARF after Close", im.path)
	}
	data, err = mappedDWARF(im.file, im.mapped)
	if err == nil && data != nil {
		im.mu.Lock()
		im.mappingInUse = true
		im.mu.Unlock()
	}
	if err == nil && data == nil {
		data, err = im.file.DWARF()
	}
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: reading DWARF: %w", im.path, err)
	}
	return data, nil
}

// Types returns the image's DWARF type information, building the name
// index on the first call. It fails if the image has no DWARF.
func (im *Image) Types() (*Types, error) {
	im.typesOnce.Do(func() { im.types, im.typesErr = im.loadTypes() })
	return im.types, im.typesErr
}

// ShareTypes makes the image use types already decoded from another image
// of the same file (same build-id), so that many dumps of one kernel
// decode its DWARF once. Types do not depend on the KASLR slide, which
// stays per image. It fails when the build-ids differ.
func (im *Image) ShareTypes(from *Image) error {
	t, err := from.Types()
	if err != nil {
		return err
	}
	if im.buildID == "" || im.buildID != from.buildID {
		return fmt.Errorf("symbols: %s (build-id %q) cannot share the types of %s (build-id %q)", im.path, im.buildID, from.path, from.buildID)
	}
	shared := false
	im.typesOnce.Do(func() { im.types, shared = t, true })
	if !shared && im.types != t {
		return fmt.Errorf("symbols: %s already has its own types", im.path)
	}
	return nil
}

func (im *Image) loadTypes() (*Types, error) {
	t := &Types{
		path:     im.path,
		order:    im.file.ByteOrder,
		addrSize: 8,
		index:    make(map[string]dwarf.Offset),
		consts:   make(map[string]int64),
		vars:     make(map[string]dwarf.Offset),
		gcache:   make(map[dwarf.Offset]*unitCache),
		stubs:    make(map[string]*Type),
		byOff:    make(map[dwarf.Offset]*Type),
		conv:     make(map[godwarf.Type]*Type),
		ptrs:     make(map[*Type]*Type),
		void:     &Type{Kind: Void, Name: "void"},
	}
	if im.file.Class == elf.ELFCLASS32 {
		t.addrSize = 4
	}
	cached := t.loadIndex(im.buildID)
	fastErr := errIndexFast
	if !cached {
		fastErr = t.indexFast(im)
	}
	if cached || fastErr == nil {
		// the index came from the mapped sections: the types decode
		// through the units they are in (typeunits.go), no dwarf.New
		if set := im.typeUnits(t.cuOffs); set != nil {
			t.units = set
			if !cached {
				t.saveIndex(im.buildID)
			}
			return t, nil
		}
	}
	data, err := im.dwarfData()
	if err != nil {
		return nil, err
	}
	t.data, t.whole = data, dwarfunit.Whole(data)
	if cached {
		return t, nil
	}
	if fastErr != nil {
		t.index, t.consts, t.vars = map[string]dwarf.Offset{}, map[string]int64{}, map[string]dwarf.Offset{}
		t.namedOffs, t.cuOffs = nil, nil
		if err := t.buildIndex(); err != nil {
			return nil, err
		}
	}
	t.saveIndex(im.buildID)
	return t, nil
}

// buildIndex walks the top-level entries of every unit, recording where
// named struct, union, enum, typedef and base types are defined, and the
// values of all enumerators. Children of other entries are skipped (using
// DW_AT_sibling where the producer wrote it).
func (t *Types) buildIndex() error {
	r := t.data.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("symbols: %s: malformed DWARF while indexing types: %w", t.path, err)
		}
		if e == nil {
			return nil
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit:
			t.cuOffs = append(t.cuOffs, e.Offset)
			continue // descend into the unit
		case 0:
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		decl, _ := e.Val(dwarf.AttrDeclaration).(bool)
		add := func(key string) {
			if name == "" || decl {
				return
			}
			if _, ok := t.index[key]; !ok {
				t.index[key] = e.Offset
			}
		}
		switch e.Tag {
		case dwarf.TagStructType, dwarf.TagClassType:
			add("struct " + name)
			if name != "" && !decl {
				t.namedOffs = append(t.namedOffs, e.Offset)
			}
		case dwarf.TagUnionType:
			add("union " + name)
			if name != "" && !decl {
				t.namedOffs = append(t.namedOffs, e.Offset)
			}
		case dwarf.TagTypedef:
			add(name)
		case dwarf.TagBaseType:
			add(name)
			add(cIntName(name))
		case dwarf.TagVariable:
			if off, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok && name != "" {
				if _, dup := t.vars[name]; !dup {
					t.vars[name] = off
				}
			}
		case dwarf.TagEnumerationType:
			add("enum " + name)
			if e.Children {
				if err := t.indexEnumerators(r); err != nil {
					return err
				}
				continue
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// indexEnumerators records the enumerators that follow an enumeration
// entry, consuming its children.
func (t *Types) indexEnumerators(r *dwarf.Reader) error {
	for {
		kid, err := r.Next()
		if err != nil {
			return fmt.Errorf("symbols: %s: malformed DWARF in an enumeration: %w", t.path, err)
		}
		if kid == nil {
			return fmt.Errorf("symbols: %s: malformed DWARF: enumeration not terminated", t.path)
		}
		if kid.Tag == 0 {
			return nil
		}
		if kid.Tag == dwarf.TagEnumerator {
			name, _ := kid.Val(dwarf.AttrName).(string)
			if v, ok := constValue(kid); ok && name != "" {
				if _, dup := t.consts[name]; !dup {
					t.consts[name] = v
				}
			}
		}
		if kid.Children {
			r.SkipChildren()
		}
	}
}

func constValue(e *dwarf.Entry) (int64, bool) {
	switch v := e.Val(dwarf.AttrConstValue).(type) {
	case int64:
		return v, true
	case uint64:
		return int64(v), true
	}
	return 0, false
}

// Constant returns the value of the enumerator name, e.g. "T_LOCKED".
func (t *Types) Constant(name string) (int64, error) {
	v, ok := t.consts[name]
	if !ok {
		return 0, &notFoundError{what: "enumerator " + name, file: t.path}
	}
	return v, nil
}

// Variable returns the type of a global variable, which may be anonymous
// (e.g. tk_core, a static variable of an unnamed struct type).
func (t *Types) Variable(name string) (*Type, error) {
	off, ok := t.vars[name]
	if !ok {
		return nil, &notFoundError{what: "variable " + name, file: t.path}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.decode(off)
}

// Lookup returns the named type: "struct dio", "union x", "enum y", a
// typedef such as "transaction_t", or a base type ("int", "unsigned long"
// and gcc's "long unsigned int" alike). A trailing "*" asks for a pointer
// to the type ("struct page *").
func (t *Types) Lookup(name string) (*Type, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookup(name)
}

func (t *Types) lookup(name string) (*Type, error) {
	key := strings.Join(strings.Fields(name), " ")
	if strings.HasSuffix(key, "*") {
		base, err := t.lookup(strings.TrimSuffix(key, "*"))
		if err != nil {
			return nil, err
		}
		return t.pointerTo(base), nil
	}
	off, ok := t.index[key]
	if !ok {
		off, ok = t.index[cIntName(key)]
	}
	if !ok {
		return nil, &notFoundError{what: "type " + key, file: t.path}
	}
	return t.decode(off)
}

func (t *Types) pointerTo(base *Type) *Type {
	if p, ok := t.ptrs[base]; ok {
		return p
	}
	p := &Type{Kind: Pointer, Size: t.addrSize, Elem: base}
	t.ptrs[base] = p
	return p
}

// Struct returns struct name, or, if there is none, the struct that a
// typedef called name stands for. A leading "struct " in name is allowed.
func (t *Types) Struct(name string) (*Type, error) {
	name = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), "struct "))
	t.mu.Lock()
	defer t.mu.Unlock()
	ty, err := t.lookup("struct " + name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return ty, err
	}
	if off, ok := t.index[name]; ok {
		td, err := t.decode(off)
		if err != nil {
			return nil, err
		}
		if r := td.resolve(); r != nil && r.Kind == Struct {
			return r, nil
		}
	}
	return nil, &notFoundError{what: "struct " + name, file: t.path}
}

// decode reads the type entry at off through godwarf and converts it.
// The caller holds t.mu.
func (t *Types) decode(off dwarf.Offset) (ty *Type, err error) {
	defer func() {
		if p := recover(); p != nil {
			ty, err = nil, fmt.Errorf("symbols: %s: malformed DWARF type at offset %#x: %v", t.path, off, p)
		}
	}()
	t.seedCU(off)
	if ty, ok := t.byOff[off]; ok {
		return ty, nil
	}
	if isPlaceholder(t.cached(off)) {
		t.setCached(off, nil) // the type asked for is decoded for real
	}
	gt, err := t.readType(off)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: decoding DWARF type at offset %#x: %w", t.path, off, err)
	}
	var added []godwarf.Type
	ty, err = t.convert(gt, &added, 0)
	if err != nil {
		// Forget partly built types so that no later lookup sees them.
		partial := map[*Type]bool{}
		for _, g := range added {
			partial[t.conv[g]] = true
			delete(t.conv, g)
		}
		for o, ty := range t.byOff {
			if partial[ty] {
				delete(t.byOff, o)
			}
		}
		return nil, err
	}
	return ty, nil
}

// seedCU puts a stand-in for every named struct and union of the unit
// holding off into the godwarf cache, once per unit. A type's references
// stay within its unit, so that is where godwarf's descent must stop.
func (t *Types) seedCU(off dwarf.Offset) {
	if len(t.cuOffs) == 0 {
		return
	}
	i := sort.Search(len(t.cuOffs), func(i int) bool { return t.cuOffs[i] > off }) - 1
	if i < 0 || t.seededCU[i] {
		return
	}
	if t.seededCU == nil {
		t.seededCU = map[int]bool{}
	}
	t.seededCU[i] = true
	end := dwarf.Offset(math.MaxUint32)
	if i+1 < len(t.cuOffs) {
		end = t.cuOffs[i+1]
	}
	lo := sort.Search(len(t.namedOffs), func(j int) bool { return t.namedOffs[j] >= t.cuOffs[i] })
	r, err := t.readerAt(t.cuOffs[i])
	if err != nil {
		return // no stand-ins: decoding reports the error
	}
	for _, no := range t.namedOffs[lo:] {
		if no >= end {
			break
		}
		if t.cached(no) != nil {
			continue
		}
		r.Seek(no)
		e, err := r.Next()
		if err != nil || e == nil {
			continue // no stand-in: decoding this entry reports the error
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		kind := "struct"
		if e.Tag == dwarf.TagUnionType {
			kind = "union"
		}
		p := &godwarf.StructType{StructName: name, Kind: kind, Incomplete: true}
		p.Name, p.Offset, p.ByteSize = kind+" "+name, no, placeholderSize
		t.setCached(no, p)
	}
}

// readType is godwarf.ReadType with the unit's stand-ins in place.
func (t *Types) readType(off dwarf.Offset) (godwarf.Type, error) {
	t.seedCU(off)
	return t.godwarfRead(off)
}

// placeholderSize marks a stand-in (no real type has a negative size).
const placeholderSize = -1

// isPlaceholder reports whether a godwarf type is one of the stand-ins.
func isPlaceholder(g godwarf.Type) bool {
	st, ok := g.(*godwarf.StructType)
	return ok && st.Incomplete && st.ByteSize == placeholderSize
}

// stub is the stand-in for the undecoded target of a pointer to a named
// struct or union: its name and kind, no members (Resolve gives the
// definition). The caller holds t.mu.
func (t *Types) stub(st *godwarf.StructType) *Type {
	key := st.Kind + " " + st.StructName
	if s, ok := t.stubs[key]; ok {
		return s
	}
	if off, ok := t.index[key]; ok {
		if done, ok := t.byOff[off]; ok {
			return done // already decoded
		}
	}
	s := &Type{Kind: Struct, Name: st.StructName, Incomplete: true, lazy: &stubRef{ts: t}}
	if st.Kind == "union" {
		s.Kind = Union
	}
	t.stubs[key] = s
	return s
}

// complete decodes the definition of a stand-in and publishes it in the
// stand-in's stubRef; it returns the definition, or the stand-in itself
// when the debug info has none or it cannot be decoded (the error is kept
// for Field to report). Stand-ins are shared between goroutines and never
// modified.
func (t *Types) complete(stub *Type) *Type {
	t.mu.Lock()
	defer t.mu.Unlock()
	if full := stub.lazy.full.Load(); full != nil {
		return full // completed by another goroutine meanwhile
	}
	kind := "struct "
	if stub.Kind == Union {
		kind = "union "
	}
	full, err := t.lookup(kind + stub.Name)
	if err == nil && full.Kind != stub.Kind {
		err = fmt.Errorf("symbols: %s: %s%s is a %s", t.path, kind, stub.Name, full.Kind)
	}
	if err != nil {
		full = stub // no definition: it stays incomplete
		stub.lazy.err = err
	}
	stub.lazy.full.Store(full)
	return full
}

// maxDepth bounds the conversion recursion; real C type graphs are far
// shallower because cycles are cut by the conversion cache.
const maxDepth = 10000

// convert turns a godwarf type into a *Type, sharing nodes through
// t.conv. The node is entered in the cache before its parts are
// converted, so cycles through pointers terminate.
func (t *Types) convert(gt godwarf.Type, added *[]godwarf.Type, depth int) (*Type, error) {
	if gt == nil {
		return t.void, nil
	}
	if ty, ok := t.conv[gt]; ok {
		return ty, nil
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("symbols: %s: DWARF type nesting too deep at offset %#x", t.path, gt.Common().Offset)
	}
	if _, ok := gt.(*godwarf.VoidType); ok {
		return t.void, nil
	}
	// A declaration-only struct, union or enum: use the definition from
	// another unit when there is one.
	if st, ok := gt.(*godwarf.StructType); ok && st.Incomplete && st.StructName != "" {
		tag := "struct "
		if st.Kind == "union" {
			tag = "union "
		}
		if off, ok := t.index[tag+st.StructName]; ok && (off != st.Offset || isPlaceholder(gt)) {
			if ty, ok := t.byOff[off]; ok {
				return ty, nil
			}
			t.seedCU(off)
			if isPlaceholder(t.cached(off)) {
				t.setCached(off, nil)
			}
			def, err := t.godwarfRead(off)
			if err != nil {
				return nil, fmt.Errorf("symbols: %s: decoding DWARF type at offset %#x: %w", t.path, off, err)
			}
			if ds, ok := def.(*godwarf.StructType); ok && !ds.Incomplete {
				ty, err := t.convert(def, added, depth+1)
				if err != nil {
					return nil, err
				}
				t.conv[gt] = ty
				*added = append(*added, gt)
				return ty, nil
			}
		}
	}

	ty := &Type{}
	t.conv[gt] = ty
	*added = append(*added, gt)
	c := gt.Common()
	if st, ok := gt.(*godwarf.StructType); ok && !st.Incomplete {
		if prev, ok := t.byOff[c.Offset]; ok {
			t.conv[gt] = prev
			return prev, nil
		}
		t.byOff[c.Offset] = ty
	}
	ty.Name = c.Name
	if c.ByteSize > 0 {
		ty.Size = uint64(c.ByteSize)
	}
	sub := func(g godwarf.Type) (*Type, error) { return t.convert(g, added, depth+1) }

	var err error
	switch g := gt.(type) {
	case *godwarf.StructType:
		ty.Kind = Struct
		if g.Kind == "union" {
			ty.Kind = Union
		}
		ty.Name = g.StructName
		ty.Incomplete = g.Incomplete
		err = t.convertFields(ty, g, sub)
	case *godwarf.EnumType:
		ty.Kind = Enum
		ty.Name = g.EnumName
		ty.Enumerators = make([]Enumerator, 0, len(g.Val))
		for _, v := range g.Val {
			ty.Enumerators = append(ty.Enumerators, Enumerator{Name: v.Name, Value: v.Val})
		}
	case *godwarf.TypedefType:
		ty.Kind = Typedef
		if ty.Elem, err = sub(g.Type); err == nil && ty.Elem.Size > 0 {
			ty.Size = ty.Elem.Size
		}
	case *godwarf.QualType:
		switch g.Qual {
		case "const":
			ty.Kind = Const
		case "volatile":
			ty.Kind = Volatile
		default:
			ty.Kind = Restrict
		}
		ty.Name = ""
		if ty.Elem, err = sub(g.Type); err == nil {
			ty.Size = ty.Elem.Size
		}
	case *godwarf.PtrType:
		ty.Kind = Pointer
		ty.Name = ""
		if ty.Size == 0 {
			ty.Size = t.addrSize
		}
		if st, ok := g.Type.(*godwarf.StructType); ok && isPlaceholder(st) {
			// not decoded: a pointer's target is looked up by name when needed
			ty.Elem = t.stub(st)
			break
		}
		ty.Elem, err = sub(g.Type)
	case *godwarf.ArrayType:
		err = t.convertArray(ty, g, sub)
	case *godwarf.FuncType:
		ty.Kind = Func
		ty.Size = 0 // godwarf gives C function types the size of a pointer
		ty.Name = ""
		if ty.Elem, err = sub(g.ReturnType); err != nil {
			break
		}
		for _, p := range g.ParamType {
			if _, ok := p.(*godwarf.DotDotDotType); ok {
				ty.Variadic = true
				continue
			}
			var pt *Type
			if pt, err = sub(p); err != nil {
				break
			}
			ty.Params = append(ty.Params, pt)
		}
	case *godwarf.IntType:
		ty.Kind = Int
	case *godwarf.UintType, *godwarf.AddrType:
		ty.Kind = Uint
	case *godwarf.CharType:
		ty.Kind = Char
	case *godwarf.UcharType:
		ty.Kind = Uchar
	case *godwarf.BoolType:
		ty.Kind = Bool
	case *godwarf.FloatType:
		ty.Kind = Float
	case *godwarf.ComplexType:
		ty.Kind = Complex
	case *godwarf.UnsupportedType:
		ty.Kind = Other
		if g.Tag == dwarf.TagAtomicType {
			// godwarf does not model _Atomic: treat it as a qualifier.
			ty.Kind = Atomic
			ty.Name = ""
			err = t.convertQualTarget(ty, c.Offset, sub)
		}
	default:
		ty.Kind = Other
		if ty.Name == "" {
			ty.Name = gt.String()
		}
	}
	if err != nil {
		return nil, err
	}
	return ty, nil
}

// convertQualTarget reads the DW_AT_type of the entry at off (for entries
// godwarf leaves unsupported) into ty.Elem.
func (t *Types) convertQualTarget(ty *Type, off dwarf.Offset, sub func(godwarf.Type) (*Type, error)) error {
	e, err := t.entryAt(off)
	if err != nil {
		return err
	}
	toff, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
	if !ok {
		ty.Elem = t.void
		return nil
	}
	gt, err := t.readType(toff)
	if err != nil {
		return fmt.Errorf("symbols: %s: decoding DWARF type at offset %#x: %w", t.path, toff, err)
	}
	if ty.Elem, err = sub(gt); err != nil {
		return err
	}
	ty.Size = ty.Elem.Size
	return nil
}

func (t *Types) entryAt(off dwarf.Offset) (*dwarf.Entry, error) {
	r, err := t.readerAt(off)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: reading DWARF entry at offset %#x: %w", t.path, off, err)
	}
	e, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: reading DWARF entry at offset %#x: %w", t.path, off, err)
	}
	if e == nil || e.Offset != off {
		return nil, fmt.Errorf("symbols: %s: malformed DWARF: no entry at offset %#x", t.path, off)
	}
	return e, nil
}

// convertArray builds an array type from the DWARF entry itself: godwarf
// rewrites the element count of arrays it takes for zero-length (and does
// so on the shared cached node, wrongly for arrays followed by a DWARF 5
// bit field), so the bounds are read here.
func (t *Types) convertArray(ty *Type, g *godwarf.ArrayType, sub func(godwarf.Type) (*Type, error)) error {
	ty.Kind = Array
	ty.Name = ""
	e, err := t.entryAt(g.Offset)
	if err != nil {
		return err
	}
	var dims []int64
	if e.Children {
		r, err := t.readerAt(g.Offset)
		if err != nil {
			return fmt.Errorf("symbols: %s: reading DWARF array at offset %#x: %w", t.path, g.Offset, err)
		}
		if _, err := r.Next(); err != nil {
			return fmt.Errorf("symbols: %s: reading DWARF array at offset %#x: %w", t.path, g.Offset, err)
		}
		for {
			kid, err := r.Next()
			if err != nil {
				return fmt.Errorf("symbols: %s: reading DWARF array at offset %#x: %w", t.path, g.Offset, err)
			}
			if kid == nil || kid.Tag == 0 {
				break
			}
			if kid.Tag == dwarf.TagSubrangeType || kid.Tag == dwarf.TagEnumerationType {
				dims = append(dims, subrangeLen(kid))
			}
			if kid.Children {
				r.SkipChildren()
			}
		}
	}
	if len(dims) == 0 {
		dims = []int64{-1}
	}
	// Element: godwarf's innermost element type.
	elemG := g.Type
	for i := 1; i < len(dims); i++ {
		if at, ok := elemG.(*godwarf.ArrayType); ok && at.Offset == 0 {
			elemG = at.Type
		}
	}
	elem, err := sub(elemG)
	if err != nil {
		return err
	}
	// Build inner dimensions from the innermost out.
	for i := len(dims) - 1; i >= 1; i-- {
		inner := &Type{Kind: Array, Len: dims[i], Elem: elem}
		if dims[i] > 0 {
			inner.Size = uint64(dims[i]) * elem.Size
		}
		elem = inner
	}
	ty.Len = dims[0]
	ty.Elem = elem
	ty.Size = 0
	if bs, ok := e.Val(dwarf.AttrByteSize).(int64); ok && bs > 0 {
		ty.Size = uint64(bs)
	} else if ty.Len > 0 {
		ty.Size = uint64(ty.Len) * elem.Size
	}
	return nil
}

// subrangeLen returns an array dimension's length: -1 if unknown
// (flexible array member, variable length), 0 for "[0]" (including gcc
// 3.x's upper bound of -1 written as an unsigned 0xffffffff).
func subrangeLen(e *dwarf.Entry) int64 {
	if e.Tag == dwarf.TagEnumerationType {
		return -1
	}
	if n, ok := e.Val(dwarf.AttrCount).(int64); ok {
		if n < 0 {
			return -1
		}
		return n
	}
	ub, ok := e.Val(dwarf.AttrUpperBound).(int64)
	if !ok {
		return -1
	}
	lb, _ := e.Val(dwarf.AttrLowerBound).(int64)
	if ub == -1 || ub == 0xffffffff {
		return 0
	}
	n := ub - lb + 1
	if n < 0 {
		return -1
	}
	return n
}

// member is what convertFields reads from a DW_TAG_member entry.
type member struct {
	loc           int64
	hasLoc        bool
	dataBitOffset int64
	hasDataBitOff bool
	bitOffset     int64
	hasBitOffset  bool
	byteSize      int64
	hasByteSize   bool
	bitSize       int64
}

// readMembers returns the DW_TAG_member children of the entry at off, in
// order.
func (t *Types) readMembers(off dwarf.Offset) ([]member, error) {
	r, err := t.readerAt(off)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: reading DWARF struct at offset %#x: %w", t.path, off, err)
	}
	e, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: reading DWARF struct at offset %#x: %w", t.path, off, err)
	}
	if e == nil || e.Offset != off {
		return nil, fmt.Errorf("symbols: %s: malformed DWARF: no struct at offset %#x", t.path, off)
	}
	if !e.Children {
		return nil, nil
	}
	var ms []member
	for {
		kid, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("symbols: %s: reading DWARF struct at offset %#x: %w", t.path, off, err)
		}
		if kid == nil {
			return nil, fmt.Errorf("symbols: %s: malformed DWARF: struct at offset %#x not terminated", t.path, off)
		}
		if kid.Tag == 0 {
			return ms, nil
		}
		if kid.Tag == dwarf.TagMember {
			var m member
			switch loc := kid.Val(dwarf.AttrDataMemberLoc).(type) {
			case int64:
				m.loc, m.hasLoc = loc, true
			case []byte:
				v, err := evalMemberLocation(loc, t.order)
				if err != nil {
					return nil, fmt.Errorf("symbols: %s: DWARF member at offset %#x: %w", t.path, kid.Offset, err)
				}
				m.loc, m.hasLoc = v, true
			}
			m.dataBitOffset, m.hasDataBitOff = kid.Val(dwarf.AttrDataBitOffset).(int64)
			m.bitOffset, m.hasBitOffset = kid.Val(dwarf.AttrBitOffset).(int64)
			m.byteSize, m.hasByteSize = kid.Val(dwarf.AttrByteSize).(int64)
			m.bitSize, _ = kid.Val(dwarf.AttrBitSize).(int64)
			ms = append(ms, m)
		}
		if kid.Children {
			r.SkipChildren()
		}
	}
}

// evalMemberLocation evaluates a DW_AT_data_member_location expression
// (DWARF 2 style, e.g. DW_OP_plus_uconst N) with the structure's base
// address 0 on the stack.
func evalMemberLocation(expr []byte, order binary.ByteOrder) (int64, error) {
	const (
		opConst1u    = 0x08
		opConst1s    = 0x09
		opConst2u    = 0x0a
		opConst2s    = 0x0b
		opConst4u    = 0x0c
		opConst4s    = 0x0d
		opConst8u    = 0x0e
		opConst8s    = 0x0f
		opConstu     = 0x10
		opConsts     = 0x11
		opMinus      = 0x1c
		opPlus       = 0x22
		opPlusUconst = 0x23
		opLit0       = 0x30
		opLit31      = 0x4f
	)
	stack := []int64{0}
	i := 0
	uleb := func() (uint64, error) {
		var v uint64
		var shift uint
		for i < len(expr) {
			b := expr[i]
			i++
			if shift < 64 {
				v |= uint64(b&0x7f) << shift
			}
			shift += 7
			if b&0x80 == 0 {
				return v, nil
			}
		}
		return 0, errors.New("truncated LEB128 in member location")
	}
	sleb := func() (int64, error) {
		var v int64
		var shift uint
		for i < len(expr) {
			b := expr[i]
			i++
			if shift < 64 {
				v |= int64(b&0x7f) << shift
			}
			shift += 7
			if b&0x80 == 0 {
				if shift < 64 && b&0x40 != 0 {
					v |= -1 << shift
				}
				return v, nil
			}
		}
		return 0, errors.New("truncated LEB128 in member location")
	}
	fixed := func(n int, signed bool) (int64, error) {
		if len(expr)-i < n {
			return 0, errors.New("truncated constant in member location")
		}
		var v uint64
		switch n {
		case 1:
			v = uint64(expr[i])
		case 2:
			v = uint64(order.Uint16(expr[i:]))
		case 4:
			v = uint64(order.Uint32(expr[i:]))
		default:
			v = order.Uint64(expr[i:])
		}
		i += n
		if signed && n < 8 && v&(1<<(uint(n)*8-1)) != 0 {
			v |= ^uint64(0) << (uint(n) * 8)
		}
		return int64(v), nil
	}
	for i < len(expr) {
		op := expr[i]
		i++
		var v int64
		var err error
		switch {
		case op >= opLit0 && op <= opLit31:
			stack = append(stack, int64(op-opLit0))
			continue
		case op == opPlusUconst:
			var u uint64
			u, err = uleb()
			if err == nil {
				stack[len(stack)-1] += int64(u)
			}
			if err != nil {
				return 0, err
			}
			continue
		case op == opPlus || op == opMinus:
			if len(stack) < 2 {
				return 0, fmt.Errorf("stack underflow in member location %x", expr)
			}
			a, b := stack[len(stack)-2], stack[len(stack)-1]
			stack = stack[:len(stack)-2]
			if op == opPlus {
				stack = append(stack, a+b)
			} else {
				stack = append(stack, a-b)
			}
			continue
		case op == opConstu:
			var u uint64
			u, err = uleb()
			v = int64(u)
		case op == opConsts:
			v, err = sleb()
		case op == opConst1u || op == opConst1s:
			v, err = fixed(1, op == opConst1s)
		case op == opConst2u || op == opConst2s:
			v, err = fixed(2, op == opConst2s)
		case op == opConst4u || op == opConst4s:
			v, err = fixed(4, op == opConst4s)
		case op == opConst8u || op == opConst8s:
			v, err = fixed(8, op == opConst8s)
		default:
			return 0, fmt.Errorf("unsupported opcode %#x in member location %x", op, expr)
		}
		if err != nil {
			return 0, err
		}
		stack = append(stack, v)
	}
	return stack[len(stack)-1], nil
}

// convertFields fills ty.Fields. Member types come from godwarf; offsets
// and bit positions are computed here from the entries, because godwarf
// ignores DW_AT_data_bit_offset (DWARF 4/5 bit fields would all land at
// offset 0) and leaves DW_AT_bit_offset in its big-endian numbering.
func (t *Types) convertFields(ty *Type, g *godwarf.StructType, sub func(godwarf.Type) (*Type, error)) error {
	if g.Incomplete {
		return nil
	}
	ms, err := t.readMembers(g.Offset)
	if err != nil {
		return err
	}
	if len(ms) != len(g.Field) {
		return fmt.Errorf("symbols: %s: DWARF struct at offset %#x: %d members read but godwarf saw %d", t.path, g.Offset, len(ms), len(g.Field))
	}
	ty.Fields = make([]Field, 0, len(ms))
	for i, m := range ms {
		gf := g.Field[i]
		ft, err := sub(gf.Type)
		if err != nil {
			return err
		}
		f := Field{Name: gf.Name, Type: ft}
		if m.bitSize > 0 {
			off, bit, err := t.bitPosition(m, ft)
			if err != nil {
				return fmt.Errorf("symbols: %s: DWARF struct %s member %q: %w", t.path, ty, gf.Name, err)
			}
			f.Offset, f.BitOffset, f.BitSize = off, bit, uint64(m.bitSize)
		} else {
			loc := m.loc
			if !m.hasLoc && m.hasDataBitOff {
				loc = m.dataBitOffset / 8
			}
			if loc < 0 {
				return fmt.Errorf("symbols: %s: DWARF struct %s member %q has negative offset %d", t.path, ty, gf.Name, loc)
			}
			f.Offset = uint64(loc)
		}
		ty.Fields = append(ty.Fields, f)
	}
	return nil
}

// bitPosition converts a bit field's DWARF description into a storage
// unit offset and a bit position counted from the unit's least
// significant bit (see Field).
func (t *Types) bitPosition(m member, ft *Type) (offset, bitOff uint64, err error) {
	little := t.order == binary.LittleEndian
	bits := m.bitSize
	var unit int64 // storage unit size in bytes: the field type's size
	if rt := ft.resolve(); rt != nil {
		unit = int64(rt.Size)
	}
	// abs is the first bit's position from the start of the structure in
	// the target's numbering: from the least significant bit of byte 0 on
	// little-endian targets, from the most significant one on big-endian.
	var abs int64
	switch {
	case m.hasDataBitOff: // DWARF 4/5
		abs = m.dataBitOffset + m.loc*8
	case m.hasBitOffset: // DWARF 2/3 (and gcc's DWARF 4): counted from the MSB of the storage unit
		storage := unit
		if m.hasByteSize {
			storage = m.byteSize
		}
		if little {
			abs = m.loc*8 + storage*8 - m.bitOffset - bits
		} else {
			abs = m.loc*8 + m.bitOffset
		}
	default:
		abs = m.loc * 8
	}
	if abs < 0 || bits > 64*8 {
		return 0, 0, fmt.Errorf("bad bit field position (bit %d, %d bits)", abs, bits)
	}
	var start, pos, size int64
	switch unit {
	case 1, 2, 4, 8:
		if abs%(unit*8)+bits <= unit*8 {
			start = abs / (unit * 8) * unit
			pos = abs - start*8
			size = unit
			break
		}
		fallthrough
	default:
		start = abs / 8
		pos = abs % 8
		size = (pos + bits + 7) / 8
	}
	if !little {
		pos = size*8 - pos - bits
	}
	return uint64(start), uint64(pos), nil
}

// The fast index: the same walk as buildIndex, without debug/dwarf's
// Reader. The Reader decodes every attribute of every top-level entry into
// an Entry (allocating its fields, strings and blocks); the index needs a
// name, a declaration flag, a type reference, an enumerator's value and the
// sibling link of a handful of tags. indexFast reads the mapped sections
// directly, parses the abbreviation tables itself, skips every other
// attribute by its form, and splits the units across GOMAXPROCS goroutines;
// the parts are merged in unit order, so the first definition in unit order
// wins as in buildIndex. Anything it does not expect (split or
// supplementary DWARF, string forms through .debug_str_offsets, a sibling
// outside its unit, a malformed unit) makes it give up: buildIndex then
// reads the file (and reports the error, if there is one).

// errIndexFast says that indexFast cannot read this DWARF; the caller falls
// back to buildIndex.
var errIndexFast = errors.New("symbols: fast type index does not apply")

// DWARF forms (DWARF 5, section 7.5.6).
const (
	fAddr          = 0x01
	fBlock2        = 0x03
	fBlock4        = 0x04
	fData2         = 0x05
	fData4         = 0x06
	fData8         = 0x07
	fString        = 0x08
	fBlock         = 0x09
	fBlock1        = 0x0a
	fData1         = 0x0b
	fFlag          = 0x0c
	fSdata         = 0x0d
	fStrp          = 0x0e
	fUdata         = 0x0f
	fRefAddr       = 0x10
	fRef1          = 0x11
	fRef2          = 0x12
	fRef4          = 0x13
	fRef8          = 0x14
	fRefUdata      = 0x15
	fIndirect      = 0x16
	fSecOffset     = 0x17
	fExprloc       = 0x18
	fFlagPresent   = 0x19
	fStrx          = 0x1a
	fAddrx         = 0x1b
	fRefSup4       = 0x1c
	fStrpSup       = 0x1d
	fData16        = 0x1e
	fLineStrp      = 0x1f
	fRefSig8       = 0x20
	fImplicitConst = 0x21
	fLoclistx      = 0x22
	fRnglistx      = 0x23
	fRefSup8       = 0x24
	fStrx1         = 0x25
	fStrx2         = 0x26
	fStrx3         = 0x27
	fStrx4         = 0x28
	fAddrx1        = 0x29
	fAddrx2        = 0x2a
	fAddrx3        = 0x2b
	fAddrx4        = 0x2c
	fGNUAddrIndex  = 0x1f01
	fGNUStrIndex   = 0x1f02
	fGNURefAlt     = 0x1f20
	fGNUStrpAlt    = 0x1f21
)

// leanUnit is one unit's header, as debug/dwarf's parseUnits reads it.
type leanUnit struct {
	base, die, end uint64 // header, first entry, end of the unit's entries
	vers           int
	is64           bool
	addrSize       int
	abbrevOff      uint64
}

type leanAttr struct {
	attr  dwarf.Attr
	form  uint64
	value int64 // DW_FORM_implicit_const
}

type abbrevSpan struct{ lo, hi int }

type leanAbbrev struct {
	tag      dwarf.Tag
	children bool
	attrs    []leanAttr
	// Set by prepare for the unit at hand: the size of the attributes when
	// every form has a fixed size (else -1), and where the sibling
	// reference is in them (sibAt -1: none or not fixed).
	fixed   int
	sibAt   int
	sibSize int
	sibRel  bool // unit-relative reference (ref1..ref8), else ref_addr
}

// fixedFormSize is the size of a form in unit u, -1 when it varies (or is
// one indexFast does not read: those go through entry's checks).
func fixedFormSize(form uint64, u *leanUnit) int {
	offSize := 4
	if u.is64 {
		offSize = 8
	}
	switch form {
	case fFlagPresent, fImplicitConst:
		return 0
	case fData1, fRef1, fFlag, fStrx1, fAddrx1:
		return 1
	case fData2, fRef2, fStrx2, fAddrx2:
		return 2
	case fStrx3, fAddrx3:
		return 3
	case fData4, fRef4, fRefSup4, fStrx4, fAddrx4:
		return 4
	case fData8, fRef8, fRefSig8, fRefSup8:
		return 8
	case fData16:
		return 16
	case fAddr:
		return u.addrSize
	case fStrp, fLineStrp, fSecOffset, fStrpSup:
		return offSize
	case fRefAddr:
		if u.vers == 2 {
			return u.addrSize
		}
		return offSize
	}
	return -1
}

// prepare computes the fixed sizes of tab's abbreviations for unit u.
func prepare(tab []leanAbbrev, u *leanUnit) {
	for i := range tab {
		a := &tab[i]
		a.fixed, a.sibAt = 0, -1
		for _, at := range a.attrs {
			n := fixedFormSize(at.form, u)
			if n < 0 {
				a.fixed, a.sibAt = -1, -1
				break
			}
			if at.attr == dwarf.AttrSibling && a.sibAt < 0 {
				switch at.form {
				case fRef1, fRef2, fRef4, fRef8:
					a.sibAt, a.sibSize, a.sibRel = a.fixed, n, true
				case fRefAddr:
					a.sibAt, a.sibSize, a.sibRel = a.fixed, n, false
				}
			}
			a.fixed += n
		}
	}
}

// leanReader holds one goroutine's state: the sections and its own
// abbreviation tables (by offset).
type leanReader struct {
	order             binary.ByteOrder
	info, abbrev      []byte
	str, lineStr      []byte
	tab               []leanAbbrev // the last table read (table), indexed by code; unused codes have tag 0
	tabOff            uint64
	tabBuf            []leanAbbrev
	spanBuf           []abbrevSpan
	attrBuf           []leanAttr
	keyBuf            []byte
	index             map[string]dwarf.Offset
	consts            map[string]int64
	vars              map[string]dwarf.Offset
	namedOffs, cuOffs []dwarf.Offset
}

// leanBuf is a cursor over the .debug_info bytes of one unit; reads past
// its end set bad.
type leanBuf struct {
	b   []byte
	off uint64 // absolute offset in .debug_info
	end uint64
	bad bool
}

func (b *leanBuf) u8() uint64 {
	if b.off >= b.end {
		b.bad = true
		return 0
	}
	v := b.b[b.off]
	b.off++
	return uint64(v)
}

func (b *leanBuf) fixed(n uint64, order binary.ByteOrder) uint64 {
	if b.end-b.off < n || b.off > b.end {
		b.bad = true
		b.off = b.end
		return 0
	}
	p := b.b[b.off : b.off+n]
	b.off += n
	switch n {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(order.Uint16(p))
	case 4:
		return uint64(order.Uint32(p))
	case 8:
		return order.Uint64(p)
	}
	b.bad = true
	return 0
}

func (b *leanBuf) skip(n uint64) {
	if b.end-b.off < n || b.off > b.end {
		b.bad = true
		b.off = b.end
		return
	}
	b.off += n
}

func (b *leanBuf) uleb() uint64 {
	var v uint64
	var shift uint
	for {
		if b.off >= b.end {
			b.bad = true
			return 0
		}
		c := b.b[b.off]
		b.off++
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			return v
		}
	}
}

func (b *leanBuf) sleb() int64 {
	var v int64
	var shift uint
	for {
		if b.off >= b.end {
			b.bad = true
			return 0
		}
		c := b.b[b.off]
		b.off++
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

// cstr returns the NUL-terminated string at off in sec (no copy).
func cstr(sec []byte, off uint64) ([]byte, bool) {
	if off >= uint64(len(sec)) {
		return nil, false
	}
	s := sec[off:]
	i := bytes.IndexByte(s, 0)
	if i < 0 {
		return nil, false
	}
	return s[:i], true
}

// leanUnits reads the unit headers of .debug_info.
func leanUnits(info []byte, order binary.ByteOrder) ([]leanUnit, error) {
	var units []leanUnit
	b := leanBuf{b: info, end: uint64(len(info))}
	for b.off < b.end {
		base := b.off
		n := b.fixed(4, order)
		is64 := false
		if n == 0xffffffff {
			is64 = true
			n = b.fixed(8, order)
		} else if n >= 0xfffffff0 {
			return nil, errIndexFast
		}
		if b.bad || n > b.end-b.off || b.off+n > math.MaxUint32 {
			return nil, errIndexFast
		}
		if n == 0 {
			continue
		}
		end := b.off + n
		u := leanUnit{base: base, end: end, is64: is64}
		hb := leanBuf{b: info, off: b.off, end: end}
		u.vers = int(hb.fixed(2, order))
		if u.vers < 2 || u.vers > 5 {
			return nil, errIndexFast
		}
		offSize := uint64(4)
		if is64 {
			offSize = 8
		}
		if u.vers >= 5 {
			utype := hb.u8()
			u.addrSize = int(hb.u8())
			u.abbrevOff = hb.fixed(offSize, order)
			switch utype {
			case 1, 3: // compile, partial
			case 2: // type unit: signature, type offset
				hb.skip(8 + offSize)
			default: // skeleton and split units
				return nil, errIndexFast
			}
		} else {
			u.abbrevOff = hb.fixed(offSize, order)
			u.addrSize = int(hb.u8())
		}
		if hb.bad {
			return nil, errIndexFast
		}
		u.die = hb.off
		units = append(units, u)
		b.off = end
	}
	return units, nil
}

// table returns the abbreviation table at off, indexed by code. Units
// rarely share a table (a kernel's have one each), so only the last one is
// kept, and its slices are reused for the next: the table is valid until
// the next call.
func (lr *leanReader) table(off uint64) ([]leanAbbrev, error) {
	if lr.tab != nil && lr.tabOff == off {
		return lr.tab, nil
	}
	lr.tab = nil
	if off >= uint64(len(lr.abbrev)) {
		return nil, errIndexFast
	}
	b := leanBuf{b: lr.abbrev, off: off, end: uint64(len(lr.abbrev))}
	t, spans, attrs := lr.tabBuf[:0], lr.spanBuf[:0], lr.attrBuf[:0]
	for {
		code := b.uleb()
		if b.bad {
			return nil, errIndexFast
		}
		if code == 0 {
			break
		}
		if code > 1<<20 {
			return nil, errIndexFast
		}
		tag := dwarf.Tag(b.uleb())
		children := b.u8() != 0
		lo := len(attrs)
		for {
			at, form := b.uleb(), b.uleb()
			if b.bad {
				return nil, errIndexFast
			}
			if at == 0 && form == 0 {
				break
			}
			la := leanAttr{attr: dwarf.Attr(at), form: form}
			if form == fImplicitConst {
				la.value = b.sleb()
			}
			attrs = append(attrs, la)
		}
		for uint64(len(t)) <= code {
			t = append(t, leanAbbrev{})
			spans = append(spans, abbrevSpan{})
		}
		if t[code].tag != 0 || tag == 0 {
			return nil, errIndexFast // a code defined twice, or tag 0
		}
		t[code] = leanAbbrev{tag: tag, children: children}
		spans[code] = abbrevSpan{lo, len(attrs)}
	}
	for i := range t {
		t[i].attrs = attrs[spans[i].lo:spans[i].hi:spans[i].hi]
	}
	lr.tab, lr.tabOff, lr.tabBuf, lr.spanBuf, lr.attrBuf = t, off, t, spans, attrs
	return t, nil
}

// leanEntry is what the index needs of one entry.
type leanEntry struct {
	off      uint64
	tag      dwarf.Tag
	children bool
	name     []byte
	hasName  bool
	decl     bool
	typ      uint64
	hasType  bool
	sibling  uint64
	hasSib   bool
	cval     int64
	hasCval  bool
}

// entry reads the entry at b.off; tag 0 is a null entry. want says whether
// the entry's attributes are needed (false: only skip them).
func (lr *leanReader) entry(b *leanBuf, u *leanUnit, tab []leanAbbrev, e *leanEntry) error {
	*e = leanEntry{off: b.off}
	code := b.uleb()
	if b.bad {
		return errIndexFast
	}
	if code == 0 {
		return nil
	}
	if code >= uint64(len(tab)) || tab[code].tag == 0 {
		return errIndexFast
	}
	a := &tab[code]
	e.tag, e.children = a.tag, a.children
	if a.fixed >= 0 && !wantName(a.tag) {
		// nothing to decode but the sibling link: skip the attributes whole
		if b.off > b.end || b.end-b.off < uint64(a.fixed) {
			return errIndexFast
		}
		if a.sibAt >= 0 {
			sb := leanBuf{b: b.b, off: b.off + uint64(a.sibAt), end: b.end}
			e.sibling, e.hasSib = sb.fixed(uint64(a.sibSize), lr.order), true
			if a.sibRel {
				e.sibling += u.base
			}
		}
		b.off += uint64(a.fixed)
		return nil
	}
	offSize := uint64(4)
	if u.is64 {
		offSize = 8
	}
	var seen uint8 // attributes met (see below)
	for i := range a.attrs {
		at := &a.attrs[i]
		form := at.form
		if form == fIndirect {
			form = b.uleb()
		}
		var (
			val                    uint64
			isRef, isConst, isFlag bool
			sval                   int64
		)
		switch form {
		case fAddr:
			b.skip(uint64(u.addrSize))
		case fBlock1:
			b.skip(b.fixed(1, lr.order))
		case fBlock2:
			b.skip(b.fixed(2, lr.order))
		case fBlock4:
			b.skip(b.fixed(4, lr.order))
		case fBlock, fExprloc:
			b.skip(b.uleb())
		case fData1, fData2, fData4, fData8:
			n := uint64(1) << (form - fData2 + 1) // data2 4 8
			if form == fData1 {
				n = 1
			}
			sval, isConst = int64(b.fixed(n, lr.order)), true
		case fData16:
			b.skip(16)
		case fSdata:
			sval, isConst = b.sleb(), true
		case fUdata:
			sval, isConst = int64(b.uleb()), true
		case fImplicitConst:
			sval, isConst = at.value, true
		case fFlag:
			val, isFlag = b.u8(), true
		case fFlagPresent:
			val, isFlag = 1, true
		case fRefAddr:
			if u.vers == 2 {
				val = b.fixed(uint64(u.addrSize), lr.order)
			} else {
				val = b.fixed(offSize, lr.order)
			}
			isRef = true
		case fRef1:
			val, isRef = b.fixed(1, lr.order)+u.base, true
		case fRef2:
			val, isRef = b.fixed(2, lr.order)+u.base, true
		case fRef4:
			val, isRef = b.fixed(4, lr.order)+u.base, true
		case fRef8:
			val, isRef = b.fixed(8, lr.order)+u.base, true
		case fRefUdata:
			val, isRef = b.uleb()+u.base, true
		case fString:
			s := b.b[min(b.off, b.end):b.end]
			n := bytes.IndexByte(s, 0)
			if n < 0 {
				return errIndexFast
			}
			if at.attr == dwarf.AttrName && seen&1 == 0 {
				e.name, e.hasName = s[:n], true
			}
			b.off += uint64(n) + 1
		case fStrp, fLineStrp:
			o := b.fixed(offSize, lr.order)
			if at.attr == dwarf.AttrName && seen&1 == 0 && !b.bad && wantName(a.tag) {
				sec := lr.str
				if form == fLineStrp {
					sec = lr.lineStr
				}
				s, ok := cstr(sec, o)
				if !ok {
					return errIndexFast
				}
				e.name, e.hasName = s, true
			}
		case fSecOffset, fStrpSup:
			b.skip(offSize)
		case fRefSig8:
			b.skip(8)
		case fRefSup4:
			b.skip(4)
		case fRefSup8:
			b.skip(8)
		case fLoclistx, fRnglistx, fAddrx:
			b.uleb()
		case fAddrx1:
			b.skip(1)
		case fAddrx2:
			b.skip(2)
		case fAddrx3:
			b.skip(3)
		case fAddrx4:
			b.skip(4)
		case fStrx, fStrx1, fStrx2, fStrx3, fStrx4:
			if at.attr == dwarf.AttrName {
				return errIndexFast // names through .debug_str_offsets: buildIndex
			}
			switch form {
			case fStrx:
				b.uleb()
			case fStrx1:
				b.skip(1)
			case fStrx2:
				b.skip(2)
			case fStrx3:
				b.skip(3)
			case fStrx4:
				b.skip(4)
			}
		default: // GNU alternate files, index forms, unknown
			return errIndexFast
		}
		if b.bad {
			return errIndexFast
		}
		// Only an attribute's first occurrence counts, as with debug/dwarf's
		// Entry.Val: a later one of another form does not change the value.
		bit := uint8(0)
		switch at.attr {
		case dwarf.AttrName:
			bit = 1
		case dwarf.AttrDeclaration:
			bit = 2
		case dwarf.AttrType:
			bit = 4
		case dwarf.AttrSibling:
			bit = 8
		case dwarf.AttrConstValue:
			bit = 16
		}
		if bit == 0 || seen&bit != 0 {
			continue
		}
		seen |= bit
		switch at.attr {
		case dwarf.AttrName:
			if !e.hasName { // not a string form: Val gives no string
				e.name, e.hasName = nil, false
			}
		case dwarf.AttrDeclaration:
			e.decl = isFlag && val == 1
		case dwarf.AttrType:
			e.typ, e.hasType = val, isRef
		case dwarf.AttrSibling:
			e.sibling, e.hasSib = val, isRef
		case dwarf.AttrConstValue:
			e.cval, e.hasCval = sval, isConst
		}
	}
	return nil
}

// wantName says whether the index needs the name of an entry of tag.
func wantName(tag dwarf.Tag) bool {
	switch tag {
	case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType, dwarf.TagTypedef, dwarf.TagBaseType,
		dwarf.TagVariable, dwarf.TagEnumerationType, dwarf.TagEnumerator:
		return true
	}
	return false
}

func (lr *leanReader) add(prefix string, name []byte, off uint64) {
	lr.keyBuf = append(append(lr.keyBuf[:0], prefix...), name...)
	if _, ok := lr.index[string(lr.keyBuf)]; !ok {
		lr.index[string(lr.keyBuf)] = dwarf.Offset(off)
	}
}

// skipChildren skips the children of e, which b is positioned after, as
// debug/dwarf's SkipChildren does: through the sibling link when it points
// ahead, else entry by entry.
func (lr *leanReader) skipChildren(b *leanBuf, u *leanUnit, tab []leanAbbrev, e *leanEntry, depth int) error {
	if e.hasSib && e.sibling >= b.off {
		if e.sibling >= u.end {
			return errIndexFast // into another unit
		}
		b.off = e.sibling
		return nil
	}
	if depth > 1000 {
		return errIndexFast
	}
	var kid leanEntry
	for b.off < u.end {
		if err := lr.entry(b, u, tab, &kid); err != nil {
			return err
		}
		if kid.tag == 0 {
			return nil
		}
		if kid.children {
			if err := lr.skipChildren(b, u, tab, &kid, depth+1); err != nil {
				return err
			}
		}
	}
	return nil // the unit ended: so does debug/dwarf's walk of it
}

// unit indexes one unit like buildIndex.
func (lr *leanReader) unit(u *leanUnit) error {
	tab, err := lr.table(u.abbrevOff)
	if err != nil {
		return err
	}
	prepare(tab, u)
	b := leanBuf{b: lr.info, off: u.die, end: u.end}
	var e leanEntry
	for b.off < u.end {
		if err := lr.entry(&b, u, tab, &e); err != nil {
			return err
		}
		switch e.tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit:
			lr.cuOffs = append(lr.cuOffs, dwarf.Offset(e.off))
			continue
		case 0:
			continue
		}
		named := e.hasName && len(e.name) > 0 && !e.decl
		switch e.tag {
		case dwarf.TagStructType, dwarf.TagClassType:
			if named {
				lr.add("struct ", e.name, e.off)
				lr.namedOffs = append(lr.namedOffs, dwarf.Offset(e.off))
			}
		case dwarf.TagUnionType:
			if named {
				lr.add("union ", e.name, e.off)
				lr.namedOffs = append(lr.namedOffs, dwarf.Offset(e.off))
			}
		case dwarf.TagTypedef:
			if named {
				lr.add("", e.name, e.off)
			}
		case dwarf.TagBaseType:
			if named {
				lr.add("", e.name, e.off)
				lr.add("", []byte(cIntName(string(e.name))), e.off)
			}
		case dwarf.TagVariable:
			if e.hasType && e.hasName && len(e.name) > 0 {
				if _, dup := lr.vars[string(e.name)]; !dup {
					lr.vars[string(e.name)] = dwarf.Offset(e.typ)
				}
			}
		case dwarf.TagEnumerationType:
			if named {
				lr.add("enum ", e.name, e.off)
			}
			if e.children {
				if err := lr.enumerators(&b, u, tab); err != nil {
					return err
				}
				continue
			}
		}
		if e.children {
			if err := lr.skipChildren(&b, u, tab, &e, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// enumerators records the enumerators of an enumeration, consuming its
// children, like indexEnumerators.
func (lr *leanReader) enumerators(b *leanBuf, u *leanUnit, tab []leanAbbrev) error {
	var kid leanEntry
	for {
		if b.off >= u.end {
			return errIndexFast // not terminated: buildIndex says so
		}
		if err := lr.entry(b, u, tab, &kid); err != nil {
			return err
		}
		if kid.tag == 0 {
			return nil
		}
		if kid.tag == dwarf.TagEnumerator && kid.hasCval && kid.hasName && len(kid.name) > 0 {
			if _, dup := lr.consts[string(kid.name)]; !dup {
				lr.consts[string(kid.name)] = kid.cval
			}
		}
		if kid.children {
			if err := lr.skipChildren(b, u, tab, &kid, 0); err != nil {
				return err
			}
		}
	}
}

// indexFast builds t's index from the sections of a mapped image (see
// above); errIndexFast when it does not apply. It does not use t.data.
// VMTRIAGE_TYPEINDEX=serial turns it off (buildIndex then).
func (t *Types) indexFast(im *Image) error {
	im.mu.RLock()
	mapped, closed := im.mapped, im.closed
	im.mu.RUnlock()
	// ET_REL (modules): debug/elf applies the relocations of .debug_info
	if mapped == nil || closed || im.file.Type == elf.ET_REL || os.Getenv("VMTRIAGE_TYPEINDEX") == "serial" {
		return errIndexFast
	}
	sec := func(name string) ([]byte, error) {
		s := im.file.Section(name)
		if s == nil {
			return nil, nil
		}
		if b, ok := sliceSection(mapped, s); ok {
			return b, nil
		}
		return nil, errIndexFast
	}
	info, err := sec(".debug_info")
	if err != nil || len(info) == 0 {
		return errIndexFast
	}
	abbrev, err := sec(".debug_abbrev")
	if err != nil {
		return errIndexFast
	}
	str, err := sec(".debug_str")
	if err != nil {
		return errIndexFast
	}
	lineStr, err := sec(".debug_line_str")
	if err != nil {
		return errIndexFast
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if im.file.ByteOrder == binary.BigEndian {
		order = binary.BigEndian
	}
	units, err := leanUnits(info, order)
	if err != nil || len(units) == 0 {
		return errIndexFast
	}

	// Parts of about equal size, a few per goroutine so that none waits
	// long on a big last unit; each part is a run of units.
	workers := runtime.GOMAXPROCS(0)
	nparts := workers * 4
	if nparts > len(units) {
		nparts = len(units)
	}
	var starts []int // first unit of each part
	per := uint64(len(info))/uint64(nparts) + 1
	next := uint64(0)
	for i, u := range units {
		if u.base >= next {
			starts = append(starts, i)
			next = u.base + per
		}
	}
	parts := make([]*leanReader, len(starts))
	errs := make([]error, len(starts))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch leanReader
			for p := range work {
				lr := &leanReader{order: order, info: info, abbrev: abbrev, str: str, lineStr: lineStr,
					tabBuf: scratch.tabBuf, spanBuf: scratch.spanBuf, attrBuf: scratch.attrBuf, index: map[string]dwarf.Offset{}, consts: map[string]int64{}, vars: map[string]dwarf.Offset{}}
				end := len(units)
				if p+1 < len(starts) {
					end = starts[p+1]
				}
				for i := starts[p]; i < end; i++ {
					if err := lr.unit(&units[i]); err != nil {
						errs[p] = err
						break
					}
				}
				scratch.tabBuf, scratch.spanBuf, scratch.attrBuf = lr.tabBuf, lr.spanBuf, lr.attrBuf
				lr.tab, lr.tabBuf, lr.spanBuf, lr.attrBuf = nil, nil, nil, nil
				parts[p] = lr
			}
		}()
	}
	for p := range starts {
		work <- p
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	// Merge in unit order: an earlier part's entry wins.
	t.index, t.consts, t.vars = parts[0].index, parts[0].consts, parts[0].vars
	t.namedOffs, t.cuOffs = parts[0].namedOffs, parts[0].cuOffs
	for _, lr := range parts[1:] {
		for k, v := range lr.index {
			if _, ok := t.index[k]; !ok {
				t.index[k] = v
			}
		}
		for k, v := range lr.consts {
			if _, ok := t.consts[k]; !ok {
				t.consts[k] = v
			}
		}
		for k, v := range lr.vars {
			if _, ok := t.vars[k]; !ok {
				t.vars[k] = v
			}
		}
		t.namedOffs = append(t.namedOffs, lr.namedOffs...)
		t.cuOffs = append(t.cuOffs, lr.cuOffs...)
	}
	return nil
}
