package rules

import (
	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// lost-wakeup-iomap-dio: a task in a synchronous iomap direct I/O (ext4,
// xfs, btrfs since 4.10-5.x) sleeps although its dio's submit.waiter is
// already cleared: the last bio's completion ran and its wakeup missed
// the task, the iomap twin of the dio-lost-wakeup rule.
func init() {
	Register(Rule{Meta: Meta{
		ID:         "lost-wakeup-iomap-dio",
		Title:      "Lost wakeup: task waits for iomap direct I/O that already completed",
		Severity:   report.Critical,
		References: []string{"fs/iomap/direct-io.c iomap_dio_bio_end_io(), __iomap_dio_rw()"},
	}, Evaluate: func(c *Context) ([]report.Finding, error) {
		return lostWakeups(c, "lost-wakeup-iomap-dio", []string{"iomap-dio"}, func(t *analyzer.Task, w analyzer.Wait) []report.Fact {
			return []report.Fact{{Name: "submit.waiter is cleared", Holds: w.Holds, Evidence: w.What}}
		})
	}})
}
