package rules_test

import (
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report"
)

// G: a kthread in wait_for_completion() on a completion already done (the
// race replayed by the lab module); G-legit: the same wait, not done.
func TestLostWakeupCompletion(t *testing.T) {
	checkRule(t, "lost-wakeup-completion", []ruleCase{
		{"6.1-amd64", "G", true}, {"6.1-amd64", "G-legit", false}, {"6.1-amd64", "B", false},
	}, func(t *testing.T, f report.Finding) {
		if f.RootTask == nil || f.RootTask.Comm != "lab_waiter" || !strings.Contains(f.Summary, "already done") {
			t.Errorf("finding %+v", f)
		}
	})
}
