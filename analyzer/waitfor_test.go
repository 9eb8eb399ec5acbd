package analyzer

import (
	"reflect"
	"testing"
)

func TestBuildWaitGraph(t *testing.T) {
	tests := []struct {
		name   string
		waits  map[uint64]Wait
		roots  map[uint64]uint64
		cycles [][]uint64
	}{
		{"chain to a task that waits on a device",
			map[uint64]Wait{
				1: {Kind: "journal-locked", Owners: []uint64{2}},
				2: {Kind: "journal-updates", Owners: []uint64{3}},
				3: {Kind: "buffer", Device: "dm-0"},
			},
			map[uint64]uint64{1: 3, 2: 3, 3: 3}, nil},
		{"owner not blocked",
			map[uint64]Wait{1: {Kind: "mutex", Owners: []uint64{9}}},
			map[uint64]uint64{1: 9}, nil},
		{"ABBA deadlock and a task queued behind it",
			map[uint64]Wait{
				1: {Kind: "mutex", Owners: []uint64{2}},
				2: {Kind: "mutex", Owners: []uint64{1}},
				3: {Kind: "rwsem-write", Owners: []uint64{1}},
			},
			map[uint64]uint64{1: 1, 2: 2, 3: 1}, [][]uint64{{1, 2}}},
		{"lost wakeup is its own root",
			map[uint64]Wait{1: {Kind: "completion", Holds: true}},
			map[uint64]uint64{1: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := BuildWaitGraph(tt.waits)
			if !reflect.DeepEqual(g.Cycles, tt.cycles) {
				t.Errorf("cycles %v, want %v", g.Cycles, tt.cycles)
			}
			for task, want := range tt.roots {
				if got := g.Root[task]; got != want && !(len(tt.cycles) > 0 && inAny(tt.cycles, got) && inAny(tt.cycles, want)) {
					t.Errorf("root of %d is %d, want %d", task, got, want)
				}
			}
		})
	}
}

func inAny(cycles [][]uint64, t uint64) bool {
	for _, c := range cycles {
		for _, x := range c {
			if x == t {
				return true
			}
		}
	}
	return false
}
