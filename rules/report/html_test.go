package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestWriteHTML: the page escapes what the dump says, marks inline
// frames, and lays the dependency tree out in layers with an arrow per
// edge, no box overlapping another.
func TestWriteHTML(t *testing.T) {
	blocked := int64(427)
	r := &Report{Schema: Schema, Tool: Tool{Name: "vmtriage", Version: "x"}, Dump: Dump{Path: "/c/<vmcore>", Format: "elf"},
		System: System{Release: "6.1.0", Nodename: "h<script>"},
		Findings: []Finding{{Rule: "r", Title: "T", Severity: Critical, Confidence: "high", Bucket: "r-0123456789", Summary: "s & t",
			RootTask: &TaskRef{PID: 1, Comm: "c", Task: 0x10, Backtrace: []string{"[0x1] f+0x1 at 0x2", "[0x1] g (inlined) at 0x2"}},
			Evidence: []EvidenceRow{{Label: "waiter", Value: "c 1", Ref: TaskRefOf(0x10)}},
			Tree:     &Node{Label: "all", Children: []*Node{{Label: "one", Children: []*Node{{Label: "x"}, {Label: "y"}}}}}}},
		HungTasks: []HungTask{{PID: 1, Comm: "c", Task: 0x10, BlockedSeconds: &blocked, WaitChannel: "io_schedule"}},
	}
	out := render(t, r)
	for _, want := range []string{"h&lt;script&gt;", "s &amp; t", `<li class="inline">`, `href="#task-0x10"`, `id="task-0x10"`} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(out, "<script>") {
		t.Error("the nodename is not escaped")
	}
	g := layoutGraph(r.Findings[0].Tree)
	if len(g.Nodes) != 4 || len(g.Edges) != 3 {
		t.Fatalf("%d nodes %d edges, want 4 and 3", len(g.Nodes), len(g.Edges))
	}
	for i, a := range g.Nodes {
		if a.X < 0 || a.Y < 0 || a.X+a.W > g.Width || a.Y+a.H > g.Height {
			t.Errorf("node %d outside the drawing: %+v in %dx%d", i, a, g.Width, g.Height)
		}
		for j, c := range g.Nodes[i+1:] {
			if a.X < c.X+c.W && c.X < a.X+a.W && a.Y < c.Y+c.H && c.Y < a.Y+a.H {
				t.Errorf("nodes %d and %d overlap", i, i+1+j)
			}
		}
	}
	if g.Nodes[2].Y != g.Nodes[3].Y || g.Nodes[1].Y <= g.Nodes[0].Y || g.Nodes[2].Y <= g.Nodes[1].Y {
		t.Errorf("not in layers: %+v", g.Nodes)
	}
}

// waitReport is a synthetic report with every shape of the wait-for
// graph: a chain to a device (one waiter with a second owner in another
// group), a deadlock with a waiter, a lost wakeup (holds) with more
// waiters than are drawn, a root that is not blocked, a task with no
// wait-for edge (an older report) and an unknown wait.
func waitReport() *Report {
	id := func(pid int) TaskID { return TaskID{PID: pid, Comm: fmt.Sprintf("c%d", pid), Task: Hex(0x1000 + pid)} }
	ids := func(pids ...int) []TaskID {
		var out []TaskID
		for _, p := range pids {
			out = append(out, id(p))
		}
		return out
	}
	obj := Hex(0xffff0000)
	task := func(pid int, w *TaskWait) HungTask {
		b := int64(100 + pid)
		t := id(pid)
		return HungTask{PID: pid, Comm: t.Comm, CPU: pid % 4, Task: t.Task, BlockedSeconds: &b, WaitChannel: "schedule", Wait: w}
	}
	wait := func(kind string, root int, owners ...int) *TaskWait {
		r := id(root)
		return &TaskWait{Kind: kind, Object: &obj, What: kind + " held by " + fmt.Sprint(owners), Owners: ids(owners...), Root: &r, RootWhat: "why"}
	}
	dev := wait("iomap-dio", 12)
	dev.Device, dev.What = "dm-0", "iomap dio with 1 bio(s) in flight, queued on dm-0"
	holds := wait("completion", 30)
	holds.Holds, holds.What = true, "completion 0xffff0000 already done"
	cyc20, cyc21 := wait("mutex", 20, 21), wait("mutex", 21, 20)
	cyc20.RootWhat, cyc21.RootWhat = "a deadlock: the tasks of the cycle wait for each other", "a deadlock: the tasks of the cycle wait for each other"
	unknown := wait("unknown", 60)
	unknown.What, unknown.Object = "waits in <schedule_timeout>", nil
	tasks := []HungTask{
		task(10, wait("mutex", 12, 11)), task(11, wait("rwsem-write", 12, 12)), task(12, dev),
		task(13, wait("journal-updates", 12, 12, 60)),
		task(20, cyc20), task(21, cyc21), task(22, wait("mutex", 20, 20)),
		task(30, holds),
		task(40, wait("mutex", 41, 41)),
		task(50, nil),
		task(60, unknown),
	}
	for pid := 31; pid <= 37; pid++ {
		tasks = append(tasks, task(pid, wait("buffer", 30, 30)))
	}
	tasks[len(tasks)-1].Comm = "<x>&"
	r := baseReport()
	r.HungTasks, r.Deadlocks = tasks, [][]TaskID{ids(21, 20)}
	r.Findings = []Finding{{Rule: "deadlock", Title: "Deadlock", Severity: Critical, Confidence: "high", Bucket: "deadlock-0123456789", Summary: "s",
		RootTask: &TaskRef{PID: 21, Comm: "c21", Task: Hex(0x1000 + 21)}, Details: DetailsOf(map[string]any{"tasks": ids(20, 21), "waits": []string{"a", "b"}})}}
	return r
}

