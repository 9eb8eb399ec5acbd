package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vmtriage/vmtriage/symbols"
)

// Decl declares name with type t in C syntax, as crash's `struct -o`
// prints members: "struct page *pages[64]", "unsigned long refcount",
// "dio_iodone_t *end_io", "void (*func)(struct work_struct *)".
func Decl(t *symbols.Type, name string) string {
	budget := 512
	return decl(t, name, 0, &budget)
}

func decl(t *symbols.Type, inner string, depth int, budget *int) string {
	*budget--
	if t == nil || depth > maxDepth || *budget < 0 {
		return join("?", inner)
	}
	switch t.Kind {
	case symbols.Pointer:
		if t.Elem != nil && (t.Elem.Kind == symbols.Func || t.Elem.Kind == symbols.Array) {
			return decl(t.Elem, "(*"+inner+")", depth+1, budget)
		}
		if t.Elem == nil {
			return join("void", "*"+inner)
		}
		return decl(t.Elem, "*"+inner, depth+1, budget)
	case symbols.Array:
		n := ""
		if t.Len >= 0 {
			n = strconv.FormatInt(t.Len, 10)
		}
		return decl(t.Elem, inner+"["+n+"]", depth+1, budget)
	case symbols.Func:
		var ps []string
		for _, p := range t.Params {
			ps = append(ps, decl(p, "", depth+1, budget))
		}
		if t.Variadic {
			ps = append(ps, "...")
		}
		if len(ps) == 0 {
			ps = append(ps, "void")
		}
		if t.Elem == nil {
			return join("void", inner+"("+strings.Join(ps, ", ")+")")
		}
		return decl(t.Elem, inner+"("+strings.Join(ps, ", ")+")", depth+1, budget)
	case symbols.Const, symbols.Volatile, symbols.Restrict, symbols.Atomic:
		q := t.Kind.String()
		if t.Kind == symbols.Atomic {
			q = "_Atomic"
		}
		if t.Elem != nil && t.Elem.Kind == symbols.Pointer {
			return decl(t.Elem, join(q, inner), depth+1, budget)
		}
		return q + " " + decl(t.Elem, inner, depth+1, budget)
	case symbols.Typedef:
		return join(t.Name, inner)
	}
	// a base type: its C name via symbols' own rendering
	return join(t.String(), inner)
}

func join(base, inner string) string {
	if inner == "" {
		return base
	}
	return base + " " + inner
}

// Member is one line of an offset listing.
type Member struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Offset    uint64   `json:"offset"`
	Size      uint64   `json:"size"`
	BitOffset uint64   `json:"bit_offset,omitempty"`
	BitSize   uint64   `json:"bit_size,omitempty"`
	Kind      string   `json:"kind,omitempty"`    // "struct" or "union" for an anonymous aggregate
	Members   []Member `json:"members,omitempty"` // an anonymous struct's or union's members
	decl      string   // the C declaration
	anon      *symbols.Type
}

// Members lists t's members with their offsets from t's start; the
// members of anonymous structs and unions are nested under them.
func Members(t *symbols.Type) []Member {
	return members(t.Resolve(), 0, 0)
}

func members(t *symbols.Type, base uint64, depth int) []Member {
	if t == nil || depth > maxDepth {
		return nil
	}
	var out []Member
	for _, f := range t.Fields {
		ft := f.Type.Resolve()
		m := Member{Name: f.Name, Type: Decl(f.Type, ""), Offset: base + f.Offset, Size: ft.Size,
			BitOffset: f.BitOffset, BitSize: f.BitSize, decl: Decl(f.Type, f.Name)}
		if f.BitSize > 0 {
			m.Size = 0
			m.decl += " : " + strconv.FormatUint(f.BitSize, 10)
		}
		if f.Name == "" && (ft.Kind == symbols.Struct || ft.Kind == symbols.Union) {
			m.Kind = ft.Kind.String()
			m.Members = members(ft, base+f.Offset, depth+1)
			m.anon = ft
		}
		out = append(out, m)
	}
	return out
}

// Offsets renders crash's `struct -o TYPE [ADDR]`: every member with its
// offset (or, when addr is not 0, its address) in brackets, anonymous
// structs and unions expanded, then the size.
func Offsets(t *symbols.Type, addr uint64) string {
	var b strings.Builder
	rt := t.Resolve()
	b.WriteString(TypeName(t) + " {\n")
	offsets(&b, Members(t), addr, 0)
	b.WriteString("}\n")
	fmt.Fprintf(&b, "SIZE: %d\n", rt.Size)
	return b.String()
}

func offsets(b *strings.Builder, ms []Member, addr uint64, level int) {
	pad := strings.Repeat("    ", level)
	for _, m := range ms {
		if m.anon != nil {
			fmt.Fprintf(b, "        %s%s {\n", pad, m.Kind)
			offsets(b, m.Members, addr, level+1)
			fmt.Fprintf(b, "        %s};\n", pad)
			continue
		}
		if addr != 0 {
			fmt.Fprintf(b, "  [%x] %s%s;\n", addr+m.Offset, pad, m.decl)
		} else {
			fmt.Fprintf(b, "%7s %s%s;\n", "["+strconv.FormatUint(m.Offset, 10)+"]", pad, m.decl)
		}
	}
}
