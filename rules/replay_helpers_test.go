package rules_test

import (
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/testdata/linesgen"
)

// replayed is the report of a recorded lab scenario (testdata/lines).
func replayed(t *testing.T, line, scenario string) *report.Report {
	t.Helper()
	r, err := linesgen.Replay(filepath.Join(linesDir, line), scenario)
	if err != nil {
		t.Fatalf("%s/%s: %v", line, scenario, err)
	}
	return r
}

// ruleCase is a recorded scenario and whether a rule must find it.
type ruleCase struct {
	line, scenario string
	want           bool
}

// checkRule replays each case and checks the rule's findings: one or more
// (confidence high) when wanted, none otherwise.
func checkRule(t *testing.T, rule string, cases []ruleCase, check func(*testing.T, report.Finding)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.line+"/"+tc.scenario, func(t *testing.T) {
			r := replayed(t, tc.line, tc.scenario)
			var got []report.Finding
			for _, f := range r.Findings {
				if f.Rule == rule {
					got = append(got, f)
				}
			}
			if (len(got) > 0) != tc.want {
				t.Fatalf("%s findings %d, want them: %v", rule, len(got), tc.want)
			}
			for _, f := range got {
				if f.Confidence != "high" || f.Bucket == "" || f.Summary == "" {
					t.Errorf("finding %+v", f)
				}
				if check != nil {
					check(t, f)
				}
			}
		})
	}
}
