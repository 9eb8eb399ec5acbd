package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// runCLI runs vmtriage with args, capturing stdout and stderr.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	oldOut, oldErr := os.Stdout, os.Stderr
	rOut, wOut, _ := os.Pipe()
	rErr, wErr, _ := os.Pipe()
	os.Stdout, os.Stderr = wOut, wErr
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(rOut); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(rErr); errC <- string(b) }()
	root := newRootCmd()
	root.SetOut(wOut)
	root.SetErr(wErr)
	code = runWith(root, args)
	wOut.Close()
	wErr.Close()
	os.Stdout, os.Stderr = oldOut, oldErr
	return code, <-outC, <-errC
}

// TestDemoGolden: `vmtriage demo` prints the first seed core's table.
func TestDemoGolden(t *testing.T) {
	t.Setenv("COLUMNS", "") // not a terminal: report.DefaultWidth
	code, out, errOut := runCLI(t, "demo")
	if code != exitFindings {
		t.Fatalf("demo exit status %d, want %d; stderr: %s", code, exitFindings, errOut)
	}
	golden := filepath.Join("testdata", "demo.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/vmtriage -update to create it)", err)
	}
	if out != string(want) {
		t.Errorf("demo output differs from %s (run go test ./cmd/vmtriage -update after checking the change):\n%s", golden, out)
	}
	for _, s := range []string{"dio-lost-wakeup", "oracle", "427 s", "0x1010012b800", "kjournald 30348",
		"/data1/oracle/archive/CC/1_59673_629046150.dbf", "192 tasks waiting on T_LOCKED", "fix available"} {
		if !strings.Contains(out, s) {
			t.Errorf("demo output lacks %q", s)
		}
	}
}

// TestDemoFitsTerminal: the table report is fitted to $COLUMNS, with every
// value still there.
func TestDemoFitsTerminal(t *testing.T) {
	for _, width := range []int{60, 80, 100, 120, 200} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			t.Setenv("COLUMNS", fmt.Sprint(width))
			code, out, errOut := runCLI(t, "demo")
			if code != exitFindings {
				t.Fatalf("demo exit status %d; stderr: %s", code, errOut)
			}
			for i, l := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(l); n > width {
					t.Errorf("line %d is %d columns wide, more than %d: %q", i+1, n, width, l)
				}
			}
			for _, s := range []string{"dio-lost-wakeup", "0x1010012b800", "0x102edef7030", "kjournald 30348",
				"__blockdev_direct_IO", "T_LOCKED", "/dev/md10"} {
				if !strings.Contains(out, s) {
					t.Errorf("demo output at %d columns lacks %q", width, s)
				}
			}
		})
	}
}

func TestDemoJSON(t *testing.T) {
	code, out, _ := runCLI(t, "demo", "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit status %d, want %d", code, exitFindings)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("demo JSON does not parse: %v", err)
	}
	if r.Schema != report.Schema || len(r.Findings) == 0 || r.Findings[0].Rule != "dio-lost-wakeup" ||
		r.Findings[0].Details["dio"] != "0x1010012b800" {
		t.Errorf("demo JSON: schema %q findings %+v", r.Schema, r.Findings)
	}
	// the contract's keys, spelled as rules/report/schema.json says
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, path := range [][]string{{"dump", "path"}, {"dump", "format"}, {"system", "release"}, {"system", "uptime_seconds"},
		{"system", "load_average"}, {"system", "panic"}, {"system", "tasks"}, {"system", "cpus"}} {
		m := raw
		for i, k := range path {
			v, ok := m[k]
			if !ok {
				t.Errorf("JSON lacks %s", strings.Join(path, "."))
				break
			}
			if i < len(path)-1 {
				m, _ = v.(map[string]any)
			}
		}
	}
	f := raw["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"rule", "title", "severity", "confidence", "bucket", "references", "fixed_in", "root_task", "evidence", "details"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
}

func TestExitStatusAndErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.vmcore")
	os.WriteFile(garbage, bytes.Repeat([]byte("not a dump "), 100), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	src, err := seedgen.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	vmlinux := filepath.Join(src, seedgen.VmlinuxName)
	tests := []cliCase{
		{"version", []string{"version"}, exitClean, ""},
		{"garbage dump", []string{"analyze", garbage, "--vmlinux", vmlinux}, exitError, "not a vmcore"},
		{"empty dump", []string{"analyze", empty, "--vmlinux", vmlinux}, exitError, empty},
		{"missing dump", []string{"analyze", filepath.Join(dir, "nope"), "--vmlinux", vmlinux}, exitError, "nope"},
		{"no vmlinux flag, not a dump", []string{"analyze", garbage}, exitError, "not a vmcore"},
		{"vmlinux is a dump", []string{"analyze", vmlinux, "--vmlinux", garbage}, exitError, "vmtriage:"},
		{"bad format", []string{"demo", "--format", "xml"}, exitError, "unknown --format"},
		{"unknown command", []string{"frobnicate"}, exitError, "unknown command"},
	}
	runCLICases(t, tests)
}

// cliCase is a command line and what it must do: exit status and a piece
// of its one-line error.
type cliCase struct {
	name    string
	args    []string
	code    int
	errHave string
}

func runCLICases(t *testing.T, tests []cliCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if !strings.Contains(errOut, tt.errHave) {
				t.Errorf("stderr %q lacks %q", errOut, tt.errHave)
			}
			if tt.code == exitError && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("error is not one line: %q", errOut)
			}
		})
	}
}

