// Package schemacheck validates reports and batch lines against the JSON
// Schema of the report (report.SchemaJSON). It is a package of its own so
// that the vmtriage binary, which writes reports but never validates them,
// does not link the JSON Schema compiler (its package initialisation alone
// took 10 ms of every run).
package schemacheck

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vmtriage/vmtriage/rules/report"
)

var (
	once       sync.Once
	compiled   *jsonschema.Schema
	compileErr error
)

// schema compiles report.SchemaJSON once.
func schema() (*jsonschema.Schema, error) {
	once.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.SchemaJSON))
		if err != nil {
			compileErr = fmt.Errorf("report schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource(report.SchemaURL, doc); err != nil {
			compileErr = fmt.Errorf("report schema: %w", err)
			return
		}
		compiled, compileErr = c.Compile(report.SchemaURL)
		if compileErr != nil {
			compileErr = fmt.Errorf("report schema: %w", compileErr)
		}
	})
	return compiled, compileErr
}

// Validate checks one JSON document (a report or a batch line) against
// report.SchemaJSON.
func Validate(doc []byte) error {
	sch, err := schema()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("report is not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("report does not match %s: %w", report.SchemaURL, err)
	}
	return nil
}
