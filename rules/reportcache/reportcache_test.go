package reportcache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/rules/report"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKeyID: the ID changes with any input file's content or time, with
// the options, and not otherwise; a missing input gives no ID.
func TestKeyID(t *testing.T) {
	dir := t.TempDir()
	dump, vmlinux := filepath.Join(dir, "vmcore"), filepath.Join(dir, "vmlinux")
	writeFile(t, dump, "dump")
	writeFile(t, vmlinux, "vmlinux")
	base := Key{Files: []string{dump, vmlinux}, Options: []string{"types="}}
	id := func(k Key) string {
		t.Helper()
		s, err := k.ID()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := id(base)
	if id(base) != first {
		t.Fatal("the same inputs give two IDs")
	}
	for _, tc := range []struct {
		name   string
		change func() Key
	}{
		{"an option", func() Key { return Key{Files: base.Files, Options: []string{"types=dwarf"}} }},
		{"no vmlinux", func() Key { return Key{Files: []string{dump}, Options: base.Options} }},
		{"the dump's size", func() Key { writeFile(t, dump, "dump2"); return base }},
		{"the vmlinux's time", func() Key {
			if err := os.Chtimes(vmlinux, time.Now(), time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			return base
		}},
	} {
		if id(tc.change()) == first {
			t.Errorf("%s changed: same ID", tc.name)
		}
	}
	if _, err := (Key{Files: []string{filepath.Join(dir, "gone")}}).ID(); err == nil {
		t.Error("a missing input: no error")
	}
}

// TestStoreLoad: a stored report loads back equal; a corrupt or foreign
// file does not load; the cache keeps maxEntries; VMTRIAGE_CACHE=off
// keeps nothing.
func TestStoreLoad(t *testing.T) {
	t.Setenv("VMTRIAGE_CACHE", t.TempDir())
	r := &report.Report{Schema: report.Schema, Tool: report.Tool{Name: "vmtriage", Version: "x"}, Findings: []report.Finding{{Rule: "r", Title: "T"}}}
	if err := Store("a", r); err != nil {
		t.Fatal(err)
	}
	got, ok := Load("a")
	if !ok || got.Findings[0].Title != "T" || got.Tool.Version != "x" {
		t.Fatalf("Load: %+v, %v", got, ok)
	}
	if _, ok := Load("b"); ok {
		t.Error("an ID never stored loads")
	}
	writeFile(t, path("c"), "{not json")
	writeFile(t, path("d"), `{"schema":"other"}`)
	for _, id := range []string{"c", "d"} {
		if _, ok := Load(id); ok {
			t.Errorf("%s loads", id)
		}
	}
	for i := range maxEntries + 10 {
		if err := Store(fmt.Sprint("n", i), r); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path("a"))); len(entries) > maxEntries {
		t.Errorf("%d entries kept, want at most %d", len(entries), maxEntries)
	}
	t.Setenv("VMTRIAGE_CACHE", "off")
	if err := Store("e", r); err != nil {
		t.Fatal(err)
	}
	if _, ok := Load("e"); ok {
		t.Error("VMTRIAGE_CACHE=off: a report was kept")
	}
}
