package rules_test

import "testing"

// TestWaitChains: every uninterruptible task of the recorded scenarios has
// a wait and a root; the chain scenario's queued tasks lead to the stuck
// writer, the journal stall's to the writer whose buffer I/O is queued.
func TestWaitChains(t *testing.T) {
	tests := []struct {
		line, scenario, rootComm, rootKind string
	}{
		{"6.1-amd64", "E", "gnudd", "iomap-dio"},
		{"6.1-amd64", "D", "gnudd", "buffer"},
		{"7.2-amd64", "D", "gnudd", "buffer"},
		{"5.10-rt-amd64", "D", "gnudd", "buffer"},
	}
	for _, tt := range tests {
		t.Run(tt.line+"/"+tt.scenario, func(t *testing.T) {
			r := replayed(t, tt.line, tt.scenario)
			var root int
			for _, h := range r.HungTasks {
				if h.Wait == nil || h.Wait.Root == nil || h.Wait.Kind == "unknown" {
					t.Fatalf("task %d %s: wait %+v", h.PID, h.Comm, h.Wait)
				}
				if root == 0 {
					root = h.Wait.Root.PID
				}
				if h.Wait.Root.PID != root || h.Wait.Root.Comm != tt.rootComm {
					t.Errorf("task %d leads to %d %s, want %d %s", h.PID, h.Wait.Root.PID, h.Wait.Root.Comm, root, tt.rootComm)
				}
			}
			for _, h := range r.HungTasks {
				if h.PID == root && h.Wait.Kind != tt.rootKind {
					t.Errorf("root %d waits on %s, want %s", root, h.Wait.Kind, tt.rootKind)
				}
			}
		})
	}
}
