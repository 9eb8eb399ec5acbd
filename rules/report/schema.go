package report

import (
	"bytes"
	_ "embed" // the JSON Schema of the v1 report
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of a v1 report, and of
// the error records and batch fields of vmtriage batch's JSONL lines.
//
//go:embed schema.json
var SchemaJSON []byte

// SchemaURL is the schema's $id.
const SchemaURL = "https://github.com/vmtriage/vmtriage/rules/report/schema.json"

var (
	schemaOnce sync.Once
	compiled   *jsonschema.Schema
	compileErr error
)

// compiledSchema compiles SchemaJSON once.
func compiledSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
		if err != nil {
			compileErr = fmt.Errorf("report schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource(SchemaURL, doc); err != nil {
			compileErr = fmt.Errorf("report schema: %w", err)
			return
		}
		compiled, compileErr = c.Compile(SchemaURL)
		if compileErr != nil {
			compileErr = fmt.Errorf("report schema: %w", compileErr)
		}
	})
	return compiled, compileErr
}

// ValidateJSON checks one JSON document (a report or a batch line)
// against SchemaJSON.
func ValidateJSON(doc []byte) error {
	sch, err := compiledSchema()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("report is not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("report does not match %s: %w", SchemaURL, err)
	}
	return nil
}
