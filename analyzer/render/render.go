// Package render prints a typed kernel object the way crash's `struct`
// command does (gdb's pretty printer with crash's settings: decimal
// integers, pointers in hex with the symbol they point into, char arrays as
// strings, enums by name, at most 256 elements of an array), as a JSON
// value tree, and as crash's `struct -o` member offset listing.
//
// It knows nothing about dumps: the object's bytes, a reader for the
// strings char pointers point to and a symbol lookup are given to it.
package render

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/vmtriage/vmtriage/symbols"
)

// PrintElements is crash's `set print elements`: the most elements of an
// array, or characters of a string, printed.
const PrintElements = 256

// Env is what rendering needs beyond the object's bytes; both members may
// be nil.
type Env struct {
	// Read reads target memory (for the strings char pointers point to).
	Read func(addr uint64, b []byte) error
	// Symbol names the symbol an address lies in and the offset into it.
	Symbol func(addr uint64) (name string, off uint64, ok bool)
}

// maxDepth bounds nesting (malformed debug info).
const maxDepth = 64

// Text renders an object of type t at addr, whose bytes are data, like
// crash's `struct TYPE ADDR`: "struct dio {\n  flags = 3,\n ...}\n".
func Text(t *symbols.Type, addr uint64, data []byte, env Env) string {
	var b strings.Builder
	rt := t.Resolve()
	p := printer{env: env, b: &b}
	switch rt.Kind {
	case symbols.Struct, symbols.Union:
		b.WriteString(TypeName(t))
		b.WriteString(" ")
		p.aggregate(rt, data, addr, 0)
	default:
		p.value(rt, data, addr, 0)
	}
	b.WriteString("\n")
	return b.String()
}

// TypeName is the name crash prints a struct under: "struct dio",
// "union {...}" becomes "union", a typedef of a struct its struct's name.
func TypeName(t *symbols.Type) string {
	rt := t.Resolve()
	switch rt.Kind {
	case symbols.Struct, symbols.Union:
		if rt.Name == "" {
			return rt.Kind.String()
		}
		return rt.Kind.String() + " " + rt.Name
	}
	return Decl(t, "")
}

type printer struct {
	env Env
	b   *strings.Builder
}

func indent(n int) string { return strings.Repeat(" ", n) }

// aggregate prints "{ fields }" for a struct or union at nesting level
// recurse: fields at 2+2*recurse spaces, the closing brace at 2*recurse.
func (p *printer) aggregate(t *symbols.Type, data []byte, addr uint64, recurse int) {
	if recurse > maxDepth {
		p.b.WriteString("{...}")
		return
	}
	if len(t.Fields) == 0 {
		p.b.WriteString("{<No data fields>}")
		return
	}
	p.b.WriteString("{\n")
	for i, f := range t.Fields {
		p.b.WriteString(indent(2 + 2*recurse))
		if f.Name != "" {
			p.b.WriteString(f.Name)
			p.b.WriteString(" = ")
		}
		p.field(f, data, addr, recurse+1)
		if i < len(t.Fields)-1 {
			p.b.WriteString(",")
		}
		p.b.WriteString("\n")
	}
	p.b.WriteString(indent(2 * recurse))
	p.b.WriteString("}")
}

// field prints one member's value.
func (p *printer) field(f symbols.Field, data []byte, addr uint64, recurse int) {
	ft := f.Type.Resolve()
	if f.IsBitField() {
		v, ok := bitField(f, data)
		if !ok {
			p.b.WriteString("<unavailable>")
			return
		}
		p.b.WriteString(scalarText(ft, v))
		return
	}
	sub, ok := slice(data, f.Offset, ft.Size)
	if !ok {
		p.b.WriteString("<unavailable>")
		return
	}
	p.value(ft, sub, addr+f.Offset, recurse)
}

// slice returns data[off:off+size], false when out of range.
func slice(data []byte, off, size uint64) ([]byte, bool) {
	if off > uint64(len(data)) || size > uint64(len(data))-off {
		return nil, false
	}
	return data[off : off+size], true
}

