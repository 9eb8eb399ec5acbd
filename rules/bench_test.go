package rules_test

import (
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// BenchmarkAnalyze measures a whole analysis (open, every rule) of the
// first seed core, 3527 tasks.
func BenchmarkAnalyze(b *testing.B) {
	dir := seedgen.Cores(b)
	for _, name := range []string{"rhel4-1822328.elf", "rhel4-1822328.kdump"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				k, err := analyzer.Open(filepath.Join(dir, name), filepath.Join(dir, seedgen.VmlinuxName))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rules.Analyze(k, "bench"); err != nil {
					b.Fatal(err)
				}
				k.Close()
			}
		})
	}
}
