package batch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/symbols/debuginfo"
)

// TestAnalyzeWithTimeout: a dump that cannot be analysed in time gets an
// error record instead of stalling the batch. A FIFO named like a dump
// blocks its reader forever, as a stalled network file system would.
func TestAnalyzeWithTimeout(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "stuck.vmcore")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("no FIFO: %v", err)
	}
	start := time.Now()
	rec := AnalyzeWithTimeout(context.Background(), fifo, Info{}, &debuginfo.Finder{}, "test", 200*time.Millisecond)
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
	if !strings.Contains(rec.Error, "did not finish within 200ms") {
		t.Errorf("record error %q", rec.Error)
	}
	os.Remove(fifo)
}
