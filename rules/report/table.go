package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// maxHungRows bounds the hung-task table printed for people (the JSON has
// them all).
const maxHungRows = 25

// DefaultWidth is the width a table report is fitted to when the output
// is not a terminal.
const DefaultWidth = 120

// minWidth is the narrowest width a report is fitted to.
const minWidth = 40

// WriteTable renders the report for a person, fitted to DefaultWidth
// columns.
func WriteTable(w io.Writer, r *Report) error { return WriteTableWidth(w, r, DefaultWidth) }

// WriteTableWidth renders the report for a person at a terminal of the
// given width: table cells wrap and free text folds so that no line is
// longer than width (the JSON keeps every text whole).
func WriteTableWidth(w io.Writer, r *Report, width int) error {
	if width < minWidth {
		width = minWidth
	}
	p := &printer{w: w, width: width}
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
	if len(r.Rules) > 0 {
		p.linef("")
		p.linef("  rules %s", rulesLine(r.Rules))
	}

	p.section(fmt.Sprintf("HUNG TASKS (%d in uninterruptible sleep)", len(r.HungTasks)))
	var hung [][]string
	for i, h := range r.HungTasks {
		if i == maxHungRows {
			hung = append(hung, []string{"...", fmt.Sprintf("%d more", len(r.HungTasks)-maxHungRows), "", "", "", "", ""})
			break
		}
		hung = append(hung, []string{fmt.Sprint(h.PID), h.Comm, fmt.Sprint(h.CPU), h.Task.String(), seconds(h.BlockedSeconds), h.WaitChannel, h.WaitsOn()})
	}
	switch {
	case len(hung) == 0:
	case p.width >= DefaultWidth:
		p.table([]string{"PID", "COMM", "CPU", "TASK", "BLOCKED", "WAIT CHANNEL", "WAITING ON"}, hung)
	default:
		// a narrow terminal: what each task waits on goes under the table,
		// folded, rather than into a column a dozen characters wide
		var waiting []string
		for i, row := range hung {
			if row[6] != "" {
				waiting = append(waiting, fmt.Sprintf("  %s %s: %s", row[0], row[1], row[6]))
			}
			hung[i] = row[:6]
		}
		p.table([]string{"PID", "COMM", "CPU", "TASK", "BLOCKED", "WAIT CHANNEL"}, hung)
		if len(waiting) > 0 {
			p.linef("WAITING ON")
			for _, w := range waiting {
				p.linef("%s", w)
			}
		}
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
	w     io.Writer
	width int
	err   error
}

// linef prints a line, folded to the printer's width: continuation lines
// keep the line's indentation plus two spaces.
func (p *printer) linef(format string, args ...any) {
	if p.err != nil {
		return
	}
	for _, l := range Fold(fmt.Sprintf(format, args...), p.width) {
		if _, p.err = fmt.Fprintln(p.w, l); p.err != nil {
			return
		}
	}
}

// Fold breaks a line into lines of at most width runes, at spaces where it
// can and inside a word longer than a line where it must; continuation
// lines are indented like the first line plus two spaces.
func Fold(line string, width int) []string {
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	cont := indent + "  "
	if len(cont) >= width/2 {
		cont = ""
	}
	return fold(line, width, cont)
}

// fold breaks line at width, starting continuation lines with cont.
func fold(line string, width int, cont string) []string {
	if width <= 0 || utf8.RuneCountInString(line) <= width {
		return []string{line}
	}
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	var out []string
	cur, empty := indent, true
	for _, word := range strings.Fields(line) {
		for {
			sep := " "
			if empty {
				sep = ""
			}
			room := width - utf8.RuneCountInString(cur) - len(sep)
			if utf8.RuneCountInString(word) <= room {
				cur, empty = cur+sep+word, false
				break
			}
			if !empty {
				out = append(out, cur)
				cur, empty = cont, true
				continue
			}
			r := []rune(word) // longer than a whole line: cut it
			out = append(out, cur+string(r[:room]))
			cur, word = cont, string(r[room:])
		}
	}
	if !empty {
		out = append(out, cur)
	}
	return out
}

func (p *printer) section(title string) {
	p.linef("")
	p.linef("%s", title)
}

func (p *printer) table(header []string, rows [][]string) {
	if p.err != nil {
		return
	}
	if len(rows) == 1 && header != nil && tableWidth(header, rows) > p.width {
		// one record too wide for the terminal: one line per field
		kv := make([][]string, len(header))
		for i, h := range header {
			kv[i] = []string{h, ""}
			if i < len(rows[0]) {
				kv[i][1] = rows[0][i]
			}
		}
		header, rows = nil, kv
	}
	p.err = RenderTable(p.w, header, rows, p.width)
}

// RenderTable draws a bordered table at most width columns wide (its
// cells wrapped by FitColumns); a nil header draws none.
func RenderTable(w io.Writer, header []string, rows [][]string, width int) error {
	header, rows = FitColumns(header, rows, width)
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithTrimSpace(tw.Off),
	)
	if header != nil {
		t.Header(header)
	}
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// tableWidth is how wide a table is drawn unwrapped.
func tableWidth(header []string, rows [][]string) int {
	n := len(header)
	for _, r := range rows {
		n = max(n, len(r))
	}
	natural := make([]int, n)
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			for _, l := range strings.Split(c, "\n") {
				natural[i] = max(natural[i], utf8.RuneCountInString(l))
			}
		}
	}
	w := 3*n + 1
	for _, x := range natural {
		w += x
	}
	return w
}

