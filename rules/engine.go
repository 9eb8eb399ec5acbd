// Package rules is vmtriage's rule engine: it reads the kernel model once
// (tasks, stacks, journals, direct-I/O requests) and runs every rule on
// it. A rule has a stable ID, a title, references and the versions that fix
// it, and returns findings with the evidence that proves them.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// Rule recognises one kind of hang.
type Rule interface {
	ID() string
	Evaluate(c *Context) []report.Finding
}

// All lists the rules in the order they run and report.
func All() []Rule {
	return []Rule{dioLostWakeup{}, journalStall{}, hungTasks{}}
}

// Context is what rules see: the kernel and what was read from it once.
type Context struct {
	K        *analyzer.Kernel
	System   analyzer.System
	Tasks    []analyzer.Task
	ByAddr   map[uint64]*analyzer.Task
	Frames   map[uint64][]analyzer.Frame // UN tasks' backtraces
	Blocked  map[uint64]int64            // UN tasks' blocked seconds
	DIOs     map[uint64]analyzer.DIO     // the dio each task in direct I/O sleeps on
	Bios     map[uint64]BioCheck         // the bio slab check of each dio, by task
	Journals []analyzer.Journal
}

// BioCheck is the result of looking for allocated bios that still point
// at a dio (bi_private): I/O in flight for it.
type BioCheck struct {
	Ran      bool
	InFlight []uint64
	Account  string // what was checked, or why it could not be
}

// directIOFuncs are the frames of a task waiting in dio_await_one.
var directIOFuncs = []string{"__blockdev_direct_IO", "dio_await_one", "dio_await_completion", "direct_io_worker", "do_blockdev_direct_IO"}

// NewContext reads what the rules need.
func NewContext(k *analyzer.Kernel) (*Context, error) {
	tasks, err := k.Tasks()
	if err != nil {
		return nil, err
	}
	c := &Context{K: k, Tasks: tasks, ByAddr: map[uint64]*analyzer.Task{},
		Frames: map[uint64][]analyzer.Frame{}, Blocked: map[uint64]int64{}, DIOs: map[uint64]analyzer.DIO{},
		Bios: map[uint64]BioCheck{}}
	for i := range tasks {
		c.ByAddr[tasks[i].Addr] = &tasks[i]
	}
	if c.System, err = k.System(len(tasks)); err != nil {
		return nil, err
	}
	for _, t := range tasks {
		if t.StateName() != "UN" && !c.inDirectIO(t) {
			continue
		}
		fr, err := k.Backtrace(t)
		if err != nil {
			k.Warnf("task %d (%s): no backtrace: %v", t.PID, t.Comm, err)
			continue
		}
		c.Frames[t.Addr] = fr
		if t.StateName() == "UN" {
			if b, err := k.BlockedSeconds(t); err == nil {
				c.Blocked[t.Addr] = b
			} else {
				k.Warnf("task %d (%s): no blocked time: %v", t.PID, t.Comm, err)
			}
		}
		if analyzer.HasFrame(fr, directIOFuncs...) {
			if d, ok, err := k.FindDIO(t, fr); err == nil && ok {
				c.DIOs[t.Addr] = d
				bios, account, err := k.BiosPointingAt(d.Addr)
				switch {
				case errors.Is(err, analyzer.ErrNoSlabWalk):
					c.Bios[t.Addr] = BioCheck{Account: "not run: " + err.Error() + " (SLUB keeps no list of full slabs)"}
				case err != nil:
					c.Bios[t.Addr] = BioCheck{Account: "not run: " + err.Error()}
				default:
					c.Bios[t.Addr] = BioCheck{Ran: true, InFlight: bios, Account: account}
				}
			}
		}
	}
	if c.Journals, err = k.Journals(); err != nil {
		return nil, err
	}
	return c, nil
}

// inDirectIO is true for a running task with a dio (the negative variant
// "running"): it is examined too, so the report can say why it is no hang.
func (c *Context) inDirectIO(t analyzer.Task) bool {
	return t.State == analyzer.TaskRunning && !t.Idle && t.JournalInfo != 0
}

