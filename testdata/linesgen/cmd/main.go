// Command linesgen records lab dumps of every kernel line into the small
// fixtures of testdata/lines (see package linesgen).
//
//	go run ./testdata/linesgen/cmd [-lab DIR] [-out testdata/lines] [-scenarios B,D] [LINE...]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtriage/vmtriage/testdata/linesgen"
)

// formats are the lab's dump files in order of preference.
var formats = []string{"mdf-zlib", "elf-nopaging", "mdf-lzo", "elf-paging", "kdump-zlib-flat"}

func main() {
	cache := os.Getenv("VMTRIAGE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "vmtriage")
	}
	lab := flag.String("lab", filepath.Join(cache, "realkernel", "lines"), "the lab's per-line directories")
	out := flag.String("out", "testdata/lines", "fixture directory")
	scenarios := flag.String("scenarios", "B,D", "scenarios to record")
	flag.Parse()
	lines := flag.Args()
	if len(lines) == 0 {
		ents, err := os.ReadDir(*lab)
		if err != nil {
			fmt.Fprintln(os.Stderr, "linesgen:", err)
			os.Exit(2)
		}
		for _, e := range ents {
			lines = append(lines, e.Name())
		}
	}
	failed := false
	for _, line := range lines {
		dir := filepath.Join(*lab, line)
		var srcs []linesgen.Source
		for _, sc := range strings.Split(*scenarios, ",") {
			for _, f := range formats {
				p := filepath.Join(dir, "dumps", sc, f+".vmcore")
				if _, err := os.Stat(p); err == nil {
					srcs = append(srcs, linesgen.Source{Scenario: sc, Dump: p})
					break
				}
			}
		}
		if len(srcs) == 0 {
			fmt.Fprintf(os.Stderr, "linesgen: %s: no dumps of %s\n", line, *scenarios)
			continue
		}
		err := linesgen.Record(filepath.Join(*out, line), filepath.Join(dir, "vmlinux"), filepath.Join(dir, "debug-modules"), srcs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "linesgen: %s: %v\n", line, err)
			failed = true
			continue
		}
		fmt.Printf("%s: recorded %d dumps\n", line, len(srcs))
	}
	if failed {
		os.Exit(1)
	}
}
