package symbols

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// buildDir holds everything the tests compile; it is shared by all tests
// of one run and removed by TestMain.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "symbols-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "symbols tests:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dwarfVariant is one way the tests compile testdata/types.c.
type dwarfVariant struct {
	name  string
	flags []string
}

var dwarfVariants = []dwarfVariant{
	{"dwarf2", []string{"-gdwarf-2", "-gstrict-dwarf"}},
	{"dwarf4", []string{"-gdwarf-4"}},
	{"dwarf5", []string{"-gdwarf-5"}},
}

// needGCC skips the test when no C compiler is available.
func needGCC(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		tb.Skip("gcc not found in PATH: skipping tests that compile testdata/*.c")
	}
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]buildResult{}
)

type buildResult struct {
	path string
	err  error
}

// gccBuild runs gcc with args (the output file is added) once per run and
// returns the output path.
func gccBuild(tb testing.TB, out string, args ...string) string {
	tb.Helper()
	needGCC(tb)
	buildMu.Lock()
	defer buildMu.Unlock()
	if r, ok := buildCache[out]; ok {
		if r.err != nil {
			tb.Fatal(r.err)
		}
		return r.path
	}
	path := filepath.Join(buildDir, out)
	cmd := exec.Command("gcc", append(append([]string{}, args...), "-o", path)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var err error
	if e := cmd.Run(); e != nil {
		err = fmt.Errorf("gcc %v: %v\n%s", args, e, stderr.String())
	}
	buildCache[out] = buildResult{path, err}
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

func testdataPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// objectFor compiles testdata/types.c to an object file for a variant.
func objectFor(tb testing.TB, v dwarfVariant) string {
	args := append([]string{"-c", "-g"}, v.flags...)
	args = append(args, "-O0", "-w", testdataPath(tb, "types.c"))
	return gccBuild(tb, "types-"+v.name+".o", args...)
}

// executable links types.c and main.c with the given extra flags.
func executable(tb testing.TB, name string, extra ...string) string {
	args := []string{"-g", "-O0", "-no-pie", "-w"}
	args = append(args, extra...)
	args = append(args, testdataPath(tb, "types.c"), testdataPath(tb, "main.c"))
	return gccBuild(tb, name, args...)
}

func openImage(tb testing.TB, path string) *Image {
	tb.Helper()
	im, err := Open(path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { im.Close() })
	return im
}

func openTypes(tb testing.TB, path string) *Types {
	tb.Helper()
	ts, err := openImage(tb, path).Types()
	if err != nil {
		tb.Fatalf("Types(%s): %v", path, err)
	}
	return ts
}
