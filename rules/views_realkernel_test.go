//go:build realkernel

// The crash-like views against crash 9.0.2 on the lab's dumps: on every
// line's B dump, `vmtriage struct DUMP dio ADDR` (ADDR: drgn's dio) member
// by member and `vmtriage mount`; on D, `vmtriage waitq` of each journal's
// j_wait_transaction_locked. crash's answers come from the oracle's
// crash-mdf-zlib.txt when it ran the command, else from crash run once
// through testdata/realkernel/inroot.sh, its output cached next to the dump
// (crash-views-mdf-zlib.txt). Run with:
// go test -tags realkernel -run TestViewsRealKernel ./rules
package rules_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
)

// viewsFormat is the dump format the views are checked on (the oracle ran
// crash on it on every line).
const viewsFormat = "mdf-zlib"

var (
	vmtriageOnce sync.Once
	vmtriageBin  string
	vmtriageErr  error
)

// vmtriageBinary builds cmd/vmtriage once.
func vmtriageBinary(t *testing.T) string {
	t.Helper()
	vmtriageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vmtriage-views")
		if err != nil {
			vmtriageErr = err
			return
		}
		vmtriageBin = filepath.Join(dir, "vmtriage")
		out, err := exec.Command("go", "build", "-o", vmtriageBin, "../cmd/vmtriage").CombinedOutput()
		if err != nil {
			vmtriageErr = fmt.Errorf("go build ./cmd/vmtriage: %v\n%s", err, out)
		}
	})
	if vmtriageErr != nil {
		t.Fatal(vmtriageErr)
	}
	return vmtriageBin
}

