package analyzer

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/vmtriage/vmtriage/symbols/dwarffunc"
	"github.com/vmtriage/vmtriage/symbols/orc"
)

// Code answers the per-pc questions about the kernel's code that stack
// traces need: the unwind tables (ORC, CFI), the functions at a pc (inline
// ones first) and the value of a frame's local variable. All pcs are
// run-time addresses of this dump. Every answer is a plain value, so a
// recording can save the answers of an analysis and a replay serve them
// (CodeRecord), without the vmlinux.
type Code interface {
	UnwindTables
	// Frames lists the functions at a lookup pc (Frame.PC), innermost
	// first: the inlined instances, then the function containing them.
	Frames(pc uint64) ([]dwarffunc.Func, error)
	// Local evaluates the variable name of function fn (one of Frames(pc))
	// in the frame at pc whose registers and CFA are regs.
	Local(pc uint64, fn, name string, regs dwarffunc.Regs) (dwarffunc.Value, error)
}

// kernelCode is the default Code: the vmlinux's and the modules' unwind
// tables and DWARF.
type kernelCode struct {
	UnwindTables
	k   *Kernel
	dbg *DebugFuncs
}

func (c *kernelCode) Frames(pc uint64) ([]dwarffunc.Func, error) {
	f, dpc, _, _, err := c.dbg.At(pc)
	if err != nil {
		return nil, err
	}
	funcs, err := f.Frames(dpc)
	for i := range funcs { // entries at run-time addresses, like pc
		if funcs[i].Entry != 0 {
			funcs[i].Entry += pc - dpc
		}
	}
	return funcs, err
}

func (c *kernelCode) Local(pc uint64, fn, name string, regs dwarffunc.Regs) (dwarffunc.Value, error) {
	f, dpc, slide, _, err := c.dbg.At(pc)
	if err != nil {
		return dwarffunc.Value{}, err
	}
	regs.Slide = slide
	return f.Local(dpc, fn, name, regs, c.k.Mem)
}

// noTables is the UnwindTables of an image without sections.
type noTables struct{}

func (noTables) HasORC() bool                 { return false }
func (noTables) ORC(uint64) (orc.Entry, bool) { return orc.Entry{}, false }
func (noTables) CFI(uint64) (CFIRow, bool)    { return CFIRow{}, false }
func (noTables) Frames(uint64) ([]dwarffunc.Func, error) {
	return nil, errNoCode
}
func (noTables) Local(uint64, string, string, dwarffunc.Regs) (dwarffunc.Value, error) {
	return dwarffunc.Value{}, errNoCode
}

var errNoCode = errors.New("no unwind tables or DWARF for the kernel's code")

// code returns the dump's Code (built once): the replayed one of
// Options.Code, else the vmlinux's, recorded when the analysis is. Nil
// when there is none (an image without sections and nothing replayed):
// stacks are then scanned.
func (k *Kernel) code() Code {
	k.codeOnce.Do(func() {
		if k.codeReplay != nil {
			k.codeImpl = k.codeReplay
			return
		}
		if !k.Syms.Image().HasSections() {
			return
		}
		var tabs UnwindTables = noTables{}
		if t, err := k.UnwindTables(); err == nil {
			tabs = t
		} else {
			k.warnOncef("unwind-tables", "no unwind tables (%v): stacks are scanned", err)
		}
		var c Code = &kernelCode{UnwindTables: tabs, k: k, dbg: k.NewDebugFuncs()}
		if k.codeRec != nil {
			c = &recordingCode{Code: c, rec: k.codeRec}
		}
		k.codeImpl = c
	})
	return k.codeImpl
}

// CodeRecord is what an analysis asked its Code and the answers: the
// per-dump half of a recording (Recording.Code), replayed with
// Options.Code. Keys are run-time pcs in hex; a missing key is a question
// the recorded analysis never asked, answered "unknown".
type CodeRecord struct {
	HasORC bool                      `json:"has_orc"`
	ORC    map[string]*orc.Entry     `json:"orc,omitempty"` // nil: no entry
	CFI    map[string]*CFIRow        `json:"cfi,omitempty"`
	Frames map[string]recordedFrames `json:"frames,omitempty"`
	Locals map[string]recordedLocal  `json:"locals,omitempty"` // "pc/cfa/fn/name"

	mu sync.Mutex
}

type recordedFrames struct {
	Funcs  []dwarffunc.Func `json:"funcs,omitempty"`
	Err    string           `json:"err,omitempty"`
	NoFunc bool             `json:"no_func,omitempty"`
}

