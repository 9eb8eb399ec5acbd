//go:build realkernel

package symbols_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// TestBTFMatchesDWARF compares, on every kernel line of the lab, the
// layouts BTF gives with those DWARF gives: every type the recorded
// analyses of that line looked up (testdata/lines/LINE/symbols.json.gz)
// and a sample of 600 other structs and unions, field by field (name,
// offset, bit offset and size, type). Run with:
//
//	go test -tags realkernel -run TestBTFMatchesDWARF ./symbols
func TestBTFMatchesDWARF(t *testing.T) {
	lines := labcache.Lines()
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for _, l := range lines {
		line, vmlinux := l.Name, l.Vmlinux()
		t.Run(line, func(t *testing.T) {
			im, err := symbols.Open(vmlinux)
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			dw, err := im.Types()
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(vmlinux)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			bt, err := symbols.LoadBTF(f, vmlinux)
			if err != nil {
				t.Fatal(err)
			}
			names := analyzerTypes(t, line)
			used := len(names)
			names = append(names, bt.SampleAggregates(600)...)
			diffs, compared := 0, 0
			for _, n := range names {
				d, errD := dw.Lookup(n)
				b, errB := bt.Lookup(n)
				if errD != nil {
					continue // DWARF lacks it (a recorded miss)
				}
				if errB != nil {
					t.Errorf("%s: in DWARF, not in BTF: %v", n, errB)
					diffs++
					continue
				}
				compared++
				for _, msg := range symbols.CompareTypes(d, b) {
					t.Errorf("%s: %s", n, msg)
					diffs++
				}
			}
			t.Logf("%s: %d types compared (%d the analyzer uses), %d differences", line, compared, used, diffs)
		})
	}
}

// analyzerTypes are the type names the recorded analyses of a line used.
func analyzerTypes(t *testing.T, line string) []string {
	p := filepath.Join("..", "testdata", "lines", line, "symbols.json.gz")
	f, err := os.Open(p)
	if err != nil {
		t.Logf("no recorded analysis for %s: %v", line, err)
		return nil
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Types map[string]int `json:"types"`
	}
	if err := json.NewDecoder(zr).Decode(&snap); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", p, err))
	}
	var out []string
	for n := range snap.Types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
