//go:build realkernel

package analyzer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// labWaitScenarios are the lab's wait-for scenarios (testdata/realkernel/README.md):
// E an i_rwsem chain behind a writer stuck on a suspended device, F an ABBA
// deadlock between two kthreads, G a completion whose wakeup was lost and
// G-legit the same wait never completed, H a mutex whose owner word was
// cleared without a wakeup and H-legit the same wait on a held mutex.
var labWaitScenarios = []string{"E", "F", "G", "G-legit", "H", "H-legit"}

// drgnWait is one entry of drgn.json's "waits" (oracle_drgn.py): the
// object the wait frame's local points to and its owner, followed by hand.
type drgnWait struct {
	PID      int    `json:"pid"`
	Comm     string `json:"comm"`
	Kind     string `json:"kind"`
	Function string `json:"function"`
	Local    string `json:"local"`
	Object   string `json:"object"`
	Owner    string `json:"owner"`
	OwnerPID *int   `json:"owner_pid"`
	Done     *int   `json:"done"`
	Inode    string `json:"inode"`
	IRwsem   bool   `json:"i_rwsem"`
	// iomap-dio (E's writer): the submitter's waiter, "0x0" once the last bio ended
	SubmitWaiter string `json:"submit_waiter"`
	Error        string `json:"error"`
}

func hexAddr(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	return v
}

// TestWaitForScenarios compares vmtriage's wait graph on the lab's wait-for
// scenarios with drgn's view of the same dump (drgn.json "waits": the frame
// locals and lock owners followed by hand) and with what each scenario
// staged (meta.json "guest": the pids the guest printed). Run with:
//
//	go test -tags realkernel -run TestWaitForScenarios -v ./analyzer
func TestWaitForScenarios(t *testing.T) {
	n := 0
	for _, line := range labcache.Lines() {
		dir := line.Dir
		for _, sc := range labWaitScenarios {
			sdir := filepath.Join(dir, "dumps", sc)
			dump := filepath.Join(sdir, "mdf-zlib.vmcore")
			if _, err := os.Stat(filepath.Join(sdir, "drgn.json")); err != nil {
				continue
			}
			if _, err := os.Stat(dump); err != nil {
				continue
			}
			n++
			t.Run(filepath.Base(dir)+"/"+sc, func(t *testing.T) { waitScenario(t, dir, sdir, sc, dump) })
		}
	}
	if n == 0 {
		t.Skip("no wait-for scenario in the lab cache (testdata/realkernel/lab.sh 6.1-amd64 E F G G-legit H H-legit)")
	}
}

