package symbols

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Types whose layouts are checked against the C compiler.
var layoutTypes = []string{
	"struct list_head", "atomic_t", "struct wait_queue_head", "wait_queue_head_t",
	"struct buffer_head", "struct page", "struct dio", "struct kiocb",
	"transaction_t", "struct transaction_s", "struct journal_s", "journal_t",
	"struct packed_bits", "struct flex", "struct zero_len", "union u_mixed",
	"struct task_struct", "enum tstate", "int", "unsigned long",
	"long unsigned int", "short", "unsigned char", "char", "long long",
}

// Paths that must exist (on top of every path found by walking the
// decoded types); the expected values all come from the compiler.
var layoutPaths = map[string][]string{
	"struct dio": {"refcount", "map_bh.b_size", "map_bh.b_count.counter", "pages[3]", "matrix[2][1]",
		"matrix[1]", "blkbits", "delta", "wide", "wide2", "sh", "small", "is_async", "io_error",
		"list.prev", "end_io", "name", "state"},
	"struct kiocb":         {"ki_obj.user", "ki_obj.tsk", "ki_pad[4]", "ki_bits", "ki_user_data"},
	"journal_t":            {"j_wait_updates.task_list", "j_wait_updates.task_list.next", "j_task"},
	"struct page":          {"private", "mapping", "slab_list.prev", "lru", "_count"},
	"transaction_t":        {"t_small_state", "t_state", "t_list.next", "t_updates"},
	"struct packed_bits":   {"c", "p", "q"},
	"union u_mixed":        {"halves.hi", "halves.lo", "bytes[11]", "d"},
	"struct flex":          {"items", "count"},
	"struct zero_len":      {"data"},
	"struct task_struct":   {"comm[15]", "children.next", "pid"},
	"struct buffer_head":   {"b_end_io", "b_blocknr"},
	"struct transaction_s": {"t_journal"},
}

// Enumerators checked besides those decoded from enum tstate.
var layoutConstants = []string{"T_RUNNING", "T_LOCKED", "T_FLUSH", "T_FINISHED", "ANON_A", "ANON_B", "ANON_BIG"}

type checkKind int

const (
	checkSize checkKind = iota
	checkField
	checkBits
	checkEnum
)

// layoutCheck is one fact compared with the compiler's answer.
type layoutCheck struct {
	kind checkKind
	typ  string // C type
	path string // field path, or enumerator name
	// From the compiler: size; offset and member size; first bit and bit
	// count; enumerator value.
	a, b int64
}

func (c layoutCheck) String() string {
	switch c.kind {
	case checkSize:
		return "sizeof(" + c.typ + ")"
	case checkEnum:
		return c.path
	}
	return c.typ + "." + c.path
}

// walkPaths lists the member paths of ty: every named member, members of
// anonymous structs/unions under their own names, nested members, and the
// last element of arrays.
func walkPaths(ty *Type, prefix string, depth int, out *[]string) {
	rt := ty.Resolve()
	if depth > 4 || len(*out) > 5000 || rt == nil || (rt.Kind != Struct && rt.Kind != Union) {
		return
	}
	for _, f := range rt.Fields {
		if f.Name == "" {
			walkPaths(f.Type, prefix, depth+1, out)
			continue
		}
		p := f.Name
		if prefix != "" {
			p = prefix + "." + f.Name
		}
		*out = append(*out, p)
		ft := f.Type.Resolve()
		for ft != nil && ft.Kind == Array && ft.Len > 0 {
			p = fmt.Sprintf("%s[%d]", p, ft.Len-1)
			*out = append(*out, p)
			ft = ft.Elem.Resolve()
		}
		walkPaths(ft, p, depth+1, out)
	}
}

