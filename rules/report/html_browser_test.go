//go:build browser

package report_test

// The HTML report in a real browser: go test -tags browser -run TestHTMLInBrowser -v ./rules/report
// (Debian: apt-get install chromium; skipped when it is not installed).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/testdata/seedgen"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// chromium finds the browser, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("VMTRIAGE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium (apt-get install chromium)")
	return ""
}

// consoleLine is a message of the page's console in Chromium's log
// ("...:INFO:CONSOLE(12)] \"Uncaught ReferenceError: ...\"", or
// ":CONSOLE:12]" in newer builds).
var consoleLine = regexp.MustCompile(`:CONSOLE[(:]|Uncaught`)

// dumpDOM loads the file in headless Chromium and returns the DOM after
// load, failing on any console message (the page has no script: any is
// an error) or uncaught exception.
func dumpDOM(t *testing.T, browser, file string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--disable-gpu", "--no-sandbox",
		"--enable-logging=stderr", "--v=0", "--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if consoleLine.MatchString(l) {
			t.Errorf("console: %s", l)
		}
	}
	return stdout.String()
}

// checkDOM checks what a person must see, in the DOM the browser built:
// the findings and their evidence, each finding's dependency tree (at
// least wantNodes boxes), the wait-for graph (wantTasks task boxes in all,
// as many as its SVGs say they draw, and every hung task's row).
func checkDOM(t *testing.T, dom string, r *report.Report, wantNodes, wantTasks int, more ...string) {
	t.Helper()
	if n := strings.Count(dom, `<section class="finding `); n != len(r.Findings) {
		t.Errorf("%d findings in the DOM, report has %d", n, len(r.Findings))
	}
	must := []string{`id="system"`, `id="hung"`, r.System.Release}
	for _, f := range r.Findings {
		for _, s := range []string{`data-rule="` + f.Rule + `"`, f.Bucket} {
			if !strings.Contains(dom, s) {
				t.Errorf("DOM lacks %q", s)
			}
		}
		for _, e := range f.Evidence {
			if !strings.Contains(dom, `<td class="k">`+e.Label+`</td>`) {
				t.Errorf("DOM lacks evidence row %q", e.Label)
			}
		}
		if f.RootTask != nil && len(f.RootTask.Backtrace) > 0 {
			must = append(must, `<ol class="bt"`)
		}
	}
	if wantNodes > 0 {
		if !strings.Contains(dom, `<svg class="graph"`) {
			t.Error("DOM has no dependency graph")
		}
		if n := strings.Count(dom, `<g class="node `); n < wantNodes {
			t.Errorf("graph has %d nodes, want at least %d", n, wantNodes)
		}
		if strings.Count(dom, "<line ") < wantNodes-1 {
			t.Errorf("graph has %d arrows, want %d", strings.Count(dom, "<line "), wantNodes-1)
		}
	}
	if n := strings.Count(dom, `<svg class="wfg"`); n == 0 && len(r.HungTasks) > 0 {
		t.Error("DOM has no wait-for graph")
	}
	drawn := 0
	for _, m := range svgTasks.FindAllStringSubmatch(dom, -1) {
		n, _ := strconv.Atoi(m[1])
		drawn += n
	}
	if n := strings.Count(dom, `<g class="wf task`); n != wantTasks || n != drawn {
		t.Errorf("wait-for graph has %d task boxes, its SVGs say %d, want %d", n, drawn, wantTasks)
	}
	if n := strings.Count(dom, `<tr id="task-0x`); n != len(r.HungTasks) {
		t.Errorf("%d hung task rows, report has %d", n, len(r.HungTasks))
	}
	for _, s := range append(must, more...) {
		if !strings.Contains(dom, s) {
			t.Errorf("DOM lacks %q", s)
		}
	}
}

var svgTasks = regexp.MustCompile(`<svg class="wfg"[^>]* data-tasks="(\d+)"`)

