package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// The lost-wakeup family: a task asleep on a condition that already holds
// (analyzer.Wait.Holds), so nothing is left to wake it. Each member is one
// file naming the kinds of wait it covers (lostwakeup_*.go); this file is
// what they share. The direct-I/O lost wakeup has a rule of its own
// (dio.go), with the bio check its signature needs.

// LostWakeupDetails are the details of a lost-wakeup finding.
type LostWakeupDetails struct {
	Kind   string     `json:"kind"`
	Object report.Hex `json:"object"`
	What   string     `json:"what"`
	Frame  string     `json:"frame"`
	// SelfHealsInSeconds is set when the sleep has a timeout armed: the
	// task then rechecks the condition, finds it true and goes on.
	SelfHealsInSeconds *float64 `json:"self_heals_in_seconds,omitempty"`
}

// lostWakeups evaluates one member of the family: a finding for every
// uninterruptible task whose wait is of one of the kinds and already
// holds. check says, for such a wait, the facts that prove it (read from
// the object); the first fact is always the task's state.
func lostWakeups(c *Context, id string, kinds []string, check func(t *analyzer.Task, w analyzer.Wait) []report.Fact) ([]report.Finding, error) {
	var out []report.Finding
	examined := 0
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if t.StateName() != "UN" {
			continue
		}
		w := c.Wait(t)
		if !slices.Contains(kinds, w.Kind) {
			continue
		}
		examined++
		if !w.Holds {
			continue
		}
		facts := append([]report.Fact{{Name: "task sleeps uninterruptibly", Holds: true,
			Evidence: fmt.Sprintf("task 0x%x state %s in %s", t.Addr, t.StateName(), w.Frame)}}, check(t, w)...)
		all := true
		for _, f := range facts {
			all = all && f.Holds
		}
		if !all {
			continue
		}
		frames := c.Frames(t)
		det := LostWakeupDetails{Kind: w.Kind, Object: report.Hex(w.Object), What: w.What, Frame: w.Frame}
		heal := "no timeout armed: the task sleeps until something else wakes it, i.e. for good"
		if to, ok, err := c.K.ArmedTimeout(*t, frames, c.System.Uptime); ok && err == nil {
			s := to.FiresInSecs
			det.SelfHealsInSeconds = &s
			heal = fmt.Sprintf("timer 0x%x fires in %.0f s: the task then rechecks, finds the condition true and goes on (a stall, not a hang)", to.Timer, s)
		}
		out = append(out, report.Finding{
			Confidence: "high",
			Bucket:     Bucket(id, []string{w.Frame, analyzer.WaitChannel(frames)}, c.System.Release),
			Summary: fmt.Sprintf("%s sleeps in %s on %s: the condition it waits for already holds and nobody is left to wake it",
				c.TaskName(t.Addr), w.Frame, w.What),
			RootTask: c.TaskRef(t.Addr, true),
			Evidence: []report.EvidenceRow{
				{Label: "waits on", Value: fmt.Sprintf("%s 0x%x (%s's local)", w.Kind, w.Object, w.Frame), Ref: report.AddrRef(w.Object)},
				{Label: "state", Value: w.What},
				{Label: "self-heals", Value: heal},
			},
			Details: report.DetailsOf(det),
			Facts:   facts,
		})
	}
	if examined == 0 {
		return nil, fmt.Errorf("%w: no blocked task waits on a %s", ErrNotApplicable, strings.Join(kinds, "/"))
	}
	return out, nil
}
