// Package rules is vmtriage's rule engine: it reads the kernel model
// (tasks, stacks, journals, direct-I/O requests) on demand, once, and runs
// every registered rule on it.
//
// # The rule contract
//
// A rule is data plus one function (see Rule): its Meta (a stable ID, a
// title, a Severity, references, the versions that fix the bug) and
// Evaluate, which looks at the Context and returns the findings, an error
// when it could not decide, or ErrNotApplicable (wrapped with the reason)
// when the dump has nothing the rule examines. The report lists every rule
// with what became of it (report.RuleRun: ran, not_applicable, failed).
//
// The Context computes what rules ask for on first use and remembers it:
// c.Frames(t) (the unwound backtrace), c.Blocked(t), c.DIO(t) (the direct
// I/O request a task sleeps on), c.BioCheck(d), c.HandleTransaction(t),
// c.Journals(). A rule never prefetches: what no rule asks for is never
// read from the dump.
//
// A finding carries generic evidence rows (report.EvidenceRow: label,
// value, the address or task it is about) that every writer prints the
// same way, and the rule's typed data in Details (report.DetailsOf of a
// struct declared next to the rule), so no writer and no part of the
// schema needs code for a particular rule. The engine fills a finding's
// rule, title, severity, references and fixed-in versions from the Meta
// when the rule leaves them empty.
//
// # Adding a rule
//
// One file, rules/NAME.go, with the rule's doc comment, its details type
// (if any), and
//
//	func init() {
//		Register(Rule{Meta: Meta{ID: "my-rule", Title: "...", Severity: report.Warning,
//			References: []string{"..."}}, Evaluate: evalMyRule})
//	}
//
//	func evalMyRule(c *Context) ([]report.Finding, error) {
//		if nothing to look at {
//			return nil, fmt.Errorf("%w: no X in this kernel", ErrNotApplicable)
//		}
//		...
//		return []report.Finding{{Confidence: "high", Bucket: Bucket("my-rule", funcs, c.System.Release),
//			Summary: "...", Evidence: []report.EvidenceRow{{Label: "x", Value: "..."}}}}, nil
//	}
//
// and its test, rules/NAME_test.go (a seed core or a recorded kernel line
// from testdata/lines that shows the hang, and one that does not). Rules
// run and report in severity order (critical first), then by ID. If the
// rule needs a new fact about the kernel, add a memoised accessor to the
// Context in rules/context.go rather than reading it in NewContext.
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

// Meta is what a rule is, as data: it fills the findings' headers and
// the rules list of the report.
type Meta struct {
	ID         string          // stable, lower-case, dash-separated: the bucket prefix
	Title      string          // one line, what the hang is
	Severity   report.Severity // report.Critical, report.Warning or report.Info
	References []string        // bug reports, commits, advisories, source files
	FixedIn    []string        // kernel versions that carry the fix
}

// Rule recognises one kind of hang.
type Rule struct {
	Meta
	// Evaluate returns the rule's findings (none when the dump is clean),
	// an error wrapping ErrNotApplicable when the dump has nothing the rule
	// examines, or another error when the rule could not decide.
	Evaluate func(c *Context) ([]report.Finding, error)
}

// ErrNotApplicable is returned (wrapped, with the reason) by a rule that
// has nothing to examine in the dump.
var ErrNotApplicable = errors.New("not applicable")

