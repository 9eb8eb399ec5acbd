package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// maxHungRows bounds the hung-task table printed for people (the JSON has
// them all).
const maxHungRows = 25

// WriteTable renders the report for a person at a terminal.
func WriteTable(w io.Writer, r *Report) error {
	p := &printer{w: w}
	p.linef("vmtriage %s: %s (%s%s)", r.Tool.Version, r.Dump.Path, r.Dump.Format, suffix(r.Dump.Compression))
	if r.Dump.Truncated {
		p.linef("")
		p.linef("!! THE DUMP IS TRUNCATED: this report covers only what its pages allow (see WARNINGS)")
	}
	p.section("SYSTEM")
	s := r.System
	rows := [][]string{
		{"KERNEL", r.Dump.Vmlinux},
		{"DUMPFILE", r.Dump.Path},
		{"CPUS", fmt.Sprint(s.CPUs)},
		{"DATE", s.Time},
		{"UPTIME", clock(s.UptimeSeconds)},
		{"LOAD AVERAGE", fmt.Sprintf("%.2f, %.2f, %.2f", s.LoadAverage[0], s.LoadAverage[1], s.LoadAverage[2])},
		{"TASKS", fmt.Sprint(s.Tasks)},
		{"NODENAME", s.Nodename},
		{"RELEASE", s.Release},
		{"VERSION", s.Version},
		{"MACHINE", machine(s)},
		{"MEMORY", memory(s.MemoryBytes)},
		{"PANIC", fmt.Sprintf("%q", s.Panic)},
	}
	p.table(nil, rows)

	p.section(fmt.Sprintf("FINDINGS (%d)", len(r.Findings)))
	if len(r.Findings) == 0 {
		p.linef("  none: no known hang signature matched")
	}
	for i, f := range r.Findings {
		p.finding(i+1, f)
	}

	p.section(fmt.Sprintf("HUNG TASKS (%d in uninterruptible sleep)", len(r.HungTasks)))
	var hung [][]string
	for i, h := range r.HungTasks {
		if i == maxHungRows {
			hung = append(hung, []string{"...", fmt.Sprintf("%d more", len(r.HungTasks)-maxHungRows), "", "", "", "", ""})
			break
		}
		hung = append(hung, []string{fmt.Sprint(h.PID), h.Comm, fmt.Sprint(h.CPU), h.Task.String(), seconds(h.BlockedSeconds), h.WaitChannel, h.Waiting})
	}
	if len(hung) > 0 {
		p.table([]string{"PID", "COMM", "CPU", "TASK", "BLOCKED", "WAIT CHANNEL", "WAITING ON"}, hung)
	}
	if len(r.Warnings) > 0 {
		p.section(fmt.Sprintf("WARNINGS (%d)", len(r.Warnings)))
		for _, wn := range r.Warnings {
			p.linef("  ! %s", wn)
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) linef(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *printer) section(title string) {
	p.linef("")
	p.linef("%s", title)
}

func (p *printer) table(header []string, rows [][]string) {
	if p.err != nil {
		return
	}
	t := tablewriter.NewTable(p.w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
	)
	if header != nil {
		t.Header(header)
	}
	if err := t.Bulk(rows); err != nil {
		p.err = err
		return
	}
	p.err = t.Render()
}

func (p *printer) finding(n int, f Finding) {
	p.linef("")
	p.linef("[%d] %s %s: %s", n, strings.ToUpper(f.Severity), f.Rule, f.Title)
	p.linef("    bucket %s, confidence %s", f.Bucket, f.Confidence)
	p.linef("    %s", f.Summary)
	if f.Verdict != "" {
		p.linef("    verdict: %s", f.Verdict)
	}
	if t := f.RootTask; t != nil {
		p.linef("")
		p.table([]string{"ROOT TASK", "PID", "COMM", "CPU", "STATE", "BLOCKED"},
			[][]string{{t.Task.String(), fmt.Sprint(t.PID), t.Comm, fmt.Sprint(t.CPU), t.State, seconds(t.BlockedSeconds)}})
		for _, b := range t.Backtrace {
			p.linef("      %s", b)
		}
	}
	if e := f.Evidence; e != nil {
		rows := [][]string{
			{"dio", e.DIO.String() + " (pointer found on the stack at " + e.FoundAt.String() + ")"},
			{"refcount", fmt.Sprint(e.Refcount)},
			{"waiter", e.Waiter.String()},
			{"bio_list", e.BioList.String()},
			{"is_async", fmt.Sprint(e.IsAsync)},
			{"result / size", fmt.Sprintf("0x%x / 0x%x", e.Result, e.Size)},
			{"inode", e.Inode.String()},
		}
		if io := e.IOCB; io != nil {
			src := "kiocb " + io.Kiocb.String()
			if io.Copy != nil {
				src += ", user iocb copy at " + io.Copy.String()
			}
			rows = append(rows, []string{"iocb", fmt.Sprintf("%s fd %d buf %s nbytes 0x%x offset %s (%s)",
				io.Opcode, io.FD, io.Buf, io.NBytes, io.Offset, src)})
		}
		if e.File != "" {
			rows = append(rows, []string{"file", e.File})
		}
		rows = append(rows, []string{"bio slab check", e.BioSlabCheck})
		if e.Timeout != "" {
			armed := "no"
			if e.TimeoutArmed {
				armed = "yes"
			}
			rows = append(rows, []string{"timeout armed", armed + ": " + e.Timeout})
		}
		p.linef("")
		p.table([]string{"EVIDENCE", "VALUE"}, rows)
		if e.PartialWrite != "" {
			p.linef("    why an async write waited: %s", e.PartialWrite)
		}
	}
	if len(f.Facts) > 0 {
		var rows [][]string
		for _, fact := range f.Facts {
			mark := "yes"
			if !fact.Holds {
				mark = "NO"
			}
			rows = append(rows, []string{mark, fact.Name, fact.Evidence})
		}
		p.linef("")
		p.table([]string{"HOLDS", "FACT", "EVIDENCE"}, rows)
	}
	if j := f.Journal; j != nil {
		p.linef("")
		commit := "-"
		if j.CommitTask != nil {
			commit = fmt.Sprintf("%s %d", j.CommitTask.Comm, j.CommitTask.PID)
		}
		p.table([]string{"JOURNAL", "DEVICE", "MOUNT", "TRANSACTION", "T_STATE", "T_UPDATES", "COMMIT TASK", "WAITING"},
			[][]string{{j.Journal.String(), j.Device, j.Mount, j.Transaction.String(), j.TState, fmt.Sprint(j.TUpdates), commit, fmt.Sprint(j.WaitingTasks)}})
	}
	if f.Tree != nil {
		p.linef("")
		p.linef("    dependency tree (each line waits on the one below it):")
		p.tree(f.Tree, "    ", true, true)
	}
	if len(f.Tasks) > 0 {
		p.linef("    %d tasks, see HUNG TASKS below", len(f.Tasks))
	}
	if len(f.References) > 0 {
		p.linef("    references: %s", strings.Join(f.References, "; "))
	}
	if len(f.FixedIn) > 0 {
		p.linef("    fixed in: %s", strings.Join(f.FixedIn, "; "))
	}
}

func (p *printer) tree(n *Node, indent string, last, root bool) {
	branch, next := "", indent
	if !root {
		if last {
			branch, next = "└── ", indent+"    "
		} else {
			branch, next = "├── ", indent+"│   "
		}
	}
	p.linef("%s%s%s", indent, branch, n.Label)
	for i, c := range n.Children {
		p.tree(c, next, i == len(n.Children)-1, false)
	}
}

func suffix(compression string) string {
	if compression == "" || compression == "none" {
		return ""
	}
	return ", " + compression
}

func seconds(s *int64) string {
	if s == nil {
		return "?"
	}
	return fmt.Sprintf("%d s", *s)
}

func clock(s int64) string {
	d := s / 86400
	out := fmt.Sprintf("%02d:%02d:%02d", s%86400/3600, s%3600/60, s%60)
	if d > 0 {
		out = fmt.Sprintf("%d days, %s", d, out)
	}
	return out
}

func machine(s System) string {
	if s.MHz > 0 {
		return fmt.Sprintf("%s  (%d Mhz)", s.Machine, s.MHz)
	}
	return s.Machine
}

func memory(b uint64) string {
	if b == 0 {
		return "?"
	}
	gb := float64(b) / (1 << 30)
	if gb >= 1 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", gb), ".0") + " GB"
	}
	return fmt.Sprintf("%d MB", b>>20)
}
