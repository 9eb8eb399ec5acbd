//go:build realkernel

package analyzer

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore"
)

// TestKallsymsFromDump decodes the kallsyms tables of each lab kernel's B
// dump and checks every symbol against nm of its vmlinux (vmlinux.nm, at
// link-time addresses). Run with:
//
//	go test -tags realkernel -run TestKallsymsFromDump ./analyzer
func TestKallsymsFromDump(t *testing.T) {
	cache := os.Getenv("VMTRIAGE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "vmtriage")
	}
	lines, _ := filepath.Glob(filepath.Join(cache, "realkernel", "lines", "*", "vmlinux.nm"))
	if len(lines) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for _, nmPath := range lines {
		dir := filepath.Dir(nmPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			d, err := vmcore.Open(filepath.Join(dir, "dumps", "B", "mdf-zlib.vmcore"))
			if err != nil {
				t.Skip(err)
			}
			defer d.Close()
			boot, slide, err := bootSpace(d)
			if err != nil {
				t.Fatal(err)
			}
			tabs, err := kallsymsTables(d, boot)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := symbols.DecodeKallsyms(boot, tabs)
			if err != nil {
				t.Fatal(err)
			}
			nm := readNM(t, nmPath)
			bad := 0
			for _, s := range ks.Symbols {
				link := s.Addr
				if link >= 0xffffffff80000000 {
					link -= slide
				}
				if !nm[s.Name+" "+strconv.FormatUint(link, 16)] {
					if bad < 10 {
						t.Errorf("%c %s at %#x (link %#x): not in nm", s.Type, s.Name, s.Addr, link)
					}
					bad++
				}
			}
			t.Logf("%d symbols (%s), %d not in nm", len(ks.Symbols), ks.Mode, bad)
			if _, err := dumpBTF(d, boot, ks); err != nil {
				t.Error(err)
			}
		})
	}
}

func readNM(t *testing.T, path string) map[string]bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		out[fs[2]+" "+strconv.FormatUint(a, 16)] = true
	}
	return out
}
