package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"sync"
)

// WriteHTML renders the report as one self-contained HTML page (embedded
// CSS, no script, nothing fetched): the findings with their evidence,
// facts and root task's backtrace (inline frames marked), each finding's
// dependency tree drawn as an SVG graph, the rules, the wait-for graph
// (the hung tasks grouped by the root their waits lead to, a deadlock's
// tasks together: an SVG and a table per group) and the system.
func WriteHTML(w io.Writer, r *Report) error {
	return htmlTemplates().ExecuteTemplate(w, "report", newHTMLReport(r, ""))
}

// WriteHTMLPage is WriteHTML with a link back to an index page (vmtriage
// batch --html).
func WriteHTMLPage(w io.Writer, r *Report, indexHref string) error {
	return htmlTemplates().ExecuteTemplate(w, "report", newHTMLReport(r, indexHref))
}

// HTMLIndex is an index of many dumps' reports: the buckets they fall in
// and the dumps that could not be analysed.
type HTMLIndex struct {
	Title    string
	Stats    []EvidenceRow // label, value
	Buckets  []HTMLBucket
	Dumps    []HTMLDump
	Failures []HTMLDump
}

// HTMLBucket is one bucket of an index: a bug seen in Count dumps.
type HTMLBucket struct {
	ID, Rule, Title string
	Count           int
	Dumps           []HTMLDump
}

// HTMLDump is a dump in an index: its name, its page (empty when none)
// and a note (its findings, or why it failed).
type HTMLDump struct {
	Name, Href, Note string
	Findings         int
}

// WriteHTMLIndex renders an index page.
func WriteHTMLIndex(w io.Writer, x *HTMLIndex) error {
	return htmlTemplates().ExecuteTemplate(w, "index", x)
}

type htmlReport struct {
	*Report
	Index    string
	Headline string
	System   [][2]string
	Findings []htmlFinding
	Groups   []htmlWaitGroup
	// PerOwner and MaxTasks are the caps of a wait-for graph's drawing.
	PerOwner, MaxTasks int
	HungRef            map[string]bool
}

type htmlFinding struct {
	Finding
	N         int
	Backtrace []htmlFrame
	Graph     *htmlGraph
	Details   string
	Rows      []htmlRow
	// GroupID and GroupTitle: the wait-for graph the root task is in.
	GroupID, GroupTitle string
}

type htmlRow struct {
	EvidenceRow
	Href string // the hung task the row is about, when listed
}

type htmlFrame struct {
	Text   string
	Inline bool
}

func newHTMLReport(r *Report, index string) *htmlReport {
	h := &htmlReport{Report: r, Index: index, Headline: "no known hang", HungRef: map[string]bool{}}
	if len(r.Findings) > 0 {
		h.Headline = r.Findings[0].Title
	}
	s := r.System
	h.System = [][2]string{
		{"Kernel", r.Dump.Vmlinux}, {"Dump file", r.Dump.Path}, {"CPUs", fmt.Sprint(s.CPUs)}, {"Date", s.Time},
		{"Uptime", clock(s.UptimeSeconds)},
		{"Load average", fmt.Sprintf("%.2f, %.2f, %.2f", s.LoadAverage[0], s.LoadAverage[1], s.LoadAverage[2])},
		{"Tasks", fmt.Sprint(s.Tasks)}, {"Nodename", s.Nodename}, {"Release", s.Release}, {"Version", s.Version},
		{"Machine", machine(s)}, {"Memory", memory(s.MemoryBytes)}, {"Panic", fmt.Sprintf("%q", s.Panic)},
		{"Build-id", r.Dump.BuildID},
	}
	if r.Symbols != nil {
		h.System = append(h.System, [2]string{"Types / symbols", r.Symbols.Source + " / " + r.Symbols.Table})
	}
	for _, t := range r.HungTasks {
		h.HungRef[TaskRefOf(uint64(t.Task))] = true
	}
	for i, f := range r.Findings {
		hf := htmlFinding{Finding: f, N: i + 1}
		if f.RootTask != nil {
			for _, b := range f.RootTask.Backtrace {
				hf.Backtrace = append(hf.Backtrace, htmlFrame{Text: b, Inline: strings.Contains(b, " (inlined)")})
			}
		}
		for _, e := range f.Evidence {
			row := htmlRow{EvidenceRow: e}
			if h.HungRef[e.Ref] {
				row.Href = "#" + strings.Replace(e.Ref, ":", "-", 1)
			}
			hf.Rows = append(hf.Rows, row)
		}
		if f.Tree != nil {
			hf.Graph = layoutGraph(f.Tree)
		}
		if len(f.Details) > 0 {
			b, _ := json.MarshalIndent(f.Details, "", "  ")
			hf.Details = string(b)
		}
		h.Findings = append(h.Findings, hf)
	}
	h.Groups, h.PerOwner, h.MaxTasks = waitGroups(r), wfPerOwner, wfMaxTasks
	for i := range h.Findings {
		f := &h.Findings[i]
		if f.RootTask == nil {
			continue
		}
		for _, g := range h.Groups {
			if g.has[f.RootTask.Task] {
				f.GroupID, f.GroupTitle = g.ID, g.Title
				break
			}
		}
	}
	return h
}

// htmlGraph is a dependency tree laid out in layers, top (who waits) to
// bottom (what everyone waits on), as SVG coordinates.
type htmlGraph struct {
	Width, Height int
	Nodes         []htmlNode
	Edges         []htmlEdge
}

type htmlNode struct {
	X, Y, W, H int
	Layer      int
	Leaf       bool
	Label      string   // whole, for the tooltip
	Lines      []string // wrapped
	TextX      int
	LineY      []int
}

type htmlEdge struct{ X1, Y1, X2, Y2 int }

const (
	graphBoxW     = 340 // box width
	graphCharsPer = 42  // characters per line in a box (7.3 px each)
	graphMaxLines = 7
	graphLineH    = 15
	graphPad      = 8
	graphGapX     = 24
	graphGapY     = 48
	graphMargin   = 10
)

