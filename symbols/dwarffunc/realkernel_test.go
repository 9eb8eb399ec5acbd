//go:build realkernel

package dwarffunc_test

// Checks Frames and Local against drgn 0.3.0 on the lab's real kernels
// (testdata/realkernel): for every UN task of every dump, the functions
// (inline ones included) at each pc of drgn's stack, and the `dio` local of
// the direct-I/O writers evaluated with the registers drgn unwound.
//
//	go test -tags realkernel -run RealKernel -v ./symbols/dwarffunc/

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/dwarffunc"
	"github.com/vmtriage/vmtriage/vmcore"
)

func labDir(t *testing.T) string {
	c := os.Getenv("VMTRIAGE_CACHE")
	if c == "" {
		home, _ := os.UserHomeDir()
		c = filepath.Join(home, ".cache", "vmtriage")
	}
	dir := filepath.Join(c, "realkernel", "lines")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no lab at %s", dir)
	}
	return dir
}

type drgnFrame struct {
	Function string `json:"function"`
	Inline   bool   `json:"inline"`
	PC       string `json:"pc"`
}

type drgnTask struct {
	PID         int         `json:"pid"`
	Stack       []string    `json:"stack"`
	StackFrames []drgnFrame `json:"stack_frames"`
	StackDetail []drgnFrame `json:"stack_detail"`
	DioFrom     string      `json:"dio_from"`
	Dio         *struct {
		Dio string `json:"dio"`
	} `json:"dio"`
}

type drgnJSON struct {
	UNTasks []drgnTask `json:"un_tasks"`
}

// physFrame is one physical frame of drgn's stack: its pc and the names
// (innermost first) drgn gave it.
type physFrame struct {
	pc    uint64
	names []string
	incl  []bool
}

func physical(fs []drgnFrame) []physFrame {
	var out []physFrame
	for _, f := range fs {
		pc, err := strconv.ParseUint(strings.TrimPrefix(f.PC, "0x"), 16, 64)
		if err != nil {
			continue
		}
		n := len(out)
		if n > 0 && out[n-1].pc == pc && out[n-1].incl[len(out[n-1].incl)-1] {
			out[n-1].names = append(out[n-1].names, f.Function)
			out[n-1].incl = append(out[n-1].incl, f.Inline)
			continue
		}
		out = append(out, physFrame{pc: pc, names: []string{f.Function}, incl: []bool{f.Inline}})
	}
	return out
}

// lineEnv is a line's vmlinux, opened once for its dumps.
type lineEnv struct {
	dir string
	im  *symbols.Image
}