// value prints a value of resolved type t held in data.
func (p *printer) value(t *symbols.Type, data []byte, addr uint64, recurse int) {
	if t == nil {
		p.b.WriteString("<unknown type>")
		return
	}
	switch t.Kind {
	case symbols.Struct, symbols.Union:
		p.aggregate(t, data, addr, recurse)
	case symbols.Array:
		p.array(t, data, addr, recurse)
	case symbols.Pointer:
		p.pointer(t, data)
	default:
		if (t.Kind == symbols.Int || t.Kind == symbols.Uint) && t.Size > 8 && uint64(len(data)) == t.Size {
			p.b.WriteString(bigText(t, data))
			return
		}
		v, ok := loadScalar(t, data)
		if !ok {
			p.b.WriteString(fmt.Sprintf("<%d-byte %s>", len(data), Decl(t, "")))
			return
		}
		p.b.WriteString(scalarText(t, v))
	}
}

func (p *printer) array(t *symbols.Type, data []byte, addr uint64, recurse int) {
	et := t.Elem.Resolve()
	n := t.Len
	if n <= 0 || et == nil || et.Size == 0 {
		// a flexible or zero-length array: gdb prints its address (and,
		// for chars, the string there)
		p.b.WriteString("0x" + strconv.FormatUint(addr, 16))
		if et != nil && isChar(et) && et.Size == 1 && p.env.Read != nil {
			p.b.WriteString(" " + pointedString(addr, p.env))
		}
		return
	}
	if isChar(et) && et.Size == 1 {
		p.b.WriteString(charArray(data[:min(uint64(n), uint64(len(data)))]))
		return
	}
	p.b.WriteString("{")
	limit := min(n, PrintElements)
	for i := int64(0); i < limit; i++ {
		if i > 0 {
			p.b.WriteString(", ")
		}
		sub, ok := slice(data, uint64(i)*et.Size, et.Size)
		if !ok {
			p.b.WriteString("<unavailable>")
			continue
		}
		p.value(et, sub, addr+uint64(i)*et.Size, recurse+1)
	}
	if n > limit {
		p.b.WriteString("...")
	}
	p.b.WriteString("}")
}

func (p *printer) pointer(t *symbols.Type, data []byte) {
	v, ok := loadScalar(t, data)
	if !ok {
		p.b.WriteString("<unavailable>")
		return
	}
	p.b.WriteString(PointerText(t, v, p.env))
}

// PointerText renders a pointer value: "0x0", "0xffff...",
// "0xffffffff81000000 <startup_64>", `0xffff... "a string"`.
func PointerText(t *symbols.Type, v uint64, env Env) string {
	s := "0x" + strconv.FormatUint(v, 16)
	if v == 0 {
		return s
	}
	if sym := symbolText(v, env); sym != "" {
		s += " " + sym
	}
	if et := t.Elem.Resolve(); et != nil && isChar(et) && et.Size == 1 && env.Read != nil {
		s += " " + pointedString(v, env)
	}
	return s
}

// symbolText is gdb's "<sym+off>" for an address in the kernel's half.
func symbolText(v uint64, env Env) string {
	if env.Symbol == nil || v < 0xffff800000000000 {
		return ""
	}
	name, off, ok := env.Symbol(v)
	if !ok || name == "" {
		return ""
	}
	if off == 0 {
		return "<" + name + ">"
	}
	return "<" + name + "+" + strconv.FormatUint(off, 10) + ">"
}

