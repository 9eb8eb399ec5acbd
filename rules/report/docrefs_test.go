package report_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mdRef matches a reference to a Markdown file ("testdata/x/README.md").
var mdRef = regexp.MustCompile(`[A-Za-z0-9_./-]+\.md\b`)

// TestDocReferencesExist: the Markdown files that README.md and the Go
// sources point to are in the repository (relative to its root or to the
// referring file), and the report's contract is the schema, which exists.
func TestDocReferencesExist(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "docrefs_test.go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, ref := range mdRef.FindAllString(string(b), -1) {
			if !exists(filepath.Join(root, ref)) && !exists(filepath.Join(filepath.Dir(f), ref)) {
				t.Errorf("%s refers to %s, which is not in the repository", rel, ref)
			}
		}
	}

	for _, tc := range []struct{ file, says string }{
		{"README.md", "(`rules/report/schema.json` has the"},
		{"rules/report/report.go", `schema "vmtriage.report/v1", see schema.json`},
	} {
		b, err := os.ReadFile(filepath.Join(root, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.says) {
			t.Errorf("%s does not say %q", tc.file, tc.says)
		}
	}
	if !exists(filepath.Join(root, "rules", "report", "schema.json")) {
		t.Error("rules/report/schema.json, the report's contract, is missing")
	}
}
