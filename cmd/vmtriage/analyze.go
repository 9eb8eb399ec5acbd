package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	rpt "github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/rules/reportcache"
)

func newAnalyzeCmd() *cobra.Command {
	var vmlinux, format, types string
	var debugDirs []string
	var noVmlinux, noCache bool
	cmd := &cobra.Command{
		Use:   "analyze DUMP [--vmlinux FILE]",
		Short: "Analyse one dump and report the hangs found",
		Long: `Analyse one dump and report the hangs found.

Without --vmlinux, the dump's vmlinux is looked for by its build-id (VMCOREINFO),
its release (VMCOREINFO, the kdump header or the banner in its memory) or its
banner: in the --debug-dir directories, under / (/usr/lib/debug/boot/vmlinux-RELEASE,
/usr/lib/debug/lib/modules/RELEASE/vmlinux, /boot/vmlinux-RELEASE) and
/usr/lib/debug/.build-id, then from the debuginfod servers in DEBUGINFOD_URLS. When none is found (or with
--no-vmlinux) the dump is analysed with what the kernel keeps in its memory: its
kallsyms tables for symbols, its and its modules' BTF for types and its ORC
tables for unwinding (no inline frames, no frame locals).

Each report is kept in the cache ($VMTRIAGE_CACHE, else ~/.cache/vmtriage;
VMTRIAGE_CACHE=off keeps nothing): asking again about the same dump with the same
vmlinux, options and vmtriage reads the kept report (and says so on stderr);
--no-cache analyses the dump again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			log := cmd.ErrOrStderr()
			src, err := locate(cmd.Context(), args[0], vmlinux, noVmlinux, debugDirs)
			if err != nil {
				return err
			}
			defer src.close()
			src.describe(log)
			var cacheID string
			if !noCache {
				cacheID, _ = src.cacheKey(types).ID() // no ID (an input cannot be stat'ed): not cached
			}
			if cacheID != "" {
				if r, ok := reportcache.Load(cacheID); ok {
					// the paths as given this time (the key has them absolute)
					r.Dump.Path = args[0]
					if src.vmlinux != "" {
						r.Dump.Vmlinux = src.vmlinux
					}
					fmt.Fprintf(log, "vmtriage: %s: the report of an earlier analysis of this dump (same dump, vmlinux, options and vmtriage; --no-cache analyses it again)\n", args[0])
					return renderReport(cmd.OutOrStdout(), r, format)
				}
			}
			k, err := src.open(analyzer.Options{DebugDirs: debugDirs, Context: cmd.Context(), Types: types})
			if err != nil {
				return err
			}
			defer k.Close()
			r, err := analyzeKernel(k)
			if err != nil {
				return err
			}
			if cacheID != "" && !anyRuleFailed(r) { // a failed rule may be a passing read error: not kept
				reportcache.Store(cacheID, r) // a cache that cannot be written is no reason to fail
			}
			return renderReport(cmd.OutOrStdout(), r, format)
		},
	}
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "analyse the dump even when the report of an earlier analysis of it (same dump, vmlinux, options and vmtriage) is cached")
	cmd.Flags().StringVar(&vmlinux, "vmlinux", "", "vmlinux with debug info of the dumped kernel (default: found by build-id or release)")
	cmd.Flags().BoolVar(&noVmlinux, "no-vmlinux", false, "analyse without a vmlinux: symbols from the dump's kallsyms, types from its BTF (what is done when no vmlinux is found)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json, markdown or html (one self-contained page)")
	cmd.Flags().StringVar(&types, "types", "", "where type layouts come from: btf or dwarf (default: the vmlinux's BTF when it has one, else DWARF)")
	cmd.Flags().StringArrayVar(&debugDirs, "debug-dir", nil, "directory with the vmlinux (by build-id or release) and the modules' debug info (NAME.ko, searched recursively); repeatable")
	return cmd
}

func checkFormat(format string) error {
	if format != "table" && format != "json" && format != "markdown" && format != "html" {
		return fmt.Errorf("unknown --format %q (want table, json, markdown or html)", format)
	}
	return nil
}

// writeReport analyses a kernel and writes the report; it returns errFindings
// when there is at least one finding.
func writeReport(w io.Writer, k *analyzer.Kernel, format string) error {
	r, err := analyzeKernel(k)
	if err != nil {
		return err
	}
	return renderReport(w, r, format)
}

// analyzeKernel runs the rules over a kernel.
func analyzeKernel(k *analyzer.Kernel) (*rpt.Report, error) {
	r, err := rules.Analyze(k, version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Dump.Path(), err)
	}
	return r, nil
}

// renderReport writes a report in a format; it returns errFindings when
// there is at least one finding.
func renderReport(w io.Writer, r *rpt.Report, format string) error {
	var err error
	switch format {
	case "json":
		err = rpt.WriteJSON(w, r)
	case "markdown":
		err = rpt.WriteMarkdown(w, r)
	case "html":
		err = rpt.WriteHTML(w, r)
	default:
		err = rpt.WriteTableWidth(w, r, outputWidth(w))
	}
	if err != nil {
		return err
	}
	if len(r.Findings) > 0 {
		return errFindings
	}
	return nil
}

// outputWidth is the width a table report is fitted to: $COLUMNS when set,
// else the terminal's width when w is one, else report.DefaultWidth.
func outputWidth(w io.Writer) int {
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 0 {
			return c
		}
	}
	return rpt.DefaultWidth
}

// anyRuleFailed reports whether a rule of the report failed.
func anyRuleFailed(r *rpt.Report) bool {
	for _, run := range r.Rules {
		if run.Status == rpt.RuleFailed {
			return true
		}
	}
	return false
}
