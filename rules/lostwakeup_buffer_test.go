package rules_test

import "testing"

// D: a writer waits on a buffer whose I/O sits on a suspended device (the
// lock is held: no lost wakeup).
func TestLostWakeupBuffer(t *testing.T) {
	checkRule(t, "lost-wakeup-buffer", []ruleCase{{"6.1-amd64", "D", false}, {"5.10-amd64", "D", false}}, nil)
}
