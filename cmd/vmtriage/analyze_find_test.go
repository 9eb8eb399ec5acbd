package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/cmd/vmtriage/sample"
)

// TestAnalyzeFindsVmlinux: without --vmlinux, analyze finds the dump's
// vmlinux in a debug directory laid out as distributions install it, and
// says which it took; with nowhere to look it says what to give.
func TestAnalyzeFindsVmlinux(t *testing.T) {
	dir := t.TempDir()
	dump, err := sample.Dump()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := sample.Vmlinux()
	if err != nil {
		t.Fatal(err)
	}
	dumpPath := filepath.Join(dir, "vmcore")
	debug := filepath.Join(dir, "debug")
	vmPath := filepath.Join(debug, "usr", "lib", "debug", "boot", "vmlinux-2.6.9-67.0.4.ELlargesmp")
	if err := os.MkdirAll(filepath.Dir(vmPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dumpPath, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vmPath, vm, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"found by release", []string{"analyze", dumpPath, "--debug-dir", debug}, exitFindings,
			"dio-lost-wakeup", "using vmlinux " + vmPath + " (found by release)"},
		{"--vmlinux overrides", []string{"analyze", dumpPath, "--vmlinux", vmPath}, exitFindings, "dio-lost-wakeup", ""},
		{"nowhere to look", []string{"analyze", dumpPath, "--debug-dir", t.TempDir()}, exitError,
			"", "give --vmlinux FILE or --debug-dir DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %.300s\nstderr: %s", code, tt.code, out, errOut)
			}
		})
	}
}
