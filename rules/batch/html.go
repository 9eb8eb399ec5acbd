package batch

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/vmtriage/vmtriage/rules/report"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// WriteHTML writes the batch as HTML into dir: index.html (the counts,
// the buckets with links to their dumps, every dump, the failures) and
// dumps/NNN-NAME.html, the report of each analysed dump
// (report.WriteHTMLPage). Every page is self-contained.
func WriteHTML(dir string, recs []Record, s Summary) error {
	if err := os.MkdirAll(filepath.Join(dir, "dumps"), 0o755); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	x := &report.HTMLIndex{
		Title: fmt.Sprintf("vmtriage batch: %d dumps, %d with findings", s.Dumps, s.WithFindings),
		Stats: []report.EvidenceRow{
			{Label: "dumps", Value: fmt.Sprint(s.Dumps)},
			{Label: "with findings", Value: fmt.Sprint(s.WithFindings)},
			{Label: "clean", Value: fmt.Sprint(s.Clean)},
			{Label: "failed", Value: fmt.Sprint(s.Failed)},
			{Label: "truncated", Value: fmt.Sprint(s.Truncated)},
		},
	}
	pages := map[string]string{} // dump path -> page
	for i, r := range Latest(recs) {
		name := filepath.Base(r.Dump.Path)
		if r.Failed() {
			x.Failures = append(x.Failures, report.HTMLDump{Name: name, Note: r.Error})
			continue
		}
		href := fmt.Sprintf("dumps/%03d-%s.html", i, unsafeName.ReplaceAllString(name, "_"))
		if err := writePage(filepath.Join(dir, href), &r.Report); err != nil {
			return err
		}
		pages[r.Dump.Path] = href
		note := "clean"
		if len(r.Findings) > 0 {
			note = r.Findings[0].Title
		}
		x.Dumps = append(x.Dumps, report.HTMLDump{Name: name, Href: href, Note: note, Findings: len(r.Findings)})
	}
	for _, b := range s.Buckets {
		hb := report.HTMLBucket{ID: b.ID, Rule: b.Rule, Title: b.Title, Count: b.Count}
		for _, d := range b.Dumps {
			hb.Dumps = append(hb.Dumps, report.HTMLDump{Name: filepath.Base(d), Href: pages[d]})
		}
		x.Buckets = append(x.Buckets, hb)
	}
	f, err := os.Create(filepath.Join(dir, "index.html"))
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	err = report.WriteHTMLIndex(f, x)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	return nil
}

func writePage(path string, r *report.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	err = report.WriteHTMLPage(f, r, "../index.html")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return nil
}
