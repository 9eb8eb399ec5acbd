package rules

import (
	"fmt"

	"github.com/vmtriage/vmtriage/rules/report"
)

// hungTaskSeconds is the kernel's default hung_task_timeout_secs.
const hungTaskSeconds = 120

// hungTasks lists every task in uninterruptible sleep for longer than the
// kernel's hung-task timeout.
type hungTasks struct{}

func (hungTasks) ID() string { return "hung-tasks" }

func (r hungTasks) Evaluate(c *Context) []report.Finding {
	all := c.hungTasks()
	var long []report.HungTask
	for _, h := range all {
		if h.BlockedSeconds != nil && *h.BlockedSeconds >= hungTaskSeconds {
			long = append(long, h)
		}
	}
	if len(long) == 0 {
		return nil
	}
	var funcs []string
	seen := map[string]bool{}
	for _, h := range long {
		if !seen[h.WaitChannel] && len(funcs) < 3 {
			seen[h.WaitChannel] = true
			funcs = append(funcs, h.WaitChannel)
		}
	}
	return []report.Finding{{
		Rule: r.ID(), Title: "Tasks blocked in uninterruptible sleep",
		Severity: "warning", Confidence: "high",
		Bucket:  Bucket(r.ID(), funcs, c.System.Release),
		Summary: fmt.Sprintf("%d of %d uninterruptible tasks blocked for %d s or more (longest %d s: %s %d)", len(long), len(all), hungTaskSeconds, *long[0].BlockedSeconds, long[0].Comm, long[0].PID),
		Tasks:   long,
	}}
}
