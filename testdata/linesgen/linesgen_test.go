package linesgen_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/linesgen"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

func TestMain(m *testing.M) {
	code := m.Run()
	seedgen.RemoveCached()
	os.Exit(code)
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
