package analyzer_test

import (
	"os"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/symbols/orc"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

func TestRegs(t *testing.T) {
	var r analyzer.Regs
	if _, ok := r.Get(analyzer.RegRBX); ok {
		t.Error("a zero Regs knows rbx")
	}
	r.Set(analyzer.RegRBX, 7)
	r.Set(analyzer.RegRIP, 0xffffffff81000000)
	if v, ok := r.Get(analyzer.RegRBX); !ok || v != 7 || !r.Has(analyzer.RegRIP) || r.Has(analyzer.RegR12) {
		t.Errorf("regs %+v", r)
	}
	r.Clear(analyzer.RegRBX)
	if r.Has(analyzer.RegRBX) || r.Known != 1<<analyzer.RegRIP {
		t.Errorf("after Clear: %+v", r)
	}
	r.Set(99, 1) // out of range: ignored
	if _, ok := r.Get(-1); ok {
		t.Error("register -1 is known")
	}
}

// TestBacktraceSeed: the seed cores have no ORC and no frame pointers: the
// backtrace is the stack scan, marked unreliable, through the direct I/O.
func TestBacktraceSeed(t *testing.T) {
	k := openSeed(t)
	tasks, err := k.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	tabs, err := k.UnwindTables()
	if err != nil {
		t.Fatal(err)
	}
	if tabs.HasORC() {
		t.Error("the 2.6.9 seed kernel has ORC")
	}
	for _, tk := range tasks {
		if tk.PID != 21356 {
			continue
		}
		frames, err := k.Backtrace(tk)
		if err != nil {
			t.Fatal(err)
		}
		if !analyzer.HasFrame(frames, "__blockdev_direct_IO") {
			t.Errorf("root task's trace %v lacks __blockdev_direct_IO", frames)
		}
		for _, f := range frames {
			if f.Reliable || f.PC != f.Addr-1 || f.SP != f.Slot+8 {
				t.Errorf("scanned frame %+v", f)
			}
		}
	}
}

// labKernel opens a lab dump (testdata/realkernel/lab.sh), or skips.
func labKernel(tb testing.TB, line, scenario string) *analyzer.Kernel {
	tb.Helper()
	l := labcache.Named(line)
	dump := l.Dump(scenario, "mdf-zlib")
	if _, err := os.Stat(dump); err != nil {
		tb.Skipf("no lab dump %s", dump)
	}
	k, err := analyzer.OpenWith(dump, l.Vmlinux(), analyzer.Options{DebugDirs: []string{l.DebugModules()}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { k.Close() })
	return k
}

// TestUnwindLab: on a lab dump the direct-I/O writer unwinds with ORC to
// the system-call entry, every frame reliable, the stack pointer going up,
// and the callee-saved registers known in the vmlinux frames.
func TestUnwindLab(t *testing.T) {
	for _, line := range []string{"6.1-amd64", "7.2-amd64"} {
		t.Run(line, func(t *testing.T) {
			k := labKernel(t, line, "B")
			tasks, err := k.Tasks()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, tk := range tasks {
				if !tk.Uninterruptible() || tk.Comm != "gnudd" {
					continue
				}
				n++
				frames, err := k.Unwind(tk)
				if err != nil {
					t.Fatalf("pid %d: %v", tk.PID, err)
				}
				if !analyzer.HasFrame(frames, "__blockdev_direct_IO") || frames[0].Func != "__schedule" || frames[len(frames)-1].Func != "entry_SYSCALL_64" {
					t.Errorf("pid %d: %v", tk.PID, frames)
				}
				sawModule := false
				for i, f := range frames {
					sawModule = sawModule || f.Module != ""
					if !f.Reliable || f.CFA <= f.SP || (i > 0 && f.SP != frames[i-1].CFA) {
						t.Errorf("pid %d frame %d %s: reliable %v sp %#x cfa %#x", tk.PID, i, f.Func, f.Reliable, f.SP, f.CFA)
					}
					// below the first module frame (modules have no CFI here)
					if !sawModule {
						for _, r := range []int{analyzer.RegRBX, analyzer.RegRBP, analyzer.RegR12, analyzer.RegR13, analyzer.RegR14, analyzer.RegR15, analyzer.RegRSP, analyzer.RegRIP} {
							if !f.Regs.Has(r) {
								t.Errorf("pid %d frame %d %s: register %d unknown", tk.PID, i, f.Func, r)
							}
						}
					}
				}
			}
			if n == 0 {
				t.Error("no UN gnudd task")
			}
		})
	}
}

// TestUnwindTablesLab: the vmlinux ORC entry of __schedule is a call frame.
func TestUnwindTablesLab(t *testing.T) {
	k := labKernel(t, "6.12-amd64", "B")
	tabs, err := k.UnwindTables()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := k.Syms.Symbol("__schedule")
	if !ok {
		t.Fatal("no __schedule")
	}
	e, ok := tabs.ORC(s.Addr + 0x40)
	if !ok || e.Type != orc.TypeCall {
		t.Errorf("ORC(__schedule+0x40) = %v %v", e, ok)
	}
	row, ok := tabs.CFI(s.Addr + 0x40)
	if !ok || row.CFAReg != analyzer.RegRSP && row.CFAReg != analyzer.RegRBP {
		t.Errorf("CFI(__schedule+0x40) = %+v %v", row, ok)
	}
}

// BenchmarkUnwindAllTasks unwinds every task of a lab dump (6.1, scenario
// D), or of the seed core without it.
func BenchmarkUnwindAllTasks(b *testing.B) {
	var k *analyzer.Kernel
	if _, err := os.Stat(labcache.Named("6.1-amd64").Dump("D", "mdf-zlib")); err == nil {
		k = labKernel(b, "6.1-amd64", "D")
	} else {
		b.Skip("no lab dump: nothing to unwind with ORC")
	}
	tasks, err := k.Tasks()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := k.UnwindTables(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	frames := 0
	for i := 0; i < b.N; i++ {
		for _, tk := range tasks {
			fr, _ := k.Backtrace(tk)
			frames += len(fr)
		}
	}
	b.ReportMetric(float64(len(tasks)), "tasks/op")
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
}