// layoutGraph places the tree's nodes: one row per depth, nodes of a row
// side by side in tree order, each row centred; an arrow from each node
// to each node it waits on.
func layoutGraph(root *Node) *htmlGraph {
	var layers [][]*Node
	parent := map[*Node]*Node{}
	var walk func(n *Node, d int)
	walk = func(n *Node, d int) {
		if len(layers) <= d {
			layers = append(layers, nil)
		}
		layers[d] = append(layers[d], n)
		for _, c := range n.Children {
			parent[c] = n
			walk(c, d+1)
		}
	}
	walk(root, 0)
	g := &htmlGraph{}
	widest := 0
	for _, l := range layers {
		widest = max(widest, len(l)*graphBoxW+(len(l)-1)*graphGapX)
	}
	g.Width = widest + 2*graphMargin
	pos := map[*Node]int{}
	y := graphMargin
	for d, l := range layers {
		rowH := 0
		wrapped := make([][]string, len(l))
		for i, n := range l {
			wrapped[i] = wrapLabel(n.Label)
			rowH = max(rowH, len(wrapped[i])*graphLineH+2*graphPad)
		}
		rowW := len(l)*graphBoxW + (len(l)-1)*graphGapX
		x := graphMargin + (widest-rowW)/2
		for i, n := range l {
			hn := htmlNode{X: x, Y: y, W: graphBoxW, H: rowH, Layer: d, Leaf: len(n.Children) == 0, Label: n.Label, Lines: wrapped[i], TextX: x + graphPad}
			top := y + (rowH-len(wrapped[i])*graphLineH)/2
			for j := range wrapped[i] {
				hn.LineY = append(hn.LineY, top+(j+1)*graphLineH-3)
			}
			pos[n] = len(g.Nodes)
			g.Nodes = append(g.Nodes, hn)
			x += graphBoxW + graphGapX
		}
		y += rowH + graphGapY
	}
	g.Height = y - graphGapY + graphMargin
	for _, l := range layers {
		for _, n := range l {
			p, ok := parent[n]
			if !ok {
				continue
			}
			a, b := g.Nodes[pos[p]], g.Nodes[pos[n]]
			g.Edges = append(g.Edges, htmlEdge{X1: a.X + a.W/2, Y1: a.Y + a.H, X2: b.X + b.W/2, Y2: b.Y - 2})
		}
	}
	return g
}

// wrapLabel folds a label into at most graphMaxLines lines.
func wrapLabel(s string) []string {
	lines := fold(s, graphCharsPer, "")
	if len(lines) > graphMaxLines {
		lines = append(lines[:graphMaxLines-1], strings.TrimSpace(lines[graphMaxLines-1])+" …")
	}
	return lines
}

// The wait-for graph (hung_tasks[].wait, deadlocks), drawn: the hung
// tasks grouped by the root their chains of waits lead to (a deadlock's
// tasks are one group), one SVG per group with the root at the bottom,
// each waiter above what it waits for, an arrow from each waiter to the
// owner(s) that can end its wait, and below the root what its own wait
// ends at (a device, a condition that already holds, an unknown wait).

// htmlWaitGroup is the hung tasks whose waits lead to one root, or to one
// deadlock: its drawing and its table.
type htmlWaitGroup struct {
	ID    string // anchor: "wfg-<root task>"
	Title string // the root and why the chain ends there
	Cycle bool   // a deadlock
	Open  bool   // shown unfolded
	Graph *htmlWaitGraph
	// NoGraph says why a group is not drawn (too many groups).
	NoGraph string
	Tasks   []htmlWaitTask
	rootPID int
	has     map[Hex]bool
}

// htmlWaitTask is a row of a group's table.
type htmlWaitTask struct {
	HungTask
	Kind, What string
	Owners     []htmlTaskLink
	Root       bool // the group's root (or a task of its cycle)
}

type htmlTaskLink struct{ Text, Href string }

// htmlWaitGraph is a group's wait-for graph laid out as SVG coordinates.
type htmlWaitGraph struct {
	ID            string // prefix of the SVG's ids
	Width, Height int
	Nodes         []htmlWaitNode
	Edges         []htmlWaitEdge
	Labels        []htmlText
	// TaskNodes is how many tasks are drawn, Hidden how many of the
	// group's are not (folded into "+N more" boxes).
	TaskNodes, Hidden int
}

// htmlWaitNode is a box: a task, "+N more" tasks, or where the root's
// wait ends.
type htmlWaitNode struct {
	X, Y, W, H int
	// Class: "task" (with " root", " cycle" or " running": a root task
	// that is not blocked), "more", "ext" (an owner drawn outside the
	// group's tree), "end device", "end holds", "end unknown".
	Class  string
	PID    int // tasks only
	Task   Hex // tasks only
	IsTask bool
	Title  string // tooltip: everything
	Lines  []htmlText
	Href   string
}

type htmlText struct {
	X, Y  int
	S     string
	Class string
}

// htmlWaitEdge is an arrow: "wait" (to the first owner, the chain the
// root is found by), "also" (to another owner), "end" (the root to its
// wait's end), "cycle" (between the tasks of a deadlock).
type htmlWaitEdge struct {
	D     string // SVG path
	Class string
}

const (
	wfBoxW      = 232 // box width
	wfChars     = 30  // characters per line in a box
	wfLineH     = 15
	wfPad       = 7
	wfBoxH      = 4*wfLineH + 2*wfPad
	wfGapX      = 16
	wfGapY      = 44
	wfMargin    = 12
	wfRootGap   = 64 // between the tasks of a cycle: room for the arrows
	wfCycleRoom = 64 // below a cycle: its closing arc and mark
	wfPerOwner  = 4  // waiters drawn above one owner: with its "+N more", five boxes fit the page
	wfMaxTasks  = 24 // task boxes in one graph
	wfMaxSlots  = 8  // boxes side by side in one graph (but the tasks of a deadlock)
	wfMaxExt    = 8  // owners drawn outside the tree
	wfMaxGraphs = 60 // groups drawn (the largest); the others get their table only
	wfMaxOpen   = 3  // groups unfolded (the largest; all of up to twice as many), besides deadlocks and findings' roots
)

