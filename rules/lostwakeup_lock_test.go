package rules_test

import (
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report"
)

// H: a task in __mutex_lock on a mutex whose owner was cleared without a
// wakeup; H-legit: the owner still holds it; F: an ABBA deadlock (owned).
func TestLostWakeupLock(t *testing.T) {
	checkRule(t, "lost-wakeup-lock", []ruleCase{
		{"6.1-amd64", "H", true}, {"6.1-amd64", "H-legit", false}, {"6.1-amd64", "F", false}, {"6.1-amd64", "E", false},
	}, func(t *testing.T, f report.Finding) {
		if f.RootTask == nil || f.RootTask.Comm != "lab_waiter" || !strings.Contains(f.Summary, "no owner") {
			t.Errorf("finding %+v", f)
		}
	})
}
