// Package reportcache keeps the reports vmtriage analyze wrote, so that
// asking again about the same dump (another output format, a pipeline's
// retry, a ticket re-rendered) reads the report instead of the dump.
//
// A report is found again only when everything it was made from is
// unchanged: the vmtriage executable, the dump, the vmlinux, the module
// debug directories (each by absolute path, size, modification time,
// inode and device) and the options. Reports live in
// symbols.CacheDir()/reports, at most maxEntries of them (the oldest go
// first); VMTRIAGE_CACHE=off turns the cache off.
package reportcache

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/symbols"
)

// formatVersion changes whenever what a key covers does.
const formatVersion = 1

// maxEntries bounds the cache: reports are tens of KB each.
const maxEntries = 500

// Key is what an analysis was made from.
type Key struct {
	// Files are the inputs by path: the dump, the vmlinux (when one was
	// used), the module debug directories. The running executable is
	// added by ID.
	Files []string
	// Options are the choices that change the report (--types, --no-vmlinux).
	Options []string
}

// ID is the key's digest, or an error when an input cannot be stat'ed (then
// nothing is cached).
func (k Key) ID() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "vmtriage report cache v%d\n", formatVersion)
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("report cache: the running executable: %w", err)
	}
	for _, f := range append([]string{exe}, k.Files...) {
		abs, err := filepath.Abs(f)
		if err != nil {
			return "", fmt.Errorf("report cache: %s: %w", f, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("report cache: %w", err)
		}
		fmt.Fprintf(h, "file %q %d %d", abs, st.Size(), st.ModTime().UnixNano())
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, " %d %d", sys.Ino, sys.Dev)
		}
		fmt.Fprintln(h)
	}
	for _, o := range k.Options {
		fmt.Fprintf(h, "option %q\n", o)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func path(id string) string {
	dir := symbols.CacheDir()
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "reports", id+".json")
}

// Load returns the report cached under id, if there is one that parses.
func Load(id string) (*report.Report, bool) {
	p := path(id)
	if p == "" {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil || r.Schema != report.Schema {
		return nil, false
	}
	now := time.Now()
	os.Chtimes(p, now, now) // recently used: kept longest
	return &r, true
}

// Store caches r under id (written to a temporary file, then renamed, so
// a reader never sees half a report) and trims the cache to maxEntries.
func Store(id string, r *report.Report) error {
	p := path(id)
	if p == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("report cache: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("report cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".report-*")
	if err != nil {
		return fmt.Errorf("report cache: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report cache: %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report cache: %w", err)
	}
	trim(filepath.Dir(p))
	return nil
}

// trim removes the least recently used reports beyond maxEntries.
func trim(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) <= maxEntries {
		return
	}
	type aged struct {
		name string
		t    int64
	}
	var all []aged
	for _, e := range entries {
		if info, err := e.Info(); err == nil && filepath.Ext(e.Name()) == ".json" {
			all = append(all, aged{e.Name(), info.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(b.t, a.t) }) // newest first
	for _, a := range all[min(maxEntries, len(all)):] {
		os.Remove(filepath.Join(dir, a.name))
	}
}