// waitGroups groups the report's hung tasks by root, largest first in
// choosing what to draw and unfold, and returns them by root pid.
func waitGroups(r *Report) []htmlWaitGroup {
	hung := map[Hex]*HungTask{}
	for i := range r.HungTasks {
		hung[r.HungTasks[i].Task] = &r.HungTasks[i]
	}
	cycleOf := map[Hex]int{}
	for i, c := range r.Deadlocks {
		for _, t := range c {
			cycleOf[t.Task] = i
		}
	}
	type group struct {
		key     string
		root    TaskID
		cycle   []TaskID
		members []*HungTask
	}
	byKey := map[string]*group{}
	var keys []string
	for i := range r.HungTasks {
		t := &r.HungTasks[i]
		root := TaskID{PID: t.PID, Comm: t.Comm, Task: t.Task}
		if t.Wait != nil && t.Wait.Root != nil {
			root = *t.Wait.Root
		}
		key := "t" + root.Task.String()
		c, inCycle := cycleOf[root.Task]
		if !inCycle {
			c, inCycle = cycleOf[t.Task]
		}
		if inCycle {
			key = fmt.Sprintf("c%d", c)
		}
		g := byKey[key]
		if g == nil {
			g = &group{key: key, root: root}
			if inCycle {
				g.cycle = cycleOrder(r.Deadlocks[c], hung)
				g.root = g.cycle[0]
			}
			byKey[key] = g
			keys = append(keys, key)
		}
		g.members = append(g.members, t)
	}
	finding := map[Hex]bool{}
	for _, f := range r.Findings {
		if f.RootTask != nil {
			finding[f.RootTask.Task] = true
		}
	}
	var out []htmlWaitGroup
	for _, k := range keys {
		g := byKey[k]
		sort.Slice(g.members, func(i, j int) bool { return lessTask(g.members[i], g.members[j]) })
		wg := htmlWaitGroup{ID: "wfg-" + g.root.Task.String(), Cycle: g.cycle != nil, rootPID: g.root.PID, has: map[Hex]bool{}}
		isRoot := map[Hex]bool{g.root.Task: true}
		for _, c := range g.cycle {
			isRoot[c.Task] = true
		}
		for _, t := range g.members {
			wg.has[t.Task] = true
			wg.Open = wg.Open || finding[t.Task]
			row := htmlWaitTask{HungTask: *t, Root: isRoot[t.Task], Kind: "?", What: t.Waiting}
			if w := t.Wait; w != nil {
				row.Kind, row.What = w.Kind, w.What
				for _, o := range w.Owners {
					l := htmlTaskLink{Text: taskName(o)}
					if hung[o.Task] != nil {
						l.Href = "#task-" + o.Task.String()
					}
					row.Owners = append(row.Owners, l)
				}
			}
			wg.Tasks = append(wg.Tasks, row)
		}
		wg.Title = groupTitle(g.root, g.cycle, hung, len(g.members))
		wg.Open = wg.Open || wg.Cycle
		out = append(out, wg)
	}
	// The largest groups are drawn and unfolded.
	bySize := make([]int, len(out))
	for i := range bySize {
		bySize[i] = i
	}
	sort.SliceStable(bySize, func(a, b int) bool {
		x, y := &out[bySize[a]], &out[bySize[b]]
		if len(x.Tasks) != len(y.Tasks) {
			return len(x.Tasks) > len(y.Tasks)
		}
		return x.rootPID < y.rootPID
	})
	for rank, i := range bySize {
		wg := &out[i]
		if rank < wfMaxOpen || len(out) <= 2*wfMaxOpen {
			wg.Open = true
		}
		if rank >= wfMaxGraphs {
			wg.NoGraph = fmt.Sprintf("not drawn: only the %d largest of the %d groups are", wfMaxGraphs, len(out))
			continue
		}
		g := byKey[keys[i]]
		wg.Graph = layoutWaitGraph(wg.ID, g.root, g.cycle, g.members, hung)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].rootPID != out[j].rootPID {
			return out[i].rootPID < out[j].rootPID
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func lessTask(a, b *HungTask) bool {
	if a.PID != b.PID {
		return a.PID < b.PID
	}
	return a.Task < b.Task
}

func taskName(t TaskID) string {
	if t.PID < 0 {
		return "task " + t.Task.String()
	}
	return fmt.Sprintf("%s %d", t.Comm, t.PID)
}

// cycleOrder puts a deadlock's tasks in the order they wait for each
// other, from the lowest pid.
func cycleOrder(c []TaskID, hung map[Hex]*HungTask) []TaskID {
	in := map[Hex]TaskID{}
	first := c[0]
	for _, t := range c {
		in[t.Task] = t
		if t.PID < first.PID || t.PID == first.PID && t.Task < first.Task {
			first = t
		}
	}
	var out []TaskID
	seen := map[Hex]bool{}
	for cur, ok := first, true; ok && !seen[cur.Task]; {
		seen[cur.Task] = true
		out = append(out, cur)
		h := hung[cur.Task]
		if h == nil || h.Wait == nil || len(h.Wait.Owners) == 0 {
			break
		}
		cur, ok = in[h.Wait.Owners[0].Task]
	}
	rest := append([]TaskID(nil), c...)
	sort.Slice(rest, func(i, j int) bool { return rest[i].PID < rest[j].PID })
	for _, t := range rest { // a cycle the waits do not close (an edited report)
		if !seen[t.Task] {
			out = append(out, t)
		}
	}
	return out
}

func groupTitle(root TaskID, cycle []TaskID, hung map[Hex]*HungTask, n int) string {
	tasks := fmt.Sprintf("%d task", n)
	if n != 1 {
		tasks += "s"
	}
	if cycle != nil {
		var names []string
		for _, t := range cycle {
			names = append(names, taskName(t))
		}
		return fmt.Sprintf("deadlock: %s → %s (%s)", strings.Join(names, " → "), names[0], tasks)
	}
	s := "root " + taskName(root)
	switch h := hung[root.Task]; {
	case h == nil:
		s += ": not blocked, it can end the wait"
	case h.Wait == nil && h.Waiting != "":
		s += ": " + h.Waiting
	case h.Wait == nil:
		s += ": sleeping in " + h.WaitChannel
	case h.Wait.Holds:
		s += ": nobody, the condition already holds (a lost wakeup): " + h.Wait.What
	default:
		s += ": " + h.Wait.What
	}
	return s + " (" + tasks + ")"
}

// wfTree is a box of a group's drawing while it is laid out: the tree of
// first owners, from the root up.
type wfTree struct {
	task  *HungTask // nil: the root is not a hung task, or a "+N more" box
	id    TaskID
	more  int // a "+N more" box
	under string
	kids  []*wfTree
	depth int
	x     int // left of the box
	node  int
}

// layoutWaitGraph draws one group. Each task hangs above the first owner
// of its wait (the chain its root was found by), at most wfPerOwner
// waiters per owner and wfMaxTasks tasks in all, the others counted in a
// "+N more" box; the root (the tasks of a deadlock, side by side in the
// order they wait for each other, the last one's arrow curving back to the
// first) at the bottom, and under it where its wait ends. Other owners
// are dashed arrows, to a box in a column on the right when they are not
// in the drawing.
func layoutWaitGraph(id string, root TaskID, cycle []TaskID, members []*HungTask, hung map[Hex]*HungTask) *htmlWaitGraph {
	g := &htmlWaitGraph{ID: id}
	inGroup := map[Hex]bool{}
	for _, t := range members {
		inGroup[t.Task] = true
	}
	roots := cycle
	if roots == nil {
		roots = []TaskID{root}
	}
	isRoot := map[Hex]bool{}
	for _, r := range roots {
		isRoot[r.Task] = true
	}
	kids := map[Hex][]*HungTask{}
	for _, t := range members { // members are sorted by pid
		if isRoot[t.Task] {
			continue
		}
		p := root.Task
		if w := t.Wait; w != nil && len(w.Owners) > 0 && (inGroup[w.Owners[0].Task] || w.Owners[0].Task == root.Task) {
			p = w.Owners[0].Task
		}
		kids[p] = append(kids[p], t)
	}
	// The tree, breadth first from the roots, so that the tasks nearest
	// the root are the ones drawn; seen is the tasks drawn or counted in
	// a "+N more" box.
	seen := map[Hex]bool{}
	var under func(t Hex) int // a task's waiters, theirs, and so on
	under = func(t Hex) int {
		n := 0
		for _, k := range kids[t] {
			if !seen[k.Task] {
				seen[k.Task] = true
				n += 1 + under(k.Task)
			}
		}
		return n
	}
	var trees []*wfTree
	budget, slots := wfMaxTasks, len(roots)
	var queue []*wfTree
	for _, r := range roots {
		n := &wfTree{task: hung[r.Task], id: r}
		trees = append(trees, n)
		queue = append(queue, n)
		seen[r.Task] = true
		budget--
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		var waiting []*HungTask
		for _, k := range kids[p.id.Task] {
			if !seen[k.Task] {
				waiting = append(waiting, k)
				seen[k.Task] = true
			}
		}
		// A box beside another widens the drawing by a slot: the
		// waiters drawn and their "+N more" must fit the slots left.
		if len(waiting) == 0 {
			continue
		}
		show, room := min(len(waiting), wfPerOwner, max(budget, 0)), wfMaxSlots-slots
		if show == len(waiting) && show-1 > room || show < len(waiting) && show > room {
			show = max(room, 0)
		}
		if show < len(waiting) {
			slots += show
		} else {
			slots += show - 1
		}
		for _, k := range waiting[:show] {
			n := &wfTree{task: k, id: TaskID{PID: k.PID, Comm: k.Comm, Task: k.Task}, depth: p.depth + 1}
			p.kids = append(p.kids, n)
			queue = append(queue, n)
			budget--
		}
		if rest := waiting[show:]; len(rest) > 0 {
			more := 0
			for _, k := range rest {
				more += 1 + under(k.Task)
			}
			p.kids = append(p.kids, &wfTree{more: more, under: taskName(p.id), depth: p.depth + 1})
			g.Hidden += more
		}
	}
	lost := 0 // tasks whose owners loop outside the root (an edited report)
	for _, t := range members {
		if !seen[t.Task] {
			lost++
		}
	}
	if lost > 0 {
		trees[0].kids = append(trees[0].kids, &wfTree{more: lost, under: taskName(trees[0].id), depth: 1})
		g.Hidden += lost
	}
	// Place: leaves side by side, each parent centred over its waiters;
	// rows from the top (farthest waiters) to the root, then the end.
	depth := 0
	var walk func(n *wfTree)
	walk = func(n *wfTree) {
		depth = max(depth, n.depth)
		for _, k := range n.kids {
			walk(k)
		}
	}
	for _, t := range trees {
		walk(t)
	}
	rowY := func(d int) int { return wfMargin + (depth-d)*(wfBoxH+wfGapY) }
	next := wfMargin
	var place func(n *wfTree)
	place = func(n *wfTree) {
		if len(n.kids) == 0 {
			n.x = next
			next += wfBoxW + wfGapX
			return
		}
		for _, k := range n.kids {
			place(k)
		}
		n.x = (n.kids[0].x + n.kids[len(n.kids)-1].x) / 2
	}
	for i, t := range trees {
		if i > 0 {
			next += wfRootGap - wfGapX
		}
		place(t)
	}
	// Boxes.
	pos := map[Hex]int{}
	var add func(n *wfTree)
	add = func(n *wfTree) {
		n.node = len(g.Nodes)
		y := rowY(n.depth)
		var hn htmlWaitNode
		switch {
		case n.more > 0:
			hn = htmlWaitNode{Class: "more", Title: fmt.Sprintf("%d more task(s) wait for %s, directly or through other tasks: see the table", n.more, n.under),
				Href: "#" + g.ID + "-tasks"}
			hn.Lines = boxLines(fmt.Sprintf("+%d more", n.more), "", "waiting for "+n.under)
		default:
			hn = taskBox(n.id, n.task)
			switch {
			case cycle != nil && n.depth == 0:
				hn.Class += " cycle"
			case n.depth == 0 && n.task == nil:
				hn.Class += " running"
			case n.depth == 0:
				hn.Class += " root"
			}
			pos[n.id.Task] = len(g.Nodes)
			g.TaskNodes++
		}
		hn.X, hn.Y, hn.W, hn.H = n.x, y, wfBoxW, wfBoxH
		g.Nodes = append(g.Nodes, hn)
		for _, k := range n.kids {
			add(k)
		}
	}
	for _, t := range trees {
		add(t)
	}
	for i := range g.Nodes {
		g.Nodes[i].place()
	}
	bottom := rowY(0) + wfBoxH
	// Arrows from each waiter to its first owner, spread along the owner's
	// top.
	var edges func(n *wfTree)
	edges = func(n *wfTree) {
		p := g.Nodes[n.node]
		for i, k := range n.kids {
			c := g.Nodes[k.node]
			x2 := p.X + p.W*(i+1)/(len(n.kids)+1)
			g.Edges = append(g.Edges, htmlWaitEdge{Class: "wait", D: fmt.Sprintf("M%d %d L%d %d", c.X+c.W/2, c.Y+c.H, x2, p.Y-2)})
			edges(k)
		}
	}
	for _, t := range trees {
		edges(t)
	}
	if cycle != nil {
		// The tasks of the deadlock, left to right in the order they wait
		// for each other; the last one's wait curves back under the row.
		for i := 0; i+1 < len(trees); i++ {
			a, b := g.Nodes[trees[i].node], g.Nodes[trees[i+1].node]
			g.Edges = append(g.Edges, htmlWaitEdge{Class: "cycle", D: fmt.Sprintf("M%d %d L%d %d", a.X+a.W, a.Y+a.H/2, b.X-2, b.Y+b.H/2)})
		}
		a, b := g.Nodes[trees[len(trees)-1].node], g.Nodes[trees[0].node]
		var d string
		if len(trees) == 1 { // a task waiting for itself
			d = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", a.X+a.W*2/3, a.Y+a.H, a.X+a.W*2/3, a.Y+a.H+wfCycleRoom*3/4, a.X+a.W/3, a.Y+a.H+wfCycleRoom*3/4, a.X+a.W/3, a.Y+a.H+2)
		} else {
			d = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", a.X+a.W/2, a.Y+a.H, a.X+a.W/2, a.Y+a.H+wfCycleRoom*3/4, b.X+b.W/2, b.Y+b.H+wfCycleRoom*3/4, b.X+b.W/2, b.Y+b.H+2)
		}
		g.Edges = append(g.Edges, htmlWaitEdge{Class: "cycle", D: d})
		mid := (b.X + a.X + a.W) / 2
		g.Labels = append(g.Labels, htmlText{X: mid, Y: bottom + wfCycleRoom - 4, S: "deadlock: each waits for the next", Class: "mark"})
		bottom += wfCycleRoom
	} else if end, ok := endBox(root, hung); ok {
		r := g.Nodes[trees[0].node]
		end.X, end.Y, end.W, end.H = r.X, bottom+wfGapY, wfBoxW, wfBoxH
		end.place()
		g.Nodes = append(g.Nodes, end)
		g.Edges = append(g.Edges, htmlWaitEdge{Class: "end", D: fmt.Sprintf("M%d %d L%d %d", r.X+r.W/2, r.Y+r.H, end.X+end.W/2, end.Y-2)})
		bottom = end.Y + end.H
	}
	right := 0
	for _, n := range g.Nodes {
		right = max(right, n.X+n.W)
	}
	// The other owners: dashed arrows to their boxes, or to boxes in a
	// column on the right for those not drawn.
	extX, extN, extMore := right+wfRootGap, 0, 0
	ext := map[Hex]int{}
	var walkAlso func(n *wfTree)
	walkAlso = func(n *wfTree) {
		if n.task != nil && n.task.Wait != nil && len(n.task.Wait.Owners) > 1 {
			from := g.Nodes[n.node]
			for _, o := range n.task.Wait.Owners[1:] {
				to, ok := pos[o.Task]
				if !ok {
					to, ok = ext[o.Task]
				}
				if !ok && extN == wfMaxExt {
					extMore++
					continue
				}
				if !ok {
					b := taskBox(o, hung[o.Task])
					b.Class = "ext"
					where, info := "not blocked", ""
					if h := hung[o.Task]; h != nil {
						where = "in another group"
						if inGroup[o.Task] {
							where = "in this group, not drawn"
						}
						info = "?"
						if h.Wait != nil {
							info = h.Wait.Kind
						}
						info += " · " + seconds(h.BlockedSeconds)
					}
					b.Lines = boxLines(taskName(o), where, info)
					b.X, b.Y, b.W, b.H = extX, wfMargin+extN*(wfBoxH+wfGapY/2), wfBoxW, wfBoxH
					b.place()
					to = len(g.Nodes)
					ext[o.Task] = to
					g.Nodes = append(g.Nodes, b)
					extN++
				}
				t := g.Nodes[to]
				d := fmt.Sprintf("M%d %d L%d %d", from.X+from.W/2, from.Y+from.H, t.X+t.W/2, t.Y-2)
				if t.Class == "ext" {
					d = fmt.Sprintf("M%d %d L%d %d", from.X+from.W, from.Y+from.H/2, t.X-2, t.Y+t.H/2)
				}
				g.Edges = append(g.Edges, htmlWaitEdge{Class: "also", D: d})
			}
		}
		for _, k := range n.kids {
			walkAlso(k)
		}
	}
	for _, t := range trees {
		walkAlso(t)
	}
	if extMore > 0 {
		b := htmlWaitNode{Class: "ext more", Title: fmt.Sprintf("%d more owners: see the table", extMore), Href: "#" + g.ID + "-tasks",
			X: extX, Y: wfMargin + extN*(wfBoxH+wfGapY/2), W: wfBoxW, H: wfBoxH, Lines: boxLines(fmt.Sprintf("+%d more owners", extMore), "", "")}
		b.place()
		g.Nodes = append(g.Nodes, b)
	}
	for _, n := range g.Nodes {
		right = max(right, n.X+n.W)
		bottom = max(bottom, n.Y+n.H)
	}
	g.Width, g.Height = right+wfMargin, bottom+wfMargin
	return g
}

// taskBox is a task's box: its name, the kind of its wait and how long it
// has been blocked, what it waits on.
func taskBox(id TaskID, t *HungTask) htmlWaitNode {
	n := htmlWaitNode{Class: "task", PID: id.PID, Task: id.Task, IsTask: true}
	name := taskName(id)
	if t == nil {
		n.Title = name + " (task " + id.Task.String() + "): not blocked"
		n.Lines = boxLines(name, "not blocked", "it can end the waits above")
		return n
	}
	n.Href = "#task-" + t.Task.String()
	kind, what := "?", t.Waiting
	if t.Wait != nil {
		kind, what = t.Wait.Kind, t.Wait.What
	}
	if what == "" {
		what = "sleeping in " + t.WaitChannel
	}
	n.Title = fmt.Sprintf("%s (task %s), blocked %s in %s: %s", name, t.Task, seconds(t.BlockedSeconds), t.WaitChannel, what)
	if t.Waiting != "" && t.Wait != nil {
		n.Title += "; " + t.Waiting
	}
	info := kind
	if t.BlockedSeconds != nil {
		info += " · " + seconds(t.BlockedSeconds)
	}
	n.Lines = boxLines(name, info, what)
	return n
}

// endBox is where the root's own wait ends: a device, nobody (the
// condition already holds), or a wait vmtriage cannot follow; none for a
// root that is not blocked.
func endBox(root TaskID, hung map[Hex]*HungTask) (htmlWaitNode, bool) {
	t := hung[root.Task]
	if t == nil {
		return htmlWaitNode{}, false
	}
	w := t.Wait
	switch {
	case w == nil:
		what := t.Waiting
		if what == "" {
			what = "sleeping in " + t.WaitChannel
		}
		return htmlWaitNode{Class: "end unknown", Title: what, Lines: boxLines("unknown", "no wait-for edge", what)}, true
	case w.Holds:
		return htmlWaitNode{Class: "end holds", Title: "nobody: the condition already holds (a lost wakeup): " + w.What,
			Lines: boxLines("nobody: the condition", "already holds (lost wakeup)", w.What)}, true
	case w.Device != "":
		return htmlWaitNode{Class: "end device", Title: "device " + w.Device + ": " + w.What,
			Lines: boxLines("device "+w.Device, "I/O in flight", w.What)}, true
	default:
		return htmlWaitNode{Class: "end unknown", Title: w.Kind + ": " + w.What,
			Lines: boxLines("no owner known", w.Kind, w.What)}, true
	}
}

// boxLines are a box's lines: a bold head, a muted line, and the text
// folded into what is left.
func boxLines(head, info, text string) []htmlText {
	cut := func(s string) string {
		if r := []rune(s); len(r) > wfChars {
			return string(r[:wfChars-1]) + "…"
		}
		return s
	}
	lines := []htmlText{{S: cut(head), Class: "head"}}
	if info != "" {
		lines = append(lines, htmlText{S: cut(info), Class: "info"})
	}
	if text != "" {
		room := 4 - len(lines)
		f := fold(text, wfChars, "")
		if len(f) > room {
			last := []rune(strings.TrimSpace(f[room-1]))
			if len(last) > wfChars-2 {
				last = last[:wfChars-2]
			}
			f = append(f[:room-1], string(last)+" …")
		}
		for _, l := range f {
			lines = append(lines, htmlText{S: l})
		}
	}
	return lines
}

// place puts the box's lines in it, centred vertically.
func (n *htmlWaitNode) place() {
	top := n.Y + (n.H-len(n.Lines)*wfLineH)/2
	for i := range n.Lines {
		n.Lines[i].X, n.Lines[i].Y = n.X+wfPad, top+(i+1)*wfLineH-3
	}
}

// htmlTemplates parses the page's templates on first use (3 ms, which
// a run writing JSON or a table need not pay).
var htmlTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"upper":   func(s Severity) string { return strings.ToUpper(string(s)) },
		"seconds": seconds,
		"inc":     func(i int) int { return i + 1 },
	}).Parse(htmlCSS + htmlReportTmpl + htmlIndexTmpl))
})

