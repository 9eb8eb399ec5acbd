package rules

import (
	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// lost-wakeup-journal: the journal's commit thread waits on j_wait_updates
// for handles to close while the transaction has none open (t_updates
// 0): the last jbd2_journal_stop() did not wake it. Writers then queue
// behind the locked transaction (the journal-stall rule shows them).
func init() {
	Register(Rule{Meta: Meta{
		ID:         "lost-wakeup-journal",
		Title:      "Lost wakeup: journal commit waits for handles that are all closed",
		Severity:   report.Critical,
		References: []string{"fs/jbd2/transaction.c jbd2_journal_stop(), fs/jbd2/commit.c jbd2_journal_commit_transaction()"},
	}, Evaluate: func(c *Context) ([]report.Finding, error) {
		return lostWakeups(c, "lost-wakeup-journal", []string{"journal-updates", "journal-locked"}, func(t *analyzer.Task, w analyzer.Wait) []report.Fact {
			return []report.Fact{{Name: "nothing is left to wait for", Holds: w.Holds, Evidence: w.What}}
		})
	}})
}
