package symbols

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// BTFTypes are the type layouts of a kernel's BTF (the .BTF section of a
// vmlinux built with CONFIG_DEBUG_INFO_BTF, 5.2+, or the copy the running
// kernel keeps between __start_BTF and __stop_BTF): a few megabytes that
// describe every struct, union, enum and typedef of the kernel, read in a
// fraction of the time DWARF takes. BTF has no global variables (but the
// per-CPU ones) and no locations, so DWARF stays the source for frame
// locals, inline frames and the declared types of globals.
//
// BTFTypes is a TypeSource: its Types have the same shape as those decoded
// from DWARF (names, sizes, member offsets, bit fields), which a test
// checks type by type on real kernels.
//
// Nothing is decoded up front: a type is found by name through the
// library's name index and decoded when first asked for (decoding all of
// a kernel's 100k types takes a quarter of a second), and the
// enumerators are read from the raw blob (btfraw.go) when a constant is
// first asked for.
type BTFTypes struct {
	path string
	spec *btf.Spec
	raw  []byte    // the blob, for the enumerators (nil: decode every type for them)
	base *BTFTypes // a module's split BTF: the kernel's

	mu    sync.Mutex
	index map[string]btf.Type // found so far: "struct dio", "transaction_t", "int"... (nil: none)
	vars  map[string]btf.Type // variables found so far (per-CPU ones; nil: none)
	memo  map[btf.Type]*Type
	ptrs  map[*Type]*Type

	constsOnce sync.Once
	consts     map[string]int64
	constsErr  error
}

// LoadBTF parses BTF from r: an ELF file with a .BTF section (a vmlinux)
// or a raw BTF blob (what the kernel keeps in memory). name is used in
// errors.
func LoadBTF(r io.ReaderAt, name string) (*BTFTypes, error) {
	spec, err := btf.LoadSpecFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: BTF: %w", name, err)
	}
	return newBTFTypes(spec, name), nil
}

// ParseBTF parses a raw BTF blob (magic 0xeb9f, as between the kernel's
// __start_BTF and __stop_BTF).
func ParseBTF(blob []byte, name string) (*BTFTypes, error) {
	t, err := LoadBTF(newBTFELF(blob), name)
	if err != nil {
		return nil, err
	}
	t.raw = blob
	return t, nil
}

func newBTFTypes(spec *btf.Spec, name string) *BTFTypes {
	return &BTFTypes{path: name, spec: spec, index: map[string]btf.Type{},
		vars: map[string]btf.Type{}, memo: map[btf.Type]*Type{}, ptrs: map[*Type]*Type{}}
}

// btfIntNames are the names GCC and Clang give the C integer types in
// BTF ("long unsigned int"): a lookup by another spelling ("unsigned
// long") tries those whose C name is the same.
var btfIntNames = []string{"char", "signed char", "unsigned char", "short int", "short unsigned int",
	"int", "unsigned int", "long int", "long unsigned int", "long long int", "long long unsigned int",
	"_Bool", "__int128", "__int128 unsigned"}

// find returns the type a key names ("struct dio", "u64", "unsigned
// long"), or nil: a definition wins over a forward declaration, the first
// (lowest id) of equals; the caller holds t.mu.
func (t *BTFTypes) find(key string) btf.Type {
	if v, ok := t.index[key]; ok {
		return v
	}
	kind, name := "", key
	for _, k := range []string{"struct ", "union ", "enum "} {
		if strings.HasPrefix(key, k) {
			kind, name = strings.TrimSpace(k), strings.TrimPrefix(key, k)
		}
	}
	names := []string{name}
	if kind == "" {
		c := cIntName(key)
		for _, n := range btfIntNames {
			if n != key && cIntName(n) == c {
				names = append(names, n)
			}
		}
	}
	var found btf.Type
	for _, n := range names {
		types, _ := t.spec.AnyTypesByName(n)
		for _, ty := range types {
			ok := false
			switch v := ty.(type) {
			case *btf.Struct:
				ok = kind == "struct"
			case *btf.Union:
				ok = kind == "union"
			case *btf.Enum:
				ok = kind == "enum"
			case *btf.Fwd:
				ok = kind == "struct" && v.Kind == btf.FwdStruct || kind == "union" && v.Kind == btf.FwdUnion
			case *btf.Typedef, *btf.Int, *btf.Float:
				ok = kind == ""
			}
			if ok && (found == nil || isFwd(found) && !isFwd(ty)) {
				found = ty
			}
		}
		if found != nil {
			break
		}
	}
	t.index[key] = found
	return found
}

func prefixed(kind, name string) string {
	if name == "" {
		return ""
	}
	return kind + " " + name
}