const htmlCSS = `{{define "css"}}<style>
:root{--fg:#1d2430;--muted:#5b6575;--line:#d6dbe3;--bg:#fff;--soft:#f4f6f9;--crit:#b42318;--warn:#b54708;--info:#175cd3;--ok:#067647}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:16px;margin:0}
.sub{color:var(--muted)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
table{border-collapse:collapse;margin:8px 0 12px;width:auto;max-width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.k{white-space:nowrap;color:var(--muted)}
.finding{border:1px solid var(--line);border-left:6px solid var(--info);border-radius:6px;padding:12px 16px;margin:14px 0}
.finding.critical{border-left-color:var(--crit)}.finding.warning{border-left-color:var(--warn)}
.sev{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.04em;color:#fff;background:var(--info);border-radius:3px;padding:1px 6px;margin-right:6px;vertical-align:2px}
.sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}
.no{color:var(--crit);font-weight:700}.yes{color:var(--ok)}
ol.bt{margin:6px 0;padding-left:28px;font-family:ui-monospace,monospace;font-size:12.5px}
ol.bt li.inline{color:var(--muted);font-style:italic}
ol.bt li.inline::after{content:" inline";font-size:10px;font-style:normal;background:var(--soft);border:1px solid var(--line);border-radius:3px;padding:0 4px;margin-left:6px}
svg.graph{display:block;max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:var(--soft);margin:8px 0}
svg.graph rect{fill:#fff;stroke:#8a94a6;rx:6}svg.graph g.layer0 rect{stroke:var(--warn)}svg.graph g.leaf rect{stroke:var(--crit);stroke-width:2}
svg.graph text{font:12px ui-monospace,monospace;fill:var(--fg)}svg.graph line{stroke:#5b6575;stroke-width:1.5}
details>summary{cursor:pointer;margin:6px 0}
.rules li.failed{color:var(--crit)}.rules li.not_applicable{color:var(--muted)}
a{color:var(--info)}
tr:target{background:#fff6d6}
tr.root>td:first-child{font-weight:700}tr.root>td:first-child::after{content:" root";font-size:10px;font-weight:400;color:var(--muted)}
td.kind,td.owners a{white-space:nowrap}
td .note{color:var(--muted);font-size:12.5px;margin-top:2px}
.wfscroll{overflow-x:auto;max-width:100%;margin:8px 0}svg.wfg{display:block;border:1px solid var(--line);border-radius:6px;background:var(--soft)}
svg.wfg rect{fill:#fff;stroke:#8a94a6;stroke-width:1}
svg.wfg g.root rect{stroke:var(--warn);stroke-width:2}svg.wfg g.running rect{stroke:var(--ok);stroke-width:2}
svg.wfg g.cycle rect{fill:#fef3f2;stroke:var(--crit);stroke-width:2.5}
svg.wfg g.more rect,svg.wfg g.ext rect{fill:var(--soft);stroke-dasharray:4 3}
svg.wfg g.end rect{rx:18px}svg.wfg g.device rect{fill:#eff4ff;stroke:var(--info);stroke-width:2}
svg.wfg g.holds rect{fill:#fef3f2;stroke:var(--crit);stroke-width:2;stroke-dasharray:7 3}
svg.wfg g.unknown rect{fill:#f2f4f7;stroke:#98a2b3;stroke-width:1.5;stroke-dasharray:7 3}
svg.wfg text{font:12px ui-monospace,"DejaVu Sans Mono",monospace;fill:var(--fg)}svg.wfg text.head{font-weight:700}svg.wfg text.info{fill:var(--muted)}
svg.wfg text.mark{font:700 13px system-ui,sans-serif;fill:var(--crit)}
svg.wfg path.e{fill:none;stroke:#5b6575;stroke-width:1.5}svg.wfg path.also{stroke-dasharray:5 4}svg.wfg path.end{stroke-dasharray:3 3}
svg.wfg path.cycle{stroke:var(--crit);stroke-width:2.5}
svg.wfg a:hover rect{stroke:var(--info);stroke-width:2.5}
.key{border:1px solid #8a94a6;border-radius:9px;padding:0 6px;white-space:nowrap}.key.device{background:#eff4ff;border-color:var(--info)}
.key.holds{background:#fef3f2;border:1px dashed var(--crit)}.key.unknown{background:#f2f4f7;border:1px dashed #98a2b3}.key.cycle{color:var(--crit);border:2px solid var(--crit)}
details.wfgroup{margin:10px 0}
</style>{{end}}`

