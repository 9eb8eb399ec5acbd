package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/vmcore"
)

// systemDebugRoots are searched for a dump's vmlinux besides the
// --debug-dir directories: the root (so /usr/lib/debug/boot/vmlinux-RELEASE
// of Debian and /usr/lib/debug/lib/modules/RELEASE/vmlinux of Fedora and
// RHEL are found by release) and /usr/lib/debug (its .build-id tree).
var systemDebugRoots = []string{"/", "/usr/lib/debug"}

// openDump opens a dump with its vmlinux: the one given (--vmlinux), else
// the one found by the dump's build-id, release or banner in the debug
// directories, the system's debug directories and the debuginfod servers of
// DEBUGINFOD_URLS, as batch does. It says on log which vmlinux it took and
// how it found it. When none is found, or with noVmlinux, the dump is
// analysed with the kallsyms and BTF the kernel keeps in its memory
// (analyzer.NewFromDump), and log says so.
func openDump(ctx context.Context, dump, vmlinux string, noVmlinux bool, debugDirs []string, types string, log io.Writer) (*analyzer.Kernel, error) {
	opt := analyzer.Options{DebugDirs: debugDirs, Context: ctx, Types: types}
	if noVmlinux && vmlinux != "" {
		return nil, fmt.Errorf("--no-vmlinux and --vmlinux %s contradict each other", vmlinux)
	}
	if vmlinux != "" {
		return analyzer.OpenWith(dump, vmlinux, opt)
	}
	d, err := vmcore.Open(dump)
	if err != nil {
		return nil, err
	}
	if noVmlinux {
		if log != nil {
			fmt.Fprintf(log, "vmtriage: %s: analysed without a vmlinux (--no-vmlinux): symbols from the dump's kallsyms, types from its BTF\n", dump)
		}
		return fromDump(d, opt)
	}
	dirs := append([]string{}, debugDirs...)
	for _, r := range systemDebugRoots {
		if st, err := os.Stat(r); err == nil && st.IsDir() {
			dirs = append(dirs, r)
		}
	}
	finder := &debuginfo.Finder{DebugDirs: dirs, Client: debuginfo.NewClientFromEnv()}
	found, err := finder.Find(ctx, d)
	if err != nil {
		if ctx != nil && ctx.Err() != nil {
			d.Close()
			return nil, err
		}
		// no vmlinux: the kernel's own symbols and types in the dump
		k, nerr := analyzer.NewFromDump(d, opt)
		if nerr != nil {
			d.Close()
			return nil, fmt.Errorf("no --vmlinux given and none found: %w; give --vmlinux FILE or --debug-dir DIR (without a vmlinux: %v)", err, nerr)
		}
		if log != nil {
			fmt.Fprintf(log, "vmtriage: %s: no vmlinux found (%v): analysed without one, with symbols from the dump's kallsyms and types from its BTF\n", dump, err)
		}
		return k, nil
	}
	if log != nil {
		abs, _ := filepath.Abs(found.Path)
		fmt.Fprintf(log, "vmtriage: %s: using vmlinux %s (found by %s)\n", dump, abs, found.How)
	}
	im, err := symbols.Open(found.Path)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: vmlinux %s (found by %s): %w", dump, found.Path, found.How, err)
	}
	k, err := analyzer.NewWith(d, im, opt)
	if err != nil {
		d.Close()
		return nil, err
	}
	return k, nil
}

// fromDump analyses an opened dump without a vmlinux, closing it on error.
func fromDump(d *vmcore.Dump, opt analyzer.Options) (*analyzer.Kernel, error) {
	k, err := analyzer.NewFromDump(d, opt)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("without a vmlinux: %w", err)
	}
	return k, nil
}
