package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/vmtriage/vmtriage/rules/report"
)

// Info is what a batch adds to each line, under the key "batch": the
// file's identity for --resume, and how the analysis went.
type Info struct {
	Size    int64   `json:"size"`                  // file size in bytes
	MtimeNS int64   `json:"mtime_ns"`              // modification time, ns since the epoch
	Seconds float64 `json:"seconds"`               // wall time of the analysis (a timing field)
	Vmlinux string  `json:"vmlinux_how,omitempty"` // how the vmlinux was found: build-id, release, banner, debuginfod, fallback
	Shard   string  `json:"shard,omitempty"`       // "I/N" when sharded
}

// Record is one line of a batch's JSONL output: a v1 report, or, when the
// dump could not be analysed, an error record
// {"schema", "tool", "dump": {"path"}, "error", "batch"}.
type Record struct {
	report.Report
	Error string `json:"error,omitempty"`
	Batch *Info  `json:"batch,omitempty"`
}

// recordJSON has Record's fields without its MarshalJSON method.
type recordJSON Record

// errorRecord is the shape of a failed dump's line.
type errorRecord struct {
	Schema string      `json:"schema"`
	Tool   report.Tool `json:"tool"`
	Dump   errorDump   `json:"dump"`
	Error  string      `json:"error"`
	Batch  *Info       `json:"batch,omitempty"`
}

type errorDump struct {
	Path   string `json:"path"`
	Format string `json:"format,omitempty"`
}

// MarshalJSON writes a report with its batch info, or the short error
// record when Error is set.
func (r Record) MarshalJSON() ([]byte, error) {
	if r.Error != "" {
		return json.Marshal(errorRecord{Schema: r.Schema, Tool: r.Tool,
			Dump: errorDump{Path: r.Dump.Path, Format: r.Dump.Format}, Error: r.Error, Batch: r.Batch})
	}
	return json.Marshal(recordJSON(r))
}

// Failed reports whether the record is an error record.
func (r *Record) Failed() bool { return r.Error != "" }

// Line renders the record as one JSON line ending in "\n".
func (r *Record) Line() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode record for %s: %w", r.Dump.Path, err)
	}
	return buf.Bytes(), nil
}

// Writer appends records to a JSONL file. Each record is written with one
// write(2) of the whole line to a file opened with O_APPEND, so a crash
// or a kill leaves only complete lines (at most a torn last line if the
// system itself fails mid-write, which ReadFile skips and Open repairs).
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	fsync bool
}

// OpenWriter opens path for appending; truncate empties it first. With
// fsync, every line is flushed to stable storage before the call returns.
// A torn last line (no trailing newline) is cut off, so that the next
// record starts on a line of its own.
func OpenWriter(path string, truncate, fsync bool) (*Writer, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open output: %w", err)
	}
	if !truncate {
		if err := cutTornLine(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &Writer{f: f, fsync: fsync}, nil
}

// cutTornLine truncates the file after its last newline.
func cutTornLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return fmt.Errorf("check output's last line: %w", err)
	}
	defer r.Close()
	size := st.Size()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := r.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return fmt.Errorf("check output's last line: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if keep := start + int64(i) + 1; keep != size {
				return f.Truncate(keep)
			}
			return nil
		}
		end = start
	}
	return f.Truncate(0)
}

// Write appends one record as one line.
func (w *Writer) Write(r *Record) error {
	line, err := r.Line()
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	if w.fsync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", w.f.Name(), err)
		}
	}
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.f.Name(), err)
	}
	return nil
}

// ReadFile reads the records of a JSONL file. Lines that are not JSON
// objects with a dump path (a torn last line) are counted in bad and
// skipped.
func ReadFile(path string) (recs []Record, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	recs, bad, err = Read(f)
	if err != nil {
		return nil, 0, fmt.Errorf("read results %s: %w", path, err)
	}
	return recs, bad, nil
}

// Read reads JSONL records from r (see ReadFile).
func Read(r io.Reader) (recs []Record, bad int, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var rec Record
			if line[len(line)-1] != '\n' || json.Unmarshal(line, &rec) != nil || rec.Dump.Path == "" {
				bad++
			} else {
				recs = append(recs, rec)
			}
		}
		if err == io.EOF {
			return recs, bad, nil
		}
		if err != nil {
			return recs, bad, err
		}
	}
}

// Latest keeps the last record of each dump path, sorted by path.
func Latest(recs []Record) []Record {
	idx := map[string]int{}
	var out []Record
	for _, r := range recs {
		if i, ok := idx[r.Dump.Path]; ok {
			out[i] = r
			continue
		}
		idx[r.Dump.Path] = len(out)
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Dump.Path < out[j].Dump.Path })
	return out
}
