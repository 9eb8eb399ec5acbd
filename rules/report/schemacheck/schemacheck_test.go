package schemacheck_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/rules/report/schemacheck"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// seedReports analyses every seed core and returns its JSON report.
func seedReports(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	src, err := seedgen.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := seedgen.Generate(dir, filepath.Join(src, seedgen.VmlinuxName)); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range seedgen.Outputs() {
		k, err := analyzer.Open(filepath.Join(dir, o.Name), filepath.Join(dir, seedgen.VmlinuxName))
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		r, err := rules.Analyze(k, "test")
		k.Close()
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		var buf bytes.Buffer
		if err := report.WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		out[o.Name] = buf.Bytes()
	}
	return out
}

// TestSchemaSeedReports: the report of every seed core (positives and
// negatives, ELF and kdump) is valid against schema.json, and so are the
// same reports with a Markdown rendering that does not fail.
func TestSchemaSeedReports(t *testing.T) {
	if testing.Short() {
		t.Skip("generates the seed cores")
	}
	for name, doc := range seedReports(t) {
		t.Run(name, func(t *testing.T) {
			if err := schemacheck.Validate(doc); err != nil {
				t.Error(err)
			}
			var r report.Report
			if err := json.Unmarshal(doc, &r); err != nil {
				t.Fatal(err)
			}
			var md bytes.Buffer
			if err := report.WriteMarkdown(&md, &r); err != nil || !strings.Contains(md.String(), "### Findings") {
				t.Errorf("markdown: %v", err)
			}
		})
	}
}

// minimal is a valid report with one finding.
const minimal = `{"schema":"vmtriage.report/v1","tool":{"name":"vmtriage","version":"x"},
"dump":{"path":"/c/vmcore","format":"elf","truncated":false},
"system":{"release":"2.6.9","nodename":"h","machine":"x86_64","cpus":1,"tasks":2,"uptime_seconds":3,"load_average":[0,0,0],"panic":""},
"findings":[{"rule":"dio-lost-wakeup","title":"t","severity":"critical","confidence":"high","bucket":"dio-lost-wakeup-0123456789","summary":"s",
  "root_task":{"pid":1,"comm":"c","cpu":0,"task":"0x10"}}],
"hung_tasks":[{"pid":1,"comm":"c","cpu":0,"task":"0x10","blocked_seconds":null,"wait_channel":"io_schedule"}]}`

// TestSchemaDocuments: what the schema accepts and what it refuses.
func TestSchemaDocuments(t *testing.T) {
	edit := func(from, to string) string {
		if !strings.Contains(minimal, from) {
			t.Fatalf("fixture lacks %q", from)
		}
		return strings.Replace(minimal, from, to, 1)
	}
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"minimal report", minimal, true},
		{"extra keys are welcome", edit(`"hung_tasks"`, `"future_key":{"a":1},"hung_tasks"`), true},
		{"batch line", edit(`"hung_tasks"`, `"batch":{"size":1,"mtime_ns":2,"seconds":0.5,"vmlinux_how":"release","shard":"0/4"},"hung_tasks"`), true},
		{"error record", `{"schema":"vmtriage.report/v1","dump":{"path":"/c/bad"},"error":"not a vmcore"}`, true},
		{"error record without path", `{"schema":"vmtriage.report/v1","dump":{},"error":"x"}`, false},
		{"wrong schema", edit(`report/v1"`, `report/v2"`), false},
		{"address as a number", edit(`"task":"0x10"}}`, `"task":16}}`), false},
		{"address not hex", edit(`"task":"0x10"}}`, `"task":"16"}}`), false},
		{"unknown format", edit(`"format":"elf"`, `"format":"zip"`), false},
		{"bucket without hash", edit(`dio-lost-wakeup-0123456789`, `dio`), false},
		{"load average of two", edit(`[0,0,0]`, `[0,0]`), false},
		{"no findings key", edit(`"findings":`, `"findingz":`), false},
		{"count as a string", edit(`"cpus":1`, `"cpus":"1"`), false},
		{"severity unknown", edit(`"critical"`, `"apocalyptic"`), false},
		{"not JSON", `{"schema":`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := schemacheck.Validate([]byte(tt.doc))
			if (err == nil) != tt.valid {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.valid, err)
			}
		})
	}
}

// TestSchemaFileIsEmbedded: the embedded schema is the file in the
// repository, and declares draft 2020-12.
func TestSchemaFileIsEmbedded(t *testing.T) {
	disk, err := os.ReadFile("../schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, report.SchemaJSON) {
		t.Error("embedded schema differs from schema.json")
	}
	var s struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
	}
	if err := json.Unmarshal(disk, &s); err != nil {
		t.Fatal(err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.ID != report.SchemaURL {
		t.Errorf("$schema %q $id %q", s.Schema, s.ID)
	}
}