var (
	registry []Rule
	ruleID   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// Register adds a rule; rule files call it from init. It panics on a
// malformed or duplicate rule, so a mistake fails every test at once.
func Register(r Rule) {
	switch {
	case !ruleID.MatchString(r.ID):
		panic(fmt.Sprintf("rules: rule id %q is not lower-case-with-dashes", r.ID))
	case r.Title == "" || r.Evaluate == nil:
		panic(fmt.Sprintf("rules: rule %s needs a title and an Evaluate", r.ID))
	case severityRank(r.Severity) < 0:
		panic(fmt.Sprintf("rules: rule %s: unknown severity %q", r.ID, r.Severity))
	}
	for _, o := range registry {
		if o.ID == r.ID {
			panic("rules: rule " + r.ID + " registered twice")
		}
	}
	registry = append(registry, r)
}

func severityRank(s report.Severity) int {
	switch s {
	case report.Critical:
		return 0
	case report.Warning:
		return 1
	case report.Info:
		return 2
	}
	return -1
}

// All lists the rules in the order they run and report: by severity
// (critical first), then by ID.
func All() []Rule {
	out := append([]Rule(nil), registry...)
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := severityRank(out[i].Severity), severityRank(out[j].Severity); a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out
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
		Rules:     []report.RuleRun{},
	}
	if !c.System.Time.IsZero() {
		r.System.Time = c.System.Time.Format("2006-01-02T15:04:05Z")
	}
	for _, cyc := range c.WaitGraph().Cycles {
		var ids []report.TaskID
		for _, t := range cyc {
			ids = append(ids, c.TaskID(t))
		}
		r.Deadlocks = append(r.Deadlocks, ids)
	}
	for _, rule := range All() {
		fs, run := evaluate(c, rule)
		r.Findings = append(r.Findings, fs...)
		r.Rules = append(r.Rules, run)
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

// evaluate runs one rule: its findings get the rule's metadata, and a
// rule that fails (or panics on a corrupt dump) fails alone. A cancelled
// analysis is not a rule's failure: Analyze reports it.
func evaluate(c *Context, rule Rule) (fs []report.Finding, run report.RuleRun) {
	run = report.RuleRun{ID: rule.ID, Status: report.RuleRan}
	defer func() {
		if p := recover(); p != nil {
			if c.K.Err() != nil {
				panic(p)
			}
			fs, run.Status, run.Error = nil, report.RuleFailed, fmt.Sprintf("internal error (please report it): %v", p)
		}
	}()
	fs, err := rule.Evaluate(c)
	switch {
	case errors.Is(err, ErrNotApplicable):
		run.Status, run.Reason = report.RuleNotApplicable, strings.TrimPrefix(strings.TrimPrefix(err.Error(), ErrNotApplicable.Error()), ": ")
		return nil, run
	case err != nil:
		run.Status, run.Error = report.RuleFailed, err.Error()
		return nil, run
	}
	for i := range fs {
		f := &fs[i]
		f.Rule = rule.ID
		if f.Title == "" {
			f.Title = rule.Title
		}
		if f.Severity == "" {
			f.Severity = rule.Severity
		}
		if f.References == nil {
			f.References = rule.References
		}
		if f.FixedIn == nil {
			f.FixedIn = rule.FixedIn
		}
	}
	run.Findings = len(fs)
	return fs, run
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

// hungTasks lists every UN task with what it waits on (built once per
// Context: the report and the hung-tasks rule both ask).
func (c *Context) hungTasks() []report.HungTask {
	if c.hung == nil {
		c.hung = c.buildHungTasks()
	}
	return append([]report.HungTask{}, c.hung...)
}

func (c *Context) buildHungTasks() []report.HungTask {
	waiting := map[uint64][]string{}
	note := func(t uint64, format string, args ...any) {
		waiting[t] = append(waiting[t], fmt.Sprintf(format, args...))
	}
	for i := range c.Tasks {
		if c.Tasks[i].StateName() == "UN" {
			c.K.PrefetchSlabs() // the bio check of a task in direct I/O scans the slabs
			break
		}
	}
	journals, _ := c.Journals() // the journal-stall rule reports a failure
	for _, j := range journals {
		for _, t := range j.WaitLocked {
			note(t, "journal of %s (%s): transaction 0x%x is %s", j.Mount, j.Device, j.Transaction, j.TState)
		}
		for _, t := range j.WaitUpdates {
			note(t, "journal commit of %s (%s): %d handle(s) still open on transaction 0x%x", j.Mount, j.Device, j.TUpdates, j.Transaction)
		}
	}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if t.StateName() != "UN" {
			continue
		}
		if d, ok := c.DIO(t); ok {
			bc := c.BioCheck(d)
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
		} else if c.InDirectIO(t) {
			note(t.Addr, "direct I/O: no struct dio naming this task as its waiter was found on its stack")
		}
		if tr, ok := c.HandleTransaction(t); ok {
			if j := c.journalOf(tr); j != nil {
				note(t.Addr, "holds a handle on transaction 0x%x of %s (%s, %s): the commit and every writer queued there wait for this task", tr, j.Mount, j.Device, j.TState)
			}
		}
	}
	out := []report.HungTask{}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if t.StateName() != "UN" {
			continue
		}
		h := report.HungTask{PID: t.PID, Comm: t.Comm, CPU: t.CPU, Task: report.Hex(t.Addr),
			WaitChannel: analyzer.WaitChannel(c.Frames(t)), Waiting: strings.Join(waiting[t.Addr], "; "), Wait: c.waitOf(t)}
		if b, ok := c.Blocked(t); ok {
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