// pointedString reads the string a char pointer points to, as gdb prints
// it: at most PrintElements characters, then "...".
func pointedString(v uint64, env Env) string {
	var out []byte
	buf := make([]byte, 64)
	for len(out) <= PrintElements {
		n := 64 - int(v%64)
		if err := env.Read(v, buf[:n]); err != nil {
			if len(out) == 0 {
				return fmt.Sprintf("<error: Cannot access memory at address 0x%x>", v)
			}
			break
		}
		if i := indexZero(buf[:n]); i >= 0 {
			out = append(out, buf[:i]...)
			if len(out) > PrintElements {
				break
			}
			return quote(out, '"')
		}
		out = append(out, buf[:n]...)
		v += uint64(n)
	}
	if len(out) > PrintElements {
		return quote(out[:PrintElements], '"') + "..."
	}
	return quote(out, '"')
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// charArray prints a char array as gdb does with print null-stop off: the
// whole array, less one trailing NUL, at most PrintElements characters.
func charArray(b []byte) string {
	if len(b) > PrintElements {
		return quote(b[:PrintElements], '"') + "..."
	}
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return quote(b, '"')
}

// quote quotes bytes as a C string (q '"') or character (q '\”)
// literal, with gdb's escapes.
func quote(b []byte, q byte) string {
	var s strings.Builder
	s.WriteByte(q)
	for _, c := range b {
		s.WriteString(escape(c, q))
	}
	s.WriteByte(q)
	return s.String()
}

func escape(c, q byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	case '\\':
		return `\\`
	case q:
		return `\` + string(q)
	}
	if c >= 0x20 && c < 0x7f {
		return string(c)
	}
	return fmt.Sprintf(`\%03o`, c)
}

func isChar(t *symbols.Type) bool { return t.Kind == symbols.Char || t.Kind == symbols.Uchar }

// loadScalar reads a little-endian integer of up to 8 bytes.
func loadScalar(t *symbols.Type, data []byte) (uint64, bool) {
	if len(data) == 0 || len(data) > 8 || uint64(len(data)) != t.Size {
		return 0, false
	}
	var buf [8]byte
	copy(buf[:], data)
	return binary.LittleEndian.Uint64(buf[:]), true
}

// bitField extracts a bit field's value (zero-extended).
func bitField(f symbols.Field, data []byte) (uint64, bool) {
	size := f.Type.Resolve().Size
	if size == 0 || size > 8 {
		return 0, false
	}
	var buf [8]byte
	if f.Offset >= uint64(len(data)) {
		return 0, false
	}
	copy(buf[:], data[f.Offset:min(f.Offset+size, uint64(len(data)))])
	v := binary.LittleEndian.Uint64(buf[:]) >> f.BitOffset
	if f.BitSize < 64 {
		v &= 1<<f.BitSize - 1
	}
	if t := f.Type.Resolve(); (t.Kind == symbols.Int || t.Kind == symbols.Char) && f.BitSize < 64 && v&(1<<(f.BitSize-1)) != 0 {
		v |= ^uint64(0) << f.BitSize
	}
	return v, true
}

// signed sign-extends v of size bytes.
func signed(v, size uint64) int64 {
	if size >= 8 || size == 0 {
		return int64(v)
	}
	bits := size * 8
	if v&(1<<(bits-1)) != 0 {
		v |= ^uint64(0) << bits
	}
	return int64(v)
}

// scalarText renders an integer-like value of resolved type t.
func scalarText(t *symbols.Type, v uint64) string {
	switch t.Kind {
	case symbols.Bool:
		switch v {
		case 0:
			return "false"
		case 1:
			return "true"
		}
		return strconv.FormatUint(v, 10)
	case symbols.Char:
		n := signed(v, t.Size)
		return strconv.FormatInt(n, 10) + " " + quote([]byte{byte(v)}, '\'')
	case symbols.Uchar:
		return strconv.FormatUint(v&0xff, 10) + " " + quote([]byte{byte(v)}, '\'')
	case symbols.Int:
		return strconv.FormatInt(signed(v, t.Size), 10)
	case symbols.Enum:
		n := signed(v, t.Size)
		if name, ok := t.EnumName(n); ok {
			return name
		}
		if name, ok := t.EnumName(int64(v)); ok {
			return name
		}
		return strconv.FormatInt(n, 10)
	case symbols.Float:
		switch t.Size {
		case 4:
			return strconv.FormatFloat(float64(math.Float32frombits(uint32(v))), 'g', -1, 32)
		case 8:
			return strconv.FormatFloat(math.Float64frombits(v), 'g', -1, 64)
		}
	case symbols.Pointer:
		return "0x" + strconv.FormatUint(v, 16)
	}
	return strconv.FormatUint(v, 10)
}

// bigText renders a 16-byte integer.
func bigText(t *symbols.Type, data []byte) string {
	be := make([]byte, len(data))
	for i := range data {
		be[len(data)-1-i] = data[i]
	}
	n := new(big.Int).SetBytes(be)
	if t.Kind == symbols.Int && len(data) > 0 && data[len(data)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(data))))
	}
	return n.String()
}
