//go:build realkernel

package analyzer

import (
	"errors"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// TestGlobalDecls checks the declared type of every global in globals.go,
// built from the BTF of each lab kernel, against the type the kernel's
// DWARF gives the variable. Run with:
//
//	go test -tags realkernel -run TestGlobalDecls ./analyzer
func TestGlobalDecls(t *testing.T) {
	lines := labcache.Lines()
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for _, line := range lines {
		t.Run(line.Name, func(t *testing.T) {
			im, err := symbols.Open(line.Vmlinux())
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
