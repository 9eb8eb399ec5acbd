package report

import (
	_ "embed" // the JSON Schema of the v1 report
)

// SchemaJSON is the JSON Schema (draft 2020-12) of a v1 report, and of
// the error records and batch fields of vmtriage batch's JSONL lines;
// package schemacheck validates documents against it.
//
//go:embed schema.json
var SchemaJSON []byte

// SchemaURL is the schema's $id.
const SchemaURL = "https://github.com/vmtriage/vmtriage/rules/report/schema.json"
