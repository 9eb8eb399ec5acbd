// Package linesgen records the analysis of real-kernel lab dumps into
// small fixtures, one directory per kernel line, so that a plain `go test
// ./...` replays every kernel line without the lab:
//
//	testdata/lines/LINE/symbols.json.gz   the vmlinux symbols, data and types the analyses used
//	testdata/lines/LINE/SCENARIO.kdump.zst the pages they read (a kdump file, zstd-compressed whole)
//	testdata/lines/LINE/SCENARIO.code.json.gz  what their stack traces asked of the code (ORC, CFI, inline frames, locals)
//	testdata/lines/LINE/SCENARIO.json     the golden report of the replay
//
// Regenerate from the lab's cache (testdata/realkernel/lab.sh) with
//
//	go run ./testdata/linesgen/cmd [-lab DIR] [-out testdata/lines] [LINE...]
package linesgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/klauspost/compress/zstd"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// Version is the tool version written into golden reports.
const Version = "golden"

// SnapshotFile is the name of a line's symbols snapshot.
const SnapshotFile = "symbols.json.gz"

// DumpSuffix ends the name of a scenario's recorded pages: a kdump file
// with uncompressed pages, compressed whole with zstd (pages of the memory
// map, which a slab walk reads, are much alike: compressed together they
// take a fraction of what per-page compression leaves).
const DumpSuffix = ".kdump.zst"

// CodeSuffix ends the name of a scenario's code record: what its stack
// traces asked of the kernel's code (unwind tables, inline frames, frame
// locals), answered in the replay.
const CodeSuffix = ".code.json.gz"

// Source is one lab dump to record.
type Source struct {
	Scenario string // "B", "D", ...
	Dump     string // the lab dump
}

// Record analyses each source with the line's vmlinux and module debug
// directory, recording what is read, and writes the line's fixture
// directory. It replays each fixture and fails unless the replay gives
// the same report as the real dump.
func Record(out, vmlinux, debugDir string, sources []Source) error {
	im, err := symbols.Open(vmlinux)
	if err != nil {
		return err
	}
	defer im.Close()
	builder := symbols.NewSnapshotBuilder(im)
	originals := map[string]*report.Report{}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, src := range sources {
		rec := analyzer.NewRecording(builder)
		r, err := analyzeOne(src.Dump, im, analyzer.Options{Record: rec, DebugDirs: []string{debugDir}})
		if err != nil {
			return fmt.Errorf("%s: %w", src.Dump, err)
		}
		originals[src.Scenario] = r
		if err := writePages(filepath.Join(out, src.Scenario+DumpSuffix), src.Dump, rec); err != nil {
			return err
		}
		if err := writeCode(filepath.Join(out, src.Scenario+CodeSuffix), rec.Code); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := symbols.WriteSnapshot(&buf, builder.Build()); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, SnapshotFile), buf.Bytes(), 0o644); err != nil {
		return err
	}
	for _, src := range sources {
		got, err := Replay(out, src.Scenario)
		if err != nil {
			return fmt.Errorf("replaying %s: %w", src.Scenario, err)
		}
		want := Normalize(originals[src.Scenario])
		if !reflect.DeepEqual(got, want) {
			a, _ := json.MarshalIndent(want, "", "  ")
			b, _ := json.MarshalIndent(got, "", "  ")
			os.WriteFile(filepath.Join(out, src.Scenario+".want-real.json"), a, 0o644)
			os.WriteFile(filepath.Join(out, src.Scenario+".got-replay.json"), b, 0o644)
			return fmt.Errorf("%s: the replay's report differs from the real dump's (see %s.want-real.json and %s.got-replay.json in %s)", src.Scenario, src.Scenario, src.Scenario, out)
		}
		if err := WriteGolden(filepath.Join(out, src.Scenario+".json"), got); err != nil {
			return err
		}
	}
	return nil
}

