//go:build realkernel

package analyzer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// TestWaitForRealKernel: every UN task of every lab dump gets a wait
// target and a root; the roots are what the scenarios staged (checked
// against drgn's view of the same dump: its UN tasks, the journal's
// commit thread and handle holder). Run with:
//
//	go test -tags realkernel -run TestWaitForRealKernel -v ./analyzer
func TestWaitForRealKernel(t *testing.T) {
	lines := labcache.Lines()
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for _, line := range lines {
		dir := line.Dir
		for _, sc := range []string{"A", "B", "B-notimeout", "C", "D"} {
			dump := line.Dump(sc, "mdf-zlib")
			if _, err := os.Stat(dump); err != nil {
				continue
			}
			t.Run(line.Name+"/"+sc, func(t *testing.T) {
				var oracle struct {
					UNTasks []struct {
						PID  int    `json:"pid"`
						Comm string `json:"comm"`
					} `json:"un_tasks"`
				}
				if b, err := os.ReadFile(filepath.Join(dir, "dumps", sc, "drgn.json")); err == nil {
					json.Unmarshal(b, &oracle)
				}
				k, byPID, byAddr := openLab(t, dump, line.Vmlinux(), line.DebugModules())
				waits := map[uint64]Wait{}
				for _, u := range oracle.UNTasks {
					tk := byPID[u.PID]
					fr, err := k.Backtrace(tk)
					if err != nil {
						t.Fatalf("pid %d: %v", u.PID, err)
					}
					waits[tk.Addr] = k.WaitOf(tk, fr)
				}
				g := BuildWaitGraph(waits)
				for _, u := range oracle.UNTasks {
					tk := byPID[u.PID]
					w := waits[tk.Addr]
					root := byAddr[g.Root[tk.Addr]]
					t.Logf("%d %s: %s [%s] -> root %d %s", u.PID, u.Comm, w.What, w.Kind, root.PID, root.Comm)
					if w.Kind == "unknown" {
						t.Errorf("pid %d %s: unknown wait: %s", u.PID, u.Comm, w.What)
					}
					switch sc {
					case "B", "B-notimeout", "C": // C: the AIO variant of the lost wakeup
						if w.Kind != "dio" || !w.Holds {
							t.Errorf("pid %d: want a dio lost wakeup, got %+v", u.PID, w)
						}
					case "A":
						if w.Kind != "dio" || w.Holds {
							t.Errorf("pid %d: want a dio with I/O in flight, got %+v", u.PID, w)
						}
					}
				}
				if sc == "D" { // the journal stall: every UN task leads to the writer whose buffer I/O is queued on the suspended device
					var root uint64
					for a, r := range g.Root {
						if root == 0 {
							root = r
						}
						if r != root {
							t.Errorf("task %d leads to %d, another to %d", byAddr[a].PID, byAddr[r].PID, byAddr[root].PID)
						}
					}
					if w := waits[root]; w.Kind != "buffer" || w.Holds || w.Device == "" {
						t.Errorf("root %d waits on %+v, want a locked buffer with its device", byAddr[root].PID, w)
					}
				}
				if len(g.Cycles) != 0 {
					t.Errorf("cycles %v in a scenario without a deadlock", g.Cycles)
				}
			})
		}
	}
}