const htmlReportTmpl = `{{define "report"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>vmtriage: {{.Headline}} ({{.Report.System.Nodename}})</title>{{template "css"}}</head>
<body>
{{if .Index}}<p><a href="{{.Index}}">← all dumps</a></p>{{end}}
<h1>vmtriage: {{.Headline}}</h1>
<p class="sub"><code>{{.Dump.Path}}</code> ({{.Dump.Format}}{{with .Dump.Compression}}, {{.}}{{end}}) on <b>{{.Report.System.Nodename}}</b>, kernel <code>{{.Report.System.Release}}</code>, analysed by vmtriage {{.Tool.Version}}</p>
{{if .Dump.Truncated}}<p class="no">The dump is truncated: this report covers only what its pages allow (see Warnings).</p>{{end}}

<h2 id="findings">Findings ({{len .Findings}})</h2>
{{if not .Findings}}<p>None: no known hang signature matched.</p>{{end}}
{{range .Findings}}{{template "finding" .}}{{end}}
{{if .Rules}}<ul class="rules">{{range .Rules}}<li class="{{.Status}}"><code>{{.ID}}</code>: {{if eq .Status "ran"}}ran, {{.Findings}} finding(s){{else if eq .Status "not_applicable"}}not applicable: {{.Reason}}{{else}}FAILED: {{.Error}}{{end}}</li>{{end}}</ul>{{end}}

<h2 id="hung">Wait-for graph: {{len .HungTasks}} hung tasks (uninterruptible sleep), by the root their waits lead to</h2>
{{if .HungTasks}}<p class="sub">Each box is a task; its arrow points to the task that can end its wait (solid: the first owner, the chain followed to the root; dashed: another owner). The root is at the bottom, and under it what its own wait ends at: <span class="key device">a device</span>, <span class="key holds">nobody: the condition already holds (a lost wakeup)</span> or <span class="key unknown">a wait not followed</span>; a root in green is not blocked. <span class="key cycle">A deadlock</span> is drawn as a cycle. Past {{.PerOwner}} waiters per owner and {{.MaxTasks}} tasks per graph, a “+N more” box counts the others: the table under each graph lists every task.</p>{{end}}
{{range .Groups}}<details class="wfgroup{{if .Cycle}} deadlock{{end}}" id="{{.ID}}"{{if .Open}} open{{end}}><summary>{{if .Cycle}}<b class="no">{{.Title}}</b>{{else}}<b>{{.Title}}</b>{{end}}</summary>
{{with .Graph}}<div class="wfscroll">{{template "waitgraph" .}}</div>{{end}}{{with .NoGraph}}<p class="sub">Graph {{.}}.</p>{{end}}
<table class="hung" id="{{.ID}}-tasks"><tr><th>PID</th><th>Comm</th><th>Blocked</th><th>Kind</th><th>Waits on</th><th>Waits for</th><th>CPU</th><th>Task</th><th>Wait channel</th></tr>
{{range .Tasks}}<tr id="task-{{.Task}}"{{if .Root}} class="root"{{end}}><td>{{.PID}}</td><td>{{.Comm}}</td><td>{{seconds .BlockedSeconds}}</td><td class="mono kind">{{.Kind}}</td><td>{{.What}}{{if and .Root .Wait .Waiting}}<div class="note">{{.Waiting}}</div>{{end}}</td><td class="owners">{{range $i, $o := .Owners}}{{if $i}}, {{end}}{{if $o.Href}}<a href="{{$o.Href}}">{{$o.Text}}</a>{{else}}{{$o.Text}}{{end}}{{end}}</td><td>{{.CPU}}</td><td class="mono">{{.Task}}</td><td class="mono">{{.WaitChannel}}</td></tr>
{{end}}</table></details>
{{end}}

<h2 id="system">System</h2>
<table class="system">{{range .System}}<tr><td class="k">{{index . 0}}</td><td class="mono">{{index . 1}}</td></tr>{{end}}</table>
{{if .Warnings}}<h2 id="warnings">Warnings ({{len .Warnings}})</h2><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
{{end}}

{{define "finding"}}<section class="finding {{.Severity}}" id="finding-{{.N}}" data-rule="{{.Rule}}">
<h3><span class="sev {{.Severity}}">{{upper .Severity}}</span>{{.N}}. <code>{{.Rule}}</code>: {{.Title}}</h3>
<p class="sub">bucket <code>{{.Bucket}}</code>, confidence {{.Confidence}}</p>
<p class="summary">{{.Summary}}</p>
{{with .Verdict}}<p><b>Verdict:</b> {{.}}</p>{{end}}
{{with .RootTask}}<table class="root"><tr><th>Root task</th><th>PID</th><th>Comm</th><th>CPU</th><th>State</th><th>Blocked</th></tr>
<tr><td class="mono">{{.Task}}</td><td>{{.PID}}</td><td>{{.Comm}}</td><td>{{.CPU}}</td><td>{{.State}}</td><td>{{seconds .BlockedSeconds}}</td></tr></table>{{end}}
{{if .Backtrace}}<details open><summary>Backtrace of the root task ({{len .Backtrace}} frames)</summary><ol class="bt" start="0">{{range .Backtrace}}<li{{if .Inline}} class="inline"{{end}}>{{.Text}}</li>{{end}}</ol></details>{{end}}
{{if .Evidence}}<table class="evidence"><tr><th>Evidence</th><th>Value</th></tr>
{{range .Rows}}<tr><td class="k">{{.Label}}</td><td{{with .Ref}} data-ref="{{.}}"{{end}}>{{if .Href}}<a href="{{.Href}}">{{.Value}}</a>{{else}}{{.Value}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Facts}}<table class="facts"><tr><th>Holds</th><th>Fact</th><th>Evidence</th></tr>
{{range .Facts}}<tr><td>{{if .Holds}}<span class="yes">yes</span>{{else}}<span class="no">no</span>{{end}}</td><td>{{.Name}}</td><td class="mono">{{.Evidence}}</td></tr>
{{end}}</table>{{end}}
{{with .GroupID}}<p>In the <a href="#{{.}}">wait-for graph</a>: {{$.GroupTitle}}</p>{{end}}
{{with .Graph}}<p><b>This finding's dependency tree</b> (the rule's view; each box waits on the boxes its arrows point to):</p>
<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="dependency graph">
<defs><marker id="arrow-{{$.N}}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6575"/></marker></defs>
{{range .Edges}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}" marker-end="url(#arrow-{{$.N}})"/>
{{end}}{{range $i, $n := .Nodes}}<g class="node layer{{.Layer}}{{if .Leaf}} leaf{{end}}" data-node="{{$i}}"><title>{{.Label}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="6"/>{{range $j, $l := .Lines}}<text x="{{$n.TextX}}" y="{{index $n.LineY $j}}">{{$l}}</text>{{end}}</g>
{{end}}</svg>{{end}}
{{with .Tasks}}<p>{{len .}} tasks: see <a href="#hung">Hung tasks</a>.</p>{{end}}
{{if .FixedIn}}<p><b>Fixed in:</b> {{range $i, $v := .FixedIn}}{{if $i}}; {{end}}{{$v}}{{end}}</p>{{end}}
{{if .References}}<p><b>References:</b></p><ul>{{range .References}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Details}}<details><summary>Details (the rule's data, as in the JSON report)</summary><pre>{{.}}</pre></details>{{end}}
</section>{{end}}

{{define "waitgraph"}}<svg class="wfg" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="wait-for graph" data-tasks="{{.TaskNodes}}" data-hidden="{{.Hidden}}">
<defs><marker id="{{.ID}}-a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6575"/></marker><marker id="{{.ID}}-c" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b42318"/></marker></defs>
{{range .Edges}}<path class="e {{.Class}}" d="{{.D}}" marker-end="url(#{{$.ID}}-{{if eq .Class "cycle"}}c{{else}}a{{end}})"/>
{{end}}{{range .Nodes}}<g class="wf {{.Class}}"{{if .IsTask}} data-pid="{{.PID}}" data-task="{{.Task}}"{{end}}>{{if .Href}}<a href="{{.Href}}">{{end}}<title>{{.Title}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="6"/>{{range .Lines}}<text x="{{.X}}" y="{{.Y}}"{{with .Class}} class="{{.}}"{{end}}>{{.S}}</text>{{end}}{{if .Href}}</a>{{end}}</g>
{{end}}{{range .Labels}}<text class="{{.Class}}" x="{{.X}}" y="{{.Y}}" text-anchor="middle">{{.S}}</text>
{{end}}</svg>{{end}}`

