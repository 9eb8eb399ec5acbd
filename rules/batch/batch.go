// Package batch triages many crash dumps at once: it finds the dumps under
// a set of paths, analyses them in parallel (each with the vmlinux that
// package debuginfo finds for it), appends one v1 report per line to a
// JSONL file as each finishes, resumes an interrupted run, splits the work
// into deterministic shards, merges shard outputs, and groups the findings
// into buckets (rules.Bucket) so that the same bug on many machines is
// counted once.
package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/vmcore"
)

// Progress is told about the run as it goes. Done is called once per
// finished dump, from one goroutine at a time.
type Progress interface {
	Start(total, skipped int)
	Done(r *Record)
	Finish()
}

// Options configure a batch run.
type Options struct {
	Paths       []string          // files and directories to triage
	Out         string            // JSONL output file
	Jobs        int               // parallel analyses (GOMAXPROCS when < 1)
	Resume      bool              // skip dumps already in Out (same path, size and mtime)
	RetryErrors bool              // with Resume, analyse again the dumps whose record is an error
	Shard       Shard             // the part of the input list to run
	Finder      *debuginfo.Finder // finds each dump's vmlinux
	Version     string            // vmtriage's version, for the reports
	Fsync       bool              // fsync the output after every line
	Progress    Progress          // may be nil
	Timeout     time.Duration     // per dump; 0: none. A dump that takes longer gets an error record
}

// Result is the outcome of a run.
type Result struct {
	Found    int      // dumps under the paths
	Selected int      // dumps in this shard
	Skipped  int      // already in the output (--resume)
	Analysed int      // analysed in this run (including failures)
	Failed   int      // of which failed
	Records  []Record // every dump's latest record in the output, sorted by path
	Summary  Summary  // buckets over Records
}

type job struct {
	path string
	info Info
}

// Run triages the dumps. Per-dump failures become error records; the
// returned error is for the batch itself (bad paths, unwritable output,
// cancellation).
func Run(ctx context.Context, opt Options) (*Result, error) {
	if opt.Out == "" {
		return nil, errors.New("batch: no output file")
	}
	if opt.Finder == nil {
		opt.Finder = &debuginfo.Finder{}
	}
	jobs := opt.Jobs
	if jobs < 1 {
		jobs = runtime.GOMAXPROCS(0)
	}
	all, err := Discover(opt.Paths)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if abs, err := absPath(opt.Out); err == nil {
		all = without(all, abs)
	}
	res := &Result{Found: len(all)}
	selected := opt.Shard.Select(all)
	res.Selected = len(selected)

	done := map[string]Info{}
	if opt.Resume {
		prev, _, err := ReadFile(opt.Out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("batch: --resume: %w", err)
		}
		for _, r := range prev {
			if r.Batch != nil && (!opt.RetryErrors || !r.Failed()) {
				done[r.Dump.Path] = *r.Batch
			}
		}
	}
	var todo []job
	for _, p := range selected {
		j := job{path: p, info: Info{Shard: opt.Shard.String()}}
		if st, err := os.Stat(p); err == nil {
			j.info.Size, j.info.MtimeNS = st.Size(), st.ModTime().UnixNano()
		}
		if d, ok := done[p]; ok && d.Size == j.info.Size && d.MtimeNS == j.info.MtimeNS {
			res.Skipped++
			continue
		}
		todo = append(todo, j)
	}

	w, err := OpenWriter(opt.Out, !opt.Resume, opt.Fsync)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if opt.Progress != nil {
		opt.Progress.Start(len(todo), res.Skipped)
	}
	werr := process(ctx, opt, jobs, todo, w, res)
	if opt.Progress != nil {
		opt.Progress.Finish()
	}
	if err := w.Close(); err != nil && werr == nil {
		werr = fmt.Errorf("batch: %w", err)
	}
	if werr != nil {
		return res, werr
	}
	recs, _, err := ReadFile(opt.Out)
	if err != nil {
		return res, fmt.Errorf("batch: %w", err)
	}
	res.Records = Latest(recs)
	res.Summary = Summarize(res.Records)
	return res, nil
}

