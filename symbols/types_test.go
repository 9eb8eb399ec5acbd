package symbols

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestTypeStrings(t *testing.T) {
	needGCC(t)
	tests := []struct {
		typ, path string // path "" means the type itself
		want      string
		kind      Kind
	}{
		{"struct dio", "", "struct dio", Struct},
		{"transaction_t", "", "transaction_t", Typedef},
		{"unsigned long", "", "unsigned long", Uint},
		{"long unsigned int", "", "unsigned long", Uint},
		{"unsigned long int", "", "unsigned long", Uint},
		{"int", "", "int", Int},
		{"char", "", "char", Char},
		{"unsigned char", "", "unsigned char", Uchar},
		{"long long", "", "long long", Int},
		{"enum tstate", "", "enum tstate", Enum},
		{"union u_mixed", "", "union u_mixed", Union},
		{"struct page *", "", "struct page *", Pointer},
		{"struct page **", "", "struct page **", Pointer},
		{"struct dio", "pages", "struct page *[64]", Array},
		{"struct dio", "pages[2]", "struct page *", Pointer},
		{"struct dio", "matrix", "int [3][4]", Array},
		{"struct dio", "matrix[1]", "int [4]", Array},
		{"struct dio", "name", "const char *", Pointer},
		{"struct dio", "state", "volatile unsigned long", Volatile},
		{"struct dio", "end_io", "int (*)(struct dio *, long, void *)", Pointer},
		{"struct dio", "map_bh.b_end_io", "void (*)(struct buffer_head *, int)", Pointer},
		{"struct dio", "wide", "unsigned long long", Uint},
		{"struct kiocb", "ki_obj", "union {...}", Union},
		{"struct kiocb", "ki_obj.user", "void *", Pointer},
		{"struct flex", "items", "long []", Array},
		{"struct zero_len", "data", "char [0]", Array},
		{"transaction_t", "t_journal", "journal_t *", Pointer},
		{"transaction_t", "t_state", "enum tstate", Enum},
		{"struct page", "_count", "atomic_t", Typedef},
		{"union u_mixed", "halves", "struct {...}", Struct},
	}
	for _, v := range dwarfVariants {
		ts := openTypes(t, objectFor(t, v))
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.typ+"/"+tc.path, func(t *testing.T) {
				ty, err := ts.Lookup(tc.typ)
				if err != nil {
					t.Fatal(err)
				}
				if tc.path != "" {
					f, err := ty.Field(tc.path)
					if err != nil {
						t.Fatal(err)
					}
					ty = f.Type
				}
				if got := ty.String(); got != tc.want {
					t.Errorf("String() = %q, want %q", got, tc.want)
				}
				if ty.Kind != tc.kind {
					t.Errorf("Kind = %v, want %v", ty.Kind, tc.kind)
				}
			})
		}
	}
}

func TestFieldErrors(t *testing.T) {
	needGCC(t)
	ts := openTypes(t, objectFor(t, dwarfVariants[2]))
	dio, err := ts.Struct("dio")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path     string
		wantErr  string
		notFound bool
	}{
		{"x", `struct dio has no field "x"`, true},
		{"map_bh.nope", `struct dio has no field "map_bh.nope" (struct buffer_head has no field "nope")`, true},
		{"refcount.x", "not a struct or union", false},
		{"pages[64]", "out of range", false},
		{"pages[x]", "malformed index", false},
		{"pages[1", "missing ]", false},
		{"refcount[0]", "not an array", false},
		{"map_bh..b_size", "malformed field path", false},
		{"map_bh.", "malformed field path", false},
		{"", "empty field path", false},
		{"pages.x", "not a struct or union", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			_, err := dio.Field(tc.path)
			if err == nil {
				t.Fatalf("Field(%q) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v", !tc.notFound)
			}
			if dio.HasField(tc.path) {
				t.Errorf("HasField(%q) = true", tc.path)
			}
		})
	}
	if !dio.HasField("map_bh.b_size") {
		t.Error(`HasField("map_bh.b_size") = false`)
	}
	// Flexible arrays may be indexed past their (unknown) end.
	flex, err := ts.Struct("flex")
	if err != nil {
		t.Fatal(err)
	}
	items, _ := flex.Offset("items")
	if off, err := flex.Offset("items[10]"); err != nil || off != items+10*8 {
		t.Errorf(`Offset("items[10]") = %d, %v; want %d`, off, err, items+80)
	}
}