func openLine(t *testing.T, dir string) *lineEnv {
	im, err := symbols.Open(filepath.Join(dir, "vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return &lineEnv{dir: dir, im: im}
}

// dumpEnv resolves runtime pcs of one dump to a Funcs and a DWARF pc.
type dumpEnv struct {
	k    *analyzer.Kernel
	line *lineEnv
	dbg  *analyzer.DebugFuncs
}

func openDump(t *testing.T, le *lineEnv, dump string) *dumpEnv {
	d, err := vmcore.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	k, err := analyzer.NewWith(d, le.im, analyzer.Options{DebugDirs: []string{filepath.Join(le.dir, "debug-modules")}})
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return &dumpEnv{k: k, line: le, dbg: k.NewDebugFuncs()}
}

func (de *dumpEnv) resolve(pc uint64) (*dwarffunc.Funcs, uint64, string, error) {
	f, dpc, _, mod, err := de.dbg.At(pc)
	if mod == "" {
		mod = "vmlinux"
	}
	return f, dpc, mod, err
}

func eachDump(t *testing.T, fn func(t *testing.T, le *lineEnv, dump string, dj *drgnJSON)) {
	root := labDir(t)
	lines, _ := os.ReadDir(root)
	for _, l := range lines {
		dir := filepath.Join(root, l.Name())
		if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
			continue
		}
		t.Run(l.Name(), func(t *testing.T) {
			var le *lineEnv
			dumps, _ := filepath.Glob(filepath.Join(dir, "dumps", "*", "drgn.json"))
			sort.Strings(dumps)
			for _, dj := range dumps {
				ddir := filepath.Dir(dj)
				core := filepath.Join(ddir, "mdf-zlib.vmcore")
				if _, err := os.Stat(core); err != nil {
					continue
				}
				raw, err := os.ReadFile(dj)
				if err != nil {
					t.Fatal(err)
				}
				var j drgnJSON
				if err := json.Unmarshal(raw, &j); err != nil {
					t.Fatalf("%s: %v", dj, err)
				}
				if le == nil {
					le = openLine(t, dir)
				}
				t.Run(filepath.Base(ddir), func(t *testing.T) { fn(t, le, core, &j) })
			}
		})
	}
}

// TestRealKernelFrames: the functions at each pc of drgn's UN stacks.
func TestRealKernelFrames(t *testing.T) {
	eachDump(t, func(t *testing.T, le *lineEnv, dump string, dj *drgnJSON) {
		de := openDump(t, le, dump)
		matched, total, modFrames, bySymbol := 0, 0, 0, 0
		for _, task := range dj.UNTasks {
			fs := task.StackFrames
			if len(fs) == 0 {
				fs = task.StackDetail
			}
			for i, pf := range physical(fs) {
				if pf.pc < 0xffff800000000000 || strings.HasPrefix(pf.names[0], "0x") || pf.names[0] == "??" {
					continue
				}
				total++
				lookup := pf.pc
				// every pc of a sleeping task's stack is a return address,
				// the first one too (saved by the call to __switch_to_asm):
				// the call is before it, as drgn looks it up
				lookup--
				f, dpc, where, err := de.resolve(lookup)
				if err != nil {
					t.Errorf("pid %d pc 0x%x (%s): %v", task.PID, pf.pc, where, err)
					continue
				}
				got, err := f.Frames(dpc)
				if errors.Is(err, dwarffunc.ErrNoFunction) && len(pf.names) == 1 && !pf.incl[0] {
					// no DWARF function (assembly): drgn names the ELF symbol
					if sym, _, ok := de.k.Syms.Lookup(lookup); ok && sym.Name == pf.names[0] {
						matched++
						bySymbol++
						continue
					}
				}
				if err != nil {
					t.Errorf("pid %d pc 0x%x (%s): drgn %v, Frames: %v", task.PID, pf.pc, where, pf.names, err)
					continue
				}
				var gn []string
				var gi []bool
				for _, g := range got {
					gn = append(gn, g.Name)
					gi = append(gi, g.Inline)
				}
				if fmt.Sprint(gn, gi) != fmt.Sprint(pf.names, pf.incl) && i == 0 {
					// a task caught on a CPU (state already UN, inside
					// __schedule) has its first pc from the CPU's
					// registers: exact, not a return address
					if f2, dpc2, _, err := de.resolve(pf.pc); err == nil {
						if got2, err := f2.Frames(dpc2); err == nil {
							gn, gi = nil, nil
							for _, g := range got2 {
								gn = append(gn, g.Name)
								gi = append(gi, g.Inline)
							}
						}
					}
				}
				if fmt.Sprint(gn, gi) != fmt.Sprint(pf.names, pf.incl) {
					t.Errorf("pid %d pc 0x%x (%s): drgn %v %v, Frames %v %v", task.PID, pf.pc, where, pf.names, pf.incl, gn, gi)
					continue
				}
				if where != "vmlinux" {
					modFrames++
				}
				matched++
			}
		}
		t.Logf("%d/%d physical frames match drgn (%d in modules, %d without DWARF function named by their ELF symbol)", matched, total, modFrames, bySymbol)
		if total == 0 {
			t.Errorf("no frames to compare")
		}
	})
}

// drgnHelper prints, for every UN task, drgn's frames with their
// registers and the `dio` local of the direct-I/O functions.
const drgnHelper = `
import drgn, sys, glob, os, json
dump, vmlinux, moddir = sys.argv[1:4]
prog = drgn.Program()
prog.set_core_dump(dump)
mods = sorted(glob.glob(moddir + "/**/*.ko", recursive=True))
try:
    prog.load_debug_info([vmlinux] + mods, default=False, main=True)
except drgn.MissingDebugInfoError:
    pass
out = {"modules": {}, "tasks": []}
for m in prog.modules():
    if isinstance(m, drgn.RelocatableModule):
        out["modules"][m.name] = {k: v for k, v in dict(m.section_addresses).items()}
from drgn.helpers.linux.pid import for_each_task
for t in for_each_task(prog):
    st = t.__state if t.prog_.type("struct task_struct").has_member("__state") else t.state
    if st.value_() != 2:
        continue
    try:
        trace = prog.stack_trace(t)
    except Exception:
        continue
    fr = []
    for f in trace:
        e = {"name": f.name, "inline": f.is_inline, "pc": f.pc}
        try:
            e["regs"] = dict(f.registers())
        except Exception:
            pass
        if f.pc >= 0xFFFF800000000000:
            locs = {}
            try:
                names = f.locals()
            except Exception:
                names = []
            for n in names:
                try:
                    v = f[n]
                except Exception:
                    continue
                d = {"absent": bool(v.absent_), "type": v.type_.type_name()}
                if not v.absent_:
                    d["addr"] = v.address_
                    try:
                        k = v.type_.unqualified()
                        while k.kind == drgn.TypeKind.TYPEDEF:
                            k = k.type.unqualified()
                        if k.kind in (drgn.TypeKind.INT, drgn.TypeKind.POINTER, drgn.TypeKind.BOOL, drgn.TypeKind.ENUM):
                            d["value"] = v.value_() & 0xFFFFFFFFFFFFFFFF
                    except Exception:
                        pass
                locs[n] = d
            e["locals"] = locs
        if f.name in ("__blockdev_direct_IO", "dio_await_one", "dio_await_completion", "do_blockdev_direct_IO"):
            try:
                v = f["dio"]
                e["dio"] = None if v.absent_ else v.value_()
            except (KeyError, LookupError):
                pass
        fr.append(e)
    out["tasks"].append({"pid": t.pid.value_(), "frames": fr})
json.dump(out, sys.stdout)
`

type helperFrame struct {
	Name   string               `json:"name"`
	Inline bool                 `json:"inline"`
	PC     uint64               `json:"pc"`
	Regs   map[string]uint64    `json:"regs"`
	Dio    *uint64              `json:"dio"`
	HasDio bool                 `json:"-"`
	Locals map[string]drgnLocal `json:"locals"`
}

type helperOut struct {
	Modules map[string]map[string]uint64 `json:"modules"`
	Tasks   []struct {
		PID    int               `json:"pid"`
		Frames []json.RawMessage `json:"frames"`
	} `json:"tasks"`
}

var helperOnce sync.Once
var helperPath string
var helperErr error

// runDrgn runs the helper under drgn 0.3.0 in the lab's sid root.
func runDrgn(t *testing.T, dump, lineDir string) *helperOut {
	inroot, _ := filepath.Abs("../../testdata/realkernel/inroot.sh")
	if os.Getuid() != 0 {
		t.Skip("inroot.sh needs root")
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("VMTRIAGE_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "vmtriage")
	}
	if _, err := os.Stat(filepath.Join(cache, "realkernel", "roots", "sid", "versions.json")); err != nil {
		t.Skip("no sid root for drgn")
	}
	helperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dwarffunc-drgn")
		if err != nil {
			helperErr = err
			return
		}
		helperPath = filepath.Join(dir, "helper.py")
		helperErr = os.WriteFile(helperPath, []byte(drgnHelper), 0o644)
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	cmd := exec.Command(inroot, "sid", "python3", helperPath, dump, filepath.Join(lineDir, "vmlinux"), filepath.Join(lineDir, "debug-modules"))
	cmd.Env = append(os.Environ(), "INROOT_BIND="+filepath.Dir(helperPath)+":ro")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("drgn helper: %v: %s", err, stderr.String())
	}
	var out helperOut
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("drgn helper output: %v", err)
	}
	return &out
}