// TestTruncatedDump: an interrupted copy is analysed as far as its pages
// allow, with a warning that says where it is cut; never a panic.
func TestTruncatedDump(t *testing.T) {
	seed := seedgen.Cores(t)
	dir := t.TempDir()
	vmlinux := filepath.Join(seed, seedgen.VmlinuxName)
	for _, name := range []string{"rhel4-20080616.elf", "rhel4-20080616.kdump"} {
		full, err := os.ReadFile(filepath.Join(seed, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, frac := range []int{2, 3, 5, 10} {
			cut := filepath.Join(dir, "cut-"+name)
			if err := os.WriteFile(cut, full[:len(full)*(frac-1)/frac], 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "analyze", cut, "--vmlinux", vmlinux, "--format", "json")
			if code == exitError {
				if !strings.Contains(errOut, "truncated") && !strings.Contains(errOut, cut) {
					t.Errorf("%s cut at %d/%d: error %q names neither the file nor truncation", name, frac-1, frac, errOut)
				}
				continue
			}
			var r report.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !r.Dump.Truncated {
				t.Errorf("%s cut at %d/%d: report does not say truncated; warnings %q", name, frac-1, frac, r.Warnings)
			}
			wantKind := map[string]string{".elf": "elf-short", ".kdump": "kdump-short"}[filepath.Ext(name)]
			if tr := r.Dump.Truncation; tr == nil || tr.Kind != wantKind || tr.FileSize != int64(len(full)*(frac-1)/frac) || tr.Offset > tr.FileSize {
				t.Errorf("%s cut at %d/%d: truncation %+v, want kind %s and file size %d", name, frac-1, frac, tr, wantKind, len(full)*(frac-1)/frac)
			}
		}
	}
}

// TestCrashViews: ps and bt print what crash printed in the seed report.
func TestCrashViews(t *testing.T) {
	dir := seedgen.Cores(t)
	vm := filepath.Join(dir, seedgen.VmlinuxName)
	dump := filepath.Join(dir, "rhel4-20080616.kdump")
	tests := []struct {
		args []string
		have []string
	}{
		{[]string{"bt", dump, "21578", "--vmlinux", vm}, []string{
			`PID: 21578  TASK: 101eb004030  CPU: 7   COMMAND: "ls"`,
			"#1 [101aaea3d80] start_this_handle+0x259 [jbd] at ffffffffa00f3359",
			"#8 [101aaea3f80] system_call+0x6a at ffffffff8011026a"}},
		{[]string{"bt", dump, "17538", "--vmlinux", vm}, []string{
			"#1 [101f0891bb0] journal_commit_transaction+0x872 [jbd] at ffffffffa00f5872",
			"#3 [101f0891f50] kernel_thread+0x67 at ffffffff80110f47"}},
		{[]string{"ps", dump, "--vmlinux", vm, "--state", "UN"}, []string{"21356", "103f8f97030", "196", "pdflush"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:1], " ")+" "+tt.args[2], func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != exitClean {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, h := range tt.have {
				if !strings.Contains(out, h) {
					t.Errorf("output lacks %q:\n%s", h, out)
				}
			}
		})
	}
}

func TestMain(m *testing.M) {
	// the tests' caches (the reports analyze keeps) are their own
	cache, err := os.MkdirTemp("", "vmtriage-cmd-test-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv("VMTRIAGE_CACHE", cache)
	code := m.Run()
	seedgen.RemoveCached()
	os.RemoveAll(cache)
	os.Exit(code)
}

// TestReportCache: a second analyze of the same dump reads the report
// analyze kept, says so, and writes what the first wrote, in every
// format; --no-cache, another option or a changed dump analyse again.
func TestReportCache(t *testing.T) {
	seed := seedgen.Cores(t)
	vmlinux := filepath.Join(seed, seedgen.VmlinuxName)
	dump := filepath.Join(t.TempDir(), "vmcore")
	b, err := os.ReadFile(filepath.Join(seed, "rhel4-20080616.kdump"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dump, b, 0o644); err != nil {
		t.Fatal(err)
	}
	const note = "the report of an earlier analysis of this dump"
	if _, _, errOut := runCLI(t, "analyze", dump, "--vmlinux", vmlinux, "--format", "json"); strings.Contains(errOut, note) {
		t.Fatalf("the first analysis read a kept report: %q", errOut)
	}
	for _, format := range []string{"json", "table", "markdown", "html"} {
		t.Run(format, func(t *testing.T) {
			args := []string{"analyze", dump, "--vmlinux", vmlinux, "--format", format}
			code1, fresh, errFresh := runCLI(t, append(args, "--no-cache")...)
			code2, kept, errKept := runCLI(t, args...)
			if strings.Contains(errFresh, note) || !strings.Contains(errKept, note) {
				t.Errorf("stderr with --no-cache %q, without %q: only the second reads the kept report", errFresh, errKept)
			}
			if code1 != exitFindings || code2 != code1 {
				t.Errorf("exit statuses %d, %d; want %d", code1, code2, exitFindings)
			}
			if kept != fresh {
				t.Errorf("the kept report renders differently:\n%s\nfresh:\n%s", kept, fresh)
			}
		})
	}
	// the kept report names the dump as this run gave it
	t.Chdir(filepath.Dir(dump))
	_, out, errOut := runCLI(t, "analyze", "vmcore", "--vmlinux", vmlinux, "--format", "json")
	var r report.Report
	if !strings.Contains(errOut, note) {
		t.Errorf("the dump by a relative path: the kept report was not used (%q)", errOut)
	} else if err := json.Unmarshal([]byte(out), &r); err != nil || r.Dump.Path != "vmcore" {
		t.Errorf("the kept report names the dump %q (%v), want vmcore", r.Dump.Path, err)
	}
	for _, tc := range []struct {
		name   string
		change func()
		args   []string
	}{
		{"--no-cache", func() {}, []string{"--no-cache"}},
		{"other types", func() {}, []string{"--types", "dwarf"}},
		{"dump changed", func() {
			if err := os.Chtimes(dump, time.Now(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		tc.change()
		_, _, errOut := runCLI(t, append([]string{"analyze", dump, "--vmlinux", vmlinux, "--format", "json"}, tc.args...)...)
		if strings.Contains(errOut, note) {
			t.Errorf("%s: the kept report was used", tc.name)
		}
	}
}