// runVmtriage runs a view and returns its standard output.
func runVmtriage(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(vmtriageBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vmtriage %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestViewsRealKernel(t *testing.T) {
	lab := labDir(t)
	found := false
	for _, line := range labLines(t) {
		dir := filepath.Join(lab, "lines", line)
		if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
			t.Logf("line %s: not in the lab cache (%s): skipped", line, dir)
			continue
		}
		found = true
		t.Run(line, func(t *testing.T) {
			t.Parallel()
			vmlinux := filepath.Join(dir, "vmlinux")
			debug := filepath.Join(dir, "debug-modules")
			t.Run("B", func(t *testing.T) { viewsB(t, filepath.Join(dir, "dumps", "B"), vmlinux, debug) })
			t.Run("D", func(t *testing.T) { viewsD(t, filepath.Join(dir, "dumps", "D"), vmlinux, debug) })
		})
	}
	if !found {
		t.Skipf("no lab output in %s: run testdata/realkernel/lab.sh first", lab)
	}
}

func readDrgn(t *testing.T, sdir string) drgnOracle {
	t.Helper()
	var o drgnOracle
	b, err := os.ReadFile(filepath.Join(sdir, "drgn.json"))
	if err != nil {
		t.Skipf("no drgn oracle: %v", err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("drgn.json: %v", err)
	}
	return o
}

func dumpOf(t *testing.T, sdir string) string {
	t.Helper()
	dump := filepath.Join(sdir, viewsFormat+".vmcore")
	if _, err := os.Stat(dump); err != nil {
		t.Skipf("no %s dump: %v", viewsFormat, err)
	}
	return dump
}

// viewsB: struct dio and mount.
func viewsB(t *testing.T, sdir, vmlinux, debug string) {
	oracle := readDrgn(t, sdir)
	dump := dumpOf(t, sdir)
	crash := newCrashAnswers(t, sdir, vmlinux, dump)
	n := 0
	for _, u := range oracle.UNTasks {
		if u.DIO == nil {
			continue
		}
		n++
		addr := fmt.Sprintf("%#x", hexv(u.DIO.DIO))
		t.Run("struct dio "+addr, func(t *testing.T) {
			want, ok := crash.answer(t, "struct dio "+addr)
			if !ok {
				return
			}
			got := runVmtriage(t, "struct", dump, "dio", addr, "--vmlinux", vmlinux, "--debug-dir", debug)
			compareStruct(t, got, want)
			// the JSON agrees with the text
			var js struct {
				Type, Address string
				Size          uint64
				Value         map[string]any
			}
			out := runVmtriage(t, "struct", dump, "dio", addr, "--vmlinux", vmlinux, "--debug-dir", debug, "--format", "json")
			if err := json.Unmarshal([]byte(out), &js); err != nil {
				t.Fatalf("struct --format json: %v", err)
			}
			if js.Type != "struct dio" || hexv(js.Address) != hexv(addr) || js.Size == 0 ||
				js.Value["refcount"] != float64(u.DIO.Refcount) || hexv(fmt.Sprint(js.Value["waiter"])) != hexv(u.DIO.Waiter) {
				t.Errorf("struct --format json: type %q address %s size %d refcount %v waiter %v; drgn %+v",
					js.Type, js.Address, js.Size, js.Value["refcount"], js.Value["waiter"], *u.DIO)
			}
		})
	}
	if n == 0 {
		t.Errorf("drgn found no dio in B")
	}
	t.Run("mount", func(t *testing.T) {
		want, ok := crash.answer(t, "mount")
		if !ok {
			return
		}
		var ms []struct{ Mount, Superblock, Type, Devname, Dirname string }
		out := runVmtriage(t, "mount", dump, "--vmlinux", vmlinux, "--format", "json")
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("mount --format json: %v", err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, fmt.Sprintf("%x %x %s %s %s", hexv(m.Mount), hexv(m.Superblock), m.Type, m.Devname, m.Dirname))
		}
		exp := crashMounts(want)
		if len(exp) == 0 {
			t.Fatalf("crash's mount printed no mounts:\n%s", want)
		}
		if strings.Join(got, "\n") != strings.Join(exp, "\n") {
			t.Errorf("mount:\n%s\ncrash's mount:\n%s", strings.Join(got, "\n"), strings.Join(exp, "\n"))
		}
		// the table shows the same rows
		table := runVmtriage(t, "mount", dump, "--vmlinux", vmlinux)
		if rows := crashMounts(table); strings.Join(rows, "\n") != strings.Join(got, "\n") {
			t.Errorf("mount table rows %q differ from its JSON %q", rows, got)
		}
	})
}

// viewsD: waitq of each journal's j_wait_transaction_locked.
func viewsD(t *testing.T, sdir, vmlinux, debug string) {
	oracle := readDrgn(t, sdir)
	dump := dumpOf(t, sdir)
	crash := newCrashAnswers(t, sdir, vmlinux, dump)
	if len(oracle.Journals) == 0 {
		t.Fatalf("drgn found no journal in D")
	}
	k, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: []string{debug}})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	jt, err := k.Types.Lookup("journal_t")
	k.Close()
	if err != nil {
		t.Fatalf("journal_t: %v", err)
	}
	off, err := jt.Offset("j_wait_transaction_locked")
	if err != nil {
		t.Fatal(err)
	}
	for _, oj := range oracle.Journals {
		head := fmt.Sprintf("%#x", hexv(oj.Journal)+off)
		t.Run("waitq "+head, func(t *testing.T) {
			want, ok := crash.answer(t, "waitq "+head)
			if !ok {
				return
			}
			exp := crashWaitq(want)
			// by the head's address and by journal_t.member journal
			for _, args := range [][]string{{head}, {"journal_t.j_wait_transaction_locked", oj.Journal}} {
				table := runVmtriage(t, append(append([]string{"waitq", dump}, args...), "--vmlinux", vmlinux, "--debug-dir", debug)...)
				if got := crashWaitq(table); strings.Join(got, "\n") != strings.Join(exp, "\n") {
					t.Errorf("waitq %s:\n%s\ncrash's waitq %s:\n%s", strings.Join(args, " "), strings.Join(got, "\n"), head, strings.Join(exp, "\n"))
				}
			}
			var js struct {
				Head  string
				Tasks []struct {
					PID  int
					Task string
					CPU  int
					Comm string
				}
			}
			out := runVmtriage(t, "waitq", dump, head, "--vmlinux", vmlinux, "--format", "json")
			if err := json.Unmarshal([]byte(out), &js); err != nil {
				t.Fatalf("waitq --format json: %v", err)
			}
			var got []string
			for _, x := range js.Tasks {
				got = append(got, fmt.Sprintf("%d %x %d %s", x.PID, hexv(x.Task), x.CPU, x.Comm))
			}
			if strings.Join(got, "\n") != strings.Join(exp, "\n") || hexv(js.Head) != hexv(head) {
				t.Errorf("waitq --format json head %s:\n%s\ncrash:\n%s", js.Head, strings.Join(got, "\n"), strings.Join(exp, "\n"))
			}
			// and drgn's list of the same queue
			if pids(oj.WaitLocked) != pids(waitqPIDs(js.Tasks)) {
				t.Errorf("waitq pids %s, drgn %s", pids(waitqPIDs(js.Tasks)), pids(oj.WaitLocked))
			}
		})
	}
}

