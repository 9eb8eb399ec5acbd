package batch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/rules/batch"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// TestWriteHTML: a batch over the seed cores (and one file that is no
// dump) writes an index with the buckets linking to a page per dump.
func TestWriteHTML(t *testing.T) {
	cores := seedgen.Cores(t)
	in := t.TempDir()
	for _, name := range []string{"rhel4-1822328.elf", "rhel4-1822328-running.elf"} {
		if err := os.Symlink(filepath.Join(cores, name), filepath.Join(in, name)); err != nil {
			t.Fatal(err)
		}
	}
	bad := filepath.Join(in, "broken.vmcore")
	os.WriteFile(bad, []byte("\x7fELF not really"), 0o644)
	vmlinux := filepath.Join(cores, seedgen.VmlinuxName)
	res, err := batch.Run(context.Background(), batch.Options{Paths: []string{in, bad}, Out: filepath.Join(t.TempDir(), "r.jsonl"),
		Jobs: 2, Finder: &debuginfo.Finder{Fallback: vmlinux}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := batch.WriteHTML(dir, res.Records, res.Summary); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "dumps", "*.html"))
	if len(pages) != 2 {
		t.Errorf("%d dump pages, want 2: %v", len(pages), pages)
	}
	for _, want := range []string{"dio-lost-wakeup-", `href="dumps/`, "rhel4-1822328.elf", "broken.vmcore"} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index lacks %q", want)
		}
	}
	for _, p := range pages {
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), `href="../index.html"`) || !strings.Contains(string(b), "<h2 id=\"findings\">") {
			t.Errorf("%s: no link back to the index or no findings section", p)
		}
	}
}
