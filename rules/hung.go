package rules

import (
	"fmt"

	"github.com/vmtriage/vmtriage/rules/report"
)

// hung-tasks lists every task in uninterruptible sleep for longer than the
// kernel's hung-task timeout.
func init() {
	Register(Rule{Meta: Meta{
		ID:       "hung-tasks",
		Title:    "Tasks blocked in uninterruptible sleep",
		Severity: report.Warning,
	}, Evaluate: evalHungTasks})
}

// HungDetails are the details of a hung-tasks finding: the threshold.
type HungDetails struct {
	ThresholdSeconds int64  `json:"threshold_seconds"`
	ThresholdFrom    string `json:"threshold_from"`
	Uninterruptible  int    `json:"uninterruptible"`
}

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

func evalHungTasks(c *Context) ([]report.Finding, error) {
	const id = "hung-tasks"
	all := c.hungTasks()
	threshold, from := hungTaskThreshold(c)
	var long []report.HungTask
	for _, h := range all {
		if h.BlockedSeconds != nil && *h.BlockedSeconds >= threshold {
			long = append(long, h)
		}
	}
	if len(long) == 0 {
		return nil, nil
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
		Confidence: "high",
		Bucket:     Bucket(id, funcs, c.System.Release),
		Summary:    fmt.Sprintf("%d of %d uninterruptible tasks blocked for %d s or more (longest %d s: %s %d); threshold: %s", len(long), len(all), threshold, *long[0].BlockedSeconds, long[0].Comm, long[0].PID, from),
		Evidence: []report.EvidenceRow{
			{Label: "threshold", Value: fmt.Sprintf("%d s (%s)", threshold, from)},
			{Label: "blocked longer", Value: fmt.Sprintf("%d of %d uninterruptible tasks", len(long), len(all))},
			{Label: "longest", Value: fmt.Sprintf("%s %d, %d s in %s", long[0].Comm, long[0].PID, *long[0].BlockedSeconds, long[0].WaitChannel), Ref: report.TaskRefOf(uint64(long[0].Task))},
		},
		Details: report.DetailsOf(HungDetails{ThresholdSeconds: threshold, ThresholdFrom: from, Uninterruptible: len(all)}),
		Tasks:   long,
	}}, nil
}
