package dwarffunc

import (
	"debug/elf"
	"errors"
	"os"
	"runtime"
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
	f, err := FromELF(ef)
	if err != nil {
		t.Skipf("no DWARF (go test links with -w; run with -ldflags=-w=0): %v", err)
	}
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