func analyzeOne(dump string, im *symbols.Image, opt analyzer.Options) (*report.Report, error) {
	d, err := vmcore.Open(dump)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	k, err := analyzer.NewWith(d, im, opt)
	if err != nil {
		return nil, err
	}
	return rules.Analyze(k, Version)
}

// writeCode writes a scenario's code record.
func writeCode(path string, rec *analyzer.CodeRecord) error {
	var buf bytes.Buffer
	if err := analyzer.WriteCodeRecord(&buf, rec); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writePages writes the recorded pages of a dump as a zstd kdump with the
// dump's notes.
func writePages(path, dump string, rec *analyzer.Recording) error {
	d, err := vmcore.Open(dump)
	if err != nil {
		return err
	}
	defer d.Close()
	ps := rec.PageSize()
	mem := dumpwrite.NewMemory()
	page := make([]byte, ps)
	for _, pfn := range rec.PFNs() {
		if err := d.ReadPhys(pfn*ps, page); err != nil {
			continue // a page the analysis failed to read stays absent, as it was
		}
		mem.Write(pfn*ps, page)
	}
	meta := dumpwrite.Meta{VMCoreInfo: d.VMCoreInfo(), Timestamp: 0}
	if u, ok := d.Utsname(); ok {
		meta.Utsname = u
	}
	if pb, ok := d.PhysBase(); ok {
		meta.PhysBase = pb
	}
	for _, c := range d.CPUs() {
		meta.CPUs = append(meta.CPUs, dumpwrite.CPU{PID: c.PID, Regs: c.Regs})
	}
	var buf bytes.Buffer
	if err := dumpwrite.WriteKdump(&buf, mem, meta, dumpwrite.None); err != nil {
		return err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		return err
	}
	return os.WriteFile(path, enc.EncodeAll(buf.Bytes(), nil), 0o644)
}

// openRecorded opens a recorded dump (DumpSuffix) with the snapshot.
func openRecorded(path string, im *symbols.Image, opt analyzer.Options) (*analyzer.Kernel, error) {
	z, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(z, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d, err := vmcore.OpenReaderAt(path, bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, err
	}
	k, err := analyzer.NewWith(d, im, opt)
	if err != nil {
		d.Close()
		return nil, err
	}
	return k, nil
}

// Open opens a fixture's kernel: the scenario's kdump with the line's
// symbols snapshot (Close it).
func Open(dir, scenario string) (*analyzer.Kernel, error) {
	im, err := symbols.LoadSnapshot(filepath.Join(dir, SnapshotFile))
	if err != nil {
		return nil, err
	}
	opt := analyzer.Options{}
	if code, err := analyzer.ReadCodeRecord(filepath.Join(dir, scenario+CodeSuffix)); err == nil {
		opt.Code = code
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	return openRecorded(filepath.Join(dir, scenario+DumpSuffix), im, opt)
}

// Replay analyses a fixture: the scenario's kdump with the line's symbols
// snapshot.
func Replay(dir, scenario string) (*report.Report, error) {
	k, err := Open(dir, scenario)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	r, err := rules.Analyze(k, Version)
	if err != nil {
		return nil, err
	}
	return Normalize(r), nil
}

// Normalize drops what differs between a real dump and its fixture (file
// names, formats) from a report.
func Normalize(r *report.Report) *report.Report {
	c := *r
	c.Dump = report.Dump{Path: "DUMP", Format: "kdump", Truncated: r.Dump.Truncated}
	b, _ := json.Marshal(c)
	for _, p := range [][2]string{{r.Dump.Path, "DUMP"}, {r.Dump.Vmlinux, "VMLINUX"}} {
		if p[0] != "" {
			q, _ := json.Marshal(p[0])
			b = bytes.ReplaceAll(b, q[1:len(q)-1], []byte(p[1]))
		}
	}
	var out report.Report
	json.Unmarshal(b, &out)
	return &out
}

// WriteGolden writes a report as indented JSON.
func WriteGolden(path string, r *report.Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadGolden reads a golden report.
func ReadGolden(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