// compilerTruth decides what to check from the DWARF 5 decoding of
// types.c, then compiles and runs a C program that prints the compiler's
// values for each check.
func compilerTruth(t *testing.T) []layoutCheck {
	t.Helper()
	ts := openTypes(t, objectFor(t, dwarfVariants[2]))
	var checks []layoutCheck
	for _, name := range layoutTypes {
		checks = append(checks, layoutCheck{kind: checkSize, typ: name})
		ty, err := ts.Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		var paths []string
		walkPaths(ty, "", 0, &paths)
		seen := map[string]bool{}
		for _, p := range append(paths, layoutPaths[name]...) {
			if seen[p] {
				continue
			}
			seen[p] = true
			f, err := ty.Field(p)
			if err != nil {
				t.Errorf("%s.Field(%q): %v", name, p, err)
				continue
			}
			k := checkField
			if f.IsBitField() {
				k = checkBits
			}
			checks = append(checks, layoutCheck{kind: k, typ: name, path: p})
		}
		if rt := ty.Resolve(); rt.Kind == Enum {
			for _, e := range rt.Enumerators {
				checks = append(checks, layoutCheck{kind: checkEnum, typ: name, path: e.Name})
			}
		}
	}
	for _, c := range layoutConstants {
		checks = append(checks, layoutCheck{kind: checkEnum, path: c})
	}
	if t.Failed() {
		t.FailNow()
	}

	var src strings.Builder
	fmt.Fprintf(&src, "#include %q\n", testdataPath(t, "types.c"))
	src.WriteString(`#include <stdio.h>
#include <string.h>
static void bits(const void *v, size_t n, int id)
{
	const unsigned char *p = v;
	long first = -1, last = -1;
	size_t i;
	int b;
	for (i = 0; i < n; i++)
		for (b = 0; b < 8; b++)
			if (p[i] >> b & 1) {
				if (first < 0)
					first = (long)i * 8 + b;
				last = (long)i * 8 + b;
			}
	printf("%d %ld %ld\n", id, first, last - first + 1);
}
int main(void)
{
`)
	for i, c := range checks {
		switch c.kind {
		case checkSize:
			fmt.Fprintf(&src, "\tprintf(\"%d %%zu 0\\n\", sizeof(%s));\n", i, c.typ)
		case checkField:
			// sizeof is invalid for a flexible array member.
			size := fmt.Sprintf("sizeof(((%s *)0)->%s)", c.typ, c.path)
			if f, _ := mustLookupField(ts, c.typ, c.path); f.Type.Resolve().Kind == Array && f.Type.Resolve().Len < 0 {
				size = "(size_t)0"
			}
			fmt.Fprintf(&src, "\tprintf(\"%d %%zu %%zu\\n\", offsetof(%s, %s), %s);\n", i, c.typ, c.path, size)
		case checkBits:
			fmt.Fprintf(&src, "\t{ %s x; memset(&x, 0, sizeof x); x.%s = -1; bits(&x, sizeof x, %d); }\n", c.typ, c.path, i)
		case checkEnum:
			fmt.Fprintf(&src, "\tprintf(\"%d %%lld 0\\n\", (long long)%s);\n", i, c.path)
		}
	}
	src.WriteString("\treturn 0;\n}\n")

	dir := t.TempDir()
	cfile := filepath.Join(dir, "truth.c")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "truth")
	if out, err := exec.Command("gcc", "-w", "-O0", cfile, "-o", exe).CombinedOutput(); err != nil {
		t.Fatalf("compiling the ground-truth program: %v\n%s\n%s", err, out, src.String())
	}
	out, err := exec.Command(exe).Output()
	if err != nil {
		t.Fatalf("running the ground-truth program: %v", err)
	}
	got := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			t.Fatalf("bad ground-truth line %q", sc.Text())
		}
		id, err1 := strconv.Atoi(fs[0])
		a, err2 := strconv.ParseInt(fs[1], 10, 64)
		b, err3 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || id < 0 || id >= len(checks) {
			t.Fatalf("bad ground-truth line %q", sc.Text())
		}
		checks[id].a, checks[id].b = a, b
		got++
	}
	if got != len(checks) {
		t.Fatalf("ground-truth program printed %d lines, want %d", got, len(checks))
	}
	return checks
}