var regNums = map[string]int{"rax": 0, "rdx": 1, "rcx": 2, "rbx": 3, "rsi": 4, "rdi": 5, "rbp": 6, "rsp": 7,
	"r8": 8, "r9": 9, "r10": 10, "r11": 11, "r12": 12, "r13": 13, "r14": 14, "r15": 15, "rip": 16}

// TestRealKernelDio: the `dio` local of the direct-I/O frames, evaluated
// with drgn's registers, against drgn's value and drgn.json; and the module
// sections read by analyzer against drgn's.
func TestRealKernelDio(t *testing.T) {
	eachDump(t, func(t *testing.T, le *lineEnv, dump string, dj *drgnJSON) {
		de := openDump(t, le, dump)
		h := runDrgn(t, dump, le.dir)
		// module sections, for the modules with debug files
		for name, want := range h.Modules {
			m, ok := de.k.ModuleByName(name)
			if !ok {
				t.Errorf("module %s: not found by analyzer", name)
				continue
			}
			got, err := de.k.ModuleSections(m)
			if err != nil {
				t.Errorf("module %s: ModuleSections: %v", name, err)
				continue
			}
			for s, a := range want {
				if got[s] != a {
					t.Errorf("module %s section %s: got 0x%x, drgn 0x%x", name, s, got[s], a)
				}
			}
		}
		wantDio := map[int]string{}
		for _, task := range dj.UNTasks {
			if task.Dio != nil {
				wantDio[task.PID] = task.Dio.Dio
			}
		}
		checked, jsonMatched, nlocals, nlocalsOK := 0, 0, 0, 0
		for _, task := range h.Tasks {
			var frames []helperFrame
			for _, raw := range task.Frames {
				var f helperFrame
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatal(err)
				}
				var probe map[string]json.RawMessage
				json.Unmarshal(raw, &probe)
				_, f.HasDio = probe["dio"]
				frames = append(frames, f)
			}
			firstDio := ""
			for i, f := range frames {
				if f.PC < 0xffff800000000000 || (!f.HasDio && len(f.Locals) == 0) {
					continue
				}
				var regs dwarffunc.Regs
				for n, v := range f.Regs {
					if r, ok := regNums[n]; ok {
						regs.Set(r, v)
					}
				}
				// the CFA is the stack pointer of the next physical frame
				end := i
				for end < len(frames) && frames[end].Inline {
					end++
				}
				if end+1 < len(frames) {
					if sp, ok := frames[end+1].Regs["rsp"]; ok {
						regs.CFA, regs.CFAKnown = sp, true
					}
				}
				lookup := f.PC
				lookup-- // a return address, the first frame's too (see above)
				fs, dpc, where, err := de.resolve(lookup)
				if err != nil {
					t.Errorf("pid %d %s: %v", task.PID, where, err)
					continue
				}
				if where == "vmlinux" {
					regs.Slide = de.k.Syms.Slide()
				}
				for name, want := range f.Locals {
					nlocals++
					if ok := compareLocal(t, fs, dpc, f, name, want, regs, de.k.Mem, task.PID); ok {
						nlocalsOK++
					}
				}
				if !f.HasDio {
					continue
				}
				v, err := fs.Local(dpc, f.Name, "dio", regs, de.k.Mem)
				if err != nil {
					t.Errorf("pid %d %s: Local(dio): %v", task.PID, f.Name, err)
					continue
				}
				checked++
				if f.Dio == nil {
					if v.HasValue {
						t.Errorf("pid %d %s: drgn says dio is absent, got %+v", task.PID, f.Name, v)
					}
					continue
				}
				if !v.HasValue || v.Value != *f.Dio {
					t.Errorf("pid %d %s: dio: drgn 0x%x, got %+v", task.PID, f.Name, *f.Dio, v)
					continue
				}
				if v.Type != "struct dio *" {
					t.Errorf("pid %d %s: dio type %q", task.PID, f.Name, v.Type)
				}
				if firstDio == "" && *f.Dio != 0 {
					firstDio = fmt.Sprintf("0x%x", v.Value)
				}
				t.Logf("pid %d %s (pc 0x%x): dio %s 0x%x (%s)", task.PID, f.Name, f.PC, v.Kind, v.Value, v.Expr)
			}
			if want, ok := wantDio[task.PID]; ok {
				if firstDio != want {
					t.Errorf("pid %d: drgn.json dio %s, got %q", task.PID, want, firstDio)
				} else {
					jsonMatched++
				}
			}
		}
		t.Logf("%d dio locals match drgn; %d/%d drgn.json dio values; %d/%d frame locals agree with drgn", checked, jsonMatched, len(wantDio), nlocalsOK, nlocals)
	})
}

