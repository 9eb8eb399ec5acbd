package main

import (
	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Analyse the sample core embedded in vmtriage (the first core of Red Hat bug 451819)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func runDemo(cmd *cobra.Command, format string) error {
	return nil
}
