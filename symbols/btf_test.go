package symbols_test

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/vmtriage/vmtriage/symbols"
)

// btfBlob builds a small raw BTF blob: struct dio with a self pointer, a
// bit field, an array and an enum, and a typedef.
func btfBlob(t testing.TB) []byte {
	t.Helper()
	u64 := &btf.Int{Name: "long unsigned int", Size: 8}
	i32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	ch := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed | btf.Char}
	dio := &btf.Struct{Name: "dio", Size: 40}
	state := &btf.Enum{Name: "transaction_state", Size: 4, Values: []btf.EnumValue{{Name: "T_RUNNING", Value: 0}, {Name: "T_LOCKED", Value: 1}}}
	dio.Members = []btf.Member{
		{Name: "refcount", Type: u64, Offset: 0},
		{Name: "next", Type: &btf.Pointer{Target: dio}, Offset: 64},
		{Name: "is_async", Type: u32, Offset: 128, BitfieldSize: 1},
		{Name: "flags", Type: u32, Offset: 129, BitfieldSize: 3},
		{Name: "state", Type: state, Offset: 160},
		{Name: "name", Type: &btf.Array{Index: i32, Type: ch, Nelems: 16}, Offset: 192},
	}
	td := &btf.Typedef{Name: "dio_t", Type: dio}
	signed := &btf.Enum{Name: "signs", Size: 4, Signed: true, Values: []btf.EnumValue{{Name: "MINUS_TWO", Value: 0xfffffffffffffffe}}}
	wide := &btf.Enum{Name: "wide", Size: 8, Values: []btf.EnumValue{{Name: "WIDE", Value: 1 << 40}}}
	fwd := &btf.Fwd{Name: "dio", Kind: btf.FwdStruct}
	pcpu := &btf.Var{Name: "runqueues", Type: dio, Linkage: btf.GlobalVar}
	b, err := btf.NewBuilder([]btf.Type{fwd, dio, td, signed, wide, pcpu}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func TestBTFTypes(t *testing.T) {
	bt, err := symbols.ParseBTF(btfBlob(t), "test.btf")
	if err != nil {
		t.Fatal(err)
	}
	dio, err := bt.Lookup("struct dio")
	if err != nil {
		t.Fatal(err)
	}
	if dio.Size != 40 || dio.Kind != symbols.Struct {
		t.Fatalf("struct dio: %v size %d", dio.Kind, dio.Size)
	}
	tests := []struct {
		path                    string
		offset, bitOff, bitSize uint64
		typ                     string
	}{
		{"refcount", 0, 0, 0, "unsigned long"},
		{"next", 8, 0, 0, "struct dio *"},
		{"is_async", 16, 0, 1, "unsigned int"},
		{"flags", 16, 1, 3, "unsigned int"},
		{"state", 20, 0, 0, "enum transaction_state"},
		{"name", 24, 0, 0, "char [16]"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, err := dio.Field(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Offset != tt.offset || f.BitOffset != tt.bitOff || f.BitSize != tt.bitSize {
				t.Errorf("%s at %d bits %d:%d, want %d bits %d:%d", tt.path, f.Offset, f.BitOffset, f.BitSize, tt.offset, tt.bitOff, tt.bitSize)
			}
			if s := f.Type.String(); s != tt.typ && !(tt.typ == "unsigned long" && s == "long unsigned int") {
				t.Errorf("%s: type %q, want %q", tt.path, s, tt.typ)
			}
		})
	}
	if next, _ := dio.Field("next"); next.Type.Elem.Resolve() != dio {
		t.Error("struct dio's self pointer does not lead back to struct dio")
	}
	if td, err := bt.Lookup("dio_t"); err != nil || td.Resolve() != dio {
		t.Errorf("typedef dio_t: %v", err)
	}
	if p, err := bt.Lookup("struct dio *"); err != nil || p.Kind != symbols.Pointer || p.Elem != dio {
		t.Errorf("struct dio *: %v", err)
	}
	for _, c := range []struct {
		name string
		want int64
	}{{"T_LOCKED", 1}, {"T_RUNNING", 0}, {"MINUS_TWO", -2}, {"WIDE", 1 << 40}} {
		if v, err := bt.Constant(c.name); err != nil || v != c.want {
			t.Errorf("%s = %d, %v; want %d", c.name, v, err, c.want)
		}
	}
	if _, err := bt.Constant("NOSUCH"); !errors.Is(err, symbols.ErrNotFound) {
		t.Errorf("NOSUCH: %v, want ErrNotFound", err)
	}
	for _, n := range []string{"unsigned long", "long unsigned int", "unsigned  long"} {
		if ty, err := bt.Lookup(n); err != nil || ty.Size != 8 || ty.Kind != symbols.Uint {
			t.Errorf("%s: %v %v", n, ty, err)
		}
	}
	if v, err := bt.Variable("runqueues"); err != nil || v != dio {
		t.Errorf("per-CPU variable runqueues: %v, %v", v, err)
	}
	if got := bt.SampleAggregates(10); len(got) != 1 || got[0] != "struct dio" {
		t.Errorf("aggregates %q, want [struct dio]", got)
	}
	if _, err := bt.Lookup("struct nosuch"); !errors.Is(err, symbols.ErrNotFound) {
		t.Errorf("struct nosuch: %v, want ErrNotFound", err)
	}
	if _, err := bt.Variable("jiffies"); !errors.Is(err, symbols.ErrNotFound) || !errors.Is(err, symbols.ErrNoVariableInBTF) {
		t.Errorf("variable jiffies: %v", err)
	}
}

// FuzzParseBTF: arbitrary bytes give BTF types or an error, never a panic.
func FuzzParseBTF(f *testing.F) {
	f.Add(btfBlob(f))
	f.Add([]byte{0x9f, 0xeb, 1, 0, 24, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		bt, err := symbols.ParseBTF(b, "fuzz.btf")
		if err != nil {
			return
		}
		bt.Constant("T_LOCKED")
		for _, n := range bt.SampleAggregates(20) {
			if ty, err := bt.Lookup(n); err == nil {
				_ = ty.String()
			}
		}
	})
}
