package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
)

// viewFormat is the --format of the crash-like views: table (text close to
// crash's) or json (a stable object).
type viewFormat struct{ format string }

func (f *viewFormat) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.format, "format", "table", "output format: table (like crash) or json")
}

func (f *viewFormat) check() error {
	if f.format != "table" && f.format != "json" {
		return fmt.Errorf("unknown --format %q (want table or json)", f.format)
	}
	return nil
}

func (f *viewFormat) json() bool { return f.format == "json" }

// open opens the dump without listing its tasks.
func (f *dumpFlags) open(dump string) (*analyzer.Kernel, error) {
	if f.vmlinux == "" {
		return nil, fmt.Errorf("--vmlinux is required: the vmlinux (with debug info) of the dumped kernel")
	}
	return analyzer.OpenWith(dump, f.vmlinux, analyzer.Options{DebugDirs: f.debugDirs})
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// hexAddr is an address in JSON: "0xffff...".
func hexAddr(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// parseAddr reads an address argument: hex (with or without 0x), or a
// symbol name.
func parseAddr(k *analyzer.Kernel, s string) (uint64, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if v, err := strconv.ParseUint(h, 16, 64); err == nil && h != "" {
		return v, nil
	}
	if a, err := k.Addr(s); err == nil {
		return a, nil
	}
	return 0, fmt.Errorf("%q is neither a hexadecimal address nor a symbol of %s", s, k.Syms.Path())
}

// taskIndex maps task_struct addresses to tasks.
func taskIndex(tasks []analyzer.Task) map[uint64]analyzer.Task {
	m := make(map[uint64]analyzer.Task, len(tasks))
	for _, t := range tasks {
		m[t.Addr] = t
	}
	return m
}

// crashTable writes rows under a header as crash lays its tables out: no
// borders, left-aligned columns separated by spaces.
func crashTable(w io.Writer, header []string, rows [][]string) error {
	tbl := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRendition(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.SeparatorsNone,
				Lines:      tw.LinesNone,
			},
		}),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: " ", Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	tbl.Header(header)
	if err := tbl.Bulk(rows); err != nil {
		return err
	}
	return tbl.Render()
}
