package report

import (
	"fmt"
	"io"
	"strings"
)

// maxMarkdownHung bounds the hung tasks listed in Markdown (a ticket
// comment, not a listing; the JSON has them all).
const maxMarkdownHung = 20

// WriteMarkdown renders the report as GitHub-flavoured Markdown that a
// ticket or an issue can take as is: a headline, the system, each finding
// with its evidence, the dependency tree, and the hung tasks.
func WriteMarkdown(w io.Writer, r *Report) error {
	p := &printer{w: w}
	head := "no known hang"
	if len(r.Findings) > 0 {
		head = r.Findings[0].Title
	}
	p.linef("## vmtriage: %s", mdText(head))
	p.linef("")
	p.linef("`%s` (%s%s) on **%s**, kernel `%s`, analysed by vmtriage %s.",
		mdCode(r.Dump.Path), r.Dump.Format, suffix(r.Dump.Compression), mdText(r.System.Nodename),
		mdCode(r.System.Release), mdText(r.Tool.Version))
	if r.Dump.Truncated {
		p.linef("")
		p.linef("> **The dump is truncated**: this report covers only what its pages allow (see Warnings).")
	}

	p.linef("")
	p.linef("### System")
	p.linef("")
	s := r.System
	p.mdTable([]string{"", ""}, [][]string{
		{"Release", "`" + mdCode(s.Release) + "`"},
		{"Nodename", mdText(s.Nodename)},
		{"Machine", mdText(machine(s))},
		{"CPUs", fmt.Sprint(s.CPUs)},
		{"Memory", memory(s.MemoryBytes)},
		{"Tasks", fmt.Sprint(s.Tasks)},
		{"Uptime", clock(s.UptimeSeconds)},
		{"Load average", fmt.Sprintf("%.2f, %.2f, %.2f", s.LoadAverage[0], s.LoadAverage[1], s.LoadAverage[2])},
		{"Date", mdText(s.Time)},
		{"Panic", "`" + mdCode(s.Panic) + "`"},
		{"vmlinux", "`" + mdCode(r.Dump.Vmlinux) + "`"},
		{"Build-id", "`" + mdCode(r.Dump.BuildID) + "`"},
	})

	p.linef("")
	p.linef("### Findings (%d)", len(r.Findings))
	if len(r.Findings) == 0 {
		p.linef("")
		p.linef("None: no known hang signature matched.")
	}
	for i, f := range r.Findings {
		p.mdFinding(i+1, f)
	}
	if len(r.Rules) > 0 {
		p.linef("")
		p.linef("Rules %s.", mdText(rulesLine(r.Rules)))
	}

	if len(r.HungTasks) > 0 {
		p.linef("")
		p.linef("### Hung tasks (%d in uninterruptible sleep)", len(r.HungTasks))
		p.linef("")
		var rows [][]string
		for i, h := range r.HungTasks {
			if i == maxMarkdownHung {
				rows = append(rows, []string{"…", fmt.Sprintf("%d more", len(r.HungTasks)-maxMarkdownHung), "", "", "", ""})
				break
			}
			rows = append(rows, []string{fmt.Sprint(h.PID), mdText(h.Comm), fmt.Sprint(h.CPU), seconds(h.BlockedSeconds),
				"`" + mdCode(h.WaitChannel) + "`", mdText(h.WaitsOn())})
		}
		p.mdTable([]string{"PID", "Comm", "CPU", "Blocked", "Wait channel", "Waiting on"}, rows)
	}
	if len(r.Warnings) > 0 {
		p.linef("")
		p.linef("### Warnings (%d)", len(r.Warnings))
		p.linef("")
		for _, wn := range r.Warnings {
			p.linef("- %s", mdText(wn))
		}
	}
	return p.err
}

func (p *printer) mdFinding(n int, f Finding) {
	p.linef("")
	p.linef("#### %d. %s `%s`: %s", n, strings.ToUpper(string(f.Severity)), f.Rule, mdText(f.Title))
	p.linef("")
	p.linef("- **Bucket** `%s`, confidence %s", mdCode(f.Bucket), mdText(f.Confidence))
	p.linef("- %s", mdText(f.Summary))
	if f.Verdict != "" {
		p.linef("- **Verdict**: %s", mdText(f.Verdict))
	}
	if len(f.FixedIn) > 0 {
		p.linef("- **Fixed in**: %s", mdText(strings.Join(f.FixedIn, "; ")))
	}
	for _, ref := range f.References {
		p.linef("- Reference: %s", mdText(ref))
	}
	if t := f.RootTask; t != nil {
		p.linef("")
		p.mdTable([]string{"Root task", "PID", "Comm", "CPU", "State", "Blocked"},
			[][]string{{"`" + t.Task.String() + "`", fmt.Sprint(t.PID), mdText(t.Comm), fmt.Sprint(t.CPU), t.State, seconds(t.BlockedSeconds)}})
		if len(t.Backtrace) > 0 {
			p.linef("")
			p.linef("```")
			for _, b := range t.Backtrace {
				p.linef("%s", strings.ReplaceAll(b, "```", "'''"))
			}
			p.linef("```")
		}
	}
	if len(f.Evidence) > 0 {
		var rows [][]string
		for _, e := range f.Evidence {
			rows = append(rows, []string{mdText(e.Label), mdValue(e)})
		}
		p.linef("")
		p.mdTable([]string{"Evidence", "Value"}, rows)
	}
	if len(f.Facts) > 0 {
		var rows [][]string
		for _, fact := range f.Facts {
			mark := "yes"
			if !fact.Holds {
				mark = "**no**"
			}
			rows = append(rows, []string{mark, mdText(fact.Name), mdText(fact.Evidence)})
		}
		p.linef("")
		p.mdTable([]string{"Holds", "Fact", "Evidence"}, rows)
	}
	if f.Tree != nil {
		p.linef("")
		p.linef("Dependency tree (each line waits on the one below it):")
		p.linef("")
		p.linef("```")
		p.tree(f.Tree, "", true, true)
		p.linef("```")
	}
}

// mdTable writes a pipe table; cells must already be escaped.
func (p *printer) mdTable(header []string, rows [][]string) {
	p.linef("| %s |", strings.Join(header, " | "))
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	p.linef("| %s |", strings.Join(sep, " | "))
	for _, r := range rows {
		p.linef("| %s |", strings.Join(r, " | "))
	}
}

var mdEscaper = strings.NewReplacer(
	"\\", "\\\\", "|", "\\|", "*", "\\*", "_", "\\_", "`", "\\`", "<", "&lt;", ">", "&gt;",
	"[", "\\[", "]", "\\]", "#", "\\#", "\n", " ", "\r", " ",
)

// mdText escapes text for Markdown prose and table cells.
func mdText(s string) string { return mdEscaper.Replace(s) }

var mdCodeEscaper = strings.NewReplacer("`", "'", "|", "\\|", "\n", " ", "\r", " ")

// mdCode makes text safe inside a single-backtick code span in a table.
func mdCode(s string) string { return mdCodeEscaper.Replace(s) }

// mdValue renders an evidence value: a single word (an address, a path)
// as code, and so the address a value about an object starts with.
func mdValue(e EvidenceRow) string {
	if e.Value != "" && !strings.ContainsAny(e.Value, " \t\n") {
		return "`" + mdCode(e.Value) + "`"
	}
	if addr := strings.TrimPrefix(e.Ref, "task:"); addr != "" && strings.HasPrefix(e.Value, addr+" ") {
		return "`" + addr + "`" + mdText(e.Value[len(addr):])
	}
	return mdText(e.Value)
}
