package rules

import (
	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// lost-wakeup-lock: a task queued on a mutex or rw_semaphore that nobody
// holds: the unlock ran but did not wake the first waiter.
func init() {
	Register(Rule{Meta: Meta{
		ID:       "lost-wakeup-lock",
		Title:    "Lost wakeup: task waits for a mutex or rw_semaphore that is free",
		Severity: report.Critical,
		References: []string{"kernel/locking/mutex.c __mutex_unlock_slowpath()",
			"kernel/locking/rwsem.c rwsem_wake()"},
	}, Evaluate: func(c *Context) ([]report.Finding, error) {
		return lostWakeups(c, "lost-wakeup-lock", []string{"mutex", "rwsem-read", "rwsem-write"}, func(t *analyzer.Task, w analyzer.Wait) []report.Fact {
			return []report.Fact{{Name: "the lock has no owner", Holds: len(w.Owners) == 0,
				Evidence: w.What}}
		})
	}})
}
