package batch

import (
	"fmt"
	"os"
	"path/filepath"
)

// Merge combines JSONL files (the outputs of shards) into one, keeping the
// last record of each dump path (a later file wins over an earlier one),
// sorted by path. The output is written to a temporary file and renamed,
// so it is never seen half-written. It returns the merged records.
func Merge(inputs []string, out string) ([]Record, error) {
	var all []Record
	for _, in := range inputs {
		recs, _, err := ReadFile(in)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		all = append(all, recs...)
	}
	merged := Latest(all)
	if out == "" {
		return merged, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	for i := range merged {
		line, err := merged[i].Line()
		if err == nil {
			_, err = tmp.Write(line)
		}
		if err != nil {
			tmp.Close()
			return nil, fmt.Errorf("merge: write %s: %w", out, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return merged, nil
}
