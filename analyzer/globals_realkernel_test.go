//go:build realkernel

package analyzer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
)

// TestGlobalDecls checks the declared type of every global in globals.go,
// built from the BTF of each lab kernel, against the type the kernel's
// DWARF gives the variable. Run with:
//
//	go test -tags realkernel -run TestGlobalDecls ./analyzer
func TestGlobalDecls(t *testing.T) {
	cache := os.Getenv("VMTRIAGE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "vmtriage")
	}
	lines, _ := filepath.Glob(filepath.Join(cache, "realkernel", "lines", "*", "vmlinux"))
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for _, vmlinux := range lines {
		t.Run(filepath.Base(filepath.Dir(vmlinux)), func(t *testing.T) {
			im, err := symbols.Open(vmlinux)
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			dw, err := im.Types()
			if err != nil {
				t.Fatal(err)
			}
			bt, err := im.BTF()
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for name := range globalDecls {
				want, err := dw.Variable(name)
				if errors.Is(err, symbols.ErrNotFound) {
					continue // not on this kernel line
				} else if err != nil {
					t.Fatal(err)
				}
				got, err := declaredType(bt, name)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				for _, d := range symbols.CompareTypes(want, got) {
					t.Errorf("%s: DWARF vs declared: %s", name, d)
				}
				checked++
			}
			if checked == 0 {
				t.Error("no declared global found in the DWARF")
			}
			t.Logf("%d declared globals agree with DWARF", checked)
		})
	}
}
