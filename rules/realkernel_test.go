//go:build realkernel

// The real-kernel stage: vmtriage on the dumps of running Debian kernels
// (5.10, 6.1, 6.12, 7.2; generic and PREEMPT_RT) made by
// testdata/realkernel/lab.sh, checked against drgn 0.3.0 and crash 9.0.2 run
// on the very same files (testdata/realkernel/oracle.py). Every line ×
// scenario × format present in the cache is a subtest; absent lines are
// skipped. Run with: go test -tags realkernel -run TestRealKernel ./rules
// (-run 'TestRealKernel/7.2-amd64/B/' for one line and scenario).
package rules_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
)

// labDir is where lab.sh leaves its cache: lines/<line>/ per kernel line.
func labDir(t *testing.T) string {
	dir := os.Getenv("VMTRIAGE_CACHE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "vmtriage")
	}
	return filepath.Join(dir, "realkernel")
}

// labLines are the lines of testdata/realkernel/lines, in its order.
func labLines(t *testing.T) []string {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "realkernel", "lines"))
	if err != nil {
		t.Fatalf("the lab's lines file: %v", err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out = append(out, f[0])
		}
	}
	return out
}

type drgnDIO struct {
	DIO      string `json:"dio"`
	Refcount int64  `json:"refcount"`
	Waiter   string `json:"waiter"`
	BioList  string `json:"bio_list"`
	IsAsync  int64  `json:"is_async"`
	Result   int64  `json:"result"`
}

type drgnPID struct {
	PID int `json:"pid"`
}

func pids(ps []drgnPID) string {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	sort.Ints(out)
	return fmt.Sprint(out)
}

// drgnOracle is drgn.json: oracle_drgn.py under drgn 0.3.0 (see oracle.py).
type drgnOracle struct {
	DrgnVersion string `json:"drgn_version"`
	Dump        string `json:"dump"`
	UNTasks     []struct {
		PID  int      `json:"pid"`
		Comm string   `json:"comm"`
		Task string   `json:"task"`
		DIO  *drgnDIO `json:"dio"`
	} `json:"un_tasks"`
	Journals []struct {
		Journal string  `json:"journal"`
		JTask   drgnPID `json:"j_task"`
		Running *struct {
			Transaction string `json:"transaction"`
			TState      string `json:"t_state"`
			TUpdates    int64  `json:"t_updates"`
		} `json:"j_running_transaction"`
		WaitLocked []drgnPID `json:"wait_transaction_locked"`
		Holders    []drgnPID `json:"handle_holders"`
	} `json:"journals"`
	Mounts []struct {
		Device     string `json:"device"`
		MountPoint string `json:"mount_point"`
		FSType     string `json:"fs_type"`
	} `json:"mounts"`
	DmesgTail []string `json:"dmesg_tail"`
}

// crashOracle is crash-<format>.json: crash 9.0.2's answers parsed by oracle.py.
type crashOracle struct {
	Tool       string                       `json:"tool"`
	RC         int                          `json:"rc"`
	Loaded     bool                         `json:"loaded"`
	NoModules  bool                         `json:"no_modules"`
	PS         []crashPS                    `json:"ps"`
	DIO        map[string]map[string]string `json:"dio"`
	Errors     []string                     `json:"errors"`
	StartupRaw []string                     `json:"startup"`
}

type crashPS struct {
	PID   int    `json:"pid"`
	PPID  int    `json:"ppid"`
	CPU   int    `json:"cpu"`
	Task  string `json:"task"`
	State string `json:"state"`
	Comm  string `json:"comm"`
}

// expectations per scenario (the lab's README describes them).
var scenarioRule = map[string]struct{ lostWakeup, journal bool }{
	"A": {false, false}, "B": {true, false}, "B-notimeout": {true, false}, "C": {true, false}, "D": {false, true},
}

func hexv(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(s), "0x"), 16, 64)
	return v
}

// readFailed: report warnings that say a read of the dump failed.
var readFailed = regexp.MustCompile(`(?i)\b(read|reading|fault|excluded|not (present|in the dump)|missing page|cannot access|no backtrace)\b`)