// baseReport is a valid report with no finding and no hung task.
func baseReport() *Report {
	return &Report{Schema: Schema, Tool: Tool{Name: "vmtriage", Version: "x"}, Dump: Dump{Path: "/c/vmcore", Format: "elf"},
		System: System{Release: "6.1.0", Nodename: "h", Machine: "x86_64", CPUs: 4, Tasks: 100}, Findings: []Finding{}, HungTasks: []HungTask{}}
}

// validate checks the test's report against the schema.
func validate(t *testing.T, r *Report) {
	t.Helper()
	doc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	sdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(SchemaURL, sdoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaURL)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil { // schemacheck imports this package: not usable here
		t.Fatalf("the test's report: %v", err)
	}
}

// TestWaitGraphs: the hung tasks are grouped by root (a deadlock's tasks
// are one group), groups by root pid; each graph has the task boxes,
// arrows and end expected, no box overlapping another or outside the
// drawing, every arrow from a box to a box.
func TestWaitGraphs(t *testing.T) {
	r := waitReport()
	validate(t, r)
	groups := waitGroups(r)
	tests := []struct {
		id     string
		title  string
		tasks  []int          // task boxes, in drawing order
		class  map[int]string // a task box's class
		end    string         // class of the box under the root
		edges  map[string]int // arrows by class
		hidden int
		ext    int // owners drawn outside the tree
		rows   int
	}{
		{id: "wfg-0x100c", title: "root c12 12: iomap dio with 1 bio(s) in flight, queued on dm-0 (4 tasks)", tasks: []int{12, 11, 10, 13},
			class: map[int]string{12: "task root", 11: "task", 10: "task"}, end: "end device",
			edges: map[string]int{"wait": 3, "end": 1, "also": 1}, ext: 1, rows: 4},
		{id: "wfg-0x1014", title: "deadlock: c20 20 → c21 21 → c20 20 (3 tasks)", tasks: []int{20, 22, 21},
			class: map[int]string{20: "task cycle", 21: "task cycle", 22: "task"}, edges: map[string]int{"wait": 1, "cycle": 2}, rows: 3},
		{id: "wfg-0x101e", title: "root c30 30: nobody, the condition already holds (a lost wakeup): completion 0xffff0000 already done (8 tasks)",
			tasks: []int{30, 31, 32, 33, 34}, class: map[int]string{30: "task root"}, end: "end holds",
			edges: map[string]int{"wait": 5, "end": 1}, hidden: 3, rows: 8},
		{id: "wfg-0x1029", title: "root c41 41: not blocked, it can end the wait (1 task)", tasks: []int{41, 40},
			class: map[int]string{41: "task running", 40: "task"}, edges: map[string]int{"wait": 1}, rows: 1},
		{id: "wfg-0x1032", title: "root c50 50: sleeping in schedule (1 task)", tasks: []int{50}, end: "end unknown",
			edges: map[string]int{"end": 1}, rows: 1},
		{id: "wfg-0x103c", title: "root c60 60: waits in <schedule_timeout> (1 task)", tasks: []int{60}, end: "end unknown",
			edges: map[string]int{"end": 1}, rows: 1},
	}
	if len(groups) != len(tests) {
		var got []string
		for _, g := range groups {
			got = append(got, g.ID)
		}
		t.Fatalf("groups %v, want %d", got, len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			g := groups[i]
			if g.ID != tt.id || g.Title != tt.title {
				t.Fatalf("group %d is %s %q, want %s %q", i, g.ID, g.Title, tt.id, tt.title)
			}
			if len(g.Tasks) != tt.rows {
				t.Errorf("%d rows, want %d", len(g.Tasks), tt.rows)
			}
			for j := 1; j < len(g.Tasks); j++ {
				if g.Tasks[j-1].PID >= g.Tasks[j].PID {
					t.Errorf("rows not by pid: %d before %d", g.Tasks[j-1].PID, g.Tasks[j].PID)
				}
			}
			gr := g.Graph
			var pids []int
			ends, ext := "", 0
			for _, n := range gr.Nodes {
				switch {
				case n.Class == "ext":
					ext++
				case n.IsTask:
					pids = append(pids, n.PID)
					if want, ok := tt.class[n.PID]; ok && n.Class != want {
						t.Errorf("task %d: class %q, want %q", n.PID, n.Class, want)
					}
				case strings.HasPrefix(n.Class, "end"):
					ends = n.Class
				}
			}
			if !reflect.DeepEqual(pids, tt.tasks) || gr.TaskNodes != len(tt.tasks) {
				t.Errorf("task boxes %v (TaskNodes %d), want %v", pids, gr.TaskNodes, tt.tasks)
			}
			if ends != tt.end || ext != tt.ext || gr.Hidden != tt.hidden {
				t.Errorf("end %q ext %d hidden %d, want %q %d %d", ends, ext, gr.Hidden, tt.end, tt.ext, tt.hidden)
			}
			edges := map[string]int{}
			for _, e := range gr.Edges {
				edges[e.Class]++
			}
			if !reflect.DeepEqual(edges, tt.edges) {
				t.Errorf("arrows %v, want %v", edges, tt.edges)
			}
			checkGeometry(t, gr)
		})
	}
	if groups[1].Cycle != true || len(groups[1].Graph.Labels) != 1 || !groups[1].Open {
		t.Errorf("the deadlock is not marked and unfolded: %+v", groups[1])
	}
	if !reflect.DeepEqual(waitGroups(r), groups) {
		t.Error("two layouts of one report differ")
	}
	shuffled := *r
	shuffled.HungTasks = append([]HungTask(nil), r.HungTasks...)
	slices.Reverse(shuffled.HungTasks)
	if a, b := render(t, r), render(t, &shuffled); a != b {
		t.Error("the page depends on the order of hung_tasks")
	}
}

