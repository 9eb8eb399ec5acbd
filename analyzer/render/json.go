package render

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/vmtriage/vmtriage/symbols"
)

// Object is a struct's or union's members in declaration order, encoded
// as a JSON object; the members of anonymous structs and unions are
// members of the object that holds them (as C reaches them).
type Object []KV

// KV is one member.
type KV struct {
	Name  string
	Value any
}

// MarshalJSON keeps the declaration order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Name)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Value turns an object of type t held in data into a JSON-ready value:
// structs and unions an Object, arrays a slice, char arrays the string up
// to the first NUL, integers numbers, bools booleans, enums their
// enumerator's name (the number when none matches), pointers "0x..."
// strings, 128-bit integers decimal strings.
func Value(t *symbols.Type, data []byte) any {
	return value(t.Resolve(), data, 0)
}

func value(t *symbols.Type, data []byte, depth int) any {
	if t == nil || depth > maxDepth {
		return nil
	}
	switch t.Kind {
	case symbols.Struct, symbols.Union:
		o := Object{}
		fields(&o, t, data, depth)
		return o
	case symbols.Array:
		et := t.Elem.Resolve()
		if t.Len <= 0 || et == nil || et.Size == 0 {
			return []any{}
		}
		if isChar(et) && et.Size == 1 {
			b := data[:min(uint64(t.Len), uint64(len(data)))]
			if i := indexZero(b); i >= 0 {
				b = b[:i]
			}
			return string(b)
		}
		out := make([]any, 0, t.Len)
		for i := int64(0); i < t.Len; i++ {
			sub, ok := slice(data, uint64(i)*et.Size, et.Size)
			if !ok {
				break
			}
			out = append(out, value(et, sub, depth+1))
		}
		return out
	}
	if (t.Kind == symbols.Int || t.Kind == symbols.Uint) && t.Size > 8 && uint64(len(data)) == t.Size {
		return bigText(t, data)
	}
	v, ok := loadScalar(t, data)
	if !ok {
		return nil
	}
	return scalarJSON(t, v)
}

func fields(o *Object, t *symbols.Type, data []byte, depth int) {
	for _, f := range t.Fields {
		ft := f.Type.Resolve()
		if f.Name == "" && (ft.Kind == symbols.Struct || ft.Kind == symbols.Union) {
			if sub, ok := slice(data, f.Offset, ft.Size); ok {
				fields(o, ft, sub, depth+1)
			}
			continue
		}
		var v any
		if f.IsBitField() {
			if x, ok := bitField(f, data); ok {
				v = scalarJSON(ft, x)
			}
		} else if sub, ok := slice(data, f.Offset, ft.Size); ok {
			v = value(ft, sub, depth+1)
		}
		*o = append(*o, KV{f.Name, v})
	}
}

func scalarJSON(t *symbols.Type, v uint64) any {
	switch t.Kind {
	case symbols.Bool:
		if v <= 1 {
			return v == 1
		}
		return v
	case symbols.Char, symbols.Int:
		return signed(v, t.Size)
	case symbols.Enum:
		n := signed(v, t.Size)
		if name, ok := t.EnumName(n); ok {
			return name
		}
		if name, ok := t.EnumName(int64(v)); ok {
			return name
		}
		return n
	case symbols.Pointer:
		return "0x" + strconv.FormatUint(v, 16)
	case symbols.Float:
		f, _ := strconv.ParseFloat(scalarText(t, v), 64)
		return f
	}
	return v
}