// process runs the jobs on a pool of workers and writes each record as it
// arrives.
func process(ctx context.Context, opt Options, jobs int, todo []job, w *Writer, res *Result) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := make(chan job)
	out := make(chan *Record)
	var wg sync.WaitGroup
	for range min(jobs, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range in {
				out <- AnalyzeWithTimeout(ctx, j.path, j.info, opt.Finder, opt.Version, opt.Timeout)
			}
		}()
	}
	go func() {
		defer close(in)
		for _, j := range todo {
			if ctx.Err() != nil {
				return
			}
			select {
			case in <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()
	var werr error
	for r := range out {
		if werr != nil {
			continue // drain
		}
		if err := w.Write(r); err != nil {
			werr = fmt.Errorf("batch: %w", err)
			cancel()
			continue
		}
		res.Analysed++
		if r.Failed() {
			res.Failed++
		}
		if opt.Progress != nil {
			opt.Progress.Done(r)
		}
	}
	if werr != nil {
		return werr
	}
	if err := context.Cause(ctx); err != nil && res.Analysed < len(todo) {
		return fmt.Errorf("batch: stopped after %d of %d dumps: %w", res.Analysed, len(todo), err)
	}
	return nil
}

// AnalyzeWithTimeout is AnalyzeOne bounded in time: a dump whose analysis
// outlasts the timeout (a corrupt structure the walks' bounds still let run
// long, a stalled network file system) gets an error record and the batch
// goes on; the abandoned analysis is cancelled through its context and
// stops at its next read of the dump (a read blocked in the kernel, as on
// a stalled file system, returns first).
func AnalyzeWithTimeout(ctx context.Context, path string, info Info, finder *debuginfo.Finder, version string, timeout time.Duration) *Record {
	if timeout <= 0 {
		return AnalyzeOne(ctx, path, info, finder, version)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("analysis did not finish within %s", timeout))
	defer cancel() // the analysis stops at its next read of the dump
	done := make(chan *Record, 1)
	go func(info Info) { done <- AnalyzeOne(ctx, path, info, finder, version) }(info)
	select {
	case rec := <-done:
		return rec
	case <-time.After(timeout):
		rec := &Record{Batch: &info}
		rec.Schema = report.Schema
		rec.Tool = report.Tool{Name: "vmtriage", Version: version}
		rec.Dump.Path = path
		info.Seconds = timeout.Seconds()
		rec.Error = fmt.Sprintf("%s: analysis did not finish within %s; skipped", path, timeout)
		return rec
	}
}

// AnalyzeOne analyses one dump and returns its record; every failure,
// including a panic in the analysis, becomes an error record.
func AnalyzeOne(ctx context.Context, path string, info Info, finder *debuginfo.Finder, version string) (rec *Record) {
	start := time.Now()
	rec = &Record{Batch: &info}
	rec.Schema = report.Schema
	rec.Tool = report.Tool{Name: "vmtriage", Version: version}
	rec.Dump.Path = path
	defer func() {
		if p := recover(); p != nil {
			rec.Error = fmt.Sprintf("%s: internal error (panic) analysing the dump: %v; %s", path, p, firstFrames(debug.Stack()))
		}
		info.Seconds = time.Since(start).Seconds()
		rec.Batch = &info
	}()
	r, how, err := analyze(ctx, path, finder, version)
	if err != nil {
		rec.Error = err.Error()
		if r != nil {
			rec.Dump.Format = r.Dump.Format
		}
		return rec
	}
	info.Vmlinux = how
	rec.Report = *r
	return rec
}

// typeDonors keeps, per vmlinux build-id, the first image opened in this
// process: later dumps of the same kernel reuse its decoded types (a
// distribution vmlinux's DWARF takes a second or more to set up).
var typeDonors sync.Map // build-id -> *symbols.Image

// images keeps every vmlinux opened in this process, by path: the dumps of
// one kernel share its symbol table and decoded types, each through its
// own view (KASLR slide and module symbols), so a kernel is decoded once
// per batch. Images stay open for the process's life, as the type donors
// always did.
var images sync.Map // path -> *sharedImage

type sharedImage struct {
	once sync.Once
	im   *symbols.Image
	err  error
}

func openImage(path string) (*symbols.Image, error) {
	v, _ := images.LoadOrStore(path, &sharedImage{})
	s := v.(*sharedImage)
	s.once.Do(func() {
		if s.im, s.err = symbols.Open(path); s.err == nil {
			sharedTypes(s.im)
		}
	})
	return s.im, s.err
}

func sharedTypes(im *symbols.Image) {
	id := im.BuildID()
	if id == "" {
		return
	}
	donor, loaded := typeDonors.LoadOrStore(id, im)
	if loaded {
		_ = im.ShareTypes(donor.(*symbols.Image)) // on failure the image decodes its own
	}
}

// analyze opens the dump, finds its vmlinux and runs the rules.
func analyze(ctx context.Context, path string, finder *debuginfo.Finder, version string) (*report.Report, string, error) {
	d, err := vmcore.Open(path)
	if err != nil {
		return nil, "", err
	}
	partial := &report.Report{Dump: report.Dump{Path: path, Format: string(d.Format())}}
	found, err := finder.Find(ctx, d)
	if err != nil {
		d.Close()
		return partial, "", err
	}
	im, err := openImage(found.Path)
	if err != nil {
		d.Close()
		return partial, "", fmt.Errorf("%s: vmlinux (found by %s): %w", path, found.How, err)
	}
	k, err := analyzer.NewWith(d, im, analyzer.Options{DebugDirs: finder.DebugDirs, Context: ctx})
	if err != nil {
		d.Close()
		return partial, "", err
	}
	defer k.Close()
	r, err := rules.Analyze(k, version)
	if err != nil {
		return partial, "", fmt.Errorf("%s: %w", path, err)
	}
	return r, found.How, nil
}

// firstFrames keeps the panic's stack short enough for one record.
func firstFrames(stack []byte) string {
	const max = 600
	s := string(stack)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

func absPath(p string) (string, error) { return filepath.Abs(p) }

func without(list []string, drop string) []string {
	out := list[:0:0]
	for _, p := range list {
		if p != drop {
			out = append(out, p)
		}
	}
	return out
}
