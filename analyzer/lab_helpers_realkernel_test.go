//go:build realkernel

package analyzer

import "testing"

// openLab opens a lab dump with its line's vmlinux and the module debug
// directories, and indexes its tasks by pid and by address. The kernel is
// closed when the test ends.
func openLab(t *testing.T, dump, vmlinux string, debugDirs ...string) (k *Kernel, byPID map[int]Task, byAddr map[uint64]Task) {
	t.Helper()
	k, err := OpenWith(dump, vmlinux, Options{DebugDirs: debugDirs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	byPID, byAddr = map[int]Task{}, map[uint64]Task{}
	for _, tk := range tasks {
		byPID[tk.PID] = tk
		byAddr[tk.Addr] = tk
	}
	return k, byPID, byAddr
}