// Analyze runs every rule and assembles the report. A corrupt dump can
// hold any bytes where kernel objects should be; whatever slips past the
// checks becomes an error naming the dump, never a crash.
func Analyze(k *analyzer.Kernel, version string) (r *report.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%s: internal error while analysing (please report it): %v", k.Dump.Path(), p)
		}
	}()
	r, err = analyze(k, version)
	if cause := k.Err(); cause != nil {
		return nil, fmt.Errorf("%s: analysis abandoned: %w", k.Dump.Path(), cause)
	}
	return r, err
}

func analyze(k *analyzer.Kernel, version string) (*report.Report, error) {
	c, err := NewContext(k)
	if err != nil {
		return nil, err
	}
	r := &report.Report{
		Schema: report.Schema,
		Tool:   report.Tool{Name: "vmtriage", Version: version},
		Dump: report.Dump{Path: k.Dump.Path(), Format: string(k.Dump.Format()), Compression: k.Dump.Compression(),
			Vmlinux: k.Syms.Path(), BuildID: k.Syms.BuildID()},
		System: report.System{Release: c.System.Release, Version: c.System.Version, Nodename: c.System.Nodename,
			Machine: c.System.Machine, CPUs: c.System.CPUs, MHz: c.System.MHz, Tasks: c.System.Tasks,
			UptimeSeconds: c.System.Uptime, LoadAverage: c.System.LoadAverage, MemoryBytes: c.System.MemoryBytes,
			Panic: c.System.Panic},
		Kernel:    kernelOf(k),
		Symbols:   &report.Symbols{Source: k.TypesFrom, Table: k.SymbolsFrom},
		Findings:  []report.Finding{},
		HungTasks: c.hungTasks(),
	}
	if !c.System.Time.IsZero() {
		r.System.Time = c.System.Time.Format("2006-01-02T15:04:05Z")
	}
	for _, rule := range All() {
		r.Findings = append(r.Findings, rule.Evaluate(c)...)
	}
	failures := k.Types.Failures()
	for _, m := range sortedKeys(failures) {
		k.Warnf("module %s: its debug info cannot be used: %s", m, failures[m])
	}
	r.Warnings = k.Warnings()
	if tr := k.Dump.Truncation(); tr != nil {
		r.Dump.Truncated = true
		r.Dump.Truncation = &report.Truncation{Kind: string(tr.Kind), Offset: tr.Offset, FileSize: tr.FileSize,
			ExpectedSize: tr.ExpectedSize, Incomplete: tr.Incomplete}
		if tr.HasMissing {
			h := report.Hex(tr.MissingFrom)
			r.Dump.Truncation.MissingFrom = &h
		}
	}
	return r, nil
}

