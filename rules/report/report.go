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
	Warnings  []string   `json:"warnings,omitempty"`
}

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
	Rule       string           `json:"rule"`
	Title      string           `json:"title"`
	Severity   string           `json:"severity"`
	Confidence string           `json:"confidence"`
	Bucket     string           `json:"bucket"`
	Summary    string           `json:"summary"`
	Verdict    string           `json:"verdict,omitempty"`
	References []string         `json:"references,omitempty"`
	FixedIn    []string         `json:"fixed_in,omitempty"`
	RootTask   *TaskRef         `json:"root_task,omitempty"`
	Evidence   *DIOEvidence     `json:"evidence,omitempty"`
	Journal    *JournalEvidence `json:"journal,omitempty"`
	Facts      []Fact           `json:"facts,omitempty"`
	Tree       *Node            `json:"tree,omitempty"`
	Tasks      []HungTask       `json:"tasks,omitempty"`
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

// IOCB is the AIO request being submitted.
type IOCB struct {
	Opcode string `json:"opcode"`
	FD     int    `json:"fd"`
	Buf    Hex    `json:"buf"`
	NBytes uint64 `json:"nbytes"`
	Offset Hex    `json:"offset"`
	Kiocb  Hex    `json:"kiocb"`
	Copy   *Hex   `json:"stack_copy,omitempty"`
}

// DIOEvidence is the direct-I/O request a task sleeps on.
type DIOEvidence struct {
	DIO Hex `json:"dio"`
	// FoundBy says how the dio was found: the frame's local variable, or
	// (FoundAt) a pointer on the stack.
	FoundBy      string `json:"found_by,omitempty"`
	FoundAt      Hex    `json:"found_at,omitempty"`
	Refcount     int64  `json:"refcount"`
	Waiter       Hex    `json:"waiter"`
	BioList      Hex    `json:"bio_list"`
	IsAsync      int64  `json:"is_async"`
	Result       int64  `json:"result"`
	Size         uint64 `json:"size"`
	IOCB         *IOCB  `json:"iocb,omitempty"`
	File         string `json:"file,omitempty"`
	Inode        Hex    `json:"inode"`
	PartialWrite string `json:"partial_write,omitempty"`
	BioSlabCheck string `json:"bio_slab_check"`
	// TimeoutArmed says whether the sleep has a timer (current kernels
	// sleep in io_schedule_timeout(hung_task_timeout_secs/2) and recheck).
	TimeoutArmed bool   `json:"timeout_armed"`
	Timeout      string `json:"timeout,omitempty"`
}

// JournalEvidence is a journal and the tasks stuck on it.
type JournalEvidence struct {
	Device        string    `json:"device"`
	Mount         string    `json:"mount"`
	Journal       Hex       `json:"journal"`
	Transaction   Hex       `json:"transaction"`
	TState        string    `json:"t_state"`
	TUpdates      int64     `json:"t_updates"`
	CommitTask    *TaskRef  `json:"commit_task,omitempty"`
	HandleHolders []TaskRef `json:"handle_holders,omitempty"`
	WaitingTasks  int       `json:"waiting_tasks"`
	WaitingByComm []Count   `json:"waiting_by_comm,omitempty"`
	WaitingSample []TaskRef `json:"waiting_sample"`
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
}