func waitScenario(t *testing.T, dir, sdir, sc, dump string) {
	var oracle struct {
		UNTasks []struct {
			PID  int    `json:"pid"`
			Comm string `json:"comm"`
			Task string `json:"task"`
		} `json:"un_tasks"`
		Waits      []drgnWait `json:"waits"`
		WaitsError string     `json:"waits_error"`
	}
	var meta struct {
		Guest map[string]string `json:"guest"`
	}
	for f, v := range map[string]any{"drgn.json": &oracle, "meta.json": &meta} {
		b, err := os.ReadFile(filepath.Join(sdir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if oracle.WaitsError != "" || len(oracle.Waits) == 0 {
		t.Fatalf("drgn.json has no waits (%s): run the oracle again (LAB_FORCE=1 lab.sh LINE oracle)", oracle.WaitsError)
	}
	guestPID := func(k string) int { p, _ := strconv.Atoi(meta.Guest[k]); return p }

	// the dump's directory holds the lab module it loaded (labmod.ko), first
	k, byPID, byAddr := openLab(t, dump, filepath.Join(dir, "vmlinux"), sdir, filepath.Join(dir, "debug-modules"))
	pidOf := func(a uint64) int {
		if tk, ok := byAddr[a]; ok {
			return tk.PID
		}
		return -1
	}
	waits := map[uint64]Wait{}
	for _, u := range oracle.UNTasks {
		tk, ok := byPID[u.PID]
		if !ok {
			t.Errorf("drgn's UN task %d %s is not in vmtriage's task list", u.PID, u.Comm)
			continue
		}
		if tk.Addr != hexAddr(u.Task) {
			t.Errorf("pid %d: task_struct 0x%x, drgn 0x%x", u.PID, tk.Addr, hexAddr(u.Task))
		}
		fr, err := k.Backtrace(tk)
		if err != nil {
			t.Fatalf("pid %d: %v", u.PID, err)
		}
		waits[tk.Addr] = k.WaitOf(tk, fr)
	}
	g := BuildWaitGraph(waits)

	// 1. every wait drgn followed by hand: same kind, object and owner
	for _, dw := range oracle.Waits {
		tk := byPID[dw.PID]
		w := waits[tk.Addr]
		owners := []int{}
		for _, o := range w.Owners {
			owners = append(owners, pidOf(o))
		}
		t.Logf("%d %s: vmtriage %s 0x%x owners %v holds %v [%s] %q -> root %d; drgn %s %s(%s=%s) owner %v done %v inode %s",
			dw.PID, dw.Comm, w.Kind, w.Object, owners, w.Holds, w.Frame, w.What, pidOf(g.Root[tk.Addr]),
			dw.Kind, dw.Function, dw.Local, dw.Object, ptrInt(dw.OwnerPID), ptrInt(dw.Done), dw.Inode)
		switch dw.Kind {
		case "mutex", "rwsem-read", "rwsem-write", "completion":
		case "iomap-dio": // E's writer in __iomap_dio_rw: its bio sits on the suspended device
			if w.Kind == "unknown" {
				t.Logf("NOTE pid %d %s: vmtriage has no wait for it (drgn: %s in %s, %s=%s): %s",
					dw.PID, dw.Comm, dw.Kind, dw.Function, dw.Local, dw.Object, w.What)
				continue
			}
			if w.Kind != dw.Kind || w.Object != hexAddr(dw.Object) {
				t.Errorf("pid %d %s: %s 0x%x (frame %s), drgn %s %s (%s of %s)", dw.PID, dw.Comm, w.Kind, w.Object, w.Frame, dw.Kind, dw.Object, dw.Local, dw.Function)
			}
			if want := hexAddr(dw.SubmitWaiter) == 0; w.Holds != want {
				t.Errorf("pid %d %s: iomap dio Holds %v, drgn submit.waiter %s", dw.PID, dw.Comm, w.Holds, dw.SubmitWaiter)
			}
			continue
		default: // unknown to drgn too
			if w.Kind == "unknown" {
				t.Logf("NOTE pid %d %s: vmtriage has no wait for it (drgn: %s in %s, %s=%s): %s",
					dw.PID, dw.Comm, dw.Kind, dw.Function, dw.Local, dw.Object, w.What)
			}
			continue
		}
		if dw.Error != "" {
			t.Errorf("pid %d: drgn could not follow its wait: %s", dw.PID, dw.Error)
			continue
		}
		if dw.Kind == "mutex" && dw.Inode != "" && w.Kind == "rwsem-write" {
			// PREEMPT_RT: drgn followed the rt_mutex inside the inode's
			// i_rwsem (rwbase.rtmutex); vmtriage names the i_rwsem itself
			if off := rtmutexInRwsem(t, k); w.Object+off == hexAddr(dw.Object) {
				w.Kind, w.Object = dw.Kind, hexAddr(dw.Object)
			}
		}
		if w.Kind != dw.Kind {
			t.Errorf("pid %d %s: kind %q (frame %s), drgn %q (%s, local %s)", dw.PID, dw.Comm, w.Kind, w.Frame, dw.Kind, dw.Function, dw.Local)
		}
		if w.Object != hexAddr(dw.Object) {
			t.Errorf("pid %d %s: object 0x%x (%s of %s), drgn %s (%s of %s)", dw.PID, dw.Comm, w.Object, dw.Local, w.Frame, dw.Object, dw.Local, dw.Function)
		}
		switch {
		case dw.Kind == "completion":
			if want := *dw.Done > 0; w.Holds != want {
				t.Errorf("pid %d %s: completion 0x%x Holds %v, drgn done %d", dw.PID, dw.Comm, w.Object, w.Holds, *dw.Done)
			}
			if len(w.Owners) != 0 {
				t.Errorf("pid %d %s: a completion with owners %v", dw.PID, dw.Comm, owners)
			}
		case dw.OwnerPID == nil: // the owner word is 0
			if len(w.Owners) != 0 || !w.Holds {
				t.Errorf("pid %d %s: %s 0x%x has no owner (drgn owner %s): vmtriage owners %v holds %v",
					dw.PID, dw.Comm, dw.Kind, w.Object, dw.Owner, owners, w.Holds)
			}
		default:
			if len(w.Owners) == 0 || pidOf(w.Owners[0]) != *dw.OwnerPID {
				t.Errorf("pid %d %s: %s 0x%x owners %v, drgn owner pid %d (%s)", dw.PID, dw.Comm, dw.Kind, w.Object, owners, *dw.OwnerPID, dw.Owner)
			}
			if w.Holds {
				t.Errorf("pid %d %s: Holds on a %s that pid %d holds", dw.PID, dw.Comm, dw.Kind, *dw.OwnerPID)
			}
		}
		if dw.IRwsem && !(strings.Contains(w.What, "i_rwsem") && strings.Contains(w.What, "inode "+dw.Inode)) {
			t.Errorf("pid %d %s: drgn says i_rwsem of inode %s, vmtriage %q", dw.PID, dw.Comm, dw.Inode, w.What)
		}
	}

	// 2. what the scenario staged
	task := func(pid int) uint64 {
		tk, ok := byPID[pid]
		if !ok {
			t.Fatalf("no task %d (meta.json guest %v)", pid, meta.Guest)
		}
		return tk.Addr
	}
	if sc != "F" && len(g.Cycles) != 0 {
		t.Errorf("cycles %v in a scenario without a deadlock", cyclePIDs(g.Cycles, pidOf))
	}
	switch sc {
	case "E": // the queued tasks' root is the writer stuck on the device
		writer := task(guestPID("writer"))
		var waiters []int
		for _, s := range strings.Split(meta.Guest["waiters"], ",") {
			if p, err := strconv.Atoi(s); err == nil {
				waiters = append(waiters, p)
			}
		}
		if len(waiters) < 2 {
			t.Fatalf("meta.json: waiters %q", meta.Guest["waiters"])
		}
		for _, p := range waiters {
			a := task(p)
			w := waits[a]
			if !strings.HasPrefix(w.Kind, "rwsem-") && w.Kind != "mutex" {
				t.Errorf("waiter %d: kind %s, want an rwsem wait: %s", p, w.Kind, w.What)
			}
			if !strings.Contains(w.What, "i_rwsem") {
				t.Errorf("waiter %d: not named an i_rwsem: %s", p, w.What)
			}
			if r := g.Root[a]; r != writer {
				t.Errorf("waiter %d: root %d, want the stuck writer %d", p, pidOf(r), guestPID("writer"))
			}
		}
		if w := waits[writer]; w.Kind == "unknown" {
			t.Logf("NOTE the root (writer %d, %s) has no known wait: %s", guestPID("writer"), meta.Guest["comm"], w.What)
		}
	case "F": // one cycle: the two kthreads
		a, b := task(guestPID("a")), task(guestPID("b"))
		want := []uint64{a, b}
		sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
		if len(g.Cycles) != 1 || len(g.Cycles[0]) != 2 || g.Cycles[0][0] != want[0] || g.Cycles[0][1] != want[1] {
			t.Errorf("cycles %v, want one: [%d %d]", cyclePIDs(g.Cycles, pidOf), guestPID("a"), guestPID("b"))
		}
		for _, x := range []uint64{a, b} {
			if w := waits[x]; w.Kind != "mutex" || w.Holds {
				t.Errorf("pid %d: %+v, want a held mutex", pidOf(x), w)
			}
		}
	case "G", "G-legit": // a completion: done (lost wakeup) or not
		waiter := task(guestPID("waiter"))
		w := waits[waiter]
		if w.Kind != "completion" || w.Object != hexAddr(meta.Guest["done"]) {
			t.Errorf("waiter %d: %s 0x%x, want completion lab_done %s", guestPID("waiter"), w.Kind, w.Object, meta.Guest["done"])
		}
		if want := sc == "G"; w.Holds != want {
			t.Errorf("waiter %d: Holds %v, want %v: %s", guestPID("waiter"), w.Holds, want, w.What)
		}
		if r := g.Root[waiter]; r != waiter {
			t.Errorf("waiter %d: root %d, want itself", guestPID("waiter"), pidOf(r))
		}
	case "H", "H-legit": // a mutex: owner cleared without a wakeup, or held by lab_owner
		waiter := task(guestPID("waiter"))
		w := waits[waiter]
		if w.Kind != "mutex" || w.Object != hexAddr(meta.Guest["m1"]) {
			t.Errorf("waiter %d: %s 0x%x, want mutex lab_m1 %s", guestPID("waiter"), w.Kind, w.Object, meta.Guest["m1"])
		}
		if sc == "H" {
			if !w.Holds || len(w.Owners) != 0 || g.Root[waiter] != waiter {
				t.Errorf("waiter %d: want a free mutex nobody wakes it from (Holds, no owner, root itself): %+v root %d",
					guestPID("waiter"), w, pidOf(g.Root[waiter]))
			}
		} else {
			owner := task(guestPID("owner"))
			if w.Holds || g.Root[waiter] != owner {
				t.Errorf("waiter %d: want the mutex held by lab_owner %d (root): %+v root %d",
					guestPID("waiter"), guestPID("owner"), w, pidOf(g.Root[waiter]))
			}
		}
	}
}

func ptrInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func cyclePIDs(cs [][]uint64, pidOf func(uint64) int) [][]int {
	var out [][]int
	for _, c := range cs {
		var ps []int
		for _, a := range c {
			ps = append(ps, pidOf(a))
		}
		out = append(out, ps)
	}
	return out
}

// rtmutexInRwsem is the offset of a PREEMPT_RT rw_semaphore's rt_mutex.
func rtmutexInRwsem(t *testing.T, k *Kernel) uint64 {
	st, err := k.Types.Lookup("struct rw_semaphore")
	if err != nil {
		t.Fatal(err)
	}
	off, err := st.Offset("rwbase.rtmutex")
	if err != nil {
		return 0
	}
	return off
}
