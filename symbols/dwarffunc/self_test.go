package dwarffunc

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

//go:noinline
func outerForTest(pcs []uintptr) int { return inlinedForTest(pcs) + 0 }

func inlinedForTest(pcs []uintptr) int { return runtime.Callers(1, pcs) }

// TestSelfFrames looks up the test binary's own pcs (Go writes inlined
// subroutines, DWARF 5 ranges and location lists) and compares the
// chains with the runtime's.
func TestSelfFrames(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	ef, err := elf.Open(exe)
	if err != nil {
		t.Skip(err)
	}
	defer ef.Close()
	if ef.Type != elf.ET_EXEC {
		t.Skip("position-independent test binary")
	}
	whole, err := FromELF(ef)
	if err != nil {
		t.Skipf("no DWARF (go test links with -w; run with -ldflags=-w=0): %v", err)
	}
	var sec Sections
	for name, dst := range map[string]*[]byte{".debug_info": &sec.Info, ".debug_abbrev": &sec.Abbrev,
		".debug_line": &sec.Line, ".debug_str": &sec.Str, ".debug_ranges": &sec.Ranges, ".debug_rnglists": &sec.RngLists,
		".debug_addr": &sec.Addr, ".debug_loc": &sec.Loc, ".debug_loclists": &sec.LocLists, ".debug_aranges": &sec.Aranges,
		".debug_line_str": &sec.LineStr, ".debug_str_offsets": &sec.StrOffsets} {
		if s := ef.Section(name); s != nil {
			if *dst, err = s.Data(); err != nil {
				t.Fatal(err)
			}
		}
	}
	perUnit, err := NewFromSections(sec)
	if err != nil {
		t.Fatal(err)
	}
	// the same with a .debug_aranges (Go's linker writes none) made from
	// the units' ranges: units are then found without reading .debug_info
	if err := whole.buildIndex(); err != nil {
		t.Fatal(err)
	}
	// (.debug_aranges names a unit by its header's offset, the index by
	// its first entry's)
	var rs []cuRange
	for _, r := range whole.cuRanges {
		i := sort.Search(len(whole.versions), func(i int) bool { return whole.versions[i].off > r.cu }) - 1
		rs = append(rs, cuRange{r.lo, r.hi, whole.versions[i].off})
	}
	sec.Aranges = arangesFor(rs)
	perUnitAranges, err := NewFromSections(sec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    *Funcs
	}{{"whole", whole}, {"per-unit", perUnit}, {"per-unit-aranges", perUnitAranges}} {
		t.Run(tc.name, func(t *testing.T) { selfFrames(t, tc.f) })
	}
}

func selfFrames(t *testing.T, f *Funcs) {
	pcs := make([]uintptr, 8)
	n := outerForTest(pcs)
	if n < 2 {
		t.Fatal("no callers")
	}
	// the runtime's logical frames, inlined ones included
	var want []runtime.Frame
	frames := runtime.CallersFrames(pcs[:n])
	for {
		fr, more := frames.Next()
		want = append(want, fr)
		if !more {
			break
		}
	}
	got, err := f.Frames(uint64(pcs[0]) - 1)
	if err != nil {
		t.Fatalf("0x%x: %v", pcs[0], err)
	}
	if len(got) != 2 || len(want) < 3 {
		t.Fatalf("0x%x: got %+v, runtime %+v", pcs[0], got, want)
	}
	for j, g := range got {
		if g.Name != want[j].Function || g.Inline != (j == 0) {
			t.Errorf("0x%x frame %d: got %+v, runtime %s", pcs[0], j, g, want[j].Function)
		}
	}
	if got[0].CallLine == 0 || !strings.HasSuffix(got[0].CallFile, "self_test.go") {
		t.Errorf("inlined frame: %+v", got[0])
	}
	// the caller, by the pc of its call
	got, err = f.Frames(uint64(want[2].PC))
	if err != nil || len(got) != 1 || got[0].Name != want[2].Function || got[0].Inline {
		t.Errorf("caller 0x%x: got %+v, %v; runtime %s", want[2].PC, got, err, want[2].Function)
	}
	if _, err := f.Frames(0x10); !errors.Is(err, ErrNoFunction) {
		t.Errorf("pc 0x10: %v", err)
	}
}

// arangesFor encodes a .debug_aranges section (version 2, 32-bit offsets,
// 8-byte addresses): one set per unit, in the order the ranges come.
func arangesFor(rs []cuRange) []byte {
	byUnit := map[dwarf.Offset][]cuRange{}
	var order []dwarf.Offset
	for _, r := range rs {
		if _, ok := byUnit[r.cu]; !ok {
			order = append(order, r.cu)
		}
		byUnit[r.cu] = append(byUnit[r.cu], r)
	}
	var out []byte
	le := binary.LittleEndian
	for _, cu := range order {
		set := le.AppendUint16(nil, 2)
		set = le.AppendUint32(set, uint32(cu))
		set = append(set, 8, 0)
		set = append(set, make([]byte, 4)...) // to 16 bytes from the set's start
		for _, r := range byUnit[cu] {
			set = le.AppendUint64(set, r.lo)
			set = le.AppendUint64(set, r.hi-r.lo)
		}
		set = append(set, make([]byte, 16)...)
		out = le.AppendUint32(out, uint32(len(set)))
		out = append(out, set...)
	}
	return out
}

func TestArangeUnits(t *testing.T) {
	rs := []cuRange{{0x1000, 0x1100, 0}, {0x2000, 0x2010, 0x40}, {0x1200, 0x1300, 0}}
	got, err := arangeUnits(arangesFor(rs), binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	want := []cuRange{{0x1000, 0x1100, 0}, {0x1200, 0x1300, 0}, {0x2000, 0x2010, 0x40}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		err  string
	}{
		{"truncated", []byte{1, 2}, "truncated set header at 0x0"},
		{"past the end", []byte{0xff, 0, 0, 0, 2, 0}, "past the section's end"},
		{"version", []byte{8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 8, 0}, "version 3, want 2"},
		{"address size", []byte{8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0}, "address size 3"},
	} {
		if _, err := arangeUnits(tc.b, binary.LittleEndian); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func FuzzArangeUnits(f *testing.F) {
	f.Add(arangesFor([]cuRange{{0x1000, 0x1100, 0}, {0x2000, 0x2010, 0x40}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := arangeUnits(b, binary.LittleEndian)
		for _, r := range rs {
			if r.hi <= r.lo {
				t.Fatalf("empty or wrapped range %v", r)
			}
		}
		_ = err
	})
}