func isFwd(t btf.Type) bool {
	_, ok := t.(*btf.Fwd)
	return ok
}

func enumValue(e *btf.Enum, v uint64) int64 {
	if e.Signed && e.Size < 8 {
		shift := 64 - 8*uint(e.Size)
		return int64(v<<shift) >> shift
	}
	return int64(v)
}

// Path is the name the BTF was loaded from.
func (t *BTFTypes) Path() string { return t.path }

// Lookup returns the named type, as Types.Lookup does.
func (t *BTFTypes) Lookup(name string) (*Type, error) {
	key := strings.Join(strings.Fields(name), " ")
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookup(key)
}

func (t *BTFTypes) lookup(key string) (*Type, error) {
	if strings.HasSuffix(key, "*") {
		base, err := t.lookup(strings.TrimSpace(strings.TrimSuffix(key, "*")))
		if err != nil {
			return nil, err
		}
		return t.pointerTo(base), nil
	}
	bt := t.find(key)
	if bt == nil {
		if key == "void" {
			return &Type{Name: "void", Kind: Void}, nil
		}
		return nil, &notFoundError{what: "type " + key, file: t.path}
	}
	return t.convert(bt, 0)
}

// Constant returns an enumerator's value (the first enum's that has it;
// a module's split BTF: the kernel's first).
func (t *BTFTypes) Constant(name string) (int64, error) {
	if t.base != nil {
		if v, err := t.base.Constant(name); err == nil {
			return v, nil
		}
	}
	t.constsOnce.Do(func() { t.consts, t.constsErr = t.enumerators() })
	if t.constsErr != nil {
		return 0, t.constsErr
	}
	v, ok := t.consts[name]
	if !ok {
		return 0, &notFoundError{what: "enumerator " + name, file: t.path}
	}
	return v, nil
}

// ErrNoVariableInBTF means BTF does not describe a global variable: kernel
// BTF lists only the per-CPU ones.
var ErrNoVariableInBTF = errors.New("BTF describes no global variables but the per-CPU ones")

// Variable returns the type of a variable BTF describes (a per-CPU one);
// for any other global it returns an error wrapping ErrNotFound and
// ErrNoVariableInBTF.
func (t *BTFTypes) Variable(name string) (*Type, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	bt, ok := t.vars[name]
	if !ok {
		types, _ := t.spec.AnyTypesByName(name)
		for _, ty := range types {
			if v, isVar := ty.(*btf.Var); isVar {
				bt = v.Type
				break
			}
		}
		t.vars[name] = bt
	}
	if bt == nil {
		return nil, fmt.Errorf("%w: %w", &notFoundError{what: "variable " + name, file: t.path}, ErrNoVariableInBTF)
	}
	return t.convert(bt, 0)
}

func (t *BTFTypes) pointerTo(base *Type) *Type {
	if p, ok := t.ptrs[base]; ok {
		return p
	}
	p := &Type{Kind: Pointer, Size: 8, Elem: base}
	t.ptrs[base] = p
	return p
}

