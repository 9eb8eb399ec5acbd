package rules

import (
	"errors"
	"fmt"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// Context is what rules see: the kernel, its tasks and system, and
// accessors that read the rest from the dump on first use and remember it
// (a rule that does not ask costs nothing; two that ask read once).
// Rules run one at a time: the accessors are not safe for concurrent use.
type Context struct {
	K      *analyzer.Kernel
	System analyzer.System
	Tasks  []analyzer.Task
	ByAddr map[uint64]*analyzer.Task

	frames  map[uint64][]analyzer.Frame
	blocked map[uint64]blockedTime
	dios    map[uint64]foundDIO
	bios    map[uint64]BioCheck
	handles map[uint64]uint64 // task -> transaction of its journal handle (0: none)
	waits   map[uint64]analyzer.Wait
	graph   *analyzer.WaitGraph
	hung    []report.HungTask // the hung-task list, once built (hungTasks)
}

type blockedTime struct {
	secs int64
	ok   bool
}

type foundDIO struct {
	dio analyzer.DIO
	ok  bool
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

// NewContext reads the tasks and the system summary; everything else is
// read when a rule (or the hung-task list) asks for it.
func NewContext(k *analyzer.Kernel) (*Context, error) {
	tasks, err := k.Tasks()
	if err != nil {
		return nil, err
	}
	c := &Context{K: k, Tasks: tasks, ByAddr: map[uint64]*analyzer.Task{},
		frames: map[uint64][]analyzer.Frame{}, blocked: map[uint64]blockedTime{}, dios: map[uint64]foundDIO{},
		bios: map[uint64]BioCheck{}, handles: map[uint64]uint64{}}
	for i := range tasks {
		c.ByAddr[tasks[i].Addr] = &tasks[i]
	}
	if c.System, err = k.System(len(tasks)); err != nil {
		return nil, err
	}
	return c, nil
}

// Task is the task at addr, or nil.
func (c *Context) Task(addr uint64) *analyzer.Task { return c.ByAddr[addr] }

// Frames is the task's unwound backtrace (inline frames included), nil
// when it cannot be unwound (a warning says why) or t is nil.
func (c *Context) Frames(t *analyzer.Task) []analyzer.Frame {
	if t == nil {
		return nil
	}
	if fr, ok := c.frames[t.Addr]; ok {
		return fr
	}
	fr, err := c.K.Backtrace(*t)
	if err != nil {
		c.K.Warnf("task %d (%s): no backtrace: %v", t.PID, t.Comm, err)
		fr = nil
	}
	c.frames[t.Addr] = fr
	return fr
}

// Blocked is how long an uninterruptible task has been blocked, in
// seconds; false for other tasks and when it cannot be told (a warning
// says why).
func (c *Context) Blocked(t *analyzer.Task) (int64, bool) {
	if t == nil || t.StateName() != "UN" {
		return 0, false
	}
	if b, ok := c.blocked[t.Addr]; ok {
		return b.secs, b.ok
	}
	b, err := c.K.BlockedSeconds(*t)
	if err != nil {
		c.K.Warnf("task %d (%s): no blocked time: %v", t.PID, t.Comm, err)
	}
	c.blocked[t.Addr] = blockedTime{b, err == nil}
	return b, err == nil
}

// InDirectIO is true when the task's stack is inside direct I/O.
func (c *Context) InDirectIO(t *analyzer.Task) bool {
	return analyzer.HasFrame(c.Frames(t), directIOFuncs...)
}

// DIO is the direct-I/O request (struct dio) a task in direct I/O sleeps
// on: the frame local of the direct-I/O function, else a stack pointer to
// a dio whose waiter is the task.
func (c *Context) DIO(t *analyzer.Task) (analyzer.DIO, bool) {
	if t == nil {
		return analyzer.DIO{}, false
	}
	if d, ok := c.dios[t.Addr]; ok {
		return d.dio, d.ok
	}
	var found foundDIO
	if fr := c.Frames(t); analyzer.HasFrame(fr, directIOFuncs...) {
		if d, ok, err := c.K.FindDIO(*t, fr); err == nil && ok {
			found = foundDIO{d, true}
		}
	}
	c.dios[t.Addr] = found
	return found.dio, found.ok
}

// BioCheck looks for allocated bios whose bi_private is the dio: I/O
// still in flight for it (a walk of the bio slab cache).
func (c *Context) BioCheck(d analyzer.DIO) BioCheck {
	if bc, ok := c.bios[d.Addr]; ok {
		return bc
	}
	var bc BioCheck
	bios, account, err := c.K.BiosPointingAt(d.Addr)
	switch {
	case errors.Is(err, analyzer.ErrNoSlabWalk):
		bc = BioCheck{Account: "not run: " + err.Error() + " (SLUB keeps no list of full slabs)"}
	case err != nil:
		bc = BioCheck{Account: "not run: " + err.Error()}
	default:
		bc = BioCheck{Ran: true, InFlight: bios, Account: account}
	}
	c.bios[d.Addr] = bc
	return bc
}

// HandleTransaction is the transaction of the journal handle a task holds
// (journal_info), false when it holds none.
func (c *Context) HandleTransaction(t *analyzer.Task) (uint64, bool) {
	if t == nil || t.JournalInfo == 0 {
		return 0, false
	}
	if tr, ok := c.handles[t.Addr]; ok {
		return tr, tr != 0
	}
	_, tr, err := c.K.HandleTransaction(*t)
	if err != nil {
		tr = 0
	}
	c.handles[t.Addr] = tr
	return tr, tr != 0
}

// Journals are the kernel's jbd/jbd2 journals with their running
// transaction and wait queues (read once by the kernel model).
func (c *Context) Journals() ([]analyzer.Journal, error) { return c.K.Journals() }

// journalOf finds the journal whose running or committing transaction is
// the given one.
func (c *Context) journalOf(transaction uint64) *analyzer.Journal {
	js, _ := c.Journals()
	for i := range js {
		j := &js[i]
		if transaction != 0 && (j.Transaction == transaction || j.Committing == transaction) {
			return j
		}
	}
	return nil
}

// examined is true for the tasks the direct-I/O rule looks at: every UN
// task, and a running task holding a journal handle (the negative variant
// "running"), so the report can say why it is no hang.
func examined(t *analyzer.Task) bool {
	return t.StateName() == "UN" || (t.State == analyzer.TaskRunning && !t.Idle && t.JournalInfo != 0)
}

// TaskRef describes a task for a report, with its backtrace when asked.
func (c *Context) TaskRef(addr uint64, withStack bool) *report.TaskRef {
	t, ok := c.ByAddr[addr]
	if !ok {
		return &report.TaskRef{PID: -1, Comm: "?", Task: report.Hex(addr)}
	}
	ref := &report.TaskRef{PID: t.PID, Comm: t.Comm, State: t.StateName(), CPU: t.CPU, Task: report.Hex(addr)}
	if b, ok := c.Blocked(t); ok {
		ref.BlockedSeconds = &b
	}
	if withStack {
		for _, f := range c.Frames(t) {
			where := f.Slot
			if where == 0 {
				where = f.SP
			}
			ref.Backtrace = append(ref.Backtrace, fmt.Sprintf("[%#x] %s at %#x", where, f, f.Addr))
		}
	}
	return ref
}

// TaskName is "comm pid" for a task, "task 0x..." when unknown.
func (c *Context) TaskName(addr uint64) string {
	if t, ok := c.ByAddr[addr]; ok {
		return fmt.Sprintf("%s %d", t.Comm, t.PID)
	}
	return fmt.Sprintf("task 0x%x", addr)
}

// DIOs are the direct-I/O requests of every task the dio rule examines
// (uninterruptible tasks, and running ones holding a journal handle), by
// task.
func (c *Context) DIOs() map[uint64]analyzer.DIO {
	out := map[uint64]analyzer.DIO{}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if !examined(t) {
			continue
		}
		if d, ok := c.DIO(t); ok {
			out[t.Addr] = d
		}
	}
	return out
}
