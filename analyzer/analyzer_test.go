package analyzer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// openSeed opens the second (smaller) seed core as ELF.
func openSeed(t *testing.T) *analyzer.Kernel {
	t.Helper()
	dir := seedgen.Cores(t)
	k, err := analyzer.Open(filepath.Join(dir, "rhel4-20080616.elf"), filepath.Join(dir, seedgen.VmlinuxName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestKernelModel(t *testing.T) {
	k := openSeed(t)
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	byPID := map[int]analyzer.Task{}
	for _, tk := range tasks {
		states[tk.StateName()]++
		byPID[tk.PID] = tk
	}
	if len(tasks) != 275 || states["UN"] != 26 {
		t.Errorf("%d tasks, %d UN; want 275 and 26 (24 writers, kjournald, oracle)", len(tasks), states["UN"])
	}
	root := byPID[21356]
	if root.Comm != "oracle" || root.CPU != 10 || root.Addr != 0x103f8f97030 || root.PPID != 1 {
		t.Errorf("pid 21356 = %+v", root)
	}
	if b, err := k.BlockedSeconds(root); err != nil || b != 1492 {
		t.Errorf("blocked %d s, %v; want 1492", b, err)
	}
	frames, err := k.Backtrace(root)
	if err != nil || len(frames) != 15 || frames[2].Func != "__blockdev_direct_IO" || frames[3].Module != "ext3" {
		t.Errorf("backtrace %v, %v", frames, err)
	}
	if wc := analyzer.WaitChannel(frames); wc != "__blockdev_direct_IO" {
		t.Errorf("wait channel %q", wc)
	}
	files, err := k.Files(root)
	if err != nil || len(files) != 4 || files[3].FD != 22 || files[3].Path != "/data/oracle/archive/DBTEST/1_472_657217547.dbf" || files[0].Path != "/dev/null" {
		t.Errorf("files %+v, %v", files, err)
	}
	mounts, err := k.Mounts()
	if err != nil || len(mounts) != 3 || mounts[1].Path != "/data" || mounts[1].Device != "/dev/md0" || mounts[1].FSType != "ext3" {
		t.Errorf("mounts %+v, %v", mounts, err)
	}
	journals, err := k.Journals()
	if err != nil || len(journals) != 3 {
		t.Fatalf("journals %+v, %v", journals, err)
	}
	var data analyzer.Journal
	for _, j := range journals {
		if j.Mount == "/data" {
			data = j
		}
	}
	if data.Transaction != 0x100012f11c0 || data.TState != "T_LOCKED" || data.TUpdates != 1 ||
		len(data.WaitLocked) != 24 || len(data.WaitUpdates) != 1 || data.CommitTask != 0x100dffb4030 {
		t.Errorf("journal of /data: %+v", data)
	}
	frames, err2 := k.Backtrace(root)
	if err2 != nil {
		t.Fatal(err2)
	}
	d, ok, err := k.FindDIO(root, frames)
	if err != nil || !ok || d.Addr != 0x101f3c8b800 || d.Refcount != 1 || d.Waiter != root.Addr || d.Result != 0xe00 {
		t.Errorf("dio %+v %v %v", d, ok, err)
	}
	io, err := k.Kiocb(root, d.IOCB)
	if err != nil || io.FD != 22 || io.OpName != "PWRITE" || io.Offset != 0x3900200 || io.UserCopy != 0x100ba6ddf08 {
		t.Errorf("iocb %+v %v", io, err)
	}
	if len(k.Modules()) != 2 || k.Modules()[0].Name != "ext3" || k.Modules()[1].Symbols != 5 {
		t.Errorf("modules %+v", k.Modules())
	}
	if len(k.Warnings()) != 0 {
		t.Errorf("warnings: %q", k.Warnings())
	}
}

func TestPanicString(t *testing.T) {
	tests := []struct{ log, want string }{
		{"a\nKernel panic - not syncing: Fatal exception\nOops: 0002 [1] SMP \n", "Fatal exception"},
		{"Unable to handle kernel NULL pointer\nOops: 0002 [1] SMP \nCPU 0", "Oops: 0002 [1] SMP "},
		{"BUG: unable to handle page fault for address: 0\n", "BUG: unable to handle page fault for address: 0"},
		{"just boot messages\n", ""},
	}
	for _, tt := range tests {
		if got := analyzer.PanicString(tt.log); got != tt.want {
			t.Errorf("PanicString(%q) = %q, want %q", tt.log, got, tt.want)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	seedgen.RemoveCached()
	os.Exit(code)
}