func TestRealKernel(t *testing.T) {
	lab := labDir(t)
	found := false
	for _, line := range labLines(t) {
		dir := filepath.Join(lab, "lines", line)
		if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
			t.Logf("line %s: not in the lab cache (%s): skipped", line, dir)
			continue
		}
		scenarios, _ := filepath.Glob(filepath.Join(dir, "dumps", "*", "meta.json"))
		if len(scenarios) == 0 {
			t.Logf("line %s: no dumps: skipped", line)
			continue
		}
		found = true
		t.Run(line, func(t *testing.T) { testLine(t, dir) })
	}
	if !found {
		t.Skipf("no lab output in %s: run testdata/realkernel/lab.sh first", lab)
	}
}

func testLine(t *testing.T, dir string) {
	vmlinux := filepath.Join(dir, "vmlinux")
	debug := []string{filepath.Join(dir, "debug-modules")}
	for _, sc := range []string{"A", "B", "B-notimeout", "C", "D"} {
		sdir := filepath.Join(dir, "dumps", sc)
		if _, err := os.Stat(filepath.Join(sdir, "meta.json")); err != nil {
			continue
		}
		t.Run(sc, func(t *testing.T) { testScenario(t, sdir, sc, vmlinux, debug) })
	}
}

func testScenario(t *testing.T, sdir, sc, vmlinux string, debug []string) {
	want := scenarioRule[sc]
	var oracle drgnOracle
	b, err := os.ReadFile(filepath.Join(sdir, "drgn.json"))
	if err != nil {
		t.Fatalf("no drgn oracle (lab.sh oracle step): %v", err)
	}
	if err := json.Unmarshal(b, &oracle); err != nil {
		t.Fatalf("drgn.json: %v", err)
	}
	dumps, _ := filepath.Glob(filepath.Join(sdir, "*.vmcore"))
	for _, dump := range dumps {
		format := strings.TrimSuffix(filepath.Base(dump), ".vmcore")
		t.Run(format, func(t *testing.T) {
			k, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: debug})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer k.Close()
			c, err := rules.NewContext(k)
			if err != nil {
				t.Fatalf("rules.NewContext: %v", err)
			}
			// UN tasks (pid, comm) equal drgn's
			var got, exp []string
			for _, tk := range c.Tasks {
				if tk.StateName() == "UN" {
					got = append(got, fmt.Sprintf("%d %s", tk.PID, tk.Comm))
				}
			}
			for _, u := range oracle.UNTasks {
				exp = append(exp, fmt.Sprintf("%d %s", u.PID, u.Comm))
			}
			sort.Strings(got)
			sort.Strings(exp)
			if strings.Join(got, ",") != strings.Join(exp, ",") {
				t.Errorf("UN tasks %v, drgn %s says %v", got, oracle.DrgnVersion, exp)
			}
			crash := readCrash(t, sdir, format)
			// each dio equals drgn's and crash's
			for _, u := range oracle.UNTasks {
				if u.DIO == nil {
					continue
				}
				d, ok := c.DIOs()[hexv(u.Task)]
				if !ok {
					t.Errorf("pid %d: no dio found, drgn has %s", u.PID, u.DIO.DIO)
					continue
				}
				if d.Addr != hexv(u.DIO.DIO) || d.Refcount != u.DIO.Refcount || d.Waiter != hexv(u.DIO.Waiter) || d.BioList != hexv(u.DIO.BioList) {
					t.Errorf("pid %d: dio 0x%x refcount %d waiter 0x%x bio_list 0x%x; drgn: %+v", u.PID, d.Addr, d.Refcount, d.Waiter, d.BioList, *u.DIO)
				}
				// drgn reads its dio from the frame's local variable: so must we
				if !strings.HasPrefix(d.From, "frame local dio of ") {
					t.Errorf("pid %d: dio 0x%x not from the frame local: %s", u.PID, d.Addr, d.From)
				}
				checkCrashDIO(t, crash, format, d)
			}
			// journals equal drgn's: transaction, state, updates, commit thread, queue, holders
			for _, oj := range oracle.Journals {
				if oj.Running == nil {
					continue
				}
				var got *analyzer.Journal
				journals, err := c.Journals()
				if err != nil {
					t.Errorf("journals: %v", err)
				}
				for i := range journals {
					if journals[i].Addr == hexv(oj.Journal) {
						got = &journals[i]
					}
				}
				if got == nil {
					t.Errorf("journal %s not found (vmtriage has %d journals)", oj.Journal, len(journals))
					continue
				}
				var waiting, holders []drgnPID
				for _, a := range got.WaitLocked {
					if tk, ok := c.ByAddr[a]; ok {
						waiting = append(waiting, drgnPID{tk.PID})
					}
				}
				for _, tk := range c.Tasks {
					if _, tr, err := k.HandleTransaction(tk); err == nil && tr != 0 && tr == got.Transaction {
						holders = append(holders, drgnPID{tk.PID})
					}
				}
				commit := -1
				if ct, ok := c.ByAddr[got.CommitTask]; ok {
					commit = ct.PID
				}
				if got.Transaction != hexv(oj.Running.Transaction) || got.TState != oj.Running.TState || got.TUpdates != oj.Running.TUpdates ||
					commit != oj.JTask.PID || pids(waiting) != pids(oj.WaitLocked) || pids(holders) != pids(oj.Holders) {
					t.Errorf("journal 0x%x: transaction 0x%x %s t_updates %d commit %d waiting %s holders %s; drgn: %+v %+v commit %d waiting %s holders %s",
						got.Addr, got.Transaction, got.TState, got.TUpdates, commit, pids(waiting), pids(holders),
						oj.Running, oj.JTask, oj.JTask.PID, pids(oj.WaitLocked), pids(oj.Holders))
				}
			}
			// crash's ps agrees with vmtriage ps (pid, ppid, cpu, task, state, comm)
			checkCrashPS(t, crash, format, c.Tasks)
			// mounts: the same (mount point, type) set as drgn's
			if ms, err := k.Mounts(); err != nil {
				t.Errorf("mounts: %v", err)
			} else if len(oracle.Mounts) > 0 {
				var g, e []string
				for _, m := range ms {
					g = append(g, m.Path+" "+m.FSType)
				}
				for _, m := range oracle.Mounts {
					e = append(e, m.MountPoint+" "+m.FSType)
				}
				sort.Strings(g)
				sort.Strings(e)
				if strings.Join(g, ",") != strings.Join(e, ",") {
					t.Errorf("mounts %v, drgn %v", g, e)
				}
			}
			// the kernel log: read, and its end is drgn's
			if log, err := k.Log(); err != nil {
				t.Errorf("kernel log: %v", err)
			} else if strings.TrimSpace(log) == "" {
				t.Errorf("kernel log: empty")
			} else if n := len(oracle.DmesgTail); n > 0 {
				last := oracle.DmesgTail[n-1]
				if i := strings.Index(last, "] "); i >= 0 {
					last = last[i+2:]
				}
				if last = strings.TrimSpace(last); last != "" && !strings.Contains(log, last) {
					t.Errorf("kernel log: drgn's last line %q is not in vmtriage's log (%d bytes, ends %q)", last, len(log), tail(log, 200))
				}
			}
			// the same answer without VMCOREINFO: KASLR from CR3 and linux_banner
			if format == "elf-nopaging" || format == "kdump-zlib-flat" {
				k2, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: debug, IgnoreVMCOREINFO: true})
				if err != nil {
					t.Errorf("without VMCOREINFO: %v", err)
				} else {
					c2, err := rules.NewContext(k2)
					var dios2 map[uint64]analyzer.DIO
					if err == nil {
						dios2 = c2.DIOs() // read on demand: before k2 closes
					}
					k2.Close()
					if err != nil {
						t.Errorf("without VMCOREINFO: %v", err)
					} else {
						dios := c.DIOs()
						if k2.Syms.Slide() != k.Syms.Slide() || len(dios2) != len(dios) || len(c2.Tasks) != len(c.Tasks) {
							t.Errorf("without VMCOREINFO: slide 0x%x, %d tasks, %d dios; with it: 0x%x, %d, %d",
								k2.Syms.Slide(), len(c2.Tasks), len(dios2), k.Syms.Slide(), len(c.Tasks), len(dios))
						}
						for a, d := range dios {
							if dios2[a].Addr != d.Addr || dios2[a].Refcount != d.Refcount {
								t.Errorf("without VMCOREINFO: dio of task 0x%x is %+v, with it %+v", a, dios2[a], d)
							}
						}
					}
				}
			}
			r, err := rules.Analyze(k, "realkernel")
			if err != nil {
				t.Fatalf("rules.Analyze: %v", err)
			}
			// no warning that a read failed
			for _, w := range r.Warnings {
				if readFailed.MatchString(w) {
					t.Errorf("report warning: %s", w)
				} else {
					t.Logf("report warning (not a failed read): %s", w)
				}
			}
			// every UN task has a wait channel and a blocked time
			for _, h := range r.HungTasks {
				if h.WaitChannel == "" || h.BlockedSeconds == nil {
					t.Errorf("UN pid %d %s: wait channel %q, blocked seconds %v", h.PID, h.Comm, h.WaitChannel, h.BlockedSeconds)
				}
			}
			if f := finding(r, "dio-lost-wakeup"); (f != nil) != want.lostWakeup {
				t.Errorf("dio-lost-wakeup found = %v, want %v", f != nil, want.lostWakeup)
			} else if f != nil {
				var e rules.DIODetails
				if err := f.DecodeDetails(&e); err != nil {
					t.Errorf("dio-lost-wakeup details: %v", err)
				}
				// B sleeps with the hung-task timer armed, B-notimeout for good;
				// C's async write waited because it was partial
				if armed := sc != "B-notimeout"; e.TimeoutArmed != armed {
					t.Errorf("timeout_armed = %v, want %v (%s)", e.TimeoutArmed, armed, e.Timeout)
				}
				if (e.PartialWrite != "") != (sc == "C") || (sc == "C" && (e.IsAsync != 1 || e.IOCB == nil || e.IOCB.Opcode != "PWRITE")) {
					t.Errorf("partial write %q, is_async %d, iocb %+v", e.PartialWrite, e.IsAsync, e.IOCB)
				}
			}
			if f := finding(r, "journal-stall"); (f != nil) != want.journal {
				t.Errorf("journal-stall found = %v, want %v", f != nil, want.journal)
			} else if jd := journalDetails(t, f); f != nil && (jd.CommitTask == nil || f.Tree == nil || jd.WaitingTasks == 0) {
				t.Errorf("journal-stall without commit thread, tree or waiters: %+v", jd)
			} else if f != nil {
				// the jbd2 tree: the commit thread and the handle holder drgn names are in it
				labels := strings.Join(treeLabels(f.Tree), "\n")
				for _, oj := range oracle.Journals {
					if oj.Running == nil {
						continue
					}
					if !regexp.MustCompile(fmt.Sprintf(`jbd2/\S+ %d\b`, oj.JTask.PID)).MatchString(labels) {
						t.Errorf("journal-stall tree has no jbd2 commit thread %d:\n%s", oj.JTask.PID, labels)
					}
					for _, h := range oj.Holders {
						if !regexp.MustCompile(fmt.Sprintf(`\b%d holds handle`, h.PID)).MatchString(labels) {
							t.Errorf("journal-stall tree has no handle holder %d:\n%s", h.PID, labels)
						}
					}
				}
			}
		})
	}
}