// checkGeometry: boxes inside the drawing and apart, each arrow from a
// box's edge to a box's edge.
func checkGeometry(t *testing.T, g *htmlWaitGraph) {
	t.Helper()
	near := func(x, y int, n htmlWaitNode) bool {
		return x >= n.X-3 && x <= n.X+n.W+3 && y >= n.Y-3 && y <= n.Y+n.H+3
	}
	for i, a := range g.Nodes {
		if a.X < 0 || a.Y < 0 || a.X+a.W > g.Width || a.Y+a.H > g.Height {
			t.Errorf("box %d outside the drawing: %+v in %dx%d", i, a, g.Width, g.Height)
		}
		for j, c := range g.Nodes[i+1:] {
			if a.X < c.X+c.W && c.X < a.X+a.W && a.Y < c.Y+c.H && c.Y < a.Y+a.H {
				t.Errorf("boxes %d and %d overlap", i, i+1+j)
			}
		}
		for _, l := range a.Lines {
			if !near(l.X, l.Y, a) || len([]rune(l.S)) > wfChars {
				t.Errorf("box %d: line %+v outside it", i, l)
			}
		}
	}
	for _, e := range g.Edges {
		var xs []int
		for _, f := range strings.FieldsFunc(e.D, func(r rune) bool { return r == ' ' || r == 'M' || r == 'L' || r == 'C' }) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("arrow %q: %v", e.D, err)
			}
			xs = append(xs, v)
		}
		from, to := false, false
		for _, n := range g.Nodes {
			from = from || near(xs[0], xs[1], n)
			to = to || near(xs[len(xs)-2], xs[len(xs)-1], n)
		}
		if !from || !to {
			t.Errorf("arrow %s %q does not join two boxes", e.Class, e.D)
		}
	}
}

