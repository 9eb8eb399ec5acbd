// Package report defines vmtriage's report, the JSON contract read by
// ticketing systems (schema "vmtriage.report/v1", see schema.json), and
// renders it for people.
package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Schema is the report's schema identifier.
const Schema = "vmtriage.report/v1"

// Hex is an address, rendered as a lower-case hex string with a 0x prefix.
type Hex uint64

// MarshalJSON renders the address as a hex string.
func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal(h.String()) }

// UnmarshalJSON parses a hex string.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return fmt.Errorf("address %q: %w", s, err)
	}
	*h = Hex(v)
	return nil
}

func (h Hex) String() string { return fmt.Sprintf("0x%x", uint64(h)) }

// Report is the result of analysing one dump.
type Report struct {
	Schema    string     `json:"schema"`
	Tool      Tool       `json:"tool"`
	Dump      Dump       `json:"dump"`
	System    System     `json:"system"`
	Kernel    *Kernel    `json:"kernel,omitempty"`
	Symbols   *Symbols   `json:"symbols,omitempty"`
	Findings  []Finding  `json:"findings"`
	HungTasks []HungTask `json:"hung_tasks"`
	// Deadlocks are the cycles of the wait-for graph: tasks each waiting
	// for the next.
	Deadlocks [][]TaskID `json:"deadlocks,omitempty"`
	// Rules says what became of every rule: ran, not applicable, failed.
	Rules    []RuleRun `json:"rules,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// RuleStatus is what became of a rule in an analysis.
type RuleStatus string

// A rule ran (with or without findings), had nothing to examine in the
// dump, or could not decide.
const (
	RuleRan           RuleStatus = "ran"
	RuleNotApplicable RuleStatus = "not_applicable"
	RuleFailed        RuleStatus = "failed"
)

// RuleRun is one rule's outcome.
type RuleRun struct {
	ID       string     `json:"id"`
	Status   RuleStatus `json:"status"`
	Findings int        `json:"findings"`
	Reason   string     `json:"reason,omitempty"` // why it was not applicable
	Error    string     `json:"error,omitempty"`  // why it failed
}

// Severity is how bad a finding is.
type Severity string

// The severities of findings.
const (
	Critical Severity = "critical" // the machine (or a service on it) is hung
	Warning  Severity = "warning"  // something is stuck that may be the cause or a symptom
	Info     Severity = "info"     // worth knowing, not a hang
)

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Dump describes the input.
type Dump struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	Compression string `json:"compression,omitempty"`
	Vmlinux     string `json:"vmlinux,omitempty"`
	BuildID     string `json:"build_id,omitempty"`
	Truncated   bool   `json:"truncated"`
	// Truncation says where a truncated dump is cut (absent when whole).
	Truncation *Truncation `json:"truncation,omitempty"`
}

// Truncation is where and how a dump file is cut short.
type Truncation struct {
	Kind         string `json:"kind"`
	Offset       int64  `json:"offset"`
	FileSize     int64  `json:"file_size"`
	ExpectedSize int64  `json:"expected_size,omitempty"`
	MissingFrom  *Hex   `json:"missing_from,omitempty"`
	Incomplete   bool   `json:"incomplete,omitempty"`
}

// Kernel is what vmtriage found out about the kernel's line and layout:
// the features it detected (each a difference between kernel lines) and
// the memory map of the dump.
type Kernel struct {
	// Features maps a feature name ("task.state", "mount.table", ...) to
	// what this kernel has ("__state", "mounts", ...).
	Features map[string]string `json:"features"`
	Layout   Layout            `json:"layout"`
	// HZ is the kernel's tick rate and HungTaskTimeoutSecs its
	// sysctl_hung_task_timeout_secs (0: detector off; -1: none).
	HZ                  int64 `json:"hz"`
	HungTaskTimeoutSecs int64 `json:"hung_task_timeout_secs"`
}

// Symbols says where the kernel's types and symbols came from.
type Symbols struct {
	// Source is where type layouts came from: "btf" (the vmlinux's .BTF
	// section), "dwarf", "btf-from-dump" (the BTF the kernel keeps in its
	// memory, when there is no vmlinux) or "snapshot" (a replayed
	// recording that does not say).
	Source string `json:"source"`
	// Table is where symbols came from: "elf" (the vmlinux's symbol
	// table) or "kallsyms" (the kernel's own tables in the dump).
	Table string `json:"table"`
}

// Layout is the dump's kernel memory map.
type Layout struct {
	KASLROffset     Hex      `json:"kaslr_offset"`
	PhysBase        Hex      `json:"phys_base"`
	PageOffsetBase  Hex      `json:"page_offset_base"`
	VmallocBase     Hex      `json:"vmalloc_base"`
	VmemmapBase     Hex      `json:"vmemmap_base"`
	PagingLevels    int      `json:"paging_levels"`
	KernelImageSize uint64   `json:"kernel_image_size"`
	PageSize        uint64   `json:"page_size"`
	How             []string `json:"how,omitempty"`
}

// System is the crash-sys-like summary.
type System struct {
	Release       string     `json:"release"`
	Version       string     `json:"version,omitempty"`
	Nodename      string     `json:"nodename"`
	Machine       string     `json:"machine"`
	CPUs          int        `json:"cpus"`
	MHz           int        `json:"mhz,omitempty"`
	Tasks         int        `json:"tasks"`
	UptimeSeconds int64      `json:"uptime_seconds"`
	LoadAverage   [3]float64 `json:"load_average"`
	MemoryBytes   uint64     `json:"memory_bytes,omitempty"`
	Time          string     `json:"time,omitempty"`
	Panic         string     `json:"panic"`
}

// Finding is one recognised problem with its evidence.
type Finding struct {
	Rule       string   `json:"rule"`
	Title      string   `json:"title"`
	Severity   Severity `json:"severity"`
	Confidence string   `json:"confidence"`
	Bucket     string   `json:"bucket"`
	Summary    string   `json:"summary"`
	Verdict    string   `json:"verdict,omitempty"`
	References []string `json:"references,omitempty"`
	FixedIn    []string `json:"fixed_in,omitempty"`
	RootTask   *TaskRef `json:"root_task,omitempty"`
	// Evidence is what proves the finding, as rows every writer prints
	// the same way.
	Evidence []EvidenceRow `json:"evidence,omitempty"`
	// Details is the rule's own data (its typed evidence), for programs;
	// see DetailsOf and DecodeDetails.
	Details map[string]any `json:"details,omitempty"`
	Facts   []Fact         `json:"facts,omitempty"`
	Tree    *Node          `json:"tree,omitempty"`
	Tasks   []HungTask     `json:"tasks,omitempty"`
}

// EvidenceRow is one line of a finding's evidence.
type EvidenceRow struct {
	Label string `json:"label"`
	Value string `json:"value"`
	// Ref is the kernel object the row is about, when it is one: an
	// address ("0x...") or a task ("task:0x...", its task_struct).
	Ref string `json:"ref,omitempty"`
}

// AddrRef is the Ref of a row about the object at addr.
func AddrRef(addr uint64) string { return Hex(addr).String() }

// TaskRefOf is the Ref of a row about the task at addr.
func TaskRefOf(addr uint64) string { return "task:" + Hex(addr).String() }

// DetailsOf turns a rule's typed details (a struct with JSON tags) into a
// finding's Details: what its JSON says, as maps, slices, strings,
// float64s and bools, so that a report read back from JSON is the same.
func DetailsOf(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("report: details %T: %v", v, err))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("report: details %T are not an object: %v", v, err))
	}
	return m
}

// DecodeDetails reads the finding's Details into v (the rule's details
// type).
func (f *Finding) DecodeDetails(v any) error {
	b, err := json.Marshal(f.Details)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// TaskRef identifies a task.
type TaskRef struct {
	PID            int      `json:"pid"`
	Comm           string   `json:"comm"`
	State          string   `json:"state,omitempty"`
	CPU            int      `json:"cpu"`
	Task           Hex      `json:"task"`
	BlockedSeconds *int64   `json:"blocked_seconds,omitempty"`
	Backtrace      []string `json:"backtrace,omitempty"`
}

// Count is a name and how many.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Fact is one checked condition of a rule.
type Fact struct {
	Name     string `json:"name"`
	Holds    bool   `json:"holds"`
	Evidence string `json:"evidence"`
}

// Node is a node of a dependency tree: Label waits on its Children.
type Node struct {
	Label    string  `json:"label"`
	Children []*Node `json:"children,omitempty"`
}

// HungTask is a task in uninterruptible sleep.
type HungTask struct {
	PID            int    `json:"pid"`
	Comm           string `json:"comm"`
	CPU            int    `json:"cpu"`
	Task           Hex    `json:"task"`
	BlockedSeconds *int64 `json:"blocked_seconds"`
	WaitChannel    string `json:"wait_channel"`
	Waiting        string `json:"waiting,omitempty"`
	// Wait is what the task waits on and the root of its wait-for chain.
	Wait *TaskWait `json:"wait,omitempty"`
}

// WaitsOn is what the writers print for a hung task: what it waits on and
// the root its chain of waits leads to (with the rules' notes about a
// task that is a root itself, e.g. the journal handle it holds); the
// rules' notes alone when there is no wait-for edge.
func (h HungTask) WaitsOn() string {
	w := h.Wait
	if w == nil {
		return h.Waiting
	}
	s := w.What
	switch {
	case w.Root != nil && w.Root.Task != h.Task:
		s += fmt.Sprintf(" => root: %s %d", w.Root.Comm, w.Root.PID)
		if w.RootWhat != "" {
			s += ", " + w.RootWhat
		}
	case h.Waiting != "":
		s += "; " + h.Waiting
	}
	return s
}

// TaskID names a task.
type TaskID struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	Task Hex    `json:"task"`
}

// TaskWait is a task's edge in the wait-for graph: what it waits on (read
// from its frames and the objects they point at), who can end the wait,
// and where the chain of waits ends.
type TaskWait struct {
	// Kind: mutex, rwsem-read, rwsem-write, completion, buffer,
	// journal-locked, journal-updates, journal-commit, dio, unknown.
	Kind   string   `json:"kind"`
	Object *Hex     `json:"object,omitempty"`
	What   string   `json:"what"`
	Owners []TaskID `json:"owners,omitempty"`
	Device string   `json:"device,omitempty"`
	// Holds: the condition waited for already holds (a lost wakeup).
	Holds bool   `json:"holds,omitempty"`
	Frame string `json:"frame,omitempty"`
	// Root is the task the chain of owners ends at (the task itself when
	// its own wait is the end: a device, a lost wakeup), RootWhat why it
	// ends there.
	Root     *TaskID `json:"root,omitempty"`
	RootWhat string  `json:"root_what,omitempty"`
}