// convert turns a BTF type into a Type; the caller holds t.mu. A struct is
// entered in memo before its members are converted, so self-references
// end on it.
func (t *BTFTypes) convert(bt btf.Type, depth int) (*Type, error) {
	if bt == nil {
		return &Type{Name: "void", Kind: Void}, nil
	}
	if ty, ok := t.memo[bt]; ok {
		return ty, nil
	}
	if depth > 4*maxChain {
		return nil, fmt.Errorf("symbols: %s: BTF type %v nests too deeply", t.path, bt)
	}
	sub := func(x btf.Type) (*Type, error) { return t.convert(x, depth+1) }
	ty := &Type{}
	t.memo[bt] = ty
	var err error
	switch v := bt.(type) {
	case *btf.Void:
		ty.Name, ty.Kind = "void", Void
	case *btf.Int:
		ty.Name, ty.Size = v.Name, uint64(v.Size)
		switch {
		case v.Encoding == btf.Bool:
			ty.Kind = Bool
		case v.Encoding == btf.Char || (v.Size == 1 && strings.Contains(v.Name, "char")):
			ty.Kind = Char
			if v.Encoding != btf.Signed && strings.HasPrefix(v.Name, "unsigned") {
				ty.Kind = Uchar
			}
		case v.Encoding == btf.Signed:
			ty.Kind = Int
		default:
			ty.Kind = Uint
		}
	case *btf.Float:
		ty.Name, ty.Kind, ty.Size = v.Name, Float, uint64(v.Size)
	case *btf.Pointer:
		ty.Kind, ty.Size = Pointer, 8
		ty.Elem, err = sub(v.Target)
	case *btf.Array:
		ty.Kind, ty.Len = Array, int64(v.Nelems)
		if ty.Elem, err = sub(v.Type); err == nil {
			ty.Size = uint64(v.Nelems) * ty.Elem.byteSize()
			if v.Nelems == 0 {
				ty.Len = -1 // a flexible array member
			}
		}
	case *btf.Struct:
		ty.Name, ty.Kind, ty.Size = v.Name, Struct, uint64(v.Size)
		ty.Fields, err = t.members(v.Members, sub)
	case *btf.Union:
		ty.Name, ty.Kind, ty.Size = v.Name, Union, uint64(v.Size)
		ty.Fields, err = t.members(v.Members, sub)
	case *btf.Enum:
		ty.Name, ty.Kind, ty.Size = v.Name, Enum, uint64(v.Size)
		for _, e := range v.Values {
			ty.Enumerators = append(ty.Enumerators, Enumerator{Name: e.Name, Value: enumValue(v, e.Value)})
		}
	case *btf.Fwd:
		ty.Name, ty.Incomplete = v.Name, true
		ty.Kind = Struct
		switch v.Kind {
		case btf.FwdUnion:
			ty.Kind = Union
		}
		// a definition elsewhere in the BTF stands in for the declaration
		key := prefixed("struct", v.Name)
		if ty.Kind == Union {
			key = prefixed("union", v.Name)
		}
		if def := t.find(key); def != nil && !isFwd(def) {
			full, err := sub(def)
			if err != nil {
				return nil, err
			}
			t.memo[bt] = full
			return full, nil
		}
	case *btf.Typedef:
		ty.Name, ty.Kind = v.Name, Typedef
		if ty.Elem, err = sub(v.Type); err == nil {
			ty.Size = ty.Elem.byteSize()
		}
	case *btf.Const:
		ty.Kind = Const
		if ty.Elem, err = sub(v.Type); err == nil {
			ty.Size = ty.Elem.byteSize()
		}
	case *btf.Volatile:
		ty.Kind = Volatile
		if ty.Elem, err = sub(v.Type); err == nil {
			ty.Size = ty.Elem.byteSize()
		}
	case *btf.Restrict:
		ty.Kind = Restrict
		if ty.Elem, err = sub(v.Type); err == nil {
			ty.Size = ty.Elem.byteSize()
		}
	case *btf.TypeTag:
		delete(t.memo, bt) // a type tag (__user, __rcu) is not a C type
		return sub(v.Type)
	case *btf.Func:
		delete(t.memo, bt)
		return sub(v.Type)
	case *btf.FuncProto:
		ty.Kind = Func
		if ty.Elem, err = sub(v.Return); err != nil {
			break
		}
		for _, p := range v.Params {
			if p.Type == nil {
				ty.Variadic = true
				continue
			}
			pt, err := sub(p.Type)
			if err != nil {
				return nil, err
			}
			ty.Params = append(ty.Params, pt)
		}
	default:
		ty.Kind = Other
	}
	if err != nil {
		delete(t.memo, bt)
		return nil, err
	}
	return ty, nil
}

// byteSize is a type's size, looking through typedefs and qualifiers.
func (ty *Type) byteSize() uint64 {
	if ty == nil {
		return 0
	}
	if ty.Size != 0 {
		return ty.Size
	}
	if r := ty.resolve(); r != nil {
		return r.Size
	}
	return 0
}

// members converts struct or union members, with bit fields placed as
// the DWARF decoder places them: Offset is the naturally aligned storage
// unit of the field's type when the bits fit in one, else the byte holding
// the first bit, and BitOffset counts from that unit's least significant
// bit.
func (t *BTFTypes) members(ms []btf.Member, sub func(btf.Type) (*Type, error)) ([]Field, error) {
	out := make([]Field, 0, len(ms))
	for _, m := range ms {
		ft, err := sub(m.Type)
		if err != nil {
			return nil, err
		}
		f := Field{Name: m.Name, Type: ft}
		bit := uint64(m.Offset)
		if m.BitfieldSize == 0 {
			f.Offset = bit / 8
			out = append(out, f)
			continue
		}
		f.BitSize = uint64(m.BitfieldSize)
		unit := ft.byteSize()
		if unit == 0 {
			unit = 1
		}
		start := bit / (unit * 8) * unit
		if bit-start*8+f.BitSize <= unit*8 {
			f.Offset, f.BitOffset = start, bit-start*8
		} else {
			f.Offset, f.BitOffset = bit/8, bit%8
		}
		out = append(out, f)
	}
	return out, nil
}

