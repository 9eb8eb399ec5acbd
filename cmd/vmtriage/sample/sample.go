// Package sample embeds the first seed core of Red Hat bug 451819
// (rhel4-1822328, kdump-compressed) and its vmlinux, for `vmtriage demo`.
//
// Regenerate with: go run ./testdata/gen -sample cmd/vmtriage/sample
package sample

import (
	"bytes"
	"compress/gzip"
	_ "embed" // the sample files
	"fmt"
	"io"
)

//go:embed rhel4-1822328.kdump.gz
var dumpGz []byte

//go:embed vmlinux-2.6.9-67.0.4.ELlargesmp.gz
var vmlinuxGz []byte

// Names of the embedded files, as reports show them.
const (
	DumpName    = "embedded:rhel4-1822328.kdump"
	VmlinuxName = "embedded:vmlinux-2.6.9-67.0.4.ELlargesmp"
)

// Dump returns the sample dump's bytes.
func Dump() ([]byte, error) { return gunzip(dumpGz, DumpName) }

// Vmlinux returns the sample vmlinux's bytes.
func Vmlinux() ([]byte, error) { return gunzip(vmlinuxGz, VmlinuxName) }

func gunzip(b []byte, name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