// writeHTML writes the report's page and checks it is self-contained.
func writeHTML(t *testing.T, r *report.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", " src=", "<link", "@import", "url(http"} {
		if strings.Contains(buf.String(), bad) {
			t.Errorf("HTML is not self-contained: it has %q", bad)
		}
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestHTMLInBrowser(t *testing.T) {
	browser := chromium(t)

	t.Run("console errors are caught", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "bad.html")
		os.WriteFile(file, []byte(`<!DOCTYPE html><html><body><script>noSuchFunction()</script></body></html>`), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, _ := exec.CommandContext(ctx, browser, "--headless", "--disable-gpu", "--no-sandbox",
			"--enable-logging=stderr", "--v=0", "--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+file).CombinedOutput()
		if !consoleLine.Match(out) {
			t.Errorf("an uncaught exception is not seen in Chromium's log:\n%s", out)
		}
	})

	t.Run("seed core", func(t *testing.T) {
		cores := seedgen.Cores(t)
		k, err := analyzer.Open(filepath.Join(cores, "rhel4-1822328.elf"), filepath.Join(cores, seedgen.VmlinuxName))
		if err != nil {
			t.Fatal(err)
		}
		r, err := rules.Analyze(k, "test")
		k.Close()
		if err != nil {
			t.Fatal(err)
		}
		dom := dumpDOM(t, browser, writeHTML(t, r))
		// One root (oracle 8960's lost wakeup): it, kjournald and 4 of
		// the 192 writers waiting for kjournald, the others counted.
		checkDOM(t, dom, r, 3, 6, "kjournald 30348", "oracle 8960 holds handle", "192 tasks waiting on T_LOCKED",
			`id="task-0x102edef7030"`, "/data1/oracle/archive/CC/1_59673_629046150.dbf",
			`<g class="wf end holds"`, fmt.Sprintf(">+%d more</text>", len(r.HungTasks)-6), `<a href="#wfg-0x102edef7030">wait-for graph</a>`)
	})

	// The lab's dumps (bash testdata/realkernel/lab.sh makes them): the
	// rule found first, the wait-for graph's task boxes, what must show.
	labs := []struct {
		scenario, rule string
		tasks          int
		more           []string
	}{
		{"B", "dio-lost-wakeup", 1, []string{`<li class="inline">`, "dio_await_one (inlined)", `<g class="wf end holds"`}},
		{"E", "", 4, []string{`<g class="wf end device"`, ">device dm-0</text>", `<g class="wf task root"`}},
		{"F", "deadlock", 2, []string{`<g class="wf task cycle"`, `<path class="e cycle"`, ">deadlock: each waits for the next</text>"}},
		{"G", "lost-wakeup-completion", 1, []string{`<g class="wf end holds"`}},
		{"H", "lost-wakeup-lock", 1, []string{`<g class="wf end holds"`}},
	}
	for _, lab := range labs {
		t.Run("lab dump 6.1 "+lab.scenario, func(t *testing.T) {
			line := labcache.Named("6.1-amd64")
			dump, vmlinux := line.Dump(lab.scenario, "mdf-zlib"), line.Vmlinux()
			for _, f := range []string{dump, vmlinux} {
				if _, err := os.Stat(f); err != nil {
					t.Skipf("no lab dump: %v (bash testdata/realkernel/lab.sh makes it)", err)
				}
			}
			k, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: []string{line.DebugModules()}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := rules.Analyze(k, "test")
			k.Close()
			if err != nil {
				t.Fatal(err)
			}
			if lab.rule == "" && len(r.Findings) > 0 || lab.rule != "" && (len(r.Findings) == 0 || r.Findings[0].Rule != lab.rule) {
				t.Fatalf("lab dump %s: findings %+v, want %q first", lab.scenario, r.Findings, lab.rule)
			}
			dom := dumpDOM(t, browser, writeHTML(t, r))
			checkDOM(t, dom, r, 0, lab.tasks, lab.more...)
		})
	}
}
