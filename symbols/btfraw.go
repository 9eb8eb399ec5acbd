package symbols

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

// The BTF library finds types by name but has no index of enumerators,
// and decoding every type to find them costs a quarter of a second on a
// kernel. enumerators reads them from the raw blob instead: a walk over
// the fixed-size type records (include/uapi/linux/btf.h) that decodes
// nothing else.

// BTF kinds whose records the walk must size or read (BTF_KIND_*).
const (
	btfKindInt      = 1
	btfKindArray    = 3
	btfKindStruct   = 4
	btfKindUnion    = 5
	btfKindEnum     = 6
	btfKindFuncProt = 13
	btfKindVar      = 14
	btfKindDatasec  = 15
	btfKindDeclTag  = 17
	btfKindEnum64   = 19
	btfKindMax      = 19
)

// enumerators maps each enumerator name to its value, the first enum's
// (lowest type id) when several have it.
func (t *BTFTypes) enumerators() (map[string]int64, error) {
	if t.raw != nil {
		baseStrings := -1
		if t.base == nil {
			baseStrings = 0
		} else if t.base.raw != nil {
			if h, err := btfHeader(t.base.raw); err == nil {
				baseStrings = int(h.strLen)
			}
		}
		if baseStrings >= 0 {
			m, err := rawEnumerators(t.raw, baseStrings)
			if err != nil {
				return nil, fmt.Errorf("symbols: %s: BTF: %w", t.path, err)
			}
			return m, nil
		}
	}
	m := map[string]int64{}
	for ty, err := range t.spec.All() {
		if err != nil {
			return nil, fmt.Errorf("symbols: %s: BTF: %w", t.path, err)
		}
		if e, ok := ty.(*btf.Enum); ok {
			for _, v := range e.Values {
				if _, dup := m[v.Name]; !dup {
					m[v.Name] = enumValue(e, v.Value)
				}
			}
		}
	}
	return m, nil
}

type rawBTFHeader struct {
	typeOff, typeLen, strOff, strLen uint32
}

// btfHeader reads a BTF blob's header; the offsets it returns are from
// the blob's start and checked to lie inside it.
func btfHeader(b []byte) (rawBTFHeader, error) {
	if len(b) < 24 {
		return rawBTFHeader{}, fmt.Errorf("blob of %d bytes is shorter than a BTF header (24)", len(b))
	}
	le := binary.LittleEndian
	if m := le.Uint16(b); m != 0xeb9f {
		return rawBTFHeader{}, fmt.Errorf("magic 0x%04x at offset 0, want 0xeb9f (little-endian BTF)", m)
	}
	hdrLen := le.Uint32(b[4:])
	h := rawBTFHeader{le.Uint32(b[8:]), le.Uint32(b[12:]), le.Uint32(b[16:]), le.Uint32(b[20:])}
	for _, r := range [][2]uint32{{h.typeOff, h.typeLen}, {h.strOff, h.strLen}} {
		start, end := uint64(hdrLen)+uint64(r[0]), uint64(hdrLen)+uint64(r[0])+uint64(r[1])
		if end > uint64(len(b)) {
			return rawBTFHeader{}, fmt.Errorf("section at 0x%x+0x%x is past the blob's end (0x%x)", start, r[1], len(b))
		}
	}
	h.typeOff += hdrLen
	h.strOff += hdrLen
	return h, nil
}

// rawEnumerators walks a blob's type records for the enumerators of
// BTF_KIND_ENUM and ENUM64. baseStrings is the length of the base BTF's
// string section for a split blob (its own strings follow the base's),
// 0 otherwise.
func rawEnumerators(b []byte, baseStrings int) (map[string]int64, error) {
	h, err := btfHeader(b)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	types := b[h.typeOff : h.typeOff+h.typeLen]
	strs := b[h.strOff : h.strOff+h.strLen]
	name := func(off uint32) (string, bool) {
		o := int(off) - baseStrings
		if o < 0 || o >= len(strs) {
			return "", false
		}
		end := o
		for end < len(strs) && strs[end] != 0 {
			end++
		}
		// the names are read in place: the blob is kept (BTFTypes.raw)
		return unsafe.String(unsafe.SliceData(strs[o:end]), end-o), true
	}
	m := make(map[string]int64, countEnumerators(types))
	for p := 0; p < len(types); {
		if p+12 > len(types) {
			return nil, fmt.Errorf("type record at 0x%x of the type section is truncated", p)
		}
		info, size := le.Uint32(types[p+4:]), le.Uint32(types[p+8:])
		vlen, kind, kflag := int(info&0xffff), int(info>>24&0x1f), info>>31 != 0
		start := p
		p += 12
		if kind == 0 || kind > btfKindMax {
			return nil, fmt.Errorf("type record at 0x%x of the type section has kind %d, not a BTF kind", start, kind)
		}
		extra := recordExtra(kind, vlen)
		if p+extra > len(types) {
			return nil, fmt.Errorf("type record at 0x%x (kind %d, %d entries) runs past the type section", start, kind, vlen)
		}
		if kind == btfKindEnum || kind == btfKindEnum64 {
			step := 8
			if kind == btfKindEnum64 {
				step = 12
			}
			e := &btf.Enum{Size: size, Signed: kflag}
			for i := 0; i < vlen; i++ {
				r := types[p+i*step:]
				n, ok := name(le.Uint32(r))
				if !ok {
					return nil, fmt.Errorf("enumerator %d of the enum at 0x%x names string 0x%x, outside the string section", i, start, le.Uint32(r))
				}
				v := uint64(le.Uint32(r[4:]))
				if kind == btfKindEnum64 {
					v |= uint64(le.Uint32(r[8:])) << 32
				} else if kflag {
					v = uint64(int64(int32(v))) // a signed 32-bit value
				}
				if _, dup := m[n]; !dup && n != "" {
					m[n] = enumValue(e, v)
				}
			}
		}
		p += extra
	}
	return m, nil
}

// recordExtra is how many bytes follow a type record's 12-byte header
// (include/uapi/linux/btf.h): its kind's own data and vlen entries.
func recordExtra(kind, vlen int) int {
	switch kind {
	case btfKindInt, btfKindVar, btfKindDeclTag:
		return 4
	case btfKindArray:
		return 12
	case btfKindStruct, btfKindUnion, btfKindDatasec, btfKindEnum64:
		return 12 * vlen
	case btfKindEnum, btfKindFuncProt:
		return 8 * vlen
	}
	return 0
}

// countEnumerators counts the enumerators of a type section, to size the
// map rawEnumerators fills (grown from empty, it reallocated itself a
// dozen times).
func countEnumerators(types []byte) int {
	le := binary.LittleEndian
	n := 0
	for p := 0; p+12 <= len(types); {
		info := le.Uint32(types[p+4:])
		vlen, kind := int(info&0xffff), int(info>>24&0x1f)
		p += 12 + recordExtra(kind, vlen)
		if kind == btfKindEnum || kind == btfKindEnum64 {
			n += vlen
		}
	}
	return n
}
