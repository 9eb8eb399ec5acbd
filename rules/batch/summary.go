package batch

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vmtriage/vmtriage/rules/report"
)

// Bucket is one bug seen across dumps: a finding bucket (see rules.Bucket)
// with the dumps in which it was found.
type Bucket struct {
	ID    string   `json:"bucket"`
	Rule  string   `json:"rule"`
	Title string   `json:"title"`
	Count int      `json:"count"`
	Dumps []string `json:"dumps"`
}

// Failure is a dump that could not be analysed.
type Failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Summary is what a batch found, one bucket per bug.
type Summary struct {
	Dumps        int       `json:"dumps"`
	WithFindings int       `json:"with_findings"`
	Clean        int       `json:"clean"`
	Failed       int       `json:"failed"`
	Truncated    int       `json:"truncated"`
	Buckets      []Bucket  `json:"buckets"`
	Failures     []Failure `json:"failures"`
}

// Summarize groups the records (the latest per dump) by finding bucket.
// Buckets are sorted by count, most frequent first, then by id.
func Summarize(recs []Record) Summary {
	s := Summary{Buckets: []Bucket{}, Failures: []Failure{}}
	byID := map[string]*Bucket{}
	for _, r := range Latest(recs) {
		s.Dumps++
		switch {
		case r.Failed():
			s.Failed++
			s.Failures = append(s.Failures, Failure{Path: r.Dump.Path, Error: r.Error})
			continue
		case len(r.Findings) > 0:
			s.WithFindings++
		default:
			s.Clean++
		}
		if r.Dump.Truncated {
			s.Truncated++
		}
		seen := map[string]bool{}
		for _, f := range r.Findings {
			if f.Bucket == "" || seen[f.Bucket] {
				continue
			}
			seen[f.Bucket] = true
			b := byID[f.Bucket]
			if b == nil {
				b = &Bucket{ID: f.Bucket, Rule: f.Rule, Title: f.Title}
				byID[f.Bucket] = b
			}
			b.Count++
			b.Dumps = append(b.Dumps, r.Dump.Path)
		}
	}
	for _, b := range byID {
		s.Buckets = append(s.Buckets, *b)
	}
	sort.Slice(s.Buckets, func(i, j int) bool {
		if s.Buckets[i].Count != s.Buckets[j].Count {
			return s.Buckets[i].Count > s.Buckets[j].Count
		}
		return s.Buckets[i].ID < s.Buckets[j].ID
	})
	return s
}

// Findings reports whether any dump has a finding.
func (s Summary) Findings() bool { return s.WithFindings > 0 }

// Bucket returns the bucket with the given id, or nil.
func (s Summary) Bucket(id string) *Bucket {
	for i := range s.Buckets {
		if s.Buckets[i].ID == id {
			return &s.Buckets[i]
		}
	}
	return nil
}

// exampleCores is how many dumps the table names per bucket.
const exampleCores = 3

// maxFailureRows bounds the failures listed in the table.
const maxFailureRows = 20

// WriteTable prints the bucket table and the failures for people, fitted
// to report.DefaultWidth columns.
func (s Summary) WriteTable(w io.Writer) error { return s.WriteTableWidth(w, report.DefaultWidth) }

// WriteTableWidth is WriteTable with the tables fitted to width columns
// (cells wrapped; the JSON summary keeps the full text).
func (s Summary) WriteTableWidth(w io.Writer, width int) error {
	if _, err := fmt.Fprintf(w, "%d dumps: %d with findings, %d clean, %d failed (%d truncated)\n",
		s.Dumps, s.WithFindings, s.Clean, s.Failed, s.Truncated); err != nil {
		return err
	}
	rows := [][]string{}
	for _, b := range s.Buckets {
		var ex []string
		for i, d := range b.Dumps {
			if i == exampleCores {
				ex = append(ex, fmt.Sprintf("+%d more", len(b.Dumps)-exampleCores))
				break
			}
			ex = append(ex, filepath.Base(d))
		}
		rows = append(rows, []string{b.ID, b.Rule, b.Title, fmt.Sprint(b.Count), strings.Join(ex, ", ")})
	}
	if len(rows) > 0 {
		if err := table(w, []string{"BUCKET", "RULE", "TITLE", "COUNT", "EXAMPLE CORES"}, rows, width); err != nil {
			return err
		}
	}
	if len(s.Failures) > 0 {
		rows = rows[:0]
		for i, f := range s.Failures {
			if i == maxFailureRows {
				rows = append(rows, []string{"...", fmt.Sprintf("%d more", len(s.Failures)-maxFailureRows)})
				break
			}
			rows = append(rows, []string{filepath.Base(f.Path), oneLine(f.Error, 160)})
		}
		if err := table(w, []string{"FAILED DUMP", "ERROR"}, rows, width); err != nil {
			return err
		}
	}
	return nil
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func table(w io.Writer, header []string, rows [][]string, width int) error {
	if err := report.RenderTable(w, header, rows, width); err != nil {
		return fmt.Errorf("summary table: %w", err)
	}
	return nil
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(s)
}
