package rules_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report/schemacheck"
	"github.com/vmtriage/vmtriage/testdata/linesgen"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
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
		dumps, _ := filepath.Glob(filepath.Join(dir, "*"+linesgen.DumpSuffix))
		for _, d := range dumps {
			sc := strings.TrimSuffix(filepath.Base(d), linesgen.DumpSuffix)
			t.Run(line+"/"+sc, func(t *testing.T) {
				got, err := linesgen.Replay(dir, sc)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(got)
				if err := schemacheck.Validate(b); err != nil {
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

// TestRecordReplay records two seed cores (ELF and kdump) and checks that
// the replay of each fixture, from the recorded pages and symbols alone,
// gives the very report of the real dump (Record fails otherwise), and
// that the fixture holds only what was read.
func TestRecordReplay(t *testing.T) {
	cores := seedgen.Cores(t)
	out := t.TempDir()
	err := linesgen.Record(out, filepath.Join(cores, seedgen.VmlinuxName), t.TempDir(), []linesgen.Source{
		{Scenario: "first", Dump: filepath.Join(cores, "rhel4-1822328.elf")},
		{Scenario: "second", Dump: filepath.Join(cores, "rhel4-20080616.kdump")},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := linesgen.ReadGolden(filepath.Join(out, "first.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) == 0 || r.Findings[0].Rule != "dio-lost-wakeup" || r.Findings[0].RootTask.PID != 8960 {
		t.Errorf("replayed report of the first core: %+v", r.Findings)
	}
	snap, _ := os.Stat(filepath.Join(out, linesgen.SnapshotFile))
	full, _ := os.Stat(filepath.Join(cores, seedgen.VmlinuxName))
	if snap.Size() >= full.Size() {
		t.Errorf("snapshot %d bytes is not smaller than the vmlinux's %d", snap.Size(), full.Size())
	}
}
