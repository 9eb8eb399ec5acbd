//go:build realkernel

package rules_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
)

// drgnStacks is the part of drgn.json the unwinder is checked against:
// each UN task's drgn stack_trace() function names, innermost first,
// " (inline)" on inlined frames, a bare hex pc for frames without a name.
type drgnStacks struct {
	UNTasks []struct {
		PID   int      `json:"pid"`
		Comm  string   `json:"comm"`
		Stack []string `json:"stack"`
	} `json:"un_tasks"`
}

// drgnKernelFrames is drgn's stack without user-space pcs.
func drgnKernelFrames(stack []string) []string {
	var out []string
	for _, s := range stack {
		if strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0xffff") {
			continue // a user-space frame
		}
		out = append(out, s)
	}
	return out
}

// TestUnwindRealKernel: for every UN task of every lab dump, the
// backtrace (what `vmtriage bt` prints: the unwound frames with the inline
// frames DWARF has at their pcs) lists drgn's stack_trace() functions, in
// order, inline frames included and flagged.
func TestUnwindRealKernel(t *testing.T) {
	lab := labDir(t)
	found := false
	for _, line := range labLines(t) {
		dir := filepath.Join(lab, "lines", line)
		if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
			t.Logf("line %s: not in the lab cache (%s): skipped", line, dir)
			continue
		}
		found = true
		t.Run(line, func(t *testing.T) {
			t.Parallel()
			var matched, total atomic.Int64
			for _, sc := range []string{"A", "B", "B-notimeout", "C", "D"} {
				sdir := filepath.Join(dir, "dumps", sc)
				if _, err := os.Stat(filepath.Join(sdir, "drgn.json")); err != nil {
					continue
				}
				t.Run(sc, func(t *testing.T) {
					m, n := unwindScenario(t, dir, sdir)
					matched.Add(int64(m))
					total.Add(int64(n))
				})
			}
			t.Logf("line %s: %d of %d UN tasks match drgn", line, matched.Load(), total.Load())
		})
	}
	if !found {
		t.Skipf("no lab output in %s: run testdata/realkernel/lab.sh first", lab)
	}
}

func unwindScenario(t *testing.T, dir, sdir string) (matched, total int) {
	var oracle drgnStacks
	b, err := os.ReadFile(filepath.Join(sdir, "drgn.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &oracle); err != nil {
		t.Fatal(err)
	}
	k, err := analyzer.OpenWith(filepath.Join(sdir, "mdf-zlib.vmcore"), filepath.Join(dir, "vmlinux"),
		analyzer.Options{DebugDirs: []string{filepath.Join(dir, "debug-modules")}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	byPID := map[int]analyzer.Task{}
	for _, tk := range tasks {
		byPID[tk.PID] = tk
	}
	for _, u := range oracle.UNTasks {
		total++
		tk, ok := byPID[u.PID]
		if !ok {
			t.Errorf("UN pid %d %s: not among the tasks", u.PID, u.Comm)
			continue
		}
		frames, err := k.Backtrace(tk)
		if err != nil {
			t.Errorf("UN pid %d %s: backtrace: %v (after %d frames)", u.PID, u.Comm, err, len(frames))
		}
		var got []string
		for _, f := range frames {
			if f.Inline {
				got = append(got, f.Func+" (inline)")
				continue
			}
			if !f.Reliable {
				got = append(got, "?"+f.Func)
				continue
			}
			if f.Func == "" {
				got = append(got, fmt.Sprintf("%#x", f.Addr))
				continue
			}
			got = append(got, f.Func)
		}
		want := drgnKernelFrames(u.Stack)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("UN pid %d %s:\n got  %v\n drgn %v", u.PID, u.Comm, got, want)
			continue
		}
		matched++
	}
	return matched, total
}
