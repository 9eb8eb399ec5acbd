package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vmtriage/vmtriage/rules/batch"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
)

func newBatchCmd() *cobra.Command {
	var (
		opt         batch.Options
		shard       string
		vmlinux     string
		debugDirs   []string
		summaryJSON string
		htmlDir     string
		progress    string
	)
	cmd := &cobra.Command{
		Use:   "batch PATH... [--jobs N] [--out results.jsonl]",
		Short: "Triage every dump under the paths in parallel: one JSON report per line, and buckets",
		Long: `batch finds every dump under the paths (recursively; ELF cores, kdump-compressed
and flattened files, recognised by their magic; a file named on the command line
is always taken), analyses them in parallel and appends one v1 report per line to
the JSONL output as each finishes. A dump that cannot be analysed gets an error
record {"schema", "dump": {"path"}, "error"} and the batch goes on.

Each dump's vmlinux is found by its build-id or kernel release (VMCOREINFO, the
kdump header, or the "Linux version" banner in its memory) in the --debug-dir
directories (.build-id/xx/rest.debug, usr/lib/debug/boot/vmlinux-RELEASE, ...),
then from the debuginfod servers in DEBUGINFOD_URLS, then --vmlinux.

--shard I/N runs the dumps whose path hashes to I modulo N, so the same command
runs as a Kubernetes Indexed Job (--shard $JOB_COMPLETION_INDEX/N) or a Slurm
array (--shard $SLURM_ARRAY_TASK_ID/N); "vmtriage merge" joins the outputs.

At the end a table of buckets (one per bug: rule, root wait-channel functions,
kernel release family) is printed on stdout. Exit status: 0 no finding in any
dump, 1 findings, 2 the batch itself failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opt.Shard, err = batch.ParseShard(shard); err != nil {
				return err
			}
			for _, d := range debugDirs {
				if st, err := os.Stat(d); err != nil || !st.IsDir() {
					return fmt.Errorf("--debug-dir %s: not a directory", d)
				}
			}
			if vmlinux != "" {
				if _, err := os.Stat(vmlinux); err != nil {
					return fmt.Errorf("--vmlinux: %w", err)
				}
			}
			opt.Finder = &debuginfo.Finder{DebugDirs: debugDirs, Client: debuginfo.NewClientFromEnv(), Fallback: vmlinux}
			if !opt.Finder.Searching() && vmlinux == "" {
				return fmt.Errorf("no way to find the dumps' vmlinux: give --vmlinux, --debug-dir or DEBUGINFOD_URLS")
			}
			opt.Paths, opt.Version = args, version
			opt.Progress, err = newProgress(progress, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := batch.Run(ctx, opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "vmtriage: %d dumps found, %d in this shard, %d already done, %d analysed (%d failed); results in %s\n",
				res.Found, res.Selected, res.Skipped, res.Analysed, res.Failed, opt.Out)
			if htmlDir != "" {
				if err := batch.WriteHTML(htmlDir, res.Records, res.Summary); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "vmtriage: HTML report in %s\n", filepath.Join(htmlDir, "index.html"))
			}
			return finishSummary(cmd.OutOrStdout(), res.Summary, summaryJSON)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&opt.Jobs, "jobs", "j", 0, "dumps analysed in parallel (default: the number of CPUs)")
	f.StringVarP(&opt.Out, "out", "o", "results.jsonl", "JSONL output, one report per line, appended as each dump finishes")
	f.BoolVar(&opt.Resume, "resume", false, "skip dumps already in --out (same path, size and mtime) and append to it")
	f.BoolVar(&opt.RetryErrors, "retry-errors", false, "with --resume, analyse again the dumps whose line is an error record")
	f.StringVar(&shard, "shard", "", "run only shard I of N (I/N, 0-based)")
	f.StringVar(&vmlinux, "vmlinux", "", "vmlinux to use when a dump's is not found otherwise")
	f.StringArrayVar(&debugDirs, "debug-dir", nil, "directory searched for each dump's vmlinux by build-id and release (repeatable)")
	f.StringVar(&summaryJSON, "summary-json", "", "also write the bucket summary as JSON to this file")
	f.StringVar(&htmlDir, "html", "", "also write an HTML report into this directory: index.html (the buckets) and a page per dump")
	f.BoolVar(&opt.Fsync, "fsync", false, "fsync the output after every line")
	f.DurationVar(&opt.Timeout, "timeout", 10*time.Minute, "give up on a dump whose analysis takes longer, with an error record (0: no limit)")
	f.StringVar(&progress, "progress", "auto", "progress on stderr: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	return cmd
}

// finishSummary prints the bucket table, writes the JSON summary if asked
// and turns findings into exit status 1.
func finishSummary(w io.Writer, s batch.Summary, jsonPath string) error {
	if err := s.WriteTableWidth(w, outputWidth(w)); err != nil {
		return err
	}
	if jsonPath != "" {
		f, err := os.Create(jsonPath)
		if err != nil {
			return fmt.Errorf("--summary-json: %w", err)
		}
		err = s.WriteJSON(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--summary-json %s: %w", jsonPath, err)
		}
	}
	if s.Findings() {
		return errFindings
	}
	return nil
}

// newProgress picks the progress display for stderr.
func newProgress(mode string, w io.Writer) (batch.Progress, error) {
	if mode == "auto" {
		mode = "log"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		return &barProgress{w: w}, nil
	case "log":
		return &logProgress{w: w}, nil
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown --progress %q (want auto, bar, log or none)", mode)
}

// logProgress writes one line per finished dump, for logs and CI.
type logProgress struct {
	w                   io.Writer
	total, done, failed int
	start               time.Time
}

func (p *logProgress) Start(total, skipped int) {
	p.total, p.start = total, time.Now()
	fmt.Fprintf(p.w, "vmtriage: %d dumps to analyse (%d already done)\n", total, skipped)
}

func (p *logProgress) Done(r *batch.Record) {
	p.done++
	what := fmt.Sprintf("%d findings", len(r.Findings))
	if r.Failed() {
		p.failed++
		what = "error: " + r.Error
	} else if len(r.Findings) > 0 {
		what += " (" + r.Findings[0].Bucket + ")"
	}
	secs := 0.0
	if r.Batch != nil {
		secs = r.Batch.Seconds
	}
	fmt.Fprintf(p.w, "vmtriage: [%d/%d] %s: %s in %.2fs\n", p.done, p.total, filepath.Base(r.Dump.Path), what, secs)
}

func (p *logProgress) Finish() {
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.done) / el
	}
	fmt.Fprintf(p.w, "vmtriage: %d/%d done, %d failed, %.1f dumps/s\n", p.done, p.total, p.failed, rate)
}

// barProgress is a progress bar for a terminal: done/total, failures,
// rate and ETA.
type barProgress struct {
	w      io.Writer
	mu     sync.Mutex
	bar    *progressbar.ProgressBar
	failed int
}

func (p *barProgress) Start(total, skipped int) {
	desc := "triage"
	if skipped > 0 {
		desc = fmt.Sprintf("triage (%d resumed)", skipped)
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("dumps"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
}

func (p *barProgress) Done(r *batch.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Failed() {
		p.failed++
		p.bar.Describe(fmt.Sprintf("triage, %d failed", p.failed))
	}
	_ = p.bar.Add(1)
}

func (p *barProgress) Finish() { _ = p.bar.Finish() }
