//go:build realkernel

package symbols

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// TestRawEnumeratorsRealKernel: the enumerators read from the raw BTF
// blob are those decoding every type gives, for each lab kernel's
// vmlinux and the split BTF of its jbd2 module. Run with:
//
//	go test -tags realkernel -run TestRawEnumeratorsRealKernel ./symbols
func TestRawEnumeratorsRealKernel(t *testing.T) {
	lines := labcache.Lines()
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for _, l := range lines {
		t.Run(l.Name, func(t *testing.T) {
			im, err := Open(l.Vmlinux())
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			bt, err := im.BTF()
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, bt *BTFTypes) {
				raw, err := bt.enumerators()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				decoded, err := (&BTFTypes{path: bt.path, spec: bt.spec}).enumerators()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if !maps.Equal(raw, decoded) {
					n := 0
					for k, v := range decoded {
						if rv, ok := raw[k]; (!ok || rv != v) && n < 10 {
							t.Errorf("%s: %s = %d decoded, %d (%v) raw", what, k, v, rv, ok)
							n++
						}
					}
					t.Errorf("%s: %d enumerators raw, %d decoded", what, len(raw), len(decoded))
				}
				t.Logf("%s: %d enumerators", what, len(raw))
			}
			check("vmlinux", bt)
			if _, err := bt.Constant("BH_Lock"); err != nil {
				t.Error(err)
			}
			var ko string
			filepath.WalkDir(l.DebugModules(), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Name() == "jbd2.ko" {
					ko = p
				}
				return nil
			})
			if ko == "" {
				t.Skip("no jbd2.ko")
			}
			mi, err := Open(ko)
			if err != nil {
				t.Fatal(err)
			}
			defer mi.Close()
			mb, err := mi.ModuleBTF(bt)
			if err != nil {
				t.Skipf("jbd2.ko: %v", err)
			}
			check("jbd2.ko", mb)
		})
	}
}
