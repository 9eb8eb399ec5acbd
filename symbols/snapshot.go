package symbols

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// TypeSource is where type layouts come from: a vmlinux's DWARF (*Types)
// or a snapshot of the types an analysis used (*SnapshotTypes).
type TypeSource interface {
	Lookup(name string) (*Type, error)
	Constant(name string) (int64, error)
	Variable(name string) (*Type, error)
}

// TypeSource returns the image's types: its DWARF, or the recorded types
// of an image loaded with LoadSnapshot.
func (im *Image) TypeSource() (TypeSource, error) {
	if im.snapTypes != nil {
		return im.snapTypes, nil
	}
	return im.Types()
}

// Snapshot is the part of a kernel image that one or more analyses used:
// the symbols they looked up (at link-time addresses), the initialised data
// they read (linux_banner), and the layouts of the types, variables and
// enumerators they asked for. With the pages they read, it lets a test
// replay an analysis of a real kernel without its 600 MB vmlinux.
type Snapshot struct {
	Schema  string              `json:"schema"`
	Path    string              `json:"path"`
	BuildID string              `json:"build_id"`
	Symbols []SnapshotSymbol    `json:"symbols"`
	Data    map[string][]byte   `json:"data,omitempty"`
	Types   map[string]int      `json:"types"`            // lookup name -> index in All
	Vars    map[string]int      `json:"vars,omitempty"`   // variable -> index in All
	Consts  map[string]int64    `json:"consts,omitempty"` // enumerator values
	All     []snapshotType      `json:"all"`
	Misses  map[string][]string `json:"misses,omitempty"` // names asked for and not found, by kind (for the record)
	// Source is where the recorded types came from ("btf", "dwarf").
	Source string `json:"source,omitempty"`
}

// SnapshotSchema identifies the snapshot format.
const SnapshotSchema = "vmtriage.symbols-snapshot/v1"

// SnapshotSymbol is a recorded symbol.
type SnapshotSymbol struct {
	Name string     `json:"n"`
	Addr uint64     `json:"a"`
	Size uint64     `json:"s,omitempty"`
	Kind SymbolKind `json:"k"`
	Text bool       `json:"t,omitempty"`
}

type snapshotType struct {
	Name string `json:"n,omitempty"`
	Kind Kind   `json:"k"`
	Size uint64 `json:"s,omitempty"`
	// Elem is 1+index of the element type; 0 for none.
	Elem       int             `json:"e,omitempty"`
	Len        int64           `json:"l,omitempty"`
	Fields     []snapshotField `json:"f,omitempty"`
	Enums      []Enumerator    `json:"en,omitempty"`
	Incomplete bool            `json:"i,omitempty"`
	// Ref marks a stand-in for a pointer's named target: on load it
	// becomes the recorded definition of that name when there is one.
	Ref bool `json:"r,omitempty"`
}

type snapshotField struct {
	Name      string `json:"n,omitempty"`
	Offset    uint64 `json:"o"`
	Type      int    `json:"t"` // index in All
	BitSize   uint64 `json:"bs,omitempty"`
	BitOffset uint64 `json:"bo,omitempty"`
}

// SnapshotBuilder records what an analysis used of an image.
type SnapshotBuilder struct {
	mu            sync.Mutex
	path, buildID string
	syms          map[string]SnapshotSymbol
	data          map[string][]byte
	types         map[string]*Type
	vars          map[string]*Type
	consts        map[string]int64
	misses        map[string]map[string]bool
	source        string
}

// Source records where the recorded types come from ("btf", "dwarf").
func (b *SnapshotBuilder) Source(from string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.source = from
}

// NewSnapshotBuilder starts a snapshot of an image.
func NewSnapshotBuilder(im *Image) *SnapshotBuilder {
	return &SnapshotBuilder{path: im.path, buildID: im.buildID, syms: map[string]SnapshotSymbol{},
		data: map[string][]byte{}, types: map[string]*Type{}, vars: map[string]*Type{},
		consts: map[string]int64{}, misses: map[string]map[string]bool{}}
}

// Symbol records a vmlinux symbol at its link-time address.
func (b *SnapshotBuilder) Symbol(s Symbol, text bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.syms[s.Name] = SnapshotSymbol{Name: s.Name, Addr: s.Addr, Size: s.Size, Kind: s.Kind, Text: text}
}

// Data records a data symbol's initialised bytes.
func (b *SnapshotBuilder) Data(name string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data[name] = append([]byte(nil), data...)
}

// Type records a type lookup's answer (nil: not found).
func (b *SnapshotBuilder) Type(name string, t *Type) { b.record("type", name, t, b.types) }

