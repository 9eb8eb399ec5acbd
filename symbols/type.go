package symbols

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// Kind is the kind of a C type.
type Kind int

// Type kinds. Const, Volatile, Restrict and Atomic are qualifiers whose
// Elem is the qualified type; Resolve strips them, with typedefs.
const (
	Other Kind = iota // a type this package does not model
	Void
	Bool
	Char  // char, signed char (DW_ATE_signed_char)
	Uchar // unsigned char (DW_ATE_unsigned_char)
	Int   // signed integers
	Uint  // unsigned integers
	Float
	Complex
	Pointer
	Array
	Struct
	Union
	Enum
	Typedef
	Func
	Const
	Volatile
	Restrict
	Atomic
)

var kindNames = [...]string{
	Other: "other", Void: "void", Bool: "bool", Char: "char", Uchar: "uchar",
	Int: "int", Uint: "uint", Float: "float", Complex: "complex",
	Pointer: "pointer", Array: "array", Struct: "struct", Union: "union",
	Enum: "enum", Typedef: "typedef", Func: "func", Const: "const",
	Volatile: "volatile", Restrict: "restrict", Atomic: "atomic",
}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Type is a decoded C type. Types are shared: the same DWARF entry always
// yields the same *Type, so self-referential structures form cycles
// through Pointer types rather than infinite trees. A Type must not be
// modified.
type Type struct {
	// Name is the type's name as in the debug info ("dio" for struct dio,
	// "long unsigned int", "transaction_t"); "" if anonymous.
	Name string
	Kind Kind
	// Size is the size in bytes; 0 for void, functions, incomplete types
	// and flexible arrays.
	Size uint64
	// Fields are a struct's or union's members in declaration order.
	Fields []Field
	// Elem is the pointer target, array element, typedef or qualifier
	// target, or a function's return type (Void for none).
	Elem *Type
	// Len is an array's element count: -1 for a flexible or unknown bound.
	Len int64
	// Enumerators are an enum's constants in declaration order.
	Enumerators []Enumerator
	// Params are a function type's parameter types.
	Params []*Type
	// Variadic is set for a function type ending in "...".
	Variadic bool
	// Incomplete is set for a struct, union or enum that is only declared
	// and whose definition was found nowhere in the debug info, and for the
	// stand-in a pointer to a named struct or union has as its Elem
	// (Resolve returns the decoded definition).
	Incomplete bool

	lazy *stubRef // set on a stand-in, never changed after its creation
}

// stubRef leads from a stand-in to its definition, decoded on the first
// Resolve. The stand-in itself is never modified (Types are shared by
// the goroutines of a batch): its definition is published through full.
type stubRef struct {
	ts   *Types
	full atomic.Pointer[Type] // the definition, or the stand-in if there is none
	err  error                // why there is none; set before full is stored
}

// undefined returns why a stand-in has no definition once Resolve has
// tried, nil for any other type.
func (ty *Type) undefined() error {
	if ty.lazy == nil || ty.lazy.full.Load() != ty {
		return nil
	}
	return ty.lazy.err
}

// Enumerator is one constant of an enum.
type Enumerator struct {
	Name  string
	Value int64
}

// Field is a struct or union member.
type Field struct {
	// Name is the member name ("" for an anonymous struct or union); for a
	// Field returned by Type.Field it is the path asked for.
	Name string
	// Offset is the byte offset from the start of the enclosing type (for
	// Type.Field, from the start of the type it was called on). For a bit
	// field it is the start of the storage unit: a naturally aligned unit
	// of the field's type size when the bits fit in one, else the byte
	// holding the first bit.
	Offset uint64
	Type   *Type
	// BitSize is a bit field's width, 0 for other members.
	BitSize uint64
	// BitOffset is a bit field's position within the storage unit at
	// Offset, counted from the unit's least significant bit when the unit
	// is loaded in the target's byte order (for little-endian targets:
	// the little-endian bit number from Offset). 0 for other members.
	BitOffset uint64
}

// IsBitField reports whether f is a bit field.
func (f Field) IsBitField() bool { return f.BitSize > 0 }

// maxChain bounds walks along Elem chains so that malformed debug info
// with cycles cannot hang a caller.
const maxChain = 64

