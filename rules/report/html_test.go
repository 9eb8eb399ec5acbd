package report

import (
	"bytes"
	"strings"
	"testing"
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
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
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