// Variable records a variable's type (nil: not found).
func (b *SnapshotBuilder) Variable(name string, t *Type) { b.record("variable", name, t, b.vars) }

// Constant records an enumerator (ok false: not found).
func (b *SnapshotBuilder) Constant(name string, v int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.consts[name] = v
	} else {
		b.miss("constant", name)
	}
}

func (b *SnapshotBuilder) record(kind, name string, t *Type, into map[string]*Type) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t == nil {
		b.miss(kind, name)
		return
	}
	into[name] = t
}

func (b *SnapshotBuilder) miss(kind, name string) {
	if b.misses[kind] == nil {
		b.misses[kind] = map[string]bool{}
	}
	b.misses[kind][name] = true
}

// Merge adds another builder's records (another dump of the same kernel).
func (b *SnapshotBuilder) Merge(o *SnapshotBuilder) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b.mu.Lock()
	if b.source == "" {
		b.source = o.source
	}
	for k, v := range o.syms {
		b.syms[k] = v
	}
	for k, v := range o.data {
		b.data[k] = v
	}
	for k, v := range o.types {
		b.types[k] = v
	}
	for k, v := range o.vars {
		b.vars[k] = v
	}
	for k, v := range o.consts {
		b.consts[k] = v
	}
	b.mu.Unlock()
	for kind, m := range o.misses {
		for n := range m {
			b.mu.Lock()
			b.miss(kind, n)
			b.mu.Unlock()
		}
	}
}

// Build serialises the records. Types are written by value (struct and
// union members, arrays, typedefs, qualifiers); a pointer's named target
// is written as a reference that loads as the recorded type of that name,
// or as an incomplete stand-in.
func (b *SnapshotBuilder) Build() *Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Snapshot{Schema: SnapshotSchema, Path: b.path, BuildID: b.buildID, Data: b.data,
		Types: map[string]int{}, Vars: map[string]int{}, Consts: b.consts, Misses: map[string][]string{}, Source: b.source}
	for _, sym := range b.syms {
		s.Symbols = append(s.Symbols, sym)
	}
	sort.Slice(s.Symbols, func(i, j int) bool { return s.Symbols[i].Name < s.Symbols[j].Name })
	ids := map[*Type]int{}
	refs := map[string]int{} // "struct x" -> its by-name reference
	ref := func(t *Type) int {
		key := t.Kind.String() + " " + t.Name
		if id, ok := refs[key]; ok {
			return id
		}
		refs[key] = len(s.All)
		s.All = append(s.All, snapshotType{Name: t.Name, Kind: t.Kind, Ref: true, Incomplete: true})
		return refs[key]
	}
	var add func(t *Type) int
	add = func(t *Type) int {
		if id, ok := ids[t]; ok {
			return id
		}
		if t.lazy != nil { // a pointer's stand-in: by name only
			ids[t] = ref(t)
			return ids[t]
		}
		id := len(s.All)
		ids[t] = id
		s.All = append(s.All, snapshotType{})
		st := snapshotType{Name: t.Name, Kind: t.Kind, Size: t.Size, Len: t.Len, Enums: t.Enumerators, Incomplete: t.Incomplete}
		if t.Elem != nil {
			elem := t.Elem
			if t.Kind == Pointer {
				if r := elem.resolve(); r != nil && (r.Kind == Struct || r.Kind == Union) && r.Name != "" {
					elem = r // the named target itself, written as a reference below
				}
			}
			if t.Kind == Pointer && (elem.Kind == Struct || elem.Kind == Union) && elem.Name != "" {
				st.Elem = 1 + ref(elem)
			} else if t.Kind == Func {
				st.Elem = 0 // return types do not matter to a layout
			} else {
				st.Elem = 1 + add(elem)
			}
		}
		for _, f := range t.Fields {
			st.Fields = append(st.Fields, snapshotField{Name: f.Name, Offset: f.Offset, Type: add(f.Type), BitSize: f.BitSize, BitOffset: f.BitOffset})
		}
		s.All[id] = st
		return id
	}
	for _, name := range sortedKeys(b.types) {
		s.Types[name] = add(b.types[name])
	}
	for _, name := range sortedKeys(b.vars) {
		s.Vars[name] = add(b.vars[name])
	}
	for kind, m := range b.misses {
		for n := range m {
			s.Misses[kind] = append(s.Misses[kind], n)
		}
		sort.Strings(s.Misses[kind])
	}
	return s
}

func sortedKeys(m map[string]*Type) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteSnapshot writes a snapshot as gzipped JSON.
func WriteSnapshot(w io.Writer, s *Snapshot) error {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("symbols: writing snapshot: %w", err)
	}
	return zw.Close()
}