func TestLookupErrors(t *testing.T) {
	needGCC(t)
	obj := objectFor(t, dwarfVariants[1])
	ts := openTypes(t, obj)
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"missing struct", func() error { _, err := ts.Lookup("struct nosuch"); return err }, "type struct nosuch not found in " + obj},
		{"missing typedef", func() error { _, err := ts.Lookup("nosuch_t"); return err }, "type nosuch_t not found in " + obj},
		{"missing Struct", func() error { _, err := ts.Struct("nosuch"); return err }, "struct nosuch not found in " + obj},
		{"typedef not a struct", func() error { _, err := ts.Struct("tstate_t_missing"); return err }, "not found"},
		{"missing constant", func() error { _, err := ts.Constant("T_NOSUCH"); return err }, "enumerator T_NOSUCH not found in " + obj},
		{"pointer to missing", func() error { _, err := ts.Lookup("struct nosuch *"); return err }, "struct nosuch not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("error %q is not ErrNotFound", err)
			}
		})
	}
}

func TestStructAndTypedefs(t *testing.T) {
	needGCC(t)
	for _, v := range dwarfVariants {
		t.Run(v.name, func(t *testing.T) {
			ts := openTypes(t, objectFor(t, v))
			direct, err := ts.Struct("transaction_s")
			if err != nil {
				t.Fatal(err)
			}
			viaTypedef, err := ts.Struct("transaction_t")
			if err != nil {
				t.Fatal(err)
			}
			prefixed, err := ts.Struct("struct transaction_s")
			if err != nil {
				t.Fatal(err)
			}
			if direct != viaTypedef || direct != prefixed {
				t.Errorf("Struct(transaction_s), Struct(transaction_t), Struct(struct transaction_s) differ: %p %p %p", direct, viaTypedef, prefixed)
			}
			td, err := ts.Lookup("transaction_t")
			if err != nil {
				t.Fatal(err)
			}
			if td.Resolve() != direct || td.Elem != direct || td.Size != direct.Size {
				t.Errorf("typedef transaction_t: Elem %p Resolve %p Size %d, want %p size %d", td.Elem, td.Resolve(), td.Size, direct, direct.Size)
			}
			// A typedef of an anonymous struct.
			at, err := ts.Struct("atomic_t")
			if err != nil || at.Kind != Struct || at.Name != "" || !at.HasField("counter") {
				t.Errorf("Struct(atomic_t) = %v, %v", at, err)
			}
			// Enum through a field.
			f, err := direct.Field("t_state")
			if err != nil {
				t.Fatal(err)
			}
			lock, err := ts.Constant("T_LOCKED")
			if err != nil {
				t.Fatal(err)
			}
			if name, ok := f.Type.EnumName(lock); !ok || name != "T_LOCKED" {
				t.Errorf("EnumName(%d) = %q, %v", lock, name, ok)
			}
			if _, ok := f.Type.EnumName(12345); ok {
				t.Error("EnumName(12345) found a name")
			}
			if _, ok := direct.EnumName(0); ok {
				t.Error("EnumName on a struct found a name")
			}
			// Qualifiers resolve away.
			st, err := ts.Struct("dio")
			if err != nil {
				t.Fatal(err)
			}
			sf, _ := st.Field("state")
			if r := sf.Type.Resolve(); r.Kind != Uint || r.Size != 8 {
				t.Errorf("state resolves to %v (%v, %d)", r, r.Kind, r.Size)
			}
		})
	}
}

// TestSelfReference checks that cyclic types share nodes instead of
// recursing.
func TestSelfReference(t *testing.T) {
	needGCC(t)
	ts := openTypes(t, objectFor(t, dwarfVariants[0]))
	lh, err := ts.Struct("list_head")
	if err != nil {
		t.Fatal(err)
	}
	next, err := lh.Field("next")
	if err != nil {
		t.Fatal(err)
	}
	if next.Type.Kind != Pointer || next.Type.Elem != lh {
		t.Errorf("list_head.next points to %p, want the list_head node %p", next.Type.Elem, lh)
	}
	task, err := ts.Struct("task_struct")
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := task.Field("parent")
	if parent.Type.Elem != task {
		t.Error("task_struct.parent does not point back to the same task_struct node")
	}
	tasks, _ := task.Field("tasks")
	if tasks.Type != lh {
		t.Error("task_struct.tasks is not the shared list_head node")
	}
	// transaction_t -> journal_t -> transaction_t.
	tr, _ := ts.Struct("transaction_t")
	j, _ := tr.Field("t_journal")
	run, err := j.Type.Elem.Resolve().Field("j_running_transaction")
	if err != nil {
		t.Fatal(err)
	}
	if run.Type.Elem.Resolve() != tr {
		t.Error("journal_t.j_running_transaction does not lead back to transaction_s")
	}
	// Second lookups hit the cache.
	again, _ := ts.Struct("list_head")
	if again != lh {
		t.Error("second Struct(list_head) returned a new node")
	}
}

