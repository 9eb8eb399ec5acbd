package rules

import (
	"fmt"
	"strings"

	"github.com/vmtriage/vmtriage/rules/report"
)

// deadlock: tasks that each wait for a lock the next one holds, in a
// cycle of the wait-for graph (an ABBA deadlock and its longer kin).
func init() {
	Register(Rule{Meta: Meta{
		ID:       "deadlock",
		Title:    "Deadlock: tasks wait for each other's locks",
		Severity: report.Critical,
	}, Evaluate: evalDeadlock})
}

// DeadlockDetails are the tasks of a cycle and what each waits on.
type DeadlockDetails struct {
	Tasks []report.TaskID `json:"tasks"`
	Waits []string        `json:"waits"`
}

func evalDeadlock(c *Context) ([]report.Finding, error) {
	g := c.WaitGraph()
	if len(g.Waits) == 0 {
		return nil, fmt.Errorf("%w: no task in uninterruptible sleep", ErrNotApplicable)
	}
	var out []report.Finding
	for _, cyc := range g.Cycles {
		var det DeadlockDetails
		var rows []report.EvidenceRow
		var names, funcs []string
		for _, t := range cyc {
			w := g.Waits[t]
			det.Tasks = append(det.Tasks, c.TaskID(t))
			det.Waits = append(det.Waits, w.Describe(c.TaskName))
			names = append(names, c.TaskName(t))
			funcs = append(funcs, w.Frame)
			rows = append(rows, report.EvidenceRow{Label: c.TaskName(t), Value: "waits on " + w.Describe(c.TaskName), Ref: report.TaskRefOf(t)})
		}
		out = append(out, report.Finding{
			Confidence: "high",
			Bucket:     Bucket("deadlock", funcs, c.System.Release),
			Summary:    fmt.Sprintf("%s wait for each other: each holds what the next one waits for", strings.Join(names, " and ")),
			RootTask:   c.TaskRef(cyc[0], true),
			Evidence:   rows,
			Details:    report.DetailsOf(det),
		})
	}
	return out, nil
}