// treeLabels flattens a finding's dependency tree.
func treeLabels(n *report.Node) []string {
	if n == nil {
		return nil
	}
	out := []string{n.Label}
	for _, c := range n.Children {
		out = append(out, treeLabels(c)...)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// readCrash reads crash 9.0.2's parsed answers on one format (nil when the
// oracle did not run crash there).
func readCrash(t *testing.T, sdir, format string) *crashOracle {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sdir, "crash-"+format+".json"))
	if err != nil {
		t.Logf("no crash answers on %s (crash-%s.json): nothing to compare", format, format)
		return nil
	}
	var c crashOracle
	if err := json.Unmarshal(b, &c); err != nil {
		t.Errorf("crash-%s.json: %v", format, err)
		return nil
	}
	if !c.Loaded {
		t.Logf("%s could not load %s (rc %d): nothing to compare", c.Tool, format, c.RC)
		return nil
	}
	return &c
}

// checkCrashDIO compares the dio with crash's `struct dio ADDR` on the same format.
func checkCrashDIO(t *testing.T, c *crashOracle, format string, d analyzer.DIO) {
	t.Helper()
	if c == nil {
		return
	}
	var fields map[string]string
	for a, f := range c.DIO {
		if hexv(a) == d.Addr {
			fields = f
		}
	}
	if fields == nil {
		t.Errorf("%s (%s) printed no struct dio 0x%x", c.Tool, format, d.Addr)
		return
	}
	if v, err := strconv.ParseInt(strings.TrimSpace(fields["refcount"]), 0, 64); err != nil || v != d.Refcount {
		t.Errorf("%s (%s) refcount %q, vmtriage %d", c.Tool, format, fields["refcount"], d.Refcount)
	}
	if hexv(fields["waiter"]) != d.Waiter || hexv(fields["bio_list"]) != d.BioList {
		t.Errorf("%s (%s) waiter %s bio_list %s, vmtriage 0x%x 0x%x", c.Tool, format, fields["waiter"], fields["bio_list"], d.Waiter, d.BioList)
	}
}