// TestDeclarationResolved checks that a pointer to a struct only declared
// in one compilation unit leads to its definition from another.
func TestDeclarationResolved(t *testing.T) {
	needGCC(t)
	ts := openTypes(t, executable(t, "linked"))
	holder, err := ts.Struct("holder")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := holder.Field("owner")
	if err != nil {
		t.Fatal(err)
	}
	task := owner.Type.Elem.Resolve() // pointer targets are decoded lazily
	if task.Kind != Struct || task.Incomplete || !task.HasField("comm") {
		t.Errorf("holder.owner points to %v (incomplete %v, %d fields)", task, task.Incomplete, len(task.Fields))
	}
	def, err := ts.Struct("task_struct")
	if err != nil {
		t.Fatal(err)
	}
	if task != def {
		t.Error("declaration was not replaced by the shared definition node")
	}
}

func TestCIntName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"long unsigned int", "unsigned long"},
		{"long int", "long"},
		{"short unsigned int", "unsigned short"},
		{"short int", "short"},
		{"long long unsigned int", "unsigned long long"},
		{"long long int", "long long"},
		{"unsigned int", "unsigned int"},
		{"unsigned", "unsigned int"},
		{"signed char", "signed char"},
		{"char", "char"},
		{"unsigned char", "unsigned char"},
		{"int", "int"},
		{"_Bool", "_Bool"},
		{"long double", "long double"},
		{"__int128 unsigned", "__int128 unsigned"},
		{"short long int", "short long int"},
	}
	for _, tc := range tests {
		if got := cIntName(tc.in); got != tc.want {
			t.Errorf("cIntName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEvalMemberLocation(t *testing.T) {
	tests := []struct {
		name    string
		expr    []byte
		want    int64
		wantErr bool
	}{
		{"plus_uconst 0", []byte{0x23, 0x00}, 0, false},
		{"plus_uconst 300", []byte{0x23, 0xac, 0x02}, 300, false},
		{"constu plus", []byte{0x10, 0x10, 0x22}, 16, false},
		{"consts plus", []byte{0x11, 0x08, 0x22}, 8, false},
		{"lit plus", []byte{0x38, 0x22}, 8, false},
		{"const2u plus", []byte{0x0a, 0x00, 0x01, 0x22}, 256, false},
		{"empty", nil, 0, false},
		{"truncated leb", []byte{0x23, 0x80}, 0, true},
		{"truncated const", []byte{0x0c, 0x01}, 0, true},
		{"underflow", []byte{0x22, 0x22}, 0, true},
		{"unknown op", []byte{0x96}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evalMemberLocation(tc.expr, binary.LittleEndian)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestBitPosition covers the conversions table-driven, including a
// big-endian target, where DWARF 2's MSB-relative bit_offset and DWARF 5's
// data_bit_offset must agree.
func TestBitPosition(t *testing.T) {
	u32 := &Type{Kind: Uint, Size: 4, Name: "unsigned int"}
	u8 := &Type{Kind: Uchar, Size: 1, Name: "unsigned char"}
	tests := []struct {
		name      string
		order     binary.ByteOrder
		m         member
		ft        *Type
		wantOff   uint64
		wantBit   uint64
		wantError bool
	}{
		// struct { int x; unsigned a:3, b:7; } on x86: b is bits 3..9 of the word at 4.
		{"le dwarf2", binary.LittleEndian, member{loc: 4, hasLoc: true, bitOffset: 22, hasBitOffset: true, byteSize: 4, hasByteSize: true, bitSize: 7}, u32, 4, 3, false},
		{"le dwarf5", binary.LittleEndian, member{dataBitOffset: 35, hasDataBitOff: true, bitSize: 7}, u32, 4, 3, false},
		{"le no byte_size", binary.LittleEndian, member{loc: 4, hasLoc: true, bitOffset: 22, hasBitOffset: true, bitSize: 7}, u32, 4, 3, false},
		// On a big-endian target b is bits 3..9 counted from the MSB: LSB position 32-3-7=22.
		{"be dwarf2", binary.BigEndian, member{loc: 4, hasLoc: true, bitOffset: 3, hasBitOffset: true, byteSize: 4, hasByteSize: true, bitSize: 7}, u32, 4, 22, false},
		{"be dwarf5", binary.BigEndian, member{dataBitOffset: 35, hasDataBitOff: true, bitSize: 7}, u32, 4, 22, false},
		// Packed: a 30-bit field starting at bit 8 does not fit an aligned word.
		{"le straddling", binary.LittleEndian, member{dataBitOffset: 8, hasDataBitOff: true, bitSize: 30}, u32, 1, 0, false},
		{"le char field", binary.LittleEndian, member{dataBitOffset: 58, hasDataBitOff: true, bitSize: 2}, u8, 7, 2, false},
		{"negative", binary.LittleEndian, member{loc: 0, hasLoc: true, bitOffset: 40, hasBitOffset: true, byteSize: 4, hasByteSize: true, bitSize: 7}, u32, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &Types{order: tc.order}
			off, bit, err := ts.bitPosition(tc.m, tc.ft)
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (off != tc.wantOff || bit != tc.wantBit) {
				t.Errorf("got offset %d bit %d, want %d bit %d", off, bit, tc.wantOff, tc.wantBit)
			}
		})
	}
}
