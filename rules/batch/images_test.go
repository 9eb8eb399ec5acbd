package batch

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// TestOneImagePerKernel: the dumps of one kernel in a batch share one
// opened vmlinux (its symbol table and decoded types); each analysis has
// its own view of it, so the two seed cores, with their own module
// symbols, still give their own reports.
func TestOneImagePerKernel(t *testing.T) {
	cores := seedgen.Cores(t)
	vm := filepath.Join(cores, seedgen.VmlinuxName)
	a, err := openImage(vm)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openImage(vm)
	if err != nil || a != b {
		t.Fatalf("second open of %s: %p, %v; want the first image %p", vm, b, err, a)
	}
	finder := &debuginfo.Finder{Fallback: vm}
	for _, tc := range []struct {
		core string
		pid  int
	}{{"rhel4-1822328.elf", 8960}, {"rhel4-20080616.kdump", 21356}} {
		rec := AnalyzeOne(context.Background(), filepath.Join(cores, tc.core), Info{}, finder, "test")
		if rec.Error != "" {
			t.Fatalf("%s: %s", tc.core, rec.Error)
		}
		if len(rec.Findings) == 0 || rec.Findings[0].RootTask == nil || rec.Findings[0].RootTask.PID != tc.pid {
			t.Errorf("%s: findings %+v, want root task %d", tc.core, rec.Findings, tc.pid)
		}
	}
	if _, ok := a.Symbol("ext3_direct_IO"); ok {
		t.Errorf("a dump's module symbol leaked into the shared image")
	}
}