const htmlIndexTmpl = `{{define "index"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title>{{template "css"}}</head>
<body>
<h1>{{.Title}}</h1>
<table class="stats">{{range .Stats}}<tr><td class="k">{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}</table>
<h2 id="buckets">Buckets ({{len .Buckets}})</h2>
{{if not .Buckets}}<p>No finding in any dump.</p>{{else}}<table class="buckets"><tr><th>Bucket</th><th>Rule</th><th>Title</th><th>Dumps</th><th>Which</th></tr>
{{range .Buckets}}<tr id="{{.ID}}"><td class="mono">{{.ID}}</td><td class="mono">{{.Rule}}</td><td>{{.Title}}</td><td>{{.Count}}</td><td>{{range $i, $d := .Dumps}}{{if $i}}, {{end}}{{if $d.Href}}<a href="{{$d.Href}}">{{$d.Name}}</a>{{else}}{{$d.Name}}{{end}}{{end}}</td></tr>
{{end}}</table>{{end}}
<h2 id="dumps">Dumps ({{len .Dumps}})</h2>
<table class="dumps"><tr><th>Dump</th><th>Findings</th><th></th></tr>
{{range .Dumps}}<tr><td>{{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</td><td>{{.Findings}}</td><td>{{.Note}}</td></tr>
{{end}}</table>
{{if .Failures}}<h2 id="failures">Failed ({{len .Failures}})</h2><table class="failures"><tr><th>Dump</th><th>Error</th></tr>
{{range .Failures}}<tr><td>{{.Name}}</td><td class="mono">{{.Note}}</td></tr>{{end}}</table>{{end}}
</body></html>
{{end}}`
