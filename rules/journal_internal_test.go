package rules

import (
	"reflect"
	"testing"

	"github.com/vmtriage/vmtriage/rules/report"
)

// TestWaitingSample: the sample of a journal's waiting tasks shows every
// distinct command first, then the longest blocked, whatever the names.
func TestWaitingSample(t *testing.T) {
	ref := func(pid int, comm string, blocked int64) *report.TaskRef {
		r := &report.TaskRef{PID: pid, Comm: comm}
		if blocked >= 0 {
			r.BlockedSeconds = &blocked
		}
		return r
	}
	mixed := []*report.TaskRef{ref(1, "oracle", 100), ref(2, "oracle", 300), ref(3, "ls", 50),
		ref(4, "oracle", 200), ref(5, "dd", -1), ref(6, "oracle", 300)}
	var many []*report.TaskRef // 20 oracle processes, then one ls blocked least
	for i := 0; i < 20; i++ {
		many = append(many, ref(100+i, "oracle", int64(400-i)))
	}
	many = append(many, ref(200, "ls", 10))
	tests := []struct {
		name  string
		queue []*report.TaskRef
		n     int
		want  []int // PIDs
	}{
		{"empty", nil, 12, []int{}},
		{"distinct comms first, then the longest blocked", mixed, 4, []int{2, 3, 5, 6}},
		{"all of a short queue", mixed, 12, []int{2, 3, 5, 6, 4, 1}},
		{"more comms than room: the longest blocked comms", mixed, 2, []int{2, 3}},
		{"one rare comm at the end of a long queue", many, 5, []int{100, 200, 101, 102, 103}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := waitingSample(tc.queue, tc.n)
			if got == nil {
				t.Fatal("nil sample, want an empty list")
			}
			pids := []int{}
			for _, r := range got {
				pids = append(pids, r.PID)
			}
			if !reflect.DeepEqual(pids, tc.want) {
				t.Errorf("sample PIDs %v, want %v", pids, tc.want)
			}
		})
	}
}
