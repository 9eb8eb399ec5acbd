package rules_test

import (
	"testing"

	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
)

// F: two kthreads take two mutexes in opposite order (ABBA); E: a chain
// behind one writer, no cycle.
func TestDeadlock(t *testing.T) {
	checkRule(t, "deadlock", []ruleCase{
		{"6.1-amd64", "F", true}, {"6.1-amd64", "E", false}, {"6.1-amd64", "H-legit", false},
	}, func(t *testing.T, f report.Finding) {
		var d rules.DeadlockDetails
		if err := f.DecodeDetails(&d); err != nil {
			t.Fatal(err)
		}
		if len(d.Tasks) != 2 || d.Tasks[0].Comm == d.Tasks[1].Comm {
			t.Errorf("cycle %+v", d.Tasks)
		}
	})
	r := replayed(t, "6.1-amd64", "F")
	if len(r.Deadlocks) != 1 || len(r.Deadlocks[0]) != 2 {
		t.Errorf("report deadlocks %+v", r.Deadlocks)
	}
}
