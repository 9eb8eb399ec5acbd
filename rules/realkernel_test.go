//go:build realkernel

// The real-kernel stage: vmtriage on the dumps of a running Debian 6.1
// kernel made by testdata/realkernel/lab.sh, checked against drgn and crash
// run on the very same files. Run with: go test -tags realkernel ./rules
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
)

// labDir is where lab.sh leaves its cache.
func labDir(t *testing.T) string {
	dir := os.Getenv("VMTRIAGE_CACHE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "vmtriage")
	}
	dir = filepath.Join(dir, "realkernel")
	if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
		t.Skipf("no lab output in %s: run testdata/realkernel/lab.sh first", dir)
	}
	return dir
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

type drgnOracle struct {
	UNTasks []struct {
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
}

// expectations per scenario (the lab's README describes them).
var scenarioRule = map[string]struct{ lostWakeup, journal bool }{
	"A": {false, false}, "B": {true, false}, "B-notimeout": {true, false}, "C": {true, false}, "D": {false, true},
}

func hexv(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	return v
}

func TestRealKernel(t *testing.T) {
	lab := labDir(t)
	vmlinux := filepath.Join(lab, "vmlinux")
	scenarios, _ := filepath.Glob(filepath.Join(lab, "dumps", "*"))
	if len(scenarios) == 0 {
		t.Skip("the lab made no dumps")
	}
	for _, sdir := range scenarios {
		name := filepath.Base(sdir)
		want, ok := scenarioRule[name]
		if !ok {
			continue
		}
		var oracle drgnOracle
		b, err := os.ReadFile(filepath.Join(sdir, "drgn.json"))
		if err != nil {
			t.Errorf("scenario %s: no drgn oracle: %v", name, err)
			continue
		}
		if err := json.Unmarshal(b, &oracle); err != nil {
			t.Fatalf("scenario %s drgn.json: %v", name, err)
		}
		dumps, _ := filepath.Glob(filepath.Join(sdir, "*.vmcore"))
		for _, dump := range dumps {
			format := strings.TrimSuffix(filepath.Base(dump), ".vmcore")
			t.Run(name+"/"+format, func(t *testing.T) {
				k, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: []string{filepath.Join(lab, "debug-modules")}})
				if err != nil {
					t.Fatal(err)
				}
				defer k.Close()
				c, err := rules.NewContext(k)
				if err != nil {
					t.Fatal(err)
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
					t.Errorf("UN tasks %v, drgn says %v", got, exp)
				}
				// each dio equals drgn's and crash's
				for _, u := range oracle.UNTasks {
					if u.DIO == nil {
						continue
					}
					d, ok := c.DIOs[hexv(u.Task)]
					if !ok {
						t.Errorf("pid %d: no dio found, drgn has %s", u.PID, u.DIO.DIO)
						continue
					}
					if d.Addr != hexv(u.DIO.DIO) || d.Refcount != u.DIO.Refcount || d.Waiter != hexv(u.DIO.Waiter) || d.BioList != hexv(u.DIO.BioList) {
						t.Errorf("pid %d: dio 0x%x refcount %d waiter 0x%x bio_list 0x%x; drgn: %+v", u.PID, d.Addr, d.Refcount, d.Waiter, d.BioList, *u.DIO)
					}
					checkCrash(t, sdir, format, d)
				}
				// journals equal drgn's: transaction, state, updates, commit thread, queue, holders
				for _, oj := range oracle.Journals {
					if oj.Running == nil {
						continue
					}
					var got *analyzer.Journal
					for i := range c.Journals {
						if c.Journals[i].Addr == hexv(oj.Journal) {
							got = &c.Journals[i]
						}
					}
					if got == nil {
						t.Errorf("journal %s not found", oj.Journal)
						continue
					}
					var waiting, holders []drgnPID
					for _, a := range got.WaitLocked {
						waiting = append(waiting, drgnPID{c.ByAddr[a].PID})
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
				// the same answer without VMCOREINFO: KASLR from CR3 and linux_banner
				if format == "elf-nopaging" || format == "kdump-zlib-flat" {
					k2, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: []string{filepath.Join(lab, "debug-modules")}, IgnoreVMCOREINFO: true})
					if err != nil {
						t.Fatalf("without VMCOREINFO: %v", err)
					}
					c2, err := rules.NewContext(k2)
					k2.Close()
					if err != nil {
						t.Fatalf("without VMCOREINFO: %v", err)
					}
					if k2.Syms.Slide() != k.Syms.Slide() || len(c2.DIOs) != len(c.DIOs) || len(c2.Tasks) != len(c.Tasks) {
						t.Errorf("without VMCOREINFO: slide 0x%x, %d tasks, %d dios; with it: 0x%x, %d, %d",
							k2.Syms.Slide(), len(c2.Tasks), len(c2.DIOs), k.Syms.Slide(), len(c.Tasks), len(c.DIOs))
					}
					for a, d := range c.DIOs {
						if c2.DIOs[a].Addr != d.Addr || c2.DIOs[a].Refcount != d.Refcount {
							t.Errorf("without VMCOREINFO: dio of task 0x%x is %+v, with it %+v", a, c2.DIOs[a], d)
						}
					}
				}
				r, err := rules.Analyze(k, "realkernel")
				if err != nil {
					t.Fatal(err)
				}
				if f := finding(r, "dio-lost-wakeup"); (f != nil) != want.lostWakeup {
					t.Errorf("dio-lost-wakeup found = %v, want %v", f != nil, want.lostWakeup)
				} else if f != nil {
					e := f.Evidence
					// B sleeps with the hung-task timer armed, B-notimeout for good;
					// C's async write waited because it was partial
					if armed := name != "B-notimeout"; e.TimeoutArmed != armed {
						t.Errorf("timeout_armed = %v, want %v (%s)", e.TimeoutArmed, armed, e.Timeout)
					}
					if (e.PartialWrite != "") != (name == "C") || (name == "C" && (e.IsAsync != 1 || e.IOCB == nil || e.IOCB.Opcode != "PWRITE")) {
						t.Errorf("partial write %q, is_async %d, iocb %+v", e.PartialWrite, e.IsAsync, e.IOCB)
					}
				}
				if f := finding(r, "journal-stall"); (f != nil) != want.journal {
					t.Errorf("journal-stall found = %v, want %v", f != nil, want.journal)
				} else if f != nil && (f.Journal.CommitTask == nil || f.Tree == nil || f.Journal.WaitingTasks == 0) {
					t.Errorf("journal-stall without commit thread, tree or waiters: %+v", f.Journal)
				}
			})
		}
	}
}

