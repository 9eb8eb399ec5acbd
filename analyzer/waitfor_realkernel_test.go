//go:build realkernel

package analyzer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// labDumpScenarios are the lab's dio and journal scenarios (A: a dio with
// I/O in flight; B, B-notimeout, C: dio lost wakeups; D: the jbd2 stall).
// The wait-for scenarios E-H are TestWaitForScenarios'.
var labDumpScenarios = []string{"A", "B", "B-notimeout", "C", "D"}

// labFormats are the dump formats a lab scenario may keep.
var labFormats = []string{"elf-nopaging", "elf-paging", "kdump-zlib-flat", "mdf-zlib", "mdf-lzo"}

// drgnWaitRef is a drgn.json "waits" entry with what the comparison of
// every kind needs (oracle_drgn.py waits(), oracle.py's docstring): the
// tasks that can end the wait and whether its condition already holds.
type drgnWaitRef struct {
	drgnWait
	Owners    []string `json:"owners"`
	OwnerPIDs []*int   `json:"owner_pids"`
	// Holds is null when drgn could not tell (a journal-commit whose tid
	// local is optimized out)
	Holds  *bool  `json:"holds"`
	Device string `json:"device"`
	// RtmutexOfIRwsem: PREEMPT_RT, a mutex wait on the rt_mutex inside an
	// inode's i_rwsem, which vmtriage names as the rw_semaphore
	RtmutexOfIRwsem string   `json:"rtmutex_of_i_rwsem"`
	Queues          []string `json:"queues"`
}

// drgnRoots follows drgn's owner edges as BuildWaitGraph follows
// vmtriage's: from each task to its wait's first owner, until a task with
// no wait or no owner, or a task already on the path (a cycle).
func drgnRoots(ws map[int]drgnWaitRef) map[int]int {
	roots := map[int]int{}
	for pid := range ws {
		seen := map[int]bool{}
		cur := pid
		for {
			if seen[cur] {
				break
			}
			seen[cur] = true
			w, ok := ws[cur]
			if !ok || len(w.OwnerPIDs) == 0 || w.OwnerPIDs[0] == nil {
				break
			}
			cur = *w.OwnerPIDs[0]
		}
		roots[pid] = cur
	}
	return roots
}

// TestWaitForRealKernel: on every dump of scenarios A-D of every lab line
// (each format the scenario kept), every UN task gets a wait target and a
// root, equal to drgn's view of the same dump (drgn.json "waits": the
// frames, frame locals and objects followed by hand with drgn 0.3.0): the
// kind, the object, the owners (as pids, a set), whether the condition
// already holds, the device of a buffer or an in-flight dio, and the root
// reached by following drgn's owners by BuildWaitGraph's rule. On top, what
// each scenario staged: B, B-notimeout and C a dio lost wakeup, A a dio
// with I/O in flight, D one root for every task, the writer whose buffer
// I/O sits on the suspended device. Run with:
//
//	go test -tags realkernel -run TestWaitForRealKernel -v ./analyzer
//
// drgn.json's made before its waits covered these kinds get them with
// testdata/realkernel/lab.sh oracle-waits (oracle.py --waits-only).
func TestWaitForRealKernel(t *testing.T) {
	lines := labcache.Lines()
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	dumps, tasks := 0, 0
	for _, line := range lines {
		for _, sc := range labDumpScenarios {
			sdir := filepath.Join(line.Dir, "dumps", sc)
			if _, err := os.Stat(filepath.Join(sdir, "drgn.json")); err != nil {
				continue
			}
			for _, format := range labFormats {
				dump := line.Dump(sc, format)
				if _, err := os.Stat(dump); err != nil {
					continue
				}
				t.Run(line.Name+"/"+sc+"/"+format, func(t *testing.T) {
					n := waitDump(t, line, sdir, sc, dump)
					dumps++
					tasks += n
				})
			}
		}
	}
	t.Logf("%d dumps, %d UN tasks compared with drgn", dumps, tasks)
}

