package analyzer_test

import (
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/linesgen"
)

// TestPrefetchSlabs: the memory-map scan started ahead of need serves the
// bio check that follows, and Close of a kernel with one running stops
// it and waits for it (run with -race).
func TestPrefetchSlabs(t *testing.T) {
	dir := filepath.Join("..", "testdata", "lines", "6.1-amd64")
	k, err := linesgen.Open(dir, "B")
	if err != nil {
		t.Fatal(err)
	}
	k.PrefetchSlabs()
	k.PrefetchSlabs() // a second call shares the first's scan
	if _, how, err := k.BiosPointingAt(0xdead0000); err != nil || how == "" {
		t.Errorf("BiosPointingAt after PrefetchSlabs: %q, %v", how, err)
	}
	if pages, _, _ := k.SlabScanStats(); pages == 0 {
		t.Error("no memory-map scan recorded")
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		k, err := linesgen.Open(dir, "B")
		if err != nil {
			t.Fatal(err)
		}
		k.PrefetchSlabs()
		if err := k.Close(); err != nil { // at once, the scan running
			t.Fatal(err)
		}
	}
}