var crashField = regexp.MustCompile(`(?m)^\s*(refcount|waiter|bio_list) = (\S+?),?$`)

// checkCrash compares the dio with crash's `struct dio ADDR` on the same
// dump format, when the lab ran crash on it.
func checkCrash(t *testing.T, sdir, format string, d analyzer.DIO) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sdir, "crash-"+format+".txt"))
	if err != nil {
		return
	}
	text := string(b)
	i := strings.Index(text, "struct dio {")
	if i < 0 {
		t.Logf("crash printed no struct dio on %s (see crash-%s.txt): nothing to compare", format, format)
		return
	}
	fields := map[string]string{}
	for _, m := range crashField.FindAllStringSubmatch(text[i:], -1) {
		if _, dup := fields[m[1]]; !dup {
			fields[m[1]] = m[2]
		}
	}
	if v, err := strconv.ParseInt(fields["refcount"], 0, 64); err != nil || v != d.Refcount {
		t.Errorf("crash (%s) refcount %q, vmtriage %d", format, fields["refcount"], d.Refcount)
	}
	if hexv(fields["waiter"]) != d.Waiter || hexv(fields["bio_list"]) != d.BioList {
		t.Errorf("crash (%s) waiter %s bio_list %s, vmtriage 0x%x 0x%x", format, fields["waiter"], fields["bio_list"], d.Waiter, d.BioList)
	}
}
