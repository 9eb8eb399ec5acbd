package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vmtriage/vmtriage/rules/batch"
	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/rules/report/schemacheck"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		want batch.Shard
		ok   bool
	}{
		{"", batch.Shard{}, true},
		{"0/1", batch.Shard{Index: 0, Count: 1}, true},
		{"3/4", batch.Shard{Index: 3, Count: 4}, true},
		{" 2 / 8 ", batch.Shard{Index: 2, Count: 8}, true},
		{"4/4", batch.Shard{}, false},
		{"-1/4", batch.Shard{}, false},
		{"1/0", batch.Shard{}, false},
		{"1", batch.Shard{}, false},
		{"a/b", batch.Shard{}, false},
		{"/4", batch.Shard{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := batch.ParseShard(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseShard(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestShardPartition: every path is in exactly one shard, the split is
// the same on every call, and roughly even.
func TestShardPartition(t *testing.T) {
	var paths []string
	for i := range 2000 {
		paths = append(paths, fmt.Sprintf("/queue/case-%05d/vmcore", i))
	}
	for _, n := range []int{1, 2, 4, 7} {
		seen := map[string]int{}
		for i := range n {
			s := batch.Shard{Index: i, Count: n}
			part := s.Select(paths)
			if !reflect.DeepEqual(part, s.Select(paths)) {
				t.Fatalf("shard %s is not deterministic", s)
			}
			if want := len(paths) / n; len(part) < want*8/10 || len(part) > want*12/10 {
				t.Errorf("shard %s has %d paths, want about %d", s, len(part), want)
			}
			for _, p := range part {
				seen[p]++
			}
		}
		for _, p := range paths {
			if seen[p] != 1 {
				t.Fatalf("N=%d: %s is in %d shards", n, p, seen[p])
			}
		}
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"a/vmcore":         []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00"),
		"a/vmlinux":        []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"),
		"a/big-endian":     []byte("\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04"),
		"b/c/dump.kdump":   []byte("KDUMP   rest"),
		"b/c/dump.flat":    []byte("makedumpfile\x00\x00\x00\x00"),
		"b/short-elf":      []byte("\x7fELF"),
		"b/notes.txt":      []byte("KDUMP is mentioned but not at the start"),
		"b/results.jsonl":  []byte(`{"schema":"vmtriage.report/v1"}`),
		"b/empty":          nil,
		"b/c/d/module.ko":  []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00"),
		"explicit.garbage": []byte("garbage"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(filepath.Join(dir, "a", "vmcore"), filepath.Join(dir, "b", "link-to-core"))
	got, err := batch.Discover([]string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "explicit.garbage"), filepath.Join(dir, "a")})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range []string{"a/vmcore", "a/big-endian", "b/c/dump.kdump", "b/c/dump.flat", "b/short-elf", "b/link-to-core", "explicit.garbage"} {
		want = append(want, filepath.Join(dir, n))
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Discover =\n%q\nwant\n%q", got, want)
	}
	if _, err := batch.Discover([]string{filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: %v", err)
	}
}

func rec(path string, buckets ...string) batch.Record {
	r := batch.Record{Batch: &batch.Info{Size: 1}}
	r.Schema, r.Dump.Path, r.Dump.Format = report.Schema, path, "elf"
	r.Findings = []report.Finding{}
	r.HungTasks = []report.HungTask{}
	for _, b := range buckets {
		rule := b[:strings.LastIndexByte(b, '-')]
		r.Findings = append(r.Findings, report.Finding{Rule: rule, Title: rule + " title", Bucket: b, Severity: "critical", Confidence: "high"})
	}
	return r
}

func failed(path, msg string) batch.Record {
	r := batch.Record{Error: msg, Batch: &batch.Info{}}
	r.Schema, r.Dump.Path = report.Schema, path
	return r
}

// TestRecordJSON: a report line keeps the report's keys plus "batch"; an
// error line has only schema, tool, dump.path, error and batch.
func TestRecordJSON(t *testing.T) {
	tests := []struct {
		name string
		r    batch.Record
		keys []string
	}{
		{"report", rec("/q/a", "dio-lost-wakeup-0123456789"), []string{"batch", "dump", "findings", "hung_tasks", "schema", "system", "tool"}},
		{"error", failed("/q/b", "not a vmcore"), []string{"batch", "dump", "error", "schema", "tool"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := tt.r.Line()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
				t.Errorf("not one line: %q", line)
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if !reflect.DeepEqual(keys, tt.keys) {
				t.Errorf("keys %v, want %v", keys, tt.keys)
			}
			if err := schemacheck.Validate(line); err != nil {
				t.Error(err)
			}
			back, bad, err := batch.Read(bytes.NewReader(line))
			if err != nil || bad != 0 || len(back) != 1 || back[0].Dump.Path != tt.r.Dump.Path || back[0].Error != tt.r.Error {
				t.Errorf("read back %+v (bad %d, %v)", back, bad, err)
			}
		})
	}
}

// TestWriterRepairsTornLine: appending after a torn last line (a crash in
// the middle of a write) first cuts it off, and readers skip it.
func TestWriterRepairsTornLine(t *testing.T) {
	tests := []struct {
		name, before string
		keep         int // complete lines kept
	}{
		{"clean", "{\"dump\":{\"path\":\"/a\"}}\n", 1},
		{"torn", "{\"dump\":{\"path\":\"/a\"}}\n{\"dump\":{\"pa", 1},
		{"only torn", "{\"dump\":{\"pa", 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "out.jsonl")
			os.WriteFile(p, []byte(tt.before), 0o644)
			if _, bad, _ := batch.ReadFile(p); strings.HasSuffix(tt.before, "pa") && bad != 1 {
				t.Errorf("torn line not counted as bad: %d", bad)
			}
			w, err := batch.OpenWriter(p, false, true)
			if err != nil {
				t.Fatal(err)
			}
			r := rec("/b")
			if err := w.Write(&r); err != nil {
				t.Fatal(err)
			}
			w.Close()
			recs, bad, err := batch.ReadFile(p)
			if err != nil || bad != 0 || len(recs) != tt.keep+1 || recs[len(recs)-1].Dump.Path != "/b" {
				t.Errorf("after append: %d records, %d bad, %v", len(recs), bad, err)
			}
		})
	}
}

func TestSummarizeAndMerge(t *testing.T) {
	dir := t.TempDir()
	dio, js := "dio-lost-wakeup-0123456789", "journal-stall-abcdef0123"
	s1 := []batch.Record{rec("/q/1", dio, js), rec("/q/2", dio), failed("/q/3", "boom")}
	s2 := []batch.Record{rec("/q/4"), rec("/q/3", js), rec("/q/5", dio, dio)} // /q/3 retried; a bucket twice in one dump
	var files []string
	for i, recs := range [][]batch.Record{s1, s2} {
		p := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", i))
		w, err := batch.OpenWriter(p, true, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			w.Write(&recs[i])
		}
		w.Close()
		files = append(files, p)
	}
	out := filepath.Join(dir, "all.jsonl")
	merged, err := batch.Merge(files, out)
	if err != nil {
		t.Fatal(err)
	}
	back, _, _ := batch.ReadFile(out)
	var paths []string
	for _, r := range back {
		paths = append(paths, r.Dump.Path)
	}
	if want := []string{"/q/1", "/q/2", "/q/3", "/q/4", "/q/5"}; !reflect.DeepEqual(paths, want) || len(merged) != 5 {
		t.Errorf("merged paths %v, want %v", paths, want)
	}
	s := batch.Summarize(back)
	if s.Dumps != 5 || s.WithFindings != 4 || s.Clean != 1 || s.Failed != 0 {
		t.Errorf("summary %+v", s)
	}
	if b := s.Bucket(dio); b == nil || b.Count != 3 || s.Buckets[0].ID != dio {
		t.Errorf("dio bucket %+v, want 3 dumps and first", b)
	}
	if b := s.Bucket(js); b == nil || b.Count != 2 {
		t.Errorf("journal bucket %+v, want 2 dumps", b)
	}
	var table bytes.Buffer
	if err := s.WriteTable(&table); err != nil || !strings.Contains(table.String(), dio) {
		t.Errorf("table: %v\n%s", err, table.String())
	}
	for _, width := range []int{80, 100, 120} {
		var b bytes.Buffer
		if err := s.WriteTableWidth(&b, width); err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: line %d is %d columns: %q", width, i, n, l)
			}
		}
	}
}

// TestRunCancelled: a cancelled batch is a batch-level error, and what was
// written is kept.
func TestRunCancelled(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), []byte("KDUMP   broken"), 0o644)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := batch.Run(ctx, batch.Options{Paths: []string{dir}, Out: filepath.Join(t.TempDir(), "r.jsonl"), Jobs: 1,
		Finder: &debuginfo.Finder{Fallback: "/nonexistent"}})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Run with a cancelled context: %v", err)
	}
}

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// benchCorpus is the seven seed cores (four 30 MB ELF cores of 3527
// tasks, one small ELF, two kdump files).
func benchCorpus(b *testing.B) (dir, vmlinux string) {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "vmtriage-bench-")
		if benchErr != nil {
			return
		}
		src, err := seedgen.SourceDir()
		if err != nil {
			benchErr = err
			return
		}
		benchErr = seedgen.Generate(filepath.Join(benchDir, "cores"), filepath.Join(src, seedgen.VmlinuxName))
		if benchErr == nil {
			benchErr = os.Rename(filepath.Join(benchDir, "cores", seedgen.VmlinuxName), filepath.Join(benchDir, seedgen.VmlinuxName))
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return filepath.Join(benchDir, "cores"), filepath.Join(benchDir, seedgen.VmlinuxName)
}

