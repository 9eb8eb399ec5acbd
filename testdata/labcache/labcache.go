// Package labcache locates the real-kernel lab's cache for the tests that
// use it (build tag realkernel): the kernels, dumps and oracles
// testdata/realkernel/lab.sh leaves in
// ${VMTRIAGE_CACHE:-~/.cache/vmtriage}/realkernel.
package labcache

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Dir is the lab's cache directory (it may not exist). VMTRIAGE_CACHE=off
// turns vmtriage's own cache off, not the lab's: the default place then.
func Dir() string {
	dir := os.Getenv("VMTRIAGE_CACHE")
	if dir == "" || dir == "off" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "vmtriage")
	}
	return filepath.Join(dir, "realkernel")
}

// Line is one kernel line in the cache.
type Line struct {
	Name string // "6.1-amd64"
	Dir  string // its directory: vmlinux, debug-modules/, dumps/<scenario>/
}

// Named is the line called name, whether or not the cache has it.
func Named(name string) Line { return Line{Name: name, Dir: filepath.Join(Dir(), "lines", name)} }

// Vmlinux is the line's vmlinux.
func (l Line) Vmlinux() string { return filepath.Join(l.Dir, "vmlinux") }

// DebugModules is the directory of the line's module debug files.
func (l Line) DebugModules() string { return filepath.Join(l.Dir, "debug-modules") }

// Dump is a scenario's dump in a format ("mdf-zlib", "elf-paging", ...).
func (l Line) Dump(scenario, format string) string {
	return filepath.Join(l.Dir, "dumps", scenario, format+".vmcore")
}

// Lines are the kernel lines of testdata/realkernel/lines (in its order)
// whose vmlinux is in the cache.
func Lines() []Line {
	var out []Line
	for _, name := range listed() {
		l := Named(name)
		if _, err := os.Stat(l.Vmlinux()); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// listed reads the lab's lines file, or lists the cache when it cannot.
func listed() []string {
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "realkernel", "lines"))
	var names []string
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
				names = append(names, f[0])
			}
		}
		return names
	}
	dirs, _ := filepath.Glob(filepath.Join(Dir(), "lines", "*"))
	for _, d := range dirs {
		names = append(names, filepath.Base(d))
	}
	sort.Strings(names)
	return names
}
