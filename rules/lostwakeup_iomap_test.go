package rules_test

import "testing"

// E: an O_DIRECT writer waits in __iomap_dio_rw for a bio queued on a
// suspended device (not a lost wakeup: a bio is in flight).
func TestLostWakeupIomapDIO(t *testing.T) {
	checkRule(t, "lost-wakeup-iomap-dio", []ruleCase{{"6.1-amd64", "E", false}}, nil)
}
