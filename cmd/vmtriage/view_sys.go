package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// sysJSON is `sys --format json`.
type sysJSON struct {
	Kernel        string     `json:"kernel"`
	DumpFile      string     `json:"dumpfile"`
	DumpFormat    string     `json:"dump_format"`
	CPUs          int        `json:"cpus"`
	Date          string     `json:"date,omitempty"` // RFC 3339, UTC
	UptimeSeconds int64      `json:"uptime_seconds"`
	LoadAverage   [3]float64 `json:"load_average"`
	Tasks         int        `json:"tasks"`
	Nodename      string     `json:"nodename"`
	Release       string     `json:"release"`
	Version       string     `json:"version"`
	Machine       string     `json:"machine"`
	MHz           int        `json:"mhz"`
	MemoryBytes   uint64     `json:"memory_bytes"`
	Panic         string     `json:"panic"`
}

// newSysCmd is crash's sys: the dumped machine in a few lines.
func newSysCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	cmd := &cobra.Command{
		Use:   "sys DUMP --vmlinux FILE",
		Short: "Summarise the dumped system, like crash's sys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			k, tasks, err := df.tasks(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			s, err := k.System(len(tasks))
			if err != nil {
				return err
			}
			out := sysJSON{
				Kernel: k.Syms.Path(), DumpFile: k.Dump.Path(), DumpFormat: fmt.Sprint(k.Dump.Format()),
				CPUs: s.CPUs, UptimeSeconds: s.Uptime, LoadAverage: s.LoadAverage, Tasks: s.Tasks,
				Nodename: s.Nodename, Release: s.Release, Version: s.Version, Machine: s.Machine, MHz: s.MHz,
				MemoryBytes: s.MemoryBytes, Panic: s.Panic,
			}
			date := ""
			if !s.Time.IsZero() {
				out.Date = s.Time.UTC().Format("2006-01-02T15:04:05Z07:00")
				date = s.Time.UTC().Format("Mon Jan _2 15:04:05 MST 2006")
			}
			w := cmd.OutOrStdout()
			if vf.json() {
				return writeJSON(w, out)
			}
			load := strings.Join(s.LoadText[:], ", ")
			if s.LoadText[0] == "" {
				load = "(unknown)"
			}
			machine := s.Machine
			if s.MHz > 0 {
				machine += fmt.Sprintf("  (%d Mhz)", s.MHz)
			}
			for _, l := range [][2]string{
				{"KERNEL", out.Kernel}, {"DUMPFILE", out.DumpFile}, {"CPUS", strconv.Itoa(s.CPUs)},
				{"DATE", date}, {"UPTIME", crashUptime(s.Uptime)}, {"LOAD AVERAGE", load},
				{"TASKS", strconv.Itoa(s.Tasks)}, {"NODENAME", s.Nodename}, {"RELEASE", s.Release},
				{"VERSION", s.Version}, {"MACHINE", machine}, {"MEMORY", memorySize(s.MemoryBytes)},
				{"PANIC", fmt.Sprintf("%q", s.Panic)},
			} {
				if _, err := fmt.Fprintf(w, "%12s: %s\n", l[0], l[1]); err != nil {
					return err
				}
			}
			return nil
		},
	}
	df.add(cmd)
	vf.add(cmd)
	return cmd
}

// crashUptime is crash's uptime: "00:00:18", "3 days, 04:05:06".
func crashUptime(sec int64) string {
	d, h, m, s := sec/86400, sec%86400/3600, sec%3600/60, sec%60
	hms := fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	if d > 0 {
		return fmt.Sprintf("%d days, %s", d, hms)
	}
	return hms
}

// memorySize prints a byte count as crash does: "1 GB", "3.9 GB", "512 MB".
func memorySize(b uint64) string {
	const mb, gb = 1 << 20, 1 << 30
	trim := func(f float64, unit string) string {
		s := strconv.FormatFloat(f, 'f', 1, 64)
		return strings.TrimSuffix(s, ".0") + " " + unit
	}
	switch {
	case b >= gb:
		return trim(float64(b)/gb, "GB")
	case b >= mb:
		return trim(float64(b)/mb, "MB")
	}
	return strconv.FormatUint(b/1024, 10) + " KB"
}
