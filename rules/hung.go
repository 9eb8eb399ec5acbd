package rules

import (
	"fmt"

	"github.com/vmtriage/vmtriage/rules/report"
)

// defaultHungTaskSeconds is the threshold when the kernel has no hung-task
// detector or has it switched off: the detector's own default
// (CONFIG_DEFAULT_HUNG_TASK_TIMEOUT).
const defaultHungTaskSeconds = 120

// hungTaskThreshold is the dump's own sysctl_hung_task_timeout_secs when
// the detector is on, else the default, with where it came from.
func hungTaskThreshold(c *Context) (int64, string) {
	switch v := c.K.Features.Time.HungTaskTimeout; {
	case v > 0:
		return v, "the kernel's hung_task_timeout_secs"
	case v == 0:
		return defaultHungTaskSeconds, "the hung-task detector is off (hung_task_timeout_secs 0); vmtriage's default"
	default:
		return defaultHungTaskSeconds, "the kernel has no hung-task detector; vmtriage's default"
	}
}

// hungTasks lists every task in uninterruptible sleep for longer than the
// kernel's hung-task timeout.
type hungTasks struct{}

func (hungTasks) ID() string { return "hung-tasks" }

func (r hungTasks) Evaluate(c *Context) []report.Finding {
	all := c.hungTasks()
	threshold, from := hungTaskThreshold(c)
	var long []report.HungTask
	for _, h := range all {
		if h.BlockedSeconds != nil && *h.BlockedSeconds >= threshold {
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
		Summary: fmt.Sprintf("%d of %d uninterruptible tasks blocked for %d s or more (longest %d s: %s %d); threshold: %s", len(long), len(all), threshold, *long[0].BlockedSeconds, long[0].Comm, long[0].PID, from),
		Tasks:   long,
	}}
}