// Resolve strips typedefs and const/volatile/restrict/atomic qualifiers.
//
// A pointer's target struct or union is decoded lazily: the pointer's Elem
// is a stand-in (Incomplete, no fields, size 0) and Resolve returns the
// definition, decoding it on first use. Resolve is safe for concurrent use.
func (ty *Type) Resolve() *Type {
	t := ty.resolve()
	if t != nil && t.lazy != nil {
		if full := t.lazy.full.Load(); full != nil {
			return full
		}
		return t.lazy.ts.complete(t)
	}
	return t
}

// resolve strips typedefs and qualifiers without decoding anything.
func (ty *Type) resolve() *Type {
	t := ty
	for i := 0; t != nil && i < maxChain; i++ {
		switch t.Kind {
		case Typedef, Const, Volatile, Restrict, Atomic:
			if t.Elem == nil {
				return t
			}
			t = t.Elem
		default:
			return t
		}
	}
	return t
}

// String returns the type in C syntax: "struct dio", "transaction_t",
// "unsigned long", "struct page *", "int [3][4]", "void (*)(int)".
func (ty *Type) String() string {
	if ty == nil {
		return "<nil>"
	}
	budget := maxStringNodes
	return declString(ty, "", 0, &budget)
}

// maxStringNodes bounds the work String does on malformed, cyclic
// function types, whose parameters could otherwise fan out exponentially.
const maxStringNodes = 512

// declString renders t around the declarator inner, C style.
func declString(t *Type, inner string, depth int, budget *int) string {
	*budget--
	if t == nil || depth > maxChain || *budget < 0 {
		return joinDecl("?", inner)
	}
	switch t.Kind {
	case Pointer:
		if t.Elem != nil && (t.Elem.Kind == Func || t.Elem.Kind == Array) {
			return declString(t.Elem, "(*"+inner+")", depth+1, budget)
		}
		return declString(t.Elem, "*"+inner, depth+1, budget)
	case Array:
		n := ""
		if t.Len >= 0 {
			n = strconv.FormatInt(t.Len, 10)
		}
		return declString(t.Elem, inner+"["+n+"]", depth+1, budget)
	case Func:
		ps := make([]string, 0, len(t.Params)+1)
		for _, p := range t.Params {
			ps = append(ps, declString(p, "", depth+1, budget))
		}
		if t.Variadic {
			ps = append(ps, "...")
		}
		if len(ps) == 0 {
			ps = append(ps, "void")
		}
		return declString(t.Elem, inner+"("+strings.Join(ps, ", ")+")", depth+1, budget)
	case Const, Volatile, Restrict, Atomic:
		q := t.Kind.String()
		if t.Kind == Atomic {
			q = "_Atomic"
		}
		if t.Elem != nil && t.Elem.Kind == Pointer {
			if inner != "" {
				q += " " + inner
			}
			return declString(t.Elem, q, depth+1, budget)
		}
		return q + " " + declString(t.Elem, inner, depth+1, budget)
	}
	return joinDecl(baseName(t), inner)
}

func joinDecl(base, inner string) string {
	if inner == "" {
		return base
	}
	return base + " " + inner
}

// baseName names a type that has no declarator part.
func baseName(t *Type) string {
	switch t.Kind {
	case Struct, Union, Enum:
		tag := t.Kind.String()
		if t.Name == "" {
			return tag + " {...}"
		}
		return tag + " " + t.Name
	case Void:
		return "void"
	case Char, Uchar, Int, Uint:
		return cIntName(t.Name)
	}
	if t.Name == "" {
		return "?"
	}
	return t.Name
}

// cIntName turns gcc's base type spellings ("long unsigned int") into the
// usual C ones ("unsigned long"). Names it does not understand are
// returned unchanged.
func cIntName(name string) string {
	var signed, unsigned, char bool
	var short, long int
	for _, w := range strings.Fields(name) {
		switch w {
		case "signed":
			signed = true
		case "unsigned":
			unsigned = true
		case "char":
			char = true
		case "int":
		case "short":
			short++
		case "long":
			long++
		default:
			return name
		}
	}
	switch {
	case char && (short > 0 || long > 0), short > 0 && long > 0, short > 1, long > 2, signed && unsigned:
		return name
	}
	var b strings.Builder
	if unsigned {
		b.WriteString("unsigned ")
	} else if signed && char {
		b.WriteString("signed ")
	}
	switch {
	case char:
		b.WriteString("char")
	case short > 0:
		b.WriteString("short")
	case long == 1:
		b.WriteString("long")
	case long == 2:
		b.WriteString("long long")
	default:
		b.WriteString("int")
	}
	return b.String()
}