// SampleAggregates names up to n named structs and unions of the BTF,
// spread evenly over them in name order (deterministic).
func (t *BTFTypes) SampleAggregates(n int) []string {
	var all []string
	for ty, err := range t.spec.All() {
		if err != nil {
			break
		}
		switch v := ty.(type) {
		case *btf.Struct:
			all = append(all, prefixed("struct", v.Name))
		case *btf.Union:
			all = append(all, prefixed("union", v.Name))
		}
	}
	all = slices.DeleteFunc(all, func(s string) bool { return s == "" })
	sort.Strings(all)
	all = slices.Compact(all)
	if len(all) <= n {
		return all
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, all[i*len(all)/n])
	}
	return out
}

// CompareTypes lists the differences between two decodings of one type
// (e.g. from DWARF and from BTF): kind, size, and for structs and unions
// every member's name, offset, bit offset and size and type (in C syntax),
// descending into anonymous members. An empty list means they agree.
//
// Arrays compare by element type and total element count: pahole writes
// a multi-dimensional array (long [4][2][5]) into BTF as one dimension
// (long [40]), with the same size and layout, and BTF has one form for the
// zero-length ([0]) and flexible ([]) arrays that DWARF tells apart.
func CompareTypes(a, b *Type) []string {
	var out []string
	compareTypes(a, b, "", &out, 0)
	return out
}

func compareTypes(a, b *Type, path string, out *[]string, depth int) {
	if depth > maxChain {
		return
	}
	at, bt := flatArray(a), flatArray(b)
	if at != bt {
		*out = append(*out, fmt.Sprintf("%stype %q vs %q", where(path), at, bt))
	}
	a, b = a.Resolve(), b.Resolve()
	if a == nil || b == nil {
		return
	}
	if a.Kind != b.Kind || a.Size != b.Size {
		*out = append(*out, fmt.Sprintf("%s%s of size %d vs %s of size %d", where(path), a.Kind, a.Size, b.Kind, b.Size))
		return
	}
	if a.Kind != Struct && a.Kind != Union {
		return
	}
	if len(a.Fields) != len(b.Fields) {
		*out = append(*out, fmt.Sprintf("%s%d members vs %d", where(path), len(a.Fields), len(b.Fields)))
		return
	}
	for i := range a.Fields {
		fa, fb := a.Fields[i], b.Fields[i]
		p := path + "." + fa.Name
		if fa.Name == "" {
			p = fmt.Sprintf("%s.<anon %d>", path, i)
		}
		if fa.Name != fb.Name || fa.Offset != fb.Offset || fa.BitSize != fb.BitSize || fa.BitOffset != fb.BitOffset {
			*out = append(*out, fmt.Sprintf("%s: member %q at %d bits %d:%d vs %q at %d bits %d:%d", p,
				fa.Name, fa.Offset, fa.BitOffset, fa.BitSize, fb.Name, fb.Offset, fb.BitOffset, fb.BitSize))
			continue
		}
		if fa.Name == "" || (fa.Type.resolve() != nil && fa.Type.resolve().Name == "" &&
			(fa.Type.resolve().Kind == Struct || fa.Type.resolve().Kind == Union)) {
			compareTypes(fa.Type, fb.Type, p, out, depth+1)
			continue
		}
		if ta, tb := flatArray(fa.Type), flatArray(fb.Type); ta != tb {
			*out = append(*out, fmt.Sprintf("%s: type %q vs %q", p, ta, tb))
		}
	}
}

func where(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// flatArray is a type in C syntax with array dimensions multiplied out and
// zero-length arrays written as flexible ones.
func flatArray(t *Type) string {
	n, elem := int64(1), t
	for i := 0; elem != nil && elem.Kind == Array && i < maxChain; i++ {
		if elem.Len <= 0 {
			n = 0
		} else {
			n *= elem.Len
		}
		elem = elem.Elem
	}
	if elem == t { // zero-length arrays inside, e.g. char (*)[0]
		return strings.ReplaceAll(t.String(), "[0]", "[]")
	}
	if n == 0 {
		return elem.String() + " []"
	}
	return fmt.Sprintf("%s [%d]", elem, n)
}

// ParseSplitBTF parses the split BTF of a module (its .BTF section, or the
// btf_data the kernel keeps in its struct module), whose types refer to
// those of the kernel's BTF base.
func ParseSplitBTF(blob []byte, base *BTFTypes, name string) (*BTFTypes, error) {
	spec, err := btf.LoadSplitSpecFromReader(bytes.NewReader(blob), base.spec)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: split BTF: %w", name, err)
	}
	t := newBTFTypes(spec, name)
	t.raw, t.base = blob, base
	return t, nil
}