type drgnLocal struct {
	Absent bool    `json:"absent"`
	Type   string  `json:"type"`
	Addr   *uint64 `json:"addr"`
	Value  *uint64 `json:"value"`
}

// compareLocal evaluates one local and compares it with drgn's answer:
// absent (drgn) must be without value (ours); an address must be ours; a
// scalar value must be ours.
func compareLocal(t *testing.T, fs *dwarffunc.Funcs, pc uint64, f helperFrame, name string, want drgnLocal, regs dwarffunc.Regs, mem dwarffunc.MemReader, pid int) bool {
	t.Helper()
	v, err := fs.Local(pc, f.Name, name, regs, mem)
	if err != nil {
		t.Errorf("pid %d %s: Local(%s): %v", pid, f.Name, name, err)
		return false
	}
	bad := ""
	switch {
	case want.Absent:
		partial := false // drgn calls a composite with a missing piece absent
		for _, p := range v.Pieces {
			partial = partial || p.Kind == dwarffunc.KindOptimized
		}
		if v.Kind != dwarffunc.KindOptimized && v.Kind != dwarffunc.KindUnavailable && !partial {
			bad = "drgn: absent"
		}
	case v.Kind == dwarffunc.KindOptimized || v.Kind == dwarffunc.KindUnavailable:
		bad = "drgn has it"
	case want.Addr != nil && (v.Kind != dwarffunc.KindMemory || v.Addr != *want.Addr):
		bad = fmt.Sprintf("drgn: at 0x%x", *want.Addr)
	case want.Addr == nil && v.Kind == dwarffunc.KindMemory:
		bad = "drgn: not in memory"
	case want.Value != nil && (!v.HasValue || v.Value != truncated(*want.Value, v.Size)):
		bad = fmt.Sprintf("drgn: value 0x%x", *want.Value)
	}
	if bad != "" {
		t.Errorf("pid %d %s pc 0x%x local %s (%s): %s; got %+v", pid, f.Name, pc, name, want.Type, bad, v)
		return false
	}
	return true
}

// truncated drops drgn's sign extension: Value holds the type's bytes.
func truncated(x uint64, size int64) uint64 {
	if size > 0 && size < 8 {
		return x & (1<<(8*uint(size)) - 1)
	}
	return x
}
