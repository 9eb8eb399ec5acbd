package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/rules/batch"
)

func newMergeCmd() *cobra.Command {
	var out, summaryJSON string
	cmd := &cobra.Command{
		Use:   "merge SHARD.jsonl... --out ALL.jsonl",
		Short: "Combine the JSONL outputs of batch shards into one, and print one bucket summary",
		Long: `merge reads the JSONL files written by "vmtriage batch --shard I/N", keeps one
record per dump path (the last one read), writes them sorted by path to --out
(atomically: a temporary file renamed) and prints the bucket table of the whole
set. Exit status: 0 no finding, 1 findings, 2 error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := batch.Merge(args, out)
			if err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "vmtriage: %d records from %d files merged into %s\n", len(recs), len(args), out)
			}
			return finishSummary(cmd.OutOrStdout(), batch.Summarize(recs), summaryJSON)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "merged JSONL output (none: only print the summary)")
	cmd.Flags().StringVar(&summaryJSON, "summary-json", "", "also write the bucket summary as JSON to this file")
	return cmd
}
