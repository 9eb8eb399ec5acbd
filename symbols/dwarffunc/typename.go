package dwarffunc

import (
	"debug/dwarf"
	"fmt"
	"strings"
)

// typeInfo is a type's C spelling and byte size (-1 when unknown).
type typeInfo struct {
	name string
	size int64
}

// typeOf describes the type at off ("struct dio *", "unsigned long").
func (f *Funcs) typeOf(off dwarf.Offset) typeInfo {
	f.mu.Lock()
	t, ok := f.types[off]
	f.mu.Unlock()
	if ok {
		return t
	}
	t = f.describeType(off, 0)
	f.mu.Lock()
	f.types[off] = t
	f.mu.Unlock()
	return t
}

func (f *Funcs) describeType(off dwarf.Offset, depth int) typeInfo {
	if depth > 16 {
		return typeInfo{"?", -1}
	}
	e, err := f.entryAt(off)
	if err != nil {
		return typeInfo{"?", -1}
	}
	size := int64(-1)
	if v, ok := e.Val(dwarf.AttrByteSize).(int64); ok {
		size = v
	}
	name, _ := e.Val(dwarf.AttrName).(string)
	inner := func() typeInfo {
		ref, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		if !ok {
			return typeInfo{"void", -1}
		}
		return f.describeType(ref, depth+1)
	}
	switch e.Tag {
	case dwarf.TagBaseType, dwarf.TagTypedef, dwarf.TagUnspecifiedType:
		if e.Tag == dwarf.TagTypedef && size < 0 {
			size = inner().size
		}
		return typeInfo{name, size}
	case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType, dwarf.TagClassType:
		kw := map[dwarf.Tag]string{dwarf.TagStructType: "struct", dwarf.TagUnionType: "union",
			dwarf.TagEnumerationType: "enum", dwarf.TagClassType: "class"}[e.Tag]
		if name == "" {
			name = "<anonymous>"
		}
		return typeInfo{kw + " " + name, size}
	case dwarf.TagPointerType, dwarf.TagReferenceType:
		if size < 0 {
			size = 8
		}
		in := inner()
		if strings.HasSuffix(in.name, "*") {
			return typeInfo{in.name + "*", size}
		}
		return typeInfo{in.name + " *", size}
	case dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType, dwarf.TagAtomicType:
		q := map[dwarf.Tag]string{dwarf.TagConstType: "const", dwarf.TagVolatileType: "volatile",
			dwarf.TagRestrictType: "restrict", dwarf.TagAtomicType: "_Atomic"}[e.Tag]
		in := inner()
		if strings.HasSuffix(in.name, "*") {
			return typeInfo{in.name + " " + q, in.size}
		}
		if strings.HasPrefix(in.name, q+" ") { // a const array of const elements
			return in
		}
		return typeInfo{q + " " + in.name, in.size}
	case dwarf.TagArrayType:
		in := inner()
		dims := ""
		n := int64(1)
		if r, err := f.readerAt(off); err == nil {
			if _, err := r.Next(); err == nil && e.Children {
				for {
					c, err := r.Next()
					if err != nil || c == nil || c.Tag == 0 {
						break
					}
					if c.Tag == dwarf.TagSubrangeType {
						if cnt, ok := c.Val(dwarf.AttrCount).(int64); ok {
							dims += fmt.Sprintf("[%d]", cnt)
							n *= cnt
						} else if ub, ok := c.Val(dwarf.AttrUpperBound).(int64); ok {
							dims += fmt.Sprintf("[%d]", ub+1)
							n *= ub + 1
						} else {
							dims += "[]"
							n = -1
						}
					}
					r.SkipChildren()
				}
			}
		}
		sz := int64(-1)
		if n >= 0 && in.size >= 0 {
			sz = n * in.size
		}
		return typeInfo{in.name + " " + dims, sz}
	case dwarf.TagSubroutineType:
		return typeInfo{"function", -1}
	}
	if name == "" {
		name = e.Tag.String()
	}
	return typeInfo{name, size}
}
