package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/reportcache"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/vmcore"
)

// systemDebugRoots are searched for a dump's vmlinux besides the
// --debug-dir directories: the root (so /usr/lib/debug/boot/vmlinux-RELEASE
// of Debian and /usr/lib/debug/lib/modules/RELEASE/vmlinux of Fedora and
// RHEL are found by release) and /usr/lib/debug (its .build-id tree).
var systemDebugRoots = []string{"/", "/usr/lib/debug"}

// source is where a dump's symbols and types come from, settled before
// anything is decoded: the vmlinux given (--vmlinux), else the one found
// by the dump's build-id, release or banner in the debug directories, the
// system's debug directories and the debuginfod servers of
// DEBUGINFOD_URLS, as batch does; else none, and the dump is analysed with
// the kallsyms and BTF the kernel keeps in its memory.
type source struct {
	dump      string
	d         *vmcore.Dump // opened to look for its vmlinux; nil when --vmlinux was given
	vmlinux   string       // "" when the dump is analysed without one
	how       string       // how the vmlinux was found; "" when it was given
	why       error        // why none was found; nil with --no-vmlinux
	debugDirs []string
}

// locate settles a dump's source.
func locate(ctx context.Context, dump, vmlinux string, noVmlinux bool, debugDirs []string) (*source, error) {
	if noVmlinux && vmlinux != "" {
		return nil, fmt.Errorf("--no-vmlinux and --vmlinux %s contradict each other", vmlinux)
	}
	s := &source{dump: dump, vmlinux: vmlinux, debugDirs: debugDirs}
	if vmlinux != "" {
		return s, nil
	}
	d, err := vmcore.Open(dump)
	if err != nil {
		return nil, err
	}
	s.d = d
	if noVmlinux {
		return s, nil
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
		s.why = err
		return s, nil
	}
	s.vmlinux, s.how = found.Path, found.How
	return s, nil
}

// describe says on log which vmlinux the dump is analysed with and how it
// was found, or that it is analysed without one and why.
func (s *source) describe(log io.Writer) {
	if log == nil || s.how == "" && s.vmlinux != "" {
		return // --vmlinux: nothing to say
	}
	switch {
	case s.vmlinux != "":
		abs, _ := filepath.Abs(s.vmlinux)
		fmt.Fprintf(log, "vmtriage: %s: using vmlinux %s (found by %s)\n", s.dump, abs, s.how)
	case s.why == nil:
		fmt.Fprintf(log, "vmtriage: %s: analysed without a vmlinux (--no-vmlinux): symbols from the dump's kallsyms, types from its BTF\n", s.dump)
	default:
		fmt.Fprintf(log, "vmtriage: %s: no vmlinux found (%v): analysed without one, with symbols from the dump's kallsyms and types from its BTF\n", s.dump, s.why)
	}
}

// cacheKey is what the report of the dump from this source is made from,
// for reportcache: the files read and the options.
func (s *source) cacheKey(types string) reportcache.Key {
	k := reportcache.Key{Files: []string{s.dump}, Options: []string{"types=" + types}}
	if s.vmlinux != "" {
		k.Files = append(k.Files, s.vmlinux)
	} else {
		k.Options = append(k.Options, "no-vmlinux")
	}
	k.Files = append(k.Files, s.debugDirs...)
	if st, err := os.Stat(analyzer.ModuleDebugRoot); err == nil && st.IsDir() {
		k.Files = append(k.Files, analyzer.ModuleDebugRoot)
	}
	return k
}

// open builds the kernel model; the source's dump is then the kernel's
// (closed with it, or here on error).
func (s *source) open(opt analyzer.Options) (*analyzer.Kernel, error) {
	d := s.d
	s.d = nil
	if d == nil {
		return analyzer.OpenWith(s.dump, s.vmlinux, opt)
	}
	if s.vmlinux == "" {
		k, err := analyzer.NewFromDump(d, opt)
		if err != nil {
			d.Close()
			if s.why != nil {
				return nil, fmt.Errorf("no --vmlinux given and none found: %w; give --vmlinux FILE or --debug-dir DIR (without a vmlinux: %v)", s.why, err)
			}
			return nil, fmt.Errorf("without a vmlinux: %w", err)
		}
		return k, nil
	}
	k, err := analyzer.NewWithVmlinux(d, s.vmlinux, opt)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: vmlinux %s (found by %s): %w", s.dump, s.vmlinux, s.how, err)
	}
	return k, nil
}

// close closes the dump when open was not called.
func (s *source) close() {
	if s.d != nil {
		s.d.Close()
		s.d = nil
	}
}
