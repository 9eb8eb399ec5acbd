package rules_test

import "testing"

// D: the commit thread waits for a handle that is still open (its holder
// is stuck on I/O): no lost wakeup.
func TestLostWakeupJournal(t *testing.T) {
	checkRule(t, "lost-wakeup-journal", []ruleCase{{"6.1-amd64", "D", false}, {"7.2-amd64", "D", false}}, nil)
}
