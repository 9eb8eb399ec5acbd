package rules

import (
	"fmt"
	"sort"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// journal-stall is a jbd/jbd2 journal whose commit is stuck: the commit
// thread locked the running transaction (T_LOCKED) and waits for t_updates
// to reach zero, while every other writer queues on
// j_wait_transaction_locked. The root is whoever holds the open handle.
func init() {
	Register(Rule{Meta: Meta{
		ID:         "journal-stall",
		Title:      "Journal commit stalled: transaction locked while a handle stays open",
		Severity:   report.Critical,
		References: []string{"fs/jbd/commit.c journal_commit_transaction()", "fs/jbd/transaction.c start_this_handle()"},
	}, Evaluate: evalJournalStall})
}

// JournalDetails are the details of a journal-stall finding: a journal
// and the tasks stuck on it.
type JournalDetails struct {
	Device        string           `json:"device"`
	Mount         string           `json:"mount"`
	Journal       Hex              `json:"journal"`
	Transaction   Hex              `json:"transaction"`
	TState        string           `json:"t_state"`
	TUpdates      int64            `json:"t_updates"`
	CommitTask    *report.TaskRef  `json:"commit_task,omitempty"`
	HandleHolders []report.TaskRef `json:"handle_holders,omitempty"`
	WaitingTasks  int              `json:"waiting_tasks"`
	WaitingByComm []report.Count   `json:"waiting_by_comm,omitempty"`
	WaitingSample []report.TaskRef `json:"waiting_sample"`
}

func evalJournalStall(c *Context) ([]report.Finding, error) {
	const id = "journal-stall"
	journals, err := c.Journals()
	if err != nil {
		return nil, err
	}
	if len(journals) == 0 {
		return nil, fmt.Errorf("%w: no mounted file system has a jbd/jbd2 journal", ErrNotApplicable)
	}
	var out []report.Finding
	for i := range journals {
		j := &journals[i]
		if j.TState != "T_LOCKED" || j.TUpdates <= 0 || len(j.WaitLocked) == 0 {
			continue
		}
		ev := c.journalDetails(j)
		f := report.Finding{Confidence: "high"}
		rootFuncs := []string{"journal_commit_transaction"}
		if len(ev.HandleHolders) > 0 {
			h := ev.HandleHolders[0]
			f.RootTask = &h
			rootFuncs = append(rootFuncs, analyzer.WaitChannel(c.Frames(c.Task(uint64(h.Task)))))
		}
		f.Bucket = Bucket(id, rootFuncs, c.System.Release)
		f.Summary = fmt.Sprintf("journal of %s (%s): transaction 0x%x %s with t_updates %d; %d task(s) wait for it to unlock",
			j.Mount, j.Device, j.Transaction, j.TState, j.TUpdates, len(j.WaitLocked))
		f.Facts = []report.Fact{
			{Name: "running transaction is locked", Holds: true, Evidence: fmt.Sprintf("transaction 0x%x t_state %s", j.Transaction, j.TState)},
			{Name: "handles still open", Holds: true, Evidence: fmt.Sprintf("t_updates %d", j.TUpdates)},
			{Name: "commit thread waits on j_wait_updates", Holds: len(j.WaitUpdates) > 0, Evidence: taskList(c, j.WaitUpdates, 3)},
			{Name: "writers wait on j_wait_transaction_locked", Holds: true, Evidence: fmt.Sprintf("%d tasks: %s", len(j.WaitLocked), taskList(c, j.WaitLocked, 5))},
		}
		f.Evidence = journalRows(ev)
		f.Details = report.DetailsOf(ev)
		f.Tree = c.journalTree(j, ev)
		out = append(out, f)
	}
	return out, nil
}

func taskList(c *Context, tasks []uint64, n int) string {
	s := ""
	for i, a := range tasks {
		if i == n {
			s += fmt.Sprintf(", ... (%d more)", len(tasks)-n)
			break
		}
		if i > 0 {
			s += ", "
		}
		s += c.TaskName(a)
	}
	return s
}

// journalRows are the evidence rows of a journal.
func journalRows(j *JournalDetails) []report.EvidenceRow {
	rows := []report.EvidenceRow{
		{Label: "journal", Value: fmt.Sprintf("%s (%s on %s)", j.Journal, j.Device, j.Mount), Ref: report.AddrRef(uint64(j.Journal))},
		{Label: "transaction", Value: fmt.Sprintf("%s %s, t_updates %d", j.Transaction, j.TState, j.TUpdates), Ref: report.AddrRef(uint64(j.Transaction))},
	}
	commit := report.EvidenceRow{Label: "commit task", Value: "-"}
	if j.CommitTask != nil {
		commit.Value, commit.Ref = fmt.Sprintf("%s %d", j.CommitTask.Comm, j.CommitTask.PID), report.TaskRefOf(uint64(j.CommitTask.Task))
	}
	rows = append(rows, commit)
	for _, h := range j.HandleHolders {
		rows = append(rows, report.EvidenceRow{Label: "handle holder", Value: fmt.Sprintf("%s %d", h.Comm, h.PID), Ref: report.TaskRefOf(uint64(h.Task))})
	}
	waiting := fmt.Sprintf("%d tasks", j.WaitingTasks)
	for i, n := range j.WaitingByComm {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		waiting += fmt.Sprintf("%s%d %s", sep, n.Count, n.Name)
	}
	if len(j.WaitingByComm) > 0 {
		waiting += ")"
	}
	return append(rows, report.EvidenceRow{Label: "waiting", Value: waiting})
}

// journalDetails describe a journal: commit thread, handle holders (the
// tasks whose journal_info handle is on the transaction) and the queue.
func (c *Context) journalDetails(j *analyzer.Journal) *JournalDetails {
	ev := &JournalDetails{Device: j.Device, Mount: j.Mount, Journal: Hex(j.Addr),
		Transaction: Hex(j.Transaction), TState: j.TState, TUpdates: j.TUpdates,
		WaitingTasks: len(j.WaitLocked), WaitingSample: []report.TaskRef{}}
	if j.CommitTask != 0 {
		ev.CommitTask = c.TaskRef(j.CommitTask, false)
	}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if tr, ok := c.HandleTransaction(t); ok && tr == j.Transaction {
			ev.HandleHolders = append(ev.HandleHolders, *c.TaskRef(t.Addr, false))
		}
	}
	counts := map[string]int{}
	refs := make([]*report.TaskRef, len(j.WaitLocked))
	for i, a := range j.WaitLocked {
		refs[i] = c.TaskRef(a, false)
		counts[refs[i].Comm]++
	}
	ev.WaitingSample = waitingSample(refs, waitingSampleSize)
	for name, n := range counts {
		ev.WaitingByComm = append(ev.WaitingByComm, report.Count{Name: name, Count: n})
	}
	sort.Slice(ev.WaitingByComm, func(a, b int) bool {
		if ev.WaitingByComm[a].Count != ev.WaitingByComm[b].Count {
			return ev.WaitingByComm[a].Count > ev.WaitingByComm[b].Count
		}
		return ev.WaitingByComm[a].Name < ev.WaitingByComm[b].Name
	})
	return ev
}