// kernelOf describes the kernel's detected features and memory layout.
func kernelOf(k *analyzer.Kernel) *report.Kernel {
	l := k.Layout
	return &report.Kernel{
		Features: k.Features.Map(),
		Layout: report.Layout{KASLROffset: report.Hex(l.Slide), PhysBase: report.Hex(l.PhysBase),
			PageOffsetBase: report.Hex(l.PageOffset), VmallocBase: report.Hex(l.VmallocBase), VmemmapBase: report.Hex(l.VmemmapBase),
			PagingLevels: l.Levels, KernelImageSize: l.KernelMapSize, PageSize: l.PageSize, How: l.How},
		HZ:                  k.Features.Time.HZ,
		HungTaskTimeoutSecs: k.Features.Time.HungTaskTimeout,
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// taskRef describes a task for a report.
func (c *Context) taskRef(addr uint64, withStack bool) *report.TaskRef {
	t, ok := c.ByAddr[addr]
	if !ok {
		return &report.TaskRef{PID: -1, Comm: "?", Task: report.Hex(addr)}
	}
	ref := &report.TaskRef{PID: t.PID, Comm: t.Comm, State: t.StateName(), CPU: t.CPU, Task: report.Hex(addr)}
	if b, ok := c.Blocked[addr]; ok {
		ref.BlockedSeconds = &b
	}
	if withStack {
		for _, f := range c.Frames[addr] {
			where := f.Slot
			if where == 0 {
				where = f.SP
			}
			ref.Backtrace = append(ref.Backtrace, fmt.Sprintf("[%#x] %s at %#x", where, f, f.Addr))
		}
	}
	return ref
}

// journalOf finds the journal whose running or committing transaction is
// the given one.
func (c *Context) journalOf(transaction uint64) *analyzer.Journal {
	for i := range c.Journals {
		j := &c.Journals[i]
		if transaction != 0 && (j.Transaction == transaction || j.Committing == transaction) {
			return j
		}
	}
	return nil
}

// hungTasks lists every UN task with what it waits on.
func (c *Context) hungTasks() []report.HungTask {
	waiting := map[uint64][]string{}
	note := func(t uint64, format string, args ...any) {
		waiting[t] = append(waiting[t], fmt.Sprintf(format, args...))
	}
	for _, j := range c.Journals {
		for _, t := range j.WaitLocked {
			note(t, "journal of %s (%s): transaction 0x%x is %s", j.Mount, j.Device, j.Transaction, j.TState)
		}
		for _, t := range j.WaitUpdates {
			note(t, "journal commit of %s (%s): %d handle(s) still open on transaction 0x%x", j.Mount, j.Device, j.TUpdates, j.Transaction)
		}
	}
	for _, t := range c.Tasks {
		if t.StateName() != "UN" {
			continue
		}
		if d, ok := c.DIOs[t.Addr]; ok {
			bc := c.Bios[t.Addr]
			switch {
			case d.Refcount > 1 && len(bc.InFlight) > 0:
				note(t.Addr, "direct I/O in flight: dio 0x%x refcount %d, allocated bio 0x%x points at it", d.Addr, d.Refcount, bc.InFlight[0])
			case d.Refcount > 1:
				note(t.Addr, "direct I/O in flight: dio 0x%x refcount %d", d.Addr, d.Refcount)
			case len(bc.InFlight) > 0:
				note(t.Addr, "direct I/O: dio 0x%x refcount %d but allocated bio 0x%x still points at it", d.Addr, d.Refcount, bc.InFlight[0])
			default:
				note(t.Addr, "direct I/O that already completed: dio 0x%x refcount %d, nothing in flight (lost wakeup)", d.Addr, d.Refcount)
			}
		} else if analyzer.HasFrame(c.Frames[t.Addr], directIOFuncs...) {
			note(t.Addr, "direct I/O: no struct dio naming this task as its waiter was found on its stack")
		}
		if t.JournalInfo == 0 {
			continue
		}
		if _, tr, err := c.K.HandleTransaction(t); err == nil {
			if j := c.journalOf(tr); j != nil {
				note(t.Addr, "holds a handle on transaction 0x%x of %s (%s, %s): the commit and every writer queued there wait for this task", tr, j.Mount, j.Device, j.TState)
			}
		}
	}
	out := []report.HungTask{}
	for _, t := range c.Tasks {
		if t.StateName() != "UN" {
			continue
		}
		h := report.HungTask{PID: t.PID, Comm: t.Comm, CPU: t.CPU, Task: report.Hex(t.Addr),
			WaitChannel: analyzer.WaitChannel(c.Frames[t.Addr]), Waiting: strings.Join(waiting[t.Addr], "; ")}
		if b, ok := c.Blocked[t.Addr]; ok {
			h.BlockedSeconds = &b
		}
		out = append(out, h)
	}
	sort.SliceStable(out, func(i, j int) bool { return blocked(out[i]) > blocked(out[j]) })
	return out
}

func blocked(h report.HungTask) int64 {
	if h.BlockedSeconds == nil {
		return -1
	}
	return *h.BlockedSeconds
}

var releaseFamily = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// family is the kernel release family used in buckets: "2.6.9" for 2.6
// kernels (each was its own line), "major.minor" after.
func family(release string) string {
	m := releaseFamily.FindStringSubmatch(release)
	if m == nil {
		return release
	}
	if m[1] == "2" && m[3] != "" {
		return m[1] + "." + m[2] + "." + m[3]
	}
	return m[1] + "." + m[2]
}

// Bucket is a stable short id for (rule, root functions, release family):
// the same bug on two machines shares it, different bugs do not.
func Bucket(rule string, rootFuncs []string, release string) string {
	sum := sha256.Sum256([]byte(rule + "|" + strings.Join(rootFuncs, ",") + "|" + family(release)))
	return rule + "-" + hex.EncodeToString(sum[:])[:10]
}