// EnumName returns the name of the enumerator of ty (after Resolve) whose
// value is v.
func (ty *Type) EnumName(v int64) (string, bool) {
	t := ty.Resolve()
	if t == nil || t.Kind != Enum {
		return "", false
	}
	for _, e := range t.Enumerators {
		if e.Value == v {
			return e.Name, true
		}
	}
	return "", false
}

// Field returns the member at path, which names members separated by
// dots with optional constant array indexes: "refcount", "map_bh.b_size",
// "pages[3]", "j_wait_updates.task_list". Members of anonymous structs and
// unions are found transparently. The returned Offset is counted from the
// start of ty; Name is path.
func (ty *Type) Field(path string) (Field, error) {
	if ty == nil {
		return Field{}, fmt.Errorf("field %q of nil type", path)
	}
	if path == "" {
		return Field{}, fmt.Errorf("empty field path in %s", ty)
	}
	cur := Field{Type: ty}
	rest := path
	first := true
	for rest != "" {
		var comp string
		if rest[0] != '[' {
			if !first {
				if rest[0] != '.' {
					return Field{}, fmt.Errorf("malformed field path %q in %s", path, ty)
				}
				rest = rest[1:]
			}
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			comp, rest = rest[:n], rest[n:]
			if comp == "" {
				return Field{}, fmt.Errorf("malformed field path %q in %s", path, ty)
			}
		}
		first = false
		if comp != "" {
			st := cur.Type.Resolve()
			if st == nil || (st.Kind != Struct && st.Kind != Union) {
				return Field{}, fmt.Errorf("%s has no field %q: %s is not a struct or union", ty, path, cur.Type)
			}
			if err := st.undefined(); err != nil {
				return Field{}, fmt.Errorf("%s has no field %q: %s has no usable definition: %w", ty, path, st, err)
			}
			f, ok := st.member(comp, map[*Type]bool{})
			if !ok {
				if st == ty.Resolve() {
					return Field{}, &fieldError{msg: fmt.Sprintf("%s has no field %q", ty, path)}
				}
				return Field{}, &fieldError{msg: fmt.Sprintf("%s has no field %q (%s has no field %q)", ty, path, cur.Type, comp)}
			}
			f.Offset += cur.Offset
			cur = f
		}
		// Array indexes.
		for rest != "" && rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return Field{}, fmt.Errorf("malformed field path %q in %s: missing ]", path, ty)
			}
			idx, err := strconv.ParseUint(strings.TrimSpace(rest[1:end]), 0, 63)
			if err != nil {
				return Field{}, fmt.Errorf("malformed index in field path %q of %s: %w", path, ty, err)
			}
			rest = rest[end+1:]
			at := cur.Type.Resolve()
			if at == nil || at.Kind != Array {
				return Field{}, fmt.Errorf("cannot index %s in field path %q of %s: not an array", cur.Type, path, ty)
			}
			if at.Len >= 0 && idx >= uint64(at.Len) && at.Len != 0 {
				return Field{}, fmt.Errorf("index %d out of range for %s in field path %q of %s", idx, at, path, ty)
			}
			var esz uint64
			if at.Elem != nil {
				esz = at.Elem.Size
			}
			cur = Field{Offset: cur.Offset + idx*esz, Type: at.Elem}
		}
	}
	cur.Name = path
	return cur, nil
}

// fieldError is a missing-field error; it matches ErrNotFound.
type fieldError struct{ msg string }

func (e *fieldError) Error() string        { return e.msg }
func (e *fieldError) Is(target error) bool { return target == ErrNotFound }

// member finds the named member of struct/union t, looking through
// anonymous struct and union members.
func (t *Type) member(name string, seen map[*Type]bool) (Field, bool) {
	if seen[t] {
		return Field{}, false // malformed: an anonymous member containing itself
	}
	seen[t] = true
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	for _, f := range t.Fields {
		if f.Name != "" {
			continue
		}
		at := f.Type.Resolve()
		if at == nil || (at.Kind != Struct && at.Kind != Union) {
			continue
		}
		if g, ok := at.member(name, seen); ok {
			g.Offset += f.Offset
			return g, true
		}
	}
	return Field{}, false
}

// Offset returns the byte offset of the member at path (see Field).
func (ty *Type) Offset(path string) (uint64, error) {
	f, err := ty.Field(path)
	if err != nil {
		return 0, err
	}
	return f.Offset, nil
}

// HasField reports whether path names a member of ty (see Field).
func (ty *Type) HasField(path string) bool {
	_, err := ty.Field(path)
	return err == nil
}
