package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/testdata/seedgen"

	"github.com/vmtriage/vmtriage/testdata/labcache"
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

// BenchmarkAnalyzeLab measures a whole analysis of the lab's 6.1-amd64
// scenario B paging ELF (testdata/realkernel/lab.sh; skipped without it),
// as "vmtriage analyze" does it: types from BTF or DWARF, with an empty
// type-index cache each time (cold) or the cache of an earlier run (warm).
// bench.sh times the same from the command line against drgn and crash.
func BenchmarkAnalyzeLab(b *testing.B) {
	line := labcache.Named("6.1-amd64")
	dump, vmlinux := line.Dump("B", "elf-paging"), line.Vmlinux()
	if _, err := os.Stat(dump); err != nil {
		b.Skip("no lab dump (testdata/realkernel/lab.sh)")
	}
	warm := b.TempDir()
	for _, c := range []struct{ name, types, cache string }{
		{"btf/cold", analyzer.TypesBTF, ""},
		{"dwarf/cold", analyzer.TypesDWARF, ""},
		{"dwarf/warm", analyzer.TypesDWARF, warm},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dir := c.cache
				if dir == "" {
					dir = b.TempDir()
				}
				b.Setenv("VMTRIAGE_CACHE", dir)
				k, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{Types: c.types})
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
