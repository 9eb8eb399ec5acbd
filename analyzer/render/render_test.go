package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
)

// a struct with gdb's cases: chars, a char array, a bit field, an enum, a
// bool, an anonymous union, a nested struct, an array of structs and a
// function pointer.
func testType() *symbols.Type {
	u8 := &symbols.Type{Name: "unsigned char", Kind: symbols.Uchar, Size: 1}
	ch := &symbols.Type{Name: "char", Kind: symbols.Char, Size: 1}
	i32 := &symbols.Type{Name: "int", Kind: symbols.Int, Size: 4}
	u32 := &symbols.Type{Name: "unsigned int", Kind: symbols.Uint, Size: 4}
	ul := &symbols.Type{Name: "long unsigned int", Kind: symbols.Uint, Size: 8}
	b := &symbols.Type{Name: "_Bool", Kind: symbols.Bool, Size: 1}
	state := &symbols.Type{Name: "state", Kind: symbols.Enum, Size: 4,
		Enumerators: []symbols.Enumerator{{Name: "T_RUNNING", Value: 0}, {Name: "T_LOCKED", Value: 1}}}
	fn := &symbols.Type{Kind: symbols.Func, Elem: &symbols.Type{Kind: symbols.Void}, Params: []*symbols.Type{i32}}
	pair := &symbols.Type{Name: "pair", Kind: symbols.Struct, Size: 8,
		Fields: []symbols.Field{{Name: "a", Type: i32}, {Name: "b", Type: i32, Offset: 4}}}
	return &symbols.Type{Name: "demo", Kind: symbols.Struct, Size: 56, Fields: []symbols.Field{
		{Name: "comm", Type: &symbols.Type{Kind: symbols.Array, Elem: ch, Len: 8, Size: 8}},
		{Name: "c", Offset: 8, Type: ch},
		{Name: "u", Offset: 9, Type: u8},
		{Name: "ok", Offset: 10, Type: b},
		{Name: "flags", Offset: 12, Type: u32, BitSize: 3, BitOffset: 2},
		{Name: "st", Offset: 16, Type: state},
		{Offset: 20, Type: &symbols.Type{Kind: symbols.Union, Size: 4, Fields: []symbols.Field{{Name: "x", Type: i32}, {Name: "y", Type: u32}}}},
		{Name: "fn", Offset: 24, Type: &symbols.Type{Kind: symbols.Pointer, Size: 8, Elem: fn}},
		{Name: "ps", Offset: 32, Type: &symbols.Type{Kind: symbols.Array, Elem: pair, Len: 2, Size: 16}},
		{Name: "n", Offset: 48, Type: ul},
	}}
}

func testData() []byte {
	d := make([]byte, 56)
	copy(d, "ab\"c\n")
	d[8] = 0xff                                                    // c = -1
	d[9] = 'A'                                                     // u
	d[10] = 1                                                      // ok
	d[12] = 5 << 2                                                 // flags = 5
	d[16] = 1                                                      // st = T_LOCKED
	d[20], d[21] = 0xfe, 0xff                                      // x = 65534
	copy(d[24:], []byte{0x10, 0, 0, 0x81, 0xff, 0xff, 0xff, 0xff}) // fn
	d[32], d[36], d[40], d[44] = 1, 2, 3, 4
	for i := 48; i < 56; i++ {
		d[i] = 0xff
	}
	return d
}

func TestText(t *testing.T) {
	env := Env{Symbol: func(a uint64) (string, uint64, bool) {
		if a == 0xffffffff81000010 {
			return "startup_64", 16, true
		}
		return "", 0, false
	}}
	got := Text(testType(), 0xffff888000001000, testData(), env)
	want := `struct demo {
  comm = "ab\"c\n\000\000",
  c = -1 '\377',
  u = 65 'A',
  ok = true,
  flags = 5,
  st = T_LOCKED,
  {
    x = 65534,
    y = 65534
  },
  fn = 0xffffffff81000010 <startup_64+16>,
  ps = {{
      a = 1,
      b = 2
    }, {
      a = 3,
      b = 4
    }},
  n = 18446744073709551615
}
`
	if got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
}

func TestValueJSON(t *testing.T) {
	b, err := json.Marshal(Value(testType(), testData()))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"comm":"ab\"c\n","c":-1,"u":65,"ok":true,"flags":5,"st":"T_LOCKED","x":65534,"y":65534,"fn":"0xffffffff81000010","ps":[{"a":1,"b":2},{"a":3,"b":4}],"n":18446744073709551615}`
	if string(b) != want {
		t.Errorf("JSON:\n%s\nwant:\n%s", b, want)
	}
}

func TestOffsets(t *testing.T) {
	got := Offsets(testType(), 0)
	for _, h := range []string{"struct demo {\n    [0] char comm[8];\n", "   [12] unsigned int flags : 3;\n",
		"        union {\n   [20]     int x;\n   [20]     unsigned int y;\n        };\n",
		"   [24] void (*fn)(int);\n", "   [32] struct pair ps[2];\n", "   [48] unsigned long n;\n}\nSIZE: 56\n"} {
		if !strings.Contains(got, h) {
			t.Errorf("Offsets lacks %q:\n%s", h, got)
		}
	}
}