// cpuTime is the process's user+system CPU time: with the machine shared,
// it measures the cost of a core better than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// evict drops the files' pages from the OS page cache
// (posix_fadvise(POSIX_FADV_DONTNEED); effective for clean pages).
func evict(b *testing.B, paths ...string) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkBatch measures throughput in cores per second with 1 and 2
// jobs, the OS page cache cold (dumps and vmlinux evicted before each run)
// and warm. There is no layout cache yet: every dump decodes the vmlinux's
// DWARF again (a 30 KB vmlinux here, so that cost is small).
//
//	go test -run NONE -bench Batch -benchtime 5x ./rules/batch
func BenchmarkBatch(b *testing.B) {
	dir, vmlinux := benchCorpus(b)
	cores, err := batch.Discover([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	for _, jobs := range []int{1, 2} {
		for _, cache := range []string{"cold", "warm"} {
			b.Run(fmt.Sprintf("jobs=%d/cache=%s", jobs, cache), func(b *testing.B) {
				out := filepath.Join(b.TempDir(), "r.jsonl")
				var elapsed, cpu time.Duration
				for b.Loop() {
					b.StopTimer()
					if cache == "cold" {
						evict(b, append(cores, vmlinux)...)
					} else {
						for _, c := range cores { // warm: read once
							os.ReadFile(c)
						}
					}
					b.StartTimer()
					start, cpu0 := time.Now(), cpuTime(b)
					res, err := batch.Run(context.Background(), batch.Options{Paths: []string{dir}, Out: out, Jobs: jobs,
						Finder: &debuginfo.Finder{Fallback: vmlinux}, Version: "bench"})
					elapsed += time.Since(start)
					cpu += cpuTime(b) - cpu0
					if err != nil || res.Failed != 0 || res.Analysed != len(cores) {
						b.Fatalf("run: %v (%+v)", err, res)
					}
				}
				b.ReportMetric(float64(len(cores)*b.N)/elapsed.Seconds(), "cores/s")
				b.ReportMetric(float64(cpu.Milliseconds())/float64(len(cores)*b.N), "cpu-ms/core")
			})
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}