// waitDump compares one dump's waits and roots with drgn.json's; it
// returns how many UN tasks it compared.
func waitDump(t *testing.T, line labcache.Line, sdir, sc, dump string) int {
	var oracle struct {
		UNTasks []struct {
			PID  int    `json:"pid"`
			Comm string `json:"comm"`
			Task string `json:"task"`
		} `json:"un_tasks"`
		Waits      []drgnWaitRef `json:"waits"`
		WaitsError string        `json:"waits_error"`
	}
	b, err := os.ReadFile(filepath.Join(sdir, "drgn.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &oracle); err != nil {
		t.Fatalf("drgn.json: %v", err)
	}
	if oracle.WaitsError != "" || len(oracle.Waits) != len(oracle.UNTasks) || len(oracle.UNTasks) == 0 {
		t.Fatalf("drgn.json has %d waits for %d UN tasks (%s): testdata/realkernel/lab.sh %s oracle-waits",
			len(oracle.Waits), len(oracle.UNTasks), oracle.WaitsError, line.Name)
	}
	k, byPID, byAddr := openLab(t, dump, line.Vmlinux(), line.DebugModules())
	pidOf := func(a uint64) int {
		if tk, ok := byAddr[a]; ok {
			return tk.PID
		}
		return -1
	}

	// the same UN tasks
	var un, drgnUN []int
	for _, tk := range byAddr {
		if tk.Uninterruptible() {
			un = append(un, tk.PID)
		}
	}
	for _, u := range oracle.UNTasks {
		drgnUN = append(drgnUN, u.PID)
	}
	slices.Sort(un)
	slices.Sort(drgnUN)
	if !slices.Equal(un, drgnUN) {
		t.Errorf("UN tasks %v, drgn %v", un, drgnUN)
	}

	waits := map[uint64]Wait{}
	for _, u := range oracle.UNTasks {
		tk, ok := byPID[u.PID]
		if !ok {
			t.Fatalf("drgn's UN task %d %s is not in vmtriage's task list", u.PID, u.Comm)
		}
		if tk.Addr != hexAddr(u.Task) {
			t.Errorf("pid %d: task_struct 0x%x, drgn %s", u.PID, tk.Addr, u.Task)
		}
		fr, err := k.Backtrace(tk)
		if err != nil {
			t.Fatalf("pid %d: %v", u.PID, err)
		}
		waits[tk.Addr] = k.WaitOf(tk, fr)
	}
	g := BuildWaitGraph(waits)
	dws := map[int]drgnWaitRef{}
	for _, dw := range oracle.Waits {
		dws[dw.PID] = dw
	}
	droots := drgnRoots(dws)

	// 1. each wait against drgn's
	for _, dw := range oracle.Waits {
		tk := byPID[dw.PID]
		w := waits[tk.Addr]
		var owners, dOwners []int
		for _, o := range w.Owners {
			owners = append(owners, pidOf(o))
		}
		for _, p := range dw.OwnerPIDs {
			if p == nil {
				dOwners = append(dOwners, -1)
			} else {
				dOwners = append(dOwners, *p)
			}
		}
		root := pidOf(g.Root[tk.Addr])
		t.Logf("%d %s: vmtriage %s 0x%x owners %v holds %v device %q [%s] -> root %d; drgn %s %s (%s of %s) owners %v holds %v device %q -> root %d",
			dw.PID, dw.Comm, w.Kind, w.Object, owners, w.Holds, w.Device, w.Frame, root,
			dw.Kind, dw.Object, dw.Local, dw.Function, dOwners, ptrBool(dw.Holds), dw.Device, droots[dw.PID])
		if w.Kind == "unknown" {
			t.Errorf("pid %d %s: unknown wait: %s", dw.PID, dw.Comm, w.What)
			continue
		}
		if dw.Kind == "unknown" || dw.Error != "" {
			t.Errorf("pid %d %s: drgn could not follow its wait (%s): %s", dw.PID, dw.Comm, dw.Kind, dw.Error)
			continue
		}
		kind, object := dw.Kind, hexAddr(dw.Object)
		if dw.Kind == "mutex" && dw.RtmutexOfIRwsem != "" {
			// PREEMPT_RT: the rt_mutex inside the i_rwsem, named as the rw_semaphore
			kind, object = "rwsem-write", hexAddr(dw.RtmutexOfIRwsem)
		}
		// the frame says which jbd2 wait; the journal's own wait queues must agree
		if q := map[string]string{"journal-locked": "j_wait_transaction_locked", "journal-updates": "j_wait_updates"}[kind]; q != "" && !slices.Contains(dw.Queues, q) {
			t.Errorf("pid %d %s: drgn reads %s in %s but the task is not on the journal's %s (queues %v)", dw.PID, dw.Comm, kind, dw.Function, q, dw.Queues)
		}
		if w.Kind != kind {
			t.Errorf("pid %d %s: kind %s (frame %s), drgn %s (frame %s)", dw.PID, dw.Comm, w.Kind, w.Frame, kind, dw.Function)
		}
		if w.Object != object {
			t.Errorf("pid %d %s: %s object 0x%x, drgn 0x%x (%s of %s)", dw.PID, dw.Comm, w.Kind, w.Object, object, dw.Local, dw.Function)
		}
		if !sameSet(owners, dOwners) {
			t.Errorf("pid %d %s: %s owners %v, drgn %v", dw.PID, dw.Comm, w.Kind, owners, dOwners)
		}
		if dw.Holds != nil && w.Holds != *dw.Holds {
			t.Errorf("pid %d %s: %s holds %v, drgn %v: %s", dw.PID, dw.Comm, w.Kind, w.Holds, *dw.Holds, w.What)
		}
		// the device a buffer's I/O or a dio's bios are queued on
		if (kind == "buffer" || kind == "dio" && !w.Holds) && w.Device != dw.Device {
			t.Errorf("pid %d %s: %s device %q, drgn %q", dw.PID, dw.Comm, w.Kind, w.Device, dw.Device)
		}
		if r, ok := droots[dw.PID]; !ok || r != root {
			t.Errorf("pid %d %s: root %d, drgn's owners lead to %d", dw.PID, dw.Comm, root, r)
		}
	}

	// 2. what the scenario staged
	for _, u := range oracle.UNTasks {
		w := waits[byPID[u.PID].Addr]
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
				t.Errorf("task %d leads to %d, another to %d", pidOf(a), pidOf(r), pidOf(root))
			}
		}
		if w := waits[root]; w.Kind != "buffer" || w.Holds || w.Device == "" {
			t.Errorf("root %d waits on %+v, want a locked buffer with its device", pidOf(root), w)
		}
	}
	if len(g.Cycles) != 0 {
		t.Errorf("cycles %v in a scenario without a deadlock", cyclePIDs(g.Cycles, pidOf))
	}
	return len(oracle.UNTasks)
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func ptrBool(p *bool) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}