func mustLookupField(ts *Types, typ, path string) (Field, error) {
	ty, err := ts.Lookup(typ)
	if err != nil {
		return Field{}, err
	}
	return ty.Field(path)
}

// TestLayoutMatchesCompiler checks every size, offset, member size, bit
// field position and enumerator value against gcc, for DWARF 2, 4 and 5.
func TestLayoutMatchesCompiler(t *testing.T) {
	needGCC(t)
	checks := compilerTruth(t)
	for _, v := range dwarfVariants {
		t.Run(v.name, func(t *testing.T) {
			ts := openTypes(t, objectFor(t, v))
			for _, c := range checks {
				t.Run(c.String(), func(t *testing.T) {
					switch c.kind {
					case checkSize:
						ty, err := ts.Lookup(c.typ)
						if err != nil {
							t.Fatal(err)
						}
						if int64(ty.Size) != c.a {
							t.Errorf("Size = %d, compiler says %d", ty.Size, c.a)
						}
					case checkField:
						f, err := mustLookupField(ts, c.typ, c.path)
						if err != nil {
							t.Fatal(err)
						}
						if f.IsBitField() {
							t.Errorf("decoded as a bit field (%d bits)", f.BitSize)
						}
						if int64(f.Offset) != c.a {
							t.Errorf("Offset = %d, compiler says %d", f.Offset, c.a)
						}
						if int64(f.Type.Size) != c.b {
							t.Errorf("member type %s has Size %d, compiler says %d", f.Type, f.Type.Size, c.b)
						}
					case checkBits:
						f, err := mustLookupField(ts, c.typ, c.path)
						if err != nil {
							t.Fatal(err)
						}
						if pos := int64(f.Offset*8 + f.BitOffset); pos != c.a || int64(f.BitSize) != c.b {
							t.Errorf("bits at %d (Offset %d + bit %d), width %d; compiler says bit %d, width %d",
								pos, f.Offset, f.BitOffset, f.BitSize, c.a, c.b)
						}
						// The storage unit at Offset must hold the whole field.
						if unit := f.Type.Resolve().Size; unit > 0 && f.BitOffset+f.BitSize > unit*8 && f.Offset%unit == 0 {
							t.Errorf("bit field overflows its %d-byte unit: bit %d + %d", unit, f.BitOffset, f.BitSize)
						}
					case checkEnum:
						v, err := ts.Constant(c.path)
						if err != nil {
							t.Fatal(err)
						}
						if v != c.a {
							t.Errorf("Constant = %d, compiler says %d", v, c.a)
						}
						if c.typ != "" {
							ty, err := ts.Lookup(c.typ)
							if err != nil {
								t.Fatal(err)
							}
							if name, ok := ty.EnumName(c.a); !ok || name != c.path {
								t.Errorf("EnumName(%d) = %q, %v", c.a, name, ok)
							}
						}
					}
				})
			}
		})
	}
}

// TestVariantsAgree checks that the three DWARF versions decode to the
// same fields, including bit field storage units.
func TestVariantsAgree(t *testing.T) {
	needGCC(t)
	dump := func(ts *Types) string {
		var b strings.Builder
		for _, name := range layoutTypes {
			ty, err := ts.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s %d\n", name, ty, ty.Size)
			for _, f := range ty.Resolve().Fields {
				fmt.Fprintf(&b, "  %q %s off=%d bits=%d@%d\n", f.Name, f.Type, f.Offset, f.BitSize, f.BitOffset)
			}
		}
		return b.String()
	}
	want := dump(openTypes(t, objectFor(t, dwarfVariants[2])))
	for _, v := range dwarfVariants[:2] {
		if got := dump(openTypes(t, objectFor(t, v))); got != want {
			t.Errorf("%s decodes differently from dwarf5:\n%s\nwant:\n%s", v.name, got, want)
		}
	}
}