// FitColumns wraps the cells of a table so that, drawn with borders and one
// space of padding on each side of a cell, it is at most width columns
// wide: columns that fit keep their width, the widest are narrowed to a
// common cap, and each cell is folded at spaces (a word longer than its
// column is cut). A column is never narrower than its header's longest
// word.
func FitColumns(header []string, rows [][]string, width int) ([]string, [][]string) {
	n := len(header)
	for _, r := range rows {
		n = max(n, len(r))
	}
	if n == 0 {
		return header, rows
	}
	natural := make([]int, n) // longest line of each column
	word := make([]int, n)    // longest word of each column's cells
	head := make([]int, n)    // longest word of each column's header
	measure := func(r []string, into []int) {
		for i, c := range r {
			for _, l := range strings.Split(c, "\n") {
				natural[i] = max(natural[i], utf8.RuneCountInString(l))
			}
			for _, w := range strings.Fields(c) {
				into[i] = max(into[i], utf8.RuneCountInString(w))
			}
		}
	}
	measure(header, head)
	for _, r := range rows {
		measure(r, word)
	}
	room := width - (3*n + 1) // "│ " before each cell, " " after, the closing "│"
	sum := func(w []int) int {
		t := 0
		for _, x := range w {
			t += x
		}
		return t
	}
	if sum(natural) <= room {
		return header, rows
	}
	// each column's floor keeps its header's words and its cells' words
	// whole up to wordCap: the largest cap that fits, so addresses and
	// names stay unbroken while free text wraps
	floor := make([]int, n)
	floorAt := func(wordCap int) int {
		for i := range floor {
			floor[i] = min(natural[i], max(head[i], min(word[i], wordCap), 1))
		}
		return sum(floor)
	}
	wordCap := 32
	for wordCap > 0 && floorAt(wordCap) > room {
		wordCap--
	}
	if wordCap == 0 && floorAt(0) > room { // even the headers do not fit: cut them too
		for i := range floor {
			floor[i] = max(1, room/n)
		}
	}
	// share what is left above the floors: the largest common cap on the
	// extra width each column wants
	widths := make([]int, n)
	spread := func(c int) int {
		for i := range widths {
			widths[i] = floor[i] + max(0, min(natural[i]-floor[i], c))
		}
		return sum(widths)
	}
	lo, hi := 0, sum(natural)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if spread(mid) <= room {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	spread(lo)
	wrap := func(r []string) []string {
		out := make([]string, len(r))
		for i, c := range r {
			var lines []string
			for _, l := range strings.Split(c, "\n") {
				lines = append(lines, fold(l, widths[i], "")...)
			}
			out[i] = strings.Join(lines, "\n")
		}
		return out
	}
	if header != nil {
		header = wrap(header)
	}
	wrapped := make([][]string, len(rows))
	for i, r := range rows {
		wrapped[i] = wrap(r)
	}
	return header, wrapped
}

func (p *printer) finding(n int, f Finding) {
	p.linef("")
	p.linef("[%d] %s %s: %s", n, strings.ToUpper(string(f.Severity)), f.Rule, f.Title)
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
	if len(f.Evidence) > 0 {
		var rows [][]string
		for _, e := range f.Evidence {
			rows = append(rows, []string{e.Label, e.Value})
		}
		p.linef("")
		p.table([]string{"EVIDENCE", "VALUE"}, rows)
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

// rulesLine says what became of the rules: the ones that ran, the ones
// with nothing to examine (their reasons are in the JSON), and why any
// failed.
func rulesLine(runs []RuleRun) string {
	var ran, na, failed []string
	for _, r := range runs {
		switch r.Status {
		case RuleRan:
			ran = append(ran, r.ID)
		case RuleNotApplicable:
			na = append(na, r.ID)
		default:
			failed = append(failed, fmt.Sprintf("%s FAILED: %s", r.ID, r.Error))
		}
	}
	s := "ran: " + strings.Join(ran, ", ")
	if len(ran) == 0 {
		s = "ran: none"
	}
	if len(na) > 0 {
		s += "; not applicable: " + strings.Join(na, ", ")
	}
	if len(failed) > 0 {
		s += "; " + strings.Join(failed, "; ")
	}
	return s
}
