package analyzer

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/frame"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// checkCFIIndex compares the lazy index with delve's parse of the whole
// section: every FDE is found by its first and last pc, with the same
// range, and gives the same CFA rule at its first pc.
func checkCFIIndex(t *testing.T, data []byte) {
	t.Helper()
	all, err := frame.Parse(data, binary.LittleEndian, 0, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, err := newCFIIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	if x.Len() != len(all) || len(all) == 0 {
		t.Fatalf("%d FDEs indexed, delve parses %d", x.Len(), len(all))
	}
	for i, want := range all {
		if want.End() <= want.Begin() {
			continue
		}
		for _, pc := range []uint64{want.Begin(), want.End() - 1} {
			got, err := x.FDEForPC(pc)
			if err != nil {
				t.Fatalf("FDE %d [%#x,%#x) at %#x: %v", i, want.Begin(), want.End(), pc, err)
			}
			if got.Begin() != want.Begin() || got.End() != want.End() {
				t.Fatalf("pc %#x: FDE [%#x,%#x), want [%#x,%#x)", pc, got.Begin(), got.End(), want.Begin(), want.End())
			}
		}
		if i%97 != 0 { // the programs of a sample
			continue
		}
		got, _ := x.FDEForPC(want.Begin())
		a, errA := establishFrame(got, want.Begin())
		b, errB := establishFrame(want, want.Begin())
		if (errA == nil) != (errB == nil) || errA == nil && (a.CFA.Reg != b.CFA.Reg || a.CFA.Offset != b.CFA.Offset) {
			t.Fatalf("FDE %d at %#x: CFA %+v, %v; delve %+v, %v", i, want.Begin(), a, errA, b, errB)
		}
	}
	if _, err := x.FDEForPC(0); err == nil && all[0].Begin() > 0 {
		t.Error("pc 0 has an FDE")
	}
}

// TestCFIIndexSelf checks the index on the test binary's own .debug_frame
// (run with -ldflags=-w=0: go test strips the DWARF), and a vmlinux's
// with VMTRIAGE_TEST_VMLINUX=PATH.
func TestCFIIndexSelf(t *testing.T) {
	paths := []string{}
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, exe)
	}
	if v := os.Getenv("VMTRIAGE_TEST_VMLINUX"); v != "" {
		paths = append(paths, v)
	}
	for _, p := range paths {
		data, err := debugFrame(p)
		if err != nil {
			t.Fatal(err)
		}
		if data == nil {
			t.Logf("%s: no .debug_frame", p)
			continue
		}
		t.Run(filepath.Base(p), func(t *testing.T) { checkCFIIndex(t, data) })
	}
}

// debugFrame is the .debug_frame section of an ELF file, nil when it has
// none.
func debugFrame(path string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := f.Section(".debug_frame")
	if s == nil {
		return nil, nil
	}
	return s.Data()
}

func TestCFIIndexErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"truncated length", []byte{1, 2}},
		{"past the end", []byte{0x40, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{"64-bit", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"FDE without its CIE", append([]byte{20, 0, 0, 0, 8, 0, 0, 0}, make([]byte, 16)...)},
	} {
		if _, err := newCFIIndex(tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func FuzzCFIIndex(f *testing.F) {
	f.Add([]byte{0x40, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := newCFIIndex(b)
		if err != nil {
			return
		}
		for _, r := range x.fdes {
			x.FDEForPC(r.begin)
		}
	})
}

// BenchmarkCFIIndex indexes the .debug_frame of the lab's 6.1 vmlinux
// (VMTRIAGE_TEST_VMLINUX overrides it).
func BenchmarkCFIIndex(b *testing.B) {
	p := os.Getenv("VMTRIAGE_TEST_VMLINUX")
	if p == "" {
		p = labcache.Named("6.1-amd64").Vmlinux()
	}
	data, err := debugFrame(p)
	if err != nil || data == nil {
		b.Skipf("%s: no .debug_frame (%v)", p, err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := newCFIIndex(data); err != nil {
			b.Fatal(err)
		}
	}
}
