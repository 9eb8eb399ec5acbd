package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
)

// logJSON is `log --format json`.
type logJSON struct {
	Buffer   string               `json:"buffer"`              // prb, printk_log or log_buf
	BootTime string               `json:"boot_time,omitempty"` // RFC 3339, from the dump's date and uptime
	Records  []analyzer.LogRecord `json:"records"`
}

// newLogCmd is crash's log: the kernel's message buffer with [seconds]
// timestamps; -T prints wall-clock times.
func newLogCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	var human bool
	cmd := &cobra.Command{
		Use:   "log DUMP --vmlinux FILE [-T]",
		Short: "Print the kernel's message buffer, like crash's log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			k, err := df.open(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			recs, err := k.LogRecords()
			if err != nil && len(recs) == 0 {
				return err
			}
			out := logJSON{Buffer: k.Features.Printk.Buffer, Records: recs}
			var boot time.Time
			if human || vf.json() {
				if sys, err := k.System(0); err == nil && !sys.Time.IsZero() {
					boot = sys.Time.Add(-time.Duration(sys.Uptime) * time.Second)
					out.BootTime = boot.Format(time.RFC3339)
				}
			}
			w := cmd.OutOrStdout()
			if vf.json() {
				return writeJSON(w, out)
			}
			var b strings.Builder
			for _, r := range recs {
				prefix := ""
				switch {
				case r.Nsec < 0:
				case human && !boot.IsZero():
					prefix = "[" + boot.Add(time.Duration(r.Nsec)).Format("Mon Jan _2 15:04:05 MST 2006") + "] "
				default:
					prefix = fmt.Sprintf("[%5d.%06d] ", r.Nsec/1e9, r.Nsec%1e9/1e3)
				}
				// continuation lines are indented under the text, as crash does
				lines := strings.Split(r.Text, "\n")
				for i, l := range lines {
					if i == 0 {
						b.WriteString(prefix)
					} else {
						b.WriteString(strings.Repeat(" ", len(prefix)))
					}
					b.WriteString(l)
					b.WriteString("\n")
				}
			}
			_, err = fmt.Fprint(w, b.String())
			return err
		},
	}
	df.add(cmd)
	vf.add(cmd)
	cmd.Flags().BoolVarP(&human, "human", "T", false, "print wall-clock times instead of seconds since boot")
	return cmd
}