// waitingSampleSize bounds the waiting tasks a journal's evidence lists.
const waitingSampleSize = 12

// waitingSample picks at most n of the queued tasks to show: one of every
// distinct command first (its longest blocked), then the longest blocked
// of the others. Longer blocked comes first in each part; ties (and tasks
// without a blocked time, last) keep the queue order.
func waitingSample(queue []*report.TaskRef, n int) []report.TaskRef {
	blocked := func(r *report.TaskRef) int64 {
		if r.BlockedSeconds == nil {
			return -1
		}
		return *r.BlockedSeconds
	}
	order := make([]int, len(queue))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return blocked(queue[order[a]]) > blocked(queue[order[b]]) })
	var first, rest []int
	seen := map[string]bool{}
	for _, i := range order {
		if seen[queue[i].Comm] {
			rest = append(rest, i)
			continue
		}
		seen[queue[i].Comm] = true
		first = append(first, i)
	}
	out := []report.TaskRef{}
	for _, i := range append(first, rest...) {
		if len(out) == n {
			break
		}
		out = append(out, *queue[i])
	}
	return out
}

// journalTree draws who waits on whom: writers -> commit thread -> holder.
func (c *Context) journalTree(j *analyzer.Journal, ev *JournalDetails) *report.Node {
	byComm := ""
	for i, n := range ev.WaitingByComm {
		if i > 0 {
			byComm += ", "
		}
		byComm += fmt.Sprintf("%d %s", n.Count, n.Name)
	}
	root := &report.Node{Label: fmt.Sprintf("%d tasks waiting on T_LOCKED (j_wait_transaction_locked): %s — e.g. %s",
		len(j.WaitLocked), byComm, taskList(c, sampleAddrs(ev), 6))}
	commit := &report.Node{Label: "commit thread (not found on j_wait_updates)"}
	if ev.CommitTask != nil {
		commit.Label = fmt.Sprintf("%s %d waiting on t_updates %d (j_wait_updates) in %s, transaction 0x%x",
			ev.CommitTask.Comm, ev.CommitTask.PID, j.TUpdates, analyzer.WaitChannel(c.Frames(c.Task(uint64(ev.CommitTask.Task)))), j.Transaction)
	}
	root.Children = []*report.Node{commit}
	for _, h := range ev.HandleHolders {
		label := fmt.Sprintf("%s %d holds handle 0x%x", h.Comm, h.PID, c.ByAddr[uint64(h.Task)].JournalInfo)
		if h.BlockedSeconds != nil {
			label += fmt.Sprintf(", blocked %d s", *h.BlockedSeconds)
		}
		if wc := analyzer.WaitChannel(c.Frames(c.Task(uint64(h.Task)))); wc != "" {
			label += " in " + wc
		}
		if ht := c.Task(uint64(h.Task)); ht != nil && examined(ht) {
			if d, ok := c.DIO(ht); ok {
				label += fmt.Sprintf(" on dio 0x%x (refcount %d)", d.Addr, d.Refcount)
			}
		}
		commit.Children = append(commit.Children, &report.Node{Label: label})
	}
	return root
}

func sampleAddrs(ev *JournalDetails) []uint64 {
	var out []uint64
	for _, t := range ev.WaitingSample {
		out = append(out, uint64(t.Task))
	}
	return out
}