func waitqPIDs[T any](ts []T) []drgnPID {
	var out []drgnPID
	for _, x := range ts {
		b, _ := json.Marshal(x)
		var p drgnPID
		json.Unmarshal(b, &p)
		out = append(out, p)
	}
	return out
}

var mountRow = regexp.MustCompile(`^([0-9a-f]{8,16})\s+([0-9a-f]{8,16})\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)

// crashMounts parses crash's mount (and vmtriage's table) into
// "MOUNT SUPERBLK TYPE DEVNAME DIRNAME" rows.
func crashMounts(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if m := mountRow.FindStringSubmatch(l); m != nil {
			out = append(out, fmt.Sprintf("%x %x %s %s %s", hexv(m[1]), hexv(m[2]), m[3], m[4], m[5]))
		}
	}
	return out
}

var waitqRow = regexp.MustCompile(`^PID:\s+(\d+)\s+TASK:\s+([0-9a-f]+)\s+CPU:\s+(\d+)\s+COMMAND:\s+"(.*)"\s*$`)

// crashWaitq parses waitq's lines into "PID TASK CPU COMM".
func crashWaitq(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if m := waitqRow.FindStringSubmatch(l); m != nil {
			out = append(out, fmt.Sprintf("%s %x %s %s", m[1], hexv(m[2]), m[3], m[4]))
		}
	}
	return out
}

// flattenStruct turns gdb's pretty-printed object into "path = value"
// members: "bio_lock.rlock.raw_lock.val.counter = 0", "pages = {...}",
// "pid_links[1].pprev = 0x...".
func flattenStruct(text string) (map[string]string, []string) {
	vals := map[string]string{}
	var order []string
	var stack []string
	emit := func(name, v string) {
		var parts []string
		for _, s := range append(append([]string(nil), stack...), name) {
			if s != "" {
				parts = append(parts, s)
			}
		}
		p := strings.ReplaceAll(strings.Join(parts, "."), ".[", "[")
		if _, dup := vals[p]; dup {
			p += "#dup"
		}
		vals[p] = v
		order = append(order, p)
	}
	for i, raw := range strings.Split(text, "\n") {
		l := strings.TrimSpace(raw)
		switch {
		case l == "":
		case i == 0 && strings.HasSuffix(l, "{") && !strings.Contains(l, " = "):
			// "struct dio {"
		case l == "{":
			stack = append(stack, "")
		case l == "}" || l == "},":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case l == "}}" || l == "}},":
			if len(stack) > 1 {
				stack = stack[:len(stack)-2]
			}
		case l == "}, {":
			if n := len(stack); n > 0 {
				var idx int
				fmt.Sscanf(stack[n-1], "[%d]", &idx)
				stack[n-1] = fmt.Sprintf("[%d]", idx+1)
			}
		default:
			name, v, ok := strings.Cut(l, " = ")
			if !ok {
				emit("?", l)
				continue
			}
			switch v = strings.TrimSuffix(v, ","); v {
			case "{":
				stack = append(stack, name)
			case "{{":
				stack = append(stack, name, "[0]")
			default:
				emit(name, v)
			}
		}
	}
	return vals, order
}

// compareStruct compares vmtriage's struct output with crash's, member by
// member.
func compareStruct(t *testing.T, got, want string) {
	t.Helper()
	g, gorder := flattenStruct(got)
	w, worder := flattenStruct(want)
	if len(w) == 0 {
		t.Fatalf("crash printed no members:\n%s", want)
	}
	bad := 0
	for _, p := range worder {
		if gv, ok := g[p]; !ok {
			t.Errorf("member %s: crash %q, vmtriage has none", p, w[p])
			bad++
		} else if gv != w[p] {
			t.Errorf("member %s: vmtriage %q, crash %q", p, gv, w[p])
			bad++
		}
	}
	for _, p := range gorder {
		if _, ok := w[p]; !ok {
			t.Errorf("member %s: vmtriage %q, crash has none", p, g[p])
			bad++
		}
	}
	if bad == 0 {
		t.Logf("%d members agree with crash", len(w))
	}
	if firstLine(got) != firstLine(want) {
		t.Errorf("header %q, crash %q", firstLine(got), firstLine(want))
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// crashAnswers are crash 9.0.2's outputs on one dump, by command.
type crashAnswers struct {
	sdir, vmlinux, dump string
	noModules           bool
	have                map[string]string
	cache               string // crash-views-FORMAT.txt
}

const crashMark = "@@@vmtriage "

// parseMarked splits a "@@@vmtriage CMD" sectioned file.
func parseMarked(text string, into map[string]string) {
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur != "" {
			into[cur] = strings.TrimRight(b.String(), "\n")
		}
		b.Reset()
	}
	for _, l := range strings.Split(text, "\n") {
		if c, ok := strings.CutPrefix(l, crashMark); ok {
			flush()
			cur = strings.TrimSpace(c)
			continue
		}
		if strings.HasPrefix(l, "# console:") || strings.HasPrefix(l, "# stderr:") {
			flush()
			cur = ""
			continue
		}
		if cur != "" {
			b.WriteString(l + "\n")
		}
	}
	flush()
}

func newCrashAnswers(t *testing.T, sdir, vmlinux, dump string) *crashAnswers {
	c := &crashAnswers{sdir: sdir, vmlinux: vmlinux, dump: dump, have: map[string]string{},
		cache: filepath.Join(sdir, "crash-views-"+viewsFormat+".txt")}
	if b, err := os.ReadFile(filepath.Join(sdir, "crash-"+viewsFormat+".txt")); err == nil {
		first, _, _ := strings.Cut(string(b), "\n")
		c.noModules = strings.Contains(first, "--no_modules")
		parseMarked(string(b), c.have)
	}
	if b, err := os.ReadFile(c.cache); err == nil {
		parseMarked(string(b), c.have)
	}
	return c
}

// answer returns crash's output of cmd: cached, or from running crash in
// the lab's sid root (then cached); false (the check skipped) when there
// is no root to run it in.
func (c *crashAnswers) answer(t *testing.T, cmd string) (string, bool) {
	t.Helper()
	if out, ok := c.have[cmd]; ok {
		return out, true
	}
	root := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(c.sdir)))), "roots", "sid")
	if _, err := os.Stat(filepath.Join(root, "versions.json")); err != nil {
		t.Skipf("crash's %q is not cached and there is no sid root (%s) to run crash 9.0.2 in", cmd, root)
	}
	scratch, err := os.MkdirTemp(c.sdir, ".crash-views-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(scratch)
	cmdfile := filepath.Join(scratch, "cmds")
	os.WriteFile(cmdfile, []byte(cmd+" > 00.out\nquit\n"), 0o644)
	args := []string{"sid", "crash", "-s"}
	if c.noModules {
		args = append(args, "--no_modules")
	}
	args = append(args, c.vmlinux, c.dump, "-i", cmdfile)
	run := exec.Command("../testdata/realkernel/inroot.sh", args...)
	run.Dir = scratch
	if wd, err := os.Getwd(); err == nil {
		run.Path = filepath.Join(wd, "..", "testdata", "realkernel", "inroot.sh")
		run.Args[0] = run.Path
	}
	log, err := run.CombinedOutput()
	out, rerr := os.ReadFile(filepath.Join(scratch, "00.out"))
	if rerr != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("crash %q printed nothing (%v): %s", cmd, err, tail(string(log), 2000))
	}
	text := strings.TrimRight(string(out), "\n")
	c.have[cmd] = text
	f, err := os.OpenFile(c.cache, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s%s\n%s\n", crashMark, cmd, text)
		f.Close()
	}
	return text, true
}
