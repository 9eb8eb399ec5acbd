package analyzer

import (
	"errors"
	"fmt"

	"github.com/vmtriage/vmtriage/symbols"
)

// Kernel BTF describes every type but no global variable (the per-CPU ones
// aside), so the declared type of each global the analysis reads as a
// whole object is stated here, once; TestGlobalDecls checks each against
// the DWARF of every recorded kernel line. Globals read through a pointer
// or as a plain word (jiffies_64, init_task, modules, ...) need no entry:
// their type is the one the code names where it reads them.
var globalDecls = map[string]globalDecl{
	// static struct { seqcount_raw_spinlock_t seq; struct timekeeper
	// timekeeper; } tk_core ____cacheline_aligned, kernel/time/timekeeping.c
	// (3.17, 3fdb14fd1df7; seq was a seqcount_t before 5.10, 025e82bcbc34).
	"tk_core": {Members: []declMember{
		{Name: "seq", Types: []string{"seqcount_raw_spinlock_t", "seqcount_t"}},
		{Name: "timekeeper", Types: []string{"struct timekeeper"}},
	}},
	// static struct tk_data timekeeper_data[TIMEKEEPERS_MAX] (6.14+,
	// 8b2b3c9f7f35 "timekeeping: Introduce tk_data"): the core timekeeper
	// is element 0, the only one read.
	"timekeeper_data": {Type: "struct tk_data", ArrayOf: 1},
	// struct bio_set fs_bio_set, block/bio.c
	"fs_bio_set": {Type: "struct bio_set"},
}

// globalDecl is a global variable's declared type: a named type (an array
// of ArrayOf of them when ArrayOf > 0), or an anonymous struct of Members
// laid out as the C compiler lays them out.
type globalDecl struct {
	Type    string
	ArrayOf int64
	Members []declMember
}

// declMember is a member of an anonymous struct; Types are the names its
// type has had over the kernel lines, newest first.
type declMember struct {
	Name  string
	Types []string
}

// errNoDecl is returned for a global with no declared type.
var errNoDecl = errors.New("no declared type (see analyzer/globals.go)")

// declaredType builds a global's declared type from the named types of
// src.
func declaredType(src symbols.TypeSource, name string) (*symbols.Type, error) {
	d, ok := globalDecls[name]
	if !ok {
		return nil, fmt.Errorf("variable %s: %w", name, errNoDecl)
	}
	if d.Type != "" {
		t, err := src.Lookup(d.Type)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		if d.ArrayOf > 0 {
			return &symbols.Type{Kind: symbols.Array, Elem: t, Len: d.ArrayOf, Size: uint64(d.ArrayOf) * t.Resolve().Size}, nil
		}
		return t, nil
	}
	st := &symbols.Type{Kind: symbols.Struct}
	var end, align uint64 = 0, 1
	for _, m := range d.Members {
		var t *symbols.Type
		var err error
		for _, tn := range m.Types {
			if t, err = src.Lookup(tn); err == nil {
				break
			}
		}
		if t == nil {
			return nil, fmt.Errorf("variable %s member %s: %w", name, m.Name, err)
		}
		a := alignOf(t, 0)
		off := (end + a - 1) / a * a
		st.Fields = append(st.Fields, symbols.Field{Name: m.Name, Offset: off, Type: t})
		end = off + t.Resolve().Size
		align = max(align, a)
	}
	st.Size = (end + align - 1) / align * align
	return st, nil
}

// alignOf is a type's alignment on x86_64: a scalar's size, the largest
// alignment of a struct's or union's members, an array's element's.
func alignOf(t *symbols.Type, depth int) uint64 {
	r := t.Resolve()
	if r == nil || depth > 32 {
		return 1
	}
	switch r.Kind {
	case symbols.Struct, symbols.Union:
		a := uint64(1)
		for _, f := range r.Fields {
			if f.Type != nil {
				a = max(a, alignOf(f.Type, depth+1))
			}
		}
		return a
	case symbols.Array:
		if r.Elem != nil {
			return alignOf(r.Elem, depth+1)
		}
		return 1
	default:
		if r.Size >= 1 && r.Size <= 16 && r.Size&(r.Size-1) == 0 {
			return r.Size
		}
		return 1
	}
}
