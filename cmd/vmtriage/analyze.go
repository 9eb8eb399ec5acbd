package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
)

func newAnalyzeCmd() *cobra.Command {
	var vmlinux, format string
	cmd := &cobra.Command{
		Use:   "analyze DUMP --vmlinux FILE",
		Short: "Analyse one dump and report the hangs found",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if vmlinux == "" {
				return fmt.Errorf("--vmlinux is required: the vmlinux (with debug info) of the dumped kernel")
			}
			return analyzeAndPrint(cmd.OutOrStdout(), args[0], vmlinux, format)
		},
	}
	cmd.Flags().StringVar(&vmlinux, "vmlinux", "", "vmlinux with debug info of the dumped kernel")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// analyzeAndPrint analyses a dump and writes the report; it returns
// errFindings when there is at least one finding.
func analyzeAndPrint(w io.Writer, dumpPath, vmlinux, format string) error {
	if format != "table" && format != "json" {
		return fmt.Errorf("unknown --format %q (want table or json)", format)
	}
	k, err := analyzer.Open(dumpPath, vmlinux)
	if err != nil {
		return err
	}
	defer k.Close()
	r, err := rules.Analyze(k, version)
	if err != nil {
		return fmt.Errorf("%s: %w", dumpPath, err)
	}
	switch format {
	case "json":
		err = report.WriteJSON(w, r)
	default:
		err = report.WriteTable(w, r)
	}
	if err != nil {
		return err
	}
	if len(r.Findings) > 0 {
		return errFindings
	}
	return nil
}
