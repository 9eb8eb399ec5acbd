package main

import (
	"bytes"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/cmd/vmtriage/sample"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore"
)

func newDemoCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Analyse the sample core embedded in vmtriage (the first core of Red Hat bug 451819)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			k, err := openSample()
			if err != nil {
				return err
			}
			defer k.Close()
			return writeReport(cmd.OutOrStdout(), k, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json, markdown or html (one self-contained page)")
	return cmd
}

// openSample opens the embedded core, in memory.
func openSample() (*analyzer.Kernel, error) {
	dump, err := sample.Dump()
	if err != nil {
		return nil, err
	}
	vm, err := sample.Vmlinux()
	if err != nil {
		return nil, err
	}
	d, err := vmcore.OpenReaderAt(sample.DumpName, bytes.NewReader(dump), int64(len(dump)))
	if err != nil {
		return nil, err
	}
	im, err := symbols.NewImage(bytes.NewReader(vm), sample.VmlinuxName)
	if err != nil {
		d.Close()
		return nil, err
	}
	k, err := analyzer.New(d, im)
	if err != nil {
		d.Close()
		return nil, err
	}
	return k, nil
}
