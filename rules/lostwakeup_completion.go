package rules

import (
	"fmt"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// lost-wakeup-completion: a task in wait_for_completion() on a completion
// whose done count is already positive: complete() ran but its wakeup
// missed the task.
func init() {
	Register(Rule{Meta: Meta{
		ID:         "lost-wakeup-completion",
		Title:      "Lost wakeup: task waits for a completion that is already done",
		Severity:   report.Critical,
		References: []string{"kernel/sched/completion.c complete(), __wait_for_common()"},
	}, Evaluate: func(c *Context) ([]report.Finding, error) {
		return lostWakeups(c, "lost-wakeup-completion", []string{"completion"}, func(t *analyzer.Task, w analyzer.Wait) []report.Fact {
			done := uint64(0)
			if o, err := c.K.Object("struct completion", w.Object); err == nil {
				done, _ = o.Uint("done")
			}
			return []report.Fact{{Name: "the completion is done", Holds: done > 0,
				Evidence: fmt.Sprintf("completion 0x%x done %d", w.Object, done)}}
		})
	}})
}
