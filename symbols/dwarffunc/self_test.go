package dwarffunc

import (
	"debug/elf"
	"errors"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
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
	var rs []dwarfunit.Range
	for _, r := range whole.cuRanges {
		i := sort.Search(len(whole.versions), func(i int) bool { return whole.versions[i].Off > r.cu }) - 1
		rs = append(rs, dwarfunit.Range{Lo: r.lo, Hi: r.hi, Unit: whole.versions[i].Off})
	}
	sec.Aranges = dwarfunit.AppendAranges(nil, rs)
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