// checkCrashPS compares `vmtriage ps` (the analyzer's task list) with crash's ps,
// task by task.
func checkCrashPS(t *testing.T, c *crashOracle, format string, tasks []analyzer.Task) {
	t.Helper()
	if c == nil {
		return
	}
	if len(c.PS) == 0 {
		t.Errorf("%s (%s) printed no ps", c.Tool, format)
		return
	}
	row := func(pid, ppid, cpu int, task uint64, st, comm string) string {
		return fmt.Sprintf("%d %d %d %x %s %s", pid, ppid, cpu, task, st, comm)
	}
	mine := map[uint64]string{}
	for _, tk := range tasks {
		mine[tk.Addr] = row(tk.PID, tk.PPID, tk.CPU, tk.Addr, tk.StateName(), tk.Comm)
	}
	theirs := map[uint64]string{}
	for _, p := range c.PS {
		theirs[hexv(p.Task)] = row(p.PID, p.PPID, p.CPU, hexv(p.Task), p.State, p.Comm)
	}
	var diffs []string
	for a, r := range theirs {
		if m, ok := mine[a]; !ok {
			diffs = append(diffs, "crash only: "+r)
		} else if m != r {
			diffs = append(diffs, "crash "+r+" / vmtriage "+m)
		}
	}
	for a, m := range mine {
		if _, ok := theirs[a]; !ok {
			diffs = append(diffs, "vmtriage only: "+m)
		}
	}
	if len(diffs) == 0 {
		t.Logf("ps: the %d tasks agree with %s (%s)", len(tasks), c.Tool, format)
	} else {
		sort.Strings(diffs)
		n := len(diffs)
		if n > 8 {
			diffs = append(diffs[:8], fmt.Sprintf("... %d more", n-8))
		}
		t.Errorf("ps: %d of %d (crash) / %d (vmtriage) tasks differ from %s (%s): %s", n, len(c.PS), len(tasks), c.Tool, format, strings.Join(diffs, "; "))
	}
}

// journalDetails decodes a journal-stall finding's details (zero for nil).
func journalDetails(t *testing.T, f *report.Finding) rules.JournalDetails {
	t.Helper()
	var jd rules.JournalDetails
	if f != nil {
		if err := f.DecodeDetails(&jd); err != nil {
			t.Errorf("journal-stall details: %v", err)
		}
	}
	return jd
}
