package seedgen

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var cached struct {
	once sync.Once
	dir  string
	err  error
}

// Cores generates the seed cores from the committed vmlinux once per test
// binary, into a temporary directory that RemoveCached deletes, and returns
// that directory. Tests that only read the cores share it.
func Cores(tb testing.TB) string {
	tb.Helper()
	cached.once.Do(func() {
		if cached.dir, cached.err = os.MkdirTemp("", "vmtriage-seed-"); cached.err != nil {
			return
		}
		src, err := SourceDir()
		if err != nil {
			cached.err = err
			return
		}
		cached.err = Generate(cached.dir, filepath.Join(src, VmlinuxName))
	})
	if cached.err != nil {
		tb.Fatalf("generating the seed cores: %v", cached.err)
	}
	return cached.dir
}

// RemoveCached deletes the directory Cores made, if any (call it from
// TestMain after m.Run).
func RemoveCached() {
	if cached.dir != "" {
		os.RemoveAll(cached.dir)
	}
}
