package rules

import (
	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// lost-wakeup-buffer: a task in wait_on_buffer() on a buffer_head whose
// BH_Lock bit is clear: unlock_buffer() ran and its wake_up_bit missed the
// task.
func init() {
	Register(Rule{Meta: Meta{
		ID:         "lost-wakeup-buffer",
		Title:      "Lost wakeup: task waits for a buffer lock that is released",
		Severity:   report.Critical,
		References: []string{"fs/buffer.c unlock_buffer(), __wait_on_buffer()"},
	}, Evaluate: func(c *Context) ([]report.Finding, error) {
		return lostWakeups(c, "lost-wakeup-buffer", []string{"buffer"}, func(t *analyzer.Task, w analyzer.Wait) []report.Fact {
			return []report.Fact{{Name: "BH_Lock is clear", Holds: w.Holds, Evidence: w.What}}
		})
	}})
}
