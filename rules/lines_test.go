package rules_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/testdata/linesgen"
)

var updateLines = flag.Bool("update", false, "rewrite the golden reports of testdata/lines")

// linesDir holds one fixture directory per kernel line, recorded from the
// real-kernel lab by `go run ./testdata/linesgen/cmd`.
const linesDir = "../testdata/lines"

func lineDirs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(linesDir)
	if err != nil {
		t.Fatalf("reading %s: %v", linesDir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestKernelLines replays every recorded kernel line and scenario and
// compares the report with its golden file (go test ./rules -run
// TestKernelLines -update rewrites them).
func TestKernelLines(t *testing.T) {
	for _, line := range lineDirs(t) {
		dir := filepath.Join(linesDir, line)
		dumps, _ := filepath.Glob(filepath.Join(dir, "*.kdump"))
		for _, d := range dumps {
			sc := strings.TrimSuffix(filepath.Base(d), ".kdump")
			t.Run(line+"/"+sc, func(t *testing.T) {
				got, err := linesgen.Replay(dir, sc)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(got)
				if err := report.ValidateJSON(b); err != nil {
					t.Errorf("report does not validate against the schema: %v", err)
				}
				golden := filepath.Join(dir, sc+".json")
				if *updateLines {
					if err := linesgen.WriteGolden(golden, got); err != nil {
						t.Fatal(err)
					}
				}
				want, err := linesgen.ReadGolden(golden)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					a, _ := json.MarshalIndent(want, "", "  ")
					b, _ := json.MarshalIndent(got, "", "  ")
					t.Errorf("report differs from %s:\n%s", golden, lineDiff(string(a), string(b)))
				}
			})
		}
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, "- "+a, "+ "+b)
			if len(out) > 40 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