// SnapshotTypes answers type lookups from a snapshot.
type SnapshotTypes struct {
	path   string
	types  map[string]*Type
	vars   map[string]*Type
	consts map[string]int64
}

// Lookup returns a recorded type; anything else is not found.
func (st *SnapshotTypes) Lookup(name string) (*Type, error) {
	key := strings.Join(strings.Fields(name), " ")
	if t, ok := st.types[key]; ok {
		return t, nil
	}
	return nil, &notFoundError{what: "type " + key, file: st.path}
}

// Constant returns a recorded enumerator.
func (st *SnapshotTypes) Constant(name string) (int64, error) {
	if v, ok := st.consts[name]; ok {
		return v, nil
	}
	return 0, &notFoundError{what: "enumerator " + name, file: st.path}
}

// Variable returns a recorded variable's type.
func (st *SnapshotTypes) Variable(name string) (*Type, error) {
	if t, ok := st.vars[name]; ok {
		return t, nil
	}
	return nil, &notFoundError{what: "variable " + name, file: st.path}
}

// maxSnapshot bounds a snapshot file's decompressed size.
const maxSnapshot = 256 << 20

// LoadSnapshot opens a snapshot written by WriteSnapshot as an image: its
// symbols, data and types are the recorded ones, and nothing else exists.
func LoadSnapshot(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("symbols: %w", err)
	}
	defer f.Close()
	return readSnapshot(f, path)
}

// readSnapshot decodes a gzipped snapshot; path names it in errors.
func readSnapshot(r io.Reader, path string) (*Image, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: not a gzipped snapshot: %w", path, err)
	}
	var s Snapshot
	if err := json.NewDecoder(io.LimitReader(zr, maxSnapshot)).Decode(&s); err != nil {
		return nil, fmt.Errorf("symbols: %s: snapshot: %w", path, err)
	}
	if s.Schema != SnapshotSchema {
		return nil, fmt.Errorf("symbols: %s: snapshot schema %q, want %q", path, s.Schema, SnapshotSchema)
	}
	all := make([]*Type, len(s.All))
	for i := range s.All {
		all[i] = &Type{}
	}
	named := map[string]*Type{} // "struct x" -> definition, for references
	for i, st := range s.All {
		if st.Ref || st.Incomplete || (st.Kind != Struct && st.Kind != Union) || st.Name == "" {
			continue
		}
		named[st.Kind.String()+" "+st.Name] = all[i]
	}
	bad := func(i int) bool { return i < 0 || i >= len(all) }
	for i, st := range s.All {
		t := all[i]
		if st.Ref {
			if def, ok := named[st.Kind.String()+" "+st.Name]; ok {
				all[i] = def
				continue
			}
		}
		*t = Type{Name: st.Name, Kind: st.Kind, Size: st.Size, Len: st.Len, Enumerators: st.Enums, Incomplete: st.Incomplete}
	}
	for i, st := range s.All {
		t := all[i]
		if st.Ref && t.Name == st.Name && !t.Incomplete {
			continue // resolved to a definition, filled by its own entry
		}
		if st.Elem > 0 {
			if bad(st.Elem - 1) {
				return nil, fmt.Errorf("symbols: %s: type %d refers to type %d of %d", path, i, st.Elem-1, len(all))
			}
			t.Elem = all[st.Elem-1]
		}
		for _, f := range st.Fields {
			if bad(f.Type) {
				return nil, fmt.Errorf("symbols: %s: field %s of type %d refers to type %d of %d", path, f.Name, i, f.Type, len(all))
			}
			t.Fields = append(t.Fields, Field{Name: f.Name, Offset: f.Offset, Type: all[f.Type], BitSize: f.BitSize, BitOffset: f.BitOffset})
		}
	}
	ts := &SnapshotTypes{path: path, types: map[string]*Type{}, vars: map[string]*Type{}, consts: s.Consts}
	for name, i := range s.Types {
		if bad(i) {
			return nil, fmt.Errorf("symbols: %s: type %s is index %d of %d", path, name, i, len(all))
		}
		ts.types[name] = all[i]
	}
	for name, i := range s.Vars {
		if bad(i) {
			return nil, fmt.Errorf("symbols: %s: variable %s is index %d of %d", path, name, i, len(all))
		}
		ts.vars[name] = all[i]
	}
	syms := make([]sym, 0, len(s.Symbols))
	for _, ss := range s.Symbols {
		syms = append(syms, sym{Name: ss.Name, Addr: ss.Addr, Size: ss.Size, Kind: ss.Kind, text: ss.Text, global: true})
	}
	im := &Image{path: path, buildID: s.BuildID, kernel: buildTable(syms, nil), snapData: s.Data, snapTypes: ts, snapSource: s.Source}
	return im, nil
}