// render writes the page of a report the schema validates.
func render(t *testing.T, r *Report) string {
	t.Helper()
	validate(t, r)
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWaitGraphHTML: the page has a graph per group, what it draws
// escaped, the deadlock marked, the finding's root linked to its group.
func TestWaitGraphHTML(t *testing.T) {
	out := render(t, waitReport())
	for _, tt := range []struct {
		want string
		n    int
	}{
		{`<svg class="wfg"`, 6},
		{`<g class="wf task`, 4 + 3 + 5 + 2 + 1 + 1},
		{`<g class="wf end holds"`, 1},
		{`<g class="wf end device"`, 1},
		{`<g class="wf end unknown"`, 2},
		{`<g class="wf task cycle"`, 2},
		{`<g class="wf task running"`, 1},
		{`<g class="wf more"`, 1},
		{`<g class="wf ext"`, 1},
		{`<path class="e cycle"`, 2},
		{">deadlock: each waits for the next</text>", 1},
		{">&#43;3 more</text>", 1}, // html/template escapes "+"
		{`data-tasks="5" data-hidden="3"`, 1},
		{`<tr id="task-0x`, 18},
		{`<td>&lt;x&gt;&amp;</td>`, 1},
		{`In the <a href="#wfg-0x1014">wait-for graph</a>`, 1},
	} {
		if n := strings.Count(out, tt.want); n != tt.n {
			t.Errorf("%d × %q, want %d", n, tt.want, tt.n)
		}
	}
	if strings.Contains(out, "<x>") || strings.Contains(out, "<schedule_timeout>") {
		t.Error("a comm or a wait is not escaped")
	}
}

// TestWaitGraphSelfDeadlock: a task waiting for a lock it holds is a
// deadlock of one, drawn as an arrow from the task back to itself.
func TestWaitGraphSelfDeadlock(t *testing.T) {
	r := baseReport()
	me := TaskID{PID: 7, Comm: "selfish", Task: 0x7000}
	r.HungTasks = []HungTask{{PID: 7, Comm: "selfish", Task: 0x7000, WaitChannel: "__mutex_lock",
		Wait: &TaskWait{Kind: "mutex", What: "mutex held by selfish 7", Owners: []TaskID{me}, Root: &me, RootWhat: "a deadlock"}}}
	r.Deadlocks = [][]TaskID{{me}}
	out := render(t, r)
	g := waitGroups(r)
	if len(g) != 1 || !g[0].Cycle || g[0].Graph.TaskNodes != 1 || len(g[0].Graph.Edges) != 1 || g[0].Graph.Edges[0].Class != "cycle" {
		t.Fatalf("groups %+v", g)
	}
	checkGeometry(t, g[0].Graph)
	if !strings.Contains(out, "deadlock: selfish 7 → selfish 7 (1 task)") {
		t.Error("the self-deadlock is not titled")
	}
}

// TestWaitGraphLarge: hundreds of tasks under one root draw at most
// wfPerOwner waiters per owner, wfMaxSlots boxes side by side and
// wfMaxTasks boxes in all, and count the others in "+N more" boxes.
func TestWaitGraphLarge(t *testing.T) {
	tests := []struct {
		name         string
		fanout, deep int
		boxes        int
	}{
		{"wide: 6 waiters per task, 4 deep", 6, 4, 1 + wfPerOwner + (wfMaxSlots - wfPerOwner - 1)},
		{"one waiter per task, 300 deep", 1, 300, wfMaxTasks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseReport()
			next := 1
			var add func(owner, depth int)
			add = func(owner, depth int) {
				pid := next
				next++
				w := &TaskWait{Kind: "mutex", What: "m", Root: &TaskID{PID: 1, Comm: "root", Task: 0x1001}}
				if owner > 0 {
					w.Owners = []TaskID{{PID: owner, Comm: "t", Task: Hex(0x1000 + owner)}}
				}
				r.HungTasks = append(r.HungTasks, HungTask{PID: pid, Comm: "t", Task: Hex(0x1000 + pid), WaitChannel: "x", Wait: w})
				if depth < tt.deep {
					for range tt.fanout {
						add(pid, depth+1)
					}
				}
			}
			add(0, 1)
			validate(t, r)
			groups := waitGroups(r)
			if len(groups) != 1 {
				t.Fatalf("%d groups, want 1", len(groups))
			}
			g := groups[0].Graph
			if g.TaskNodes != tt.boxes || g.TaskNodes+g.Hidden != len(r.HungTasks) || len(groups[0].Tasks) != len(r.HungTasks) {
				t.Errorf("%d boxes + %d hidden, %d rows, for %d tasks; want %d boxes", g.TaskNodes, g.Hidden, len(groups[0].Tasks), len(r.HungTasks), tt.boxes)
			}
			checkGeometry(t, g)
			if g.Width > wfMaxSlots*(wfBoxW+wfGapX)+2*wfMargin {
				t.Errorf("drawing %d px wide, more than %d boxes", g.Width, wfMaxSlots)
			}
			for _, n := range g.Nodes {
				waiters := 0
				for _, e := range g.Edges {
					var x1, y1, x2, y2 int
					fmt.Sscanf(e.D, "M%d %d L%d %d", &x1, &y1, &x2, &y2)
					if y2 == n.Y-2 && x2 > n.X && x2 < n.X+n.W {
						waiters++
					}
				}
				if waiters > wfPerOwner+1 {
					t.Errorf("box %v: %d waiters drawn, at most %d and a \"+N more\"", n.Lines, waiters, wfPerOwner)
				}
			}
		})
	}
}
