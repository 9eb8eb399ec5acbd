package rules

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report"
)

// TestRegistry: every rule is registered once with valid metadata, and
// they run critical first, then by ID.
func TestRegistry(t *testing.T) {
	var ids []string
	for _, r := range All() {
		ids = append(ids, r.ID)
		if r.Title == "" || r.Evaluate == nil || severityRank(r.Severity) < 0 {
			t.Errorf("rule %s: incomplete metadata %+v", r.ID, r.Meta)
		}
	}
	if fmt.Sprint(ids) != "[deadlock dio-lost-wakeup journal-stall lost-wakeup-buffer lost-wakeup-completion lost-wakeup-iomap-dio lost-wakeup-journal lost-wakeup-lock hung-tasks]" {
		t.Errorf("rules run in the order %v", ids)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a rule twice does not panic")
		}
	}()
	Register(All()[0])
}

// TestEvaluateOutcomes: a rule's findings get its metadata; a rule that is
// not applicable or fails says so in the rules list, and has no findings.
func TestEvaluateOutcomes(t *testing.T) {
	meta := Meta{ID: "test-rule", Title: "A test", Severity: report.Info, References: []string{"ref"}, FixedIn: []string{"1.0"}}
	tests := []struct {
		name   string
		eval   func(*Context) ([]report.Finding, error)
		status report.RuleStatus
		n      int
	}{
		{"findings", func(*Context) ([]report.Finding, error) { return []report.Finding{{Summary: "s"}}, nil }, report.RuleRan, 1},
		{"clean", func(*Context) ([]report.Finding, error) { return nil, nil }, report.RuleRan, 0},
		{"not applicable", func(*Context) ([]report.Finding, error) {
			return nil, fmt.Errorf("%w: nothing here", ErrNotApplicable)
		}, report.RuleNotApplicable, 0},
		{"failed", func(*Context) ([]report.Finding, error) {
			return []report.Finding{{}}, errors.New("cannot read")
		}, report.RuleFailed, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, run := evaluate(&Context{}, Rule{Meta: meta, Evaluate: tc.eval})
			if run.ID != meta.ID || run.Status != tc.status || run.Findings != tc.n || len(fs) != tc.n {
				t.Fatalf("run %+v with %d findings, want %s and %d", run, len(fs), tc.status, tc.n)
			}
			switch tc.status {
			case report.RuleNotApplicable:
				if run.Reason != "nothing here" {
					t.Errorf("reason %q", run.Reason)
				}
			case report.RuleFailed:
				if run.Error != "cannot read" {
					t.Errorf("error %q", run.Error)
				}
			}
			for _, f := range fs {
				if f.Rule != meta.ID || f.Title != meta.Title || f.Severity != report.Info || f.References[0] != "ref" || f.FixedIn[0] != "1.0" {
					t.Errorf("finding without the rule's metadata: %+v", f)
				}
			}
		})
	}
}
