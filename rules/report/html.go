package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
)

// WriteHTML renders the report as one self-contained HTML page (embedded
// CSS, no script, nothing fetched): the findings with their evidence,
// facts and root task's backtrace (inline frames marked), each dependency
// tree drawn as an SVG graph, the hung tasks grouped by what they wait
// on, the rules and the system.
func WriteHTML(w io.Writer, r *Report) error {
	return htmlTemplates.ExecuteTemplate(w, "report", newHTMLReport(r, ""))
}

// WriteHTMLPage is WriteHTML with a link back to an index page (vmtriage
// batch --html).
func WriteHTMLPage(w io.Writer, r *Report, indexHref string) error {
	return htmlTemplates.ExecuteTemplate(w, "report", newHTMLReport(r, indexHref))
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
	return htmlTemplates.ExecuteTemplate(w, "index", x)
}

type htmlReport struct {
	*Report
	Index    string
	Headline string
	System   [][2]string
	Findings []htmlFinding
	Groups   []htmlGroup
	HungRef  map[string]bool
}

type htmlFinding struct {
	Finding
	N         int
	Backtrace []htmlFrame
	Graph     *htmlGraph
	Details   string
	Rows      []htmlRow
}

type htmlRow struct {
	EvidenceRow
	Href string // the hung task the row is about, when listed
}

type htmlFrame struct {
	Text   string
	Inline bool
}

type htmlGroup struct {
	Waiting string
	Tasks   []HungTask
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
	byWait := map[string]*htmlGroup{}
	for _, t := range r.HungTasks {
		key := t.RootOf() // tasks grouped by the root their waits lead to
		g := byWait[key]
		if g == nil {
			g = &htmlGroup{Waiting: key}
			byWait[key] = g
		}
		g.Tasks = append(g.Tasks, t)
	}
	for _, g := range byWait {
		h.Groups = append(h.Groups, *g)
	}
	sort.Slice(h.Groups, func(i, j int) bool {
		if len(h.Groups[i].Tasks) != len(h.Groups[j].Tasks) {
			return len(h.Groups[i].Tasks) > len(h.Groups[j].Tasks)
		}
		return h.Groups[i].Waiting < h.Groups[j].Waiting
	})
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

var htmlTemplates = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper":   func(s Severity) string { return strings.ToUpper(string(s)) },
	"seconds": seconds,
	"inc":     func(i int) int { return i + 1 },
}).Parse(htmlCSS + htmlReportTmpl + htmlIndexTmpl))

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

<h2 id="hung">Hung tasks ({{len .HungTasks}} in uninterruptible sleep), by what they wait on</h2>
{{range $i, $g := .Groups}}<details class="group"{{if lt $i 3}} open{{end}}><summary><b>{{len $g.Tasks}}</b> leading to: {{$g.Waiting}}</summary>
<table class="hung"><tr><th>PID</th><th>Comm</th><th>CPU</th><th>Task</th><th>Blocked</th><th>Wait channel</th><th>Waits on</th></tr>
{{range $g.Tasks}}<tr id="task-{{.Task}}"><td>{{.PID}}</td><td>{{.Comm}}</td><td>{{.CPU}}</td><td class="mono">{{.Task}}</td><td>{{seconds .BlockedSeconds}}</td><td class="mono">{{.WaitChannel}}</td><td>{{if .Wait}}{{.Wait.What}}{{else}}{{.Waiting}}{{end}}</td></tr>
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
{{with .Graph}}<p><b>Who waits on whom</b> (each box waits on the boxes its arrows point to):</p>
<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="dependency graph">
<defs><marker id="arrow-{{$.N}}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6575"/></marker></defs>
{{range .Edges}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}" marker-end="url(#arrow-{{$.N}})"/>
{{end}}{{range $i, $n := .Nodes}}<g class="node layer{{.Layer}}{{if .Leaf}} leaf{{end}}" data-node="{{$i}}"><title>{{.Label}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="6"/>{{range $j, $l := .Lines}}<text x="{{$n.TextX}}" y="{{index $n.LineY $j}}">{{$l}}</text>{{end}}</g>
{{end}}</svg>{{end}}
{{with .Tasks}}<p>{{len .}} tasks: see <a href="#hung">Hung tasks</a>.</p>{{end}}
{{if .FixedIn}}<p><b>Fixed in:</b> {{range $i, $v := .FixedIn}}{{if $i}}; {{end}}{{$v}}{{end}}</p>{{end}}
{{if .References}}<p><b>References:</b></p><ul>{{range .References}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Details}}<details><summary>Details (the rule's data, as in the JSON report)</summary><pre>{{.}}</pre></details>{{end}}
</section>{{end}}`

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