type recordedLocal struct {
	Value dwarffunc.Value `json:"value"`
	Err   string          `json:"err,omitempty"`
}

// NewCodeRecord returns an empty record.
func NewCodeRecord() *CodeRecord {
	return &CodeRecord{ORC: map[string]*orc.Entry{}, CFI: map[string]*CFIRow{},
		Frames: map[string]recordedFrames{}, Locals: map[string]recordedLocal{}}
}

func pcKey(pc uint64) string { return strconv.FormatUint(pc, 16) }

func localKey(pc, cfa uint64, fn, name string) string {
	return fmt.Sprintf("%x/%x/%s/%s", pc, cfa, fn, name)
}

// recordingCode records a Code's answers.
type recordingCode struct {
	Code
	rec *CodeRecord
}

func (r *recordingCode) HasORC() bool {
	v := r.Code.HasORC()
	r.rec.mu.Lock()
	r.rec.HasORC = v
	r.rec.mu.Unlock()
	return v
}

func (r *recordingCode) ORC(pc uint64) (orc.Entry, bool) {
	e, ok := r.Code.ORC(pc)
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	if ok {
		r.rec.ORC[pcKey(pc)] = &e
	} else {
		r.rec.ORC[pcKey(pc)] = nil
	}
	return e, ok
}

func (r *recordingCode) CFI(pc uint64) (CFIRow, bool) {
	row, ok := r.Code.CFI(pc)
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	if ok {
		r.rec.CFI[pcKey(pc)] = &row
	} else {
		r.rec.CFI[pcKey(pc)] = nil
	}
	return row, ok
}

func (r *recordingCode) Frames(pc uint64) ([]dwarffunc.Func, error) {
	fs, err := r.Code.Frames(pc)
	a := recordedFrames{Funcs: fs}
	if err != nil {
		a.Err, a.NoFunc = err.Error(), errors.Is(err, dwarffunc.ErrNoFunction)
	}
	r.rec.mu.Lock()
	r.rec.Frames[pcKey(pc)] = a
	r.rec.mu.Unlock()
	return fs, err
}

func (r *recordingCode) Local(pc uint64, fn, name string, regs dwarffunc.Regs) (dwarffunc.Value, error) {
	v, err := r.Code.Local(pc, fn, name, regs)
	a := recordedLocal{Value: v}
	if err != nil {
		a.Err = err.Error()
	}
	r.rec.mu.Lock()
	r.rec.Locals[localKey(pc, regs.CFA, fn, name)] = a
	r.rec.mu.Unlock()
	return v, err
}

// replayCode serves a CodeRecord.
type replayCode struct{ rec *CodeRecord }

// errNotRecorded answers a question the recorded analysis did not ask.
var errNotRecorded = errors.New("not in the recording")

func (r replayCode) HasORC() bool { return r.rec.HasORC }

func (r replayCode) ORC(pc uint64) (orc.Entry, bool) {
	if e := r.rec.ORC[pcKey(pc)]; e != nil {
		return *e, true
	}
	return orc.Entry{}, false
}

func (r replayCode) CFI(pc uint64) (CFIRow, bool) {
	if row := r.rec.CFI[pcKey(pc)]; row != nil {
		return *row, true
	}
	return CFIRow{}, false
}

func (r replayCode) Frames(pc uint64) ([]dwarffunc.Func, error) {
	a, ok := r.rec.Frames[pcKey(pc)]
	switch {
	case !ok:
		return nil, errNotRecorded
	case a.NoFunc:
		return nil, fmt.Errorf("%w: %s", dwarffunc.ErrNoFunction, a.Err)
	case a.Err != "":
		return nil, errors.New(a.Err)
	}
	return a.Funcs, nil
}

func (r replayCode) Local(pc uint64, fn, name string, regs dwarffunc.Regs) (dwarffunc.Value, error) {
	a, ok := r.rec.Locals[localKey(pc, regs.CFA, fn, name)]
	switch {
	case !ok:
		return dwarffunc.Value{}, errNotRecorded
	case a.Err != "":
		return a.Value, errors.New(a.Err)
	}
	return a.Value, nil
}

// WriteCodeRecord writes a record as gzipped JSON with sorted keys.
func WriteCodeRecord(w io.Writer, rec *CodeRecord) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("code record: %w", err)
	}
	return zw.Close()
}

// ReadCodeRecord reads a record written by WriteCodeRecord.
func ReadCodeRecord(path string) (*CodeRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rec := NewCodeRecord()
	if err := json.NewDecoder(zr).Decode(rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}
