package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/rules/batch"
	"github.com/vmtriage/vmtriage/rules/report/schemacheck"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// expect is what a corpus file must give.
type expect int

const (
	positive expect = iota // a dio-lost-wakeup finding, in the one dio bucket
	negative               // a report without dio-lost-wakeup
	bad                    // an error record
	cut                    // a report that says truncated
)

// corpus is a directory of generated cores for the batch tests.
type corpus struct {
	dir      string
	debugDir string // holds usr/lib/debug/boot/vmlinux-RELEASE
	vmlinux  string
	seed     string            // the seed cores as Generate wrote them
	files    map[string]expect // absolute path -> expectation
	explicit []string          // files without dump magic, named on the command line
}

// buildCorpus writes the seed cores, copies (hard links) and variants of
// them in ELF, kdump and flattened formats, and bad files: 41 dumps plus
// two non-dumps that discovery must skip.
func buildCorpus(t *testing.T) *corpus {
	t.Helper()
	root := t.TempDir()
	src, err := seedgen.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	c := &corpus{dir: filepath.Join(root, "queue"), seed: filepath.Join(root, "queue", "seed"), files: map[string]expect{}}
	if err := seedgen.Generate(c.seed, filepath.Join(src, seedgen.VmlinuxName)); err != nil {
		t.Fatal(err)
	}
	// the vmlinux lives outside the queue, found by release in a debug dir
	c.debugDir = filepath.Join(root, "debug")
	debug := filepath.Join(c.debugDir, "usr", "lib", "debug", "boot")
	os.MkdirAll(debug, 0o755)
	c.vmlinux = filepath.Join(debug, seedgen.VmlinuxName)
	if err := os.Rename(filepath.Join(c.seed, seedgen.VmlinuxName), c.vmlinux); err != nil {
		t.Fatal(err)
	}
	for _, o := range seedgen.Outputs() {
		e := positive
		if o.Variant != seedgen.Positive {
			e = negative
		}
		c.files[filepath.Join(c.seed, o.Name)] = e
	}
	link := func(from, to string, e expect) {
		t.Helper()
		os.MkdirAll(filepath.Dir(to), 0o755)
		if err := os.Link(from, to); err != nil {
			data, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c.files[to] = e
	}
	// copies, as if the same bugs hit many machines (ELF: cheap to read)
	for i := range 14 {
		link(filepath.Join(c.seed, "rhel4-20080616.elf"), filepath.Join(c.dir, "site-b", fmt.Sprintf("host%02d", i), "vmcore"), positive)
	}
	for i := range 4 {
		link(filepath.Join(c.seed, "rhel4-1822328.elf"), filepath.Join(c.dir, "site-a", fmt.Sprintf("host%02d", i), "vmcore"), positive)
	}
	for _, v := range []string{"inflight", "nowaiter", "running"} {
		for i := range 2 {
			link(filepath.Join(c.seed, "rhel4-1822328-"+v+".elf"), filepath.Join(c.dir, "site-c", fmt.Sprintf("%s-%d.core", v, i)), negative)
		}
	}
	// other formats
	im, err := symbols.Open(c.vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	for _, v := range []struct {
		name, core string
		variant    seedgen.Variant
		format     string
		e          expect
	}{
		{"rhel4-20080616.flat", "rhel4-20080616", seedgen.Positive, "flattened", positive},
		{"rhel4-1822328-inflight.flat", "rhel4-1822328", seedgen.InFlight, "flattened", negative},
		{"rhel4-20080616-running.kdump", "rhel4-20080616", seedgen.Running, "kdump", negative},
	} {
		p := filepath.Join(c.dir, "formats", v.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := seedgen.WriteDump(p, im, v.core, v.variant, v.format); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		c.files[p] = v.e
	}
	// bad files: dump magic with garbage behind it, and interrupted copies
	badDir := filepath.Join(c.dir, "bad")
	os.MkdirAll(badDir, 0o755)
	elfCore := append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x3e\x00"), bytes.Repeat([]byte{0xa5}, 4000)...)
	elf1822328, err := os.ReadFile(filepath.Join(c.seed, "rhel4-1822328.elf"))
	if err != nil {
		t.Fatal(err)
	}
	kdump20080616, err := os.ReadFile(filepath.Join(c.seed, "rhel4-20080616.kdump"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"garbage-elf.core":    elfCore,
		"garbage-kdump.core":  append([]byte("KDUMP   "), bytes.Repeat([]byte("junk"), 3000)...),
		"garbage-flat.core":   append([]byte("makedumpfile\x00\x00\x00\x00"), bytes.Repeat([]byte("junk"), 3000)...),
		"headers-cut.elf":     elf1822328[:100000],
		"bitmap-cut.kdump":    kdump20080616[:len(kdump20080616)/3],
		"short-elf-magic.elf": []byte("\x7fELF"),
	} {
		p := filepath.Join(badDir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c.files[p] = bad
	}
	half := filepath.Join(badDir, "half-copied.elf")
	if err := os.WriteFile(half, elf1822328[:len(elf1822328)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	c.files[half] = cut
	// not dumps: skipped by discovery, unless named explicitly
	os.WriteFile(filepath.Join(c.dir, "README.txt"), []byte("customer cores, queue of the day\n"), 0o644)
	noMagic := filepath.Join(root, "explicit-garbage.vmcore")
	os.WriteFile(noMagic, bytes.Repeat([]byte("not a dump "), 100), 0o644)
	c.explicit = []string{noMagic}
	c.files[noMagic] = bad
	if n := len(c.files); n < 40 {
		t.Fatalf("corpus has %d dumps, want at least 40", n)
	}
	return c
}

// args is the batch command line over the corpus.
func (c *corpus) args(out string, extra ...string) []string {
	a := append([]string{"batch", c.dir}, c.explicit...)
	a = append(a, "--debug-dir", c.debugDir, "--out", out, "--progress", "log")
	return append(a, extra...)
}

// readLines reads a JSONL file and fails on any line that is not a
// complete JSON record valid against the schema.
func readLines(t *testing.T, path string) []batch.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("%s does not end with a newline: torn last line", path)
	}
	var recs []batch.Record
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r batch.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s line %d is not a complete JSON record: %v: %.200s", path, i+1, err, line)
		}
		if err := schemacheck.Validate(line); err != nil {
			t.Errorf("%s line %d: %v", path, i+1, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func dioBucket(r *batch.Record) string {
	for _, f := range r.Findings {
		if f.Rule == "dio-lost-wakeup" {
			return f.Bucket
		}
	}
	return ""
}

// checkRecords checks one record per corpus file with the expected
// outcome; it returns the dio bucket.
func (c *corpus) checkRecords(t *testing.T, recs []batch.Record) {
	t.Helper()
	byPath := map[string]batch.Record{}
	for _, r := range recs {
		if _, dup := byPath[r.Dump.Path]; dup {
			t.Errorf("two lines for %s", r.Dump.Path)
		}
		byPath[r.Dump.Path] = r
	}
	if len(byPath) != len(c.files) {
		t.Errorf("%d records, want one per dump (%d)", len(byPath), len(c.files))
	}
	buckets := map[string]int{}
	for p, e := range c.files {
		r, ok := byPath[p]
		if !ok {
			t.Errorf("no record for %s", p)
			continue
		}
		switch e {
		case positive:
			if r.Failed() || dioBucket(&r) == "" {
				t.Errorf("%s: want a dio-lost-wakeup finding; error %q findings %d", p, r.Error, len(r.Findings))
			}
			buckets[dioBucket(&r)]++
		case negative:
			if r.Failed() || dioBucket(&r) != "" {
				t.Errorf("%s: negative: want a report without dio-lost-wakeup; error %q bucket %q", p, r.Error, dioBucket(&r))
			}
		case bad:
			if !r.Failed() {
				t.Errorf("%s: want an error record, got a report", p)
			}
		case cut:
			if !r.Failed() && !r.Dump.Truncated {
				t.Errorf("%s: cut in half: want truncated: true or an error", p)
			}
		}
	}
	if len(buckets) != 1 {
		t.Errorf("positives in %d dio buckets %v, want 1", len(buckets), buckets)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// vmtriageBinary builds the command once per test binary.
func vmtriageBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
		if err != nil {
			buildErr = fmt.Errorf("building vmtriage for the multi-process tests: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "vmtriage-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vmtriage")
		out, err := exec.Command(gobin, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// stable drops what differs between two runs of the same dumps: timing,
// the shard and the order of the lines.
func stable(t *testing.T, recs []batch.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		if r.Batch != nil {
			b := *r.Batch
			b.Seconds, b.Shard = 0, ""
			r.Batch = &b
		}
		line, err := r.Line()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(line))
	}
	sort.Strings(out)
	return out
}

// TestBatchCorpus runs the batch over a 41-dump queue: one line per dump,
// positives in one bucket, errors for bad files, a resume that does
// nothing, four shards as four processes merged into the same records, a
// batch killed midway leaving only complete lines, and every line valid
// against the schema.
func TestBatchCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 41 dumps")
	}
	c := buildCorpus(t)
	work := t.TempDir()
	full := filepath.Join(work, "results.jsonl")
	var fullRecs []batch.Record

	t.Run("batch", func(t *testing.T) {
		summary := filepath.Join(work, "summary.json")
		code, out, errOut := runCLI(t, c.args(full, "--jobs", "2", "--summary-json", summary)...)
		if code != exitFindings {
			t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitFindings, errOut)
		}
		fullRecs = readLines(t, full)
		c.checkRecords(t, fullRecs)
		t.Logf("%d lines; summary:\n%s", len(fullRecs), out)
		for _, s := range []string{"BUCKET", "dio-lost-wakeup-", "EXAMPLE CORES", "FAILED DUMP"} {
			if !strings.Contains(out, s) {
				t.Errorf("summary lacks %q:\n%s", s, out)
			}
		}
		if !strings.Contains(errOut, fmt.Sprintf("[%d/%d]", len(c.files), len(c.files))) {
			t.Errorf("stderr (not a terminal) lacks the log line of the last dump:\n%.2000s", errOut)
		}
		var s batch.Summary
		data, _ := os.ReadFile(summary)
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatalf("--summary-json: %v", err)
		}
		var dio *batch.Bucket
		for i := range s.Buckets {
			if s.Buckets[i].Rule == "dio-lost-wakeup" {
				if dio != nil {
					t.Errorf("two dio buckets: %s and %s", dio.ID, s.Buckets[i].ID)
				}
				dio = &s.Buckets[i]
			}
		}
		positives, bads := 0, 0
		for _, e := range c.files {
			switch e {
			case positive:
				positives++
			case bad:
				bads++
			}
		}
		if dio == nil || dio.Count != positives {
			t.Errorf("dio bucket %+v, want %d dumps", dio, positives)
		}
		if s.Dumps != len(c.files) || s.Failed != bads {
			t.Errorf("summary: %d dumps %d failed, want %d and %d", s.Dumps, s.Failed, len(c.files), bads)
		}
	})

	t.Run("resume does no work", func(t *testing.T) {
		before, _ := os.ReadFile(full)
		code, _, errOut := runCLI(t, c.args(full, "--resume")...)
		if code != exitFindings {
			t.Fatalf("exit status %d; stderr:\n%s", code, errOut)
		}
		after, _ := os.ReadFile(full)
		if !bytes.Equal(before, after) {
			t.Errorf("--resume changed the output")
		}
		if want := fmt.Sprintf("0 dumps to analyse (%d already done)", len(c.files)); !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	})

	bin := vmtriageBinary(t)
	defer os.RemoveAll(filepath.Dir(bin))

	t.Run("four shards merged", func(t *testing.T) {
		var shards []string
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for i := range 4 {
			out := filepath.Join(work, fmt.Sprintf("shard-%d.jsonl", i))
			shards = append(shards, out)
			cmd := exec.Command(bin, c.args(out, "--shard", fmt.Sprintf("%d/4", i), "--jobs", "1")...)
			var stderr bytes.Buffer
			cmd.Stderr, cmd.Stdout = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, &stderr)
		}
		total := 0
		for i, cmd := range cmds {
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code == exitError || code < 0 {
				t.Fatalf("shard %d: %v:\n%s", i, err, outs[i])
			}
			total += len(readLines(t, shards[i]))
		}
		if total != len(c.files) {
			t.Errorf("the shards have %d lines together, want %d", total, len(c.files))
		}
		merged := filepath.Join(work, "merged.jsonl")
		out, err := exec.Command(bin, append(append([]string{"merge"}, shards...), "--out", merged)...).CombinedOutput()
		if code := exitCode(err); code != exitFindings {
			t.Fatalf("merge exit status %d: %s", code, out)
		}
		got, want := stable(t, readLines(t, merged)), stable(t, fullRecs)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("merged shards differ from the unsharded run: %d vs %d records", len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("first difference:\n got %.400s\nwant %.400s", got[i], want[i])
					break
				}
			}
		}
	})

	t.Run("killed midway", func(t *testing.T) {
		out := filepath.Join(work, "killed.jsonl")
		cmd := exec.Command(bin, c.args(out, "--jobs", "1")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			data, _ := os.ReadFile(out)
			if bytes.Count(data, []byte("\n")) >= 5 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("the batch was not killed (it finished first?): %v", err)
		}
		recs := readLines(t, out) // fails on any incomplete line
		if len(recs) < 5 || len(recs) >= len(c.files) {
			t.Errorf("killed after %d lines, want midway (5..%d)", len(recs), len(c.files)-1)
		}
		t.Logf("killed after %d complete lines", len(recs))
		// and the rest is done by --resume, to the same set of records
		code, _, errOut := runCLI(t, c.args(out, "--resume", "--jobs", "2")...)
		if code != exitFindings {
			t.Fatalf("resume after kill: exit status %d:\n%s", code, errOut)
		}
		if got, want := stable(t, readLines(t, out)), stable(t, fullRecs); !reflect.DeepEqual(got, want) {
			t.Errorf("kill + resume gives %d records, the full run %d (or they differ)", len(got), len(want))
		}
	})

	t.Run("schema", func(t *testing.T) {
		_, out, _ := runCLI(t, "demo", "--format", "json")
		if err := schemacheck.Validate([]byte(out)); err != nil {
			t.Errorf("demo: %v", err)
		}
		for _, o := range seedgen.Outputs() {
			_, out, errOut := runCLI(t, "analyze", filepath.Join(c.seed, o.Name), "--vmlinux", c.vmlinux, "--format", "json")
			if err := schemacheck.Validate([]byte(out)); err != nil {
				t.Errorf("analyze %s: %v (stderr %s)", o.Name, err, errOut)
			}
		}
		// the batch lines, error records included, are validated by readLines
		errors := 0
		for _, r := range fullRecs {
			if r.Failed() {
				errors++
			}
		}
		if errors == 0 {
			t.Errorf("no error record was validated")
		}
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestBatchArgs: batch-level errors exit 2 with one line; an empty queue
// exits 0.
func TestBatchArgs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	vmlinux := filepath.Join(dir, "vmlinux")
	os.WriteFile(vmlinux, []byte("x"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	tests := []cliCase{
		{"no path", []string{"batch"}, exitError, "requires at least 1 arg"},
		{"missing path", []string{"batch", filepath.Join(dir, "nope"), "--vmlinux", vmlinux, "--out", out}, exitError, "nope"},
		{"bad shard", []string{"batch", empty, "--vmlinux", vmlinux, "--shard", "4/4"}, exitError, "--shard"},
		{"shard not a number", []string{"batch", empty, "--vmlinux", vmlinux, "--shard", "a/b"}, exitError, "--shard"},
		{"no vmlinux source", []string{"batch", empty, "--out", out}, exitError, "--vmlinux"},
		{"debug dir missing", []string{"batch", empty, "--debug-dir", filepath.Join(dir, "nodebug")}, exitError, "--debug-dir"},
		{"bad progress", []string{"batch", empty, "--vmlinux", vmlinux, "--out", out, "--progress", "fancy"}, exitError, "--progress"},
		{"empty queue", []string{"batch", empty, "--vmlinux", vmlinux, "--out", out}, exitClean, "0 dumps found"},
		{"merge missing", []string{"merge", filepath.Join(dir, "nope.jsonl")}, exitError, "nope.jsonl"},
	}
	runCLICases(t, tests)
}

// TestAnalyzeMarkdown: the Markdown report carries the evidence a ticket
// needs, in tables and code blocks.
func TestAnalyzeMarkdown(t *testing.T) {
	code, out, errOut := runCLI(t, "demo", "--format", "markdown")
	if code != exitFindings {
		t.Fatalf("exit status %d; stderr %s", code, errOut)
	}
	for _, s := range []string{
		"## vmtriage: Direct-I/O lost wakeup", "### System", "| Release | `2.6.9-67.0.4.ELlargesmp` |",
		"#### 1. CRITICAL `dio-lost-wakeup`", "**Bucket** `dio-lost-wakeup-", "| dio | `0x1010012b800`",
		"`/data1/oracle/archive/CC/1_59673_629046150.dbf`", "kjournald 30348", "```", "### Hung tasks (194",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("markdown lacks %q", s)
		}
	}
	// every table row has as many cells as its header
	lines := strings.Split(out, "\n")
	cells := 0
	for _, l := range lines {
		if !strings.HasPrefix(l, "|") {
			cells = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(l, `\|`, ""), "|") - 1
		if cells == 0 {
			cells = n
		} else if n != cells {
			t.Errorf("table row with %d cells under a %d-cell header: %s", n, cells, l)
		}
	}
}
