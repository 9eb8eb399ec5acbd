//go:build realkernel

// The slab walk on the real-kernel lab: for the dio of every writer in
// scenarios A, B and C and the bio in flight in A, vmtriage kmem ADDR must
// name the cache crash 9.0.2's kmem ADDR names and agree on allocated or
// free (drgn 0.3.0's slab_object_info where crash cannot walk the slab: 7.2,
// whose compound_info crash 9.0.2 does not know); the bio check must find
// the bio in A and none in B and C, and B and C must then be found with
// confidence high. The oracles' answers are kept next to each dump
// (slab-oracle.json) after the first run.
// Run with: go test -tags realkernel -run TestSlabRealKernel ./rules
package rules_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
)

// slabAnswer is an oracle's kmem ADDR.
type slabAnswer struct {
	Tool      string `json:"tool"`
	Cache     string `json:"cache"`
	Allocated bool   `json:"allocated"`
	Error     string `json:"error,omitempty"`
}

// slabOracle is slab-oracle.json, next to the dump.
type slabOracle struct {
	Dump  string                 `json:"dump"`
	Addrs map[string]*slabAnswer `json:"addrs"`
}

func TestSlabRealKernel(t *testing.T) {
	lab := labDir(t)
	bin := filepath.Join(t.TempDir(), "vmtriage")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/vmtriage").CombinedOutput(); err != nil {
		t.Fatalf("building vmtriage: %v\n%s", err, out)
	}
	found := false
	for _, line := range labLines(t) {
		dir := filepath.Join(lab, "lines", line)
		if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
			continue
		}
		found = true
		t.Run(line, func(t *testing.T) {
			for _, sc := range []string{"A", "B", "C"} {
				sdir := filepath.Join(dir, "dumps", sc)
				if _, err := os.Stat(filepath.Join(sdir, "mdf-zlib.vmcore")); err != nil {
					continue
				}
				t.Run(sc, func(t *testing.T) { testSlabScenario(t, lab, dir, sdir, sc, bin) })
			}
		})
	}
	if !found {
		t.Skipf("no lab output in %s: run testdata/realkernel/lab.sh first", lab)
	}
}

func testSlabScenario(t *testing.T, lab, dir, sdir, sc, bin string) {
	dump := filepath.Join(sdir, "mdf-zlib.vmcore")
	vmlinux := filepath.Join(dir, "vmlinux")
	debug := filepath.Join(dir, "debug-modules")
	k, err := analyzer.OpenWith(dump, vmlinux, analyzer.Options{DebugDirs: []string{debug}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	start := time.Now()
	c, err := rules.NewContext(k)
	if err != nil {
		t.Fatal(err)
	}
	pages, unreadable, took := k.SlabScanStats()
	t.Logf("context in %v; memory map: %d struct pages read in %v (%d unreadable)", time.Since(start).Round(time.Millisecond), pages, took.Round(time.Millisecond), unreadable)
	var addrs []uint64
	dios := c.DIOs()
	for task, d := range dios {
		addrs = append(addrs, d.Addr)
		bc := c.BioCheck(d)
		if !bc.Ran {
			t.Errorf("task 0x%x dio 0x%x: bio check did not run: %s", task, d.Addr, bc.Account)
			continue
		}
		switch sc {
		case "A":
			if len(bc.InFlight) == 0 {
				t.Errorf("A: dio 0x%x: no bio in flight found (%s)", d.Addr, bc.Account)
			}
			addrs = append(addrs, bc.InFlight...)
			t.Logf("A: dio 0x%x: bios in flight %x; %s", d.Addr, bc.InFlight, bc.Account)
		default:
			if len(bc.InFlight) != 0 {
				t.Errorf("%s: dio 0x%x: bios %x found in flight (%s)", sc, d.Addr, bc.InFlight, bc.Account)
			}
		}
	}
	if len(dios) == 0 {
		t.Fatalf("%s: no dio found", sc)
	}
	if sc != "A" {
		r, err := rules.Analyze(k, "test")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range r.Findings {
			if f.Rule != "dio-lost-wakeup" {
				continue
			}
			n++
			if f.Confidence != "high" {
				t.Errorf("%s: finding on PID %d has confidence %q", sc, f.RootTask.PID, f.Confidence)
			}
		}
		if n == 0 {
			t.Errorf("%s: no dio-lost-wakeup finding", sc)
		}
	}
	// and a free object of each dio's slab, if there is one: the freelists
	// (hardened, per-CPU, sheaves) must be read as crash reads them
	for _, d := range dios {
		o, err := k.SlabOf(d.Addr)
		if err != nil {
			t.Errorf("SlabOf(dio 0x%x): %v", d.Addr, err)
			continue
		}
		for i := 0; i < o.Objects; i++ {
			x := o.Memory + uint64(i)*o.Size
			if f, err := k.SlabOf(x); err == nil && !f.Allocated {
				t.Logf("free object 0x%x of the dio's slab (%s)", x, f.Where)
				addrs = append(addrs, x)
				break
			}
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	oracle := slabOracleFor(t, lab, sdir, dump, vmlinux, addrs)
	for _, a := range addrs {
		out, err := exec.Command(bin, "kmem", dump, fmt.Sprintf("0x%x", a), "--vmlinux", vmlinux, "--debug-dir", debug, "--format", "json").Output()
		if err != nil {
			t.Errorf("vmtriage kmem 0x%x: %v", a, err)
			continue
		}
		var got struct {
			Cache     string `json:"cache"`
			Object    string `json:"object"`
			Allocated bool   `json:"allocated"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("vmtriage kmem 0x%x: %v\n%s", a, err, out)
			continue
		}
		want := oracle.Addrs[fmt.Sprintf("0x%x", a)]
		if want == nil || want.Error != "" {
			t.Logf("0x%x: vmtriage says %s allocated=%v; no oracle answer (%v)", a, got.Cache, got.Allocated, want)
			continue
		}
		if got.Cache != want.Cache || got.Allocated != want.Allocated {
			t.Errorf("kmem 0x%x: vmtriage says %q allocated=%v, %s says %q allocated=%v", a, got.Cache, got.Allocated, want.Tool, want.Cache, want.Allocated)
		} else {
			t.Logf("kmem 0x%x: %q allocated=%v, as %s says", a, got.Cache, got.Allocated, want.Tool)
		}
	}
}

// slabOracleFor returns crash's (else drgn's) answers for addrs, asking
// them for what slab-oracle.json lacks.
func slabOracleFor(t *testing.T, lab, sdir, dump, vmlinux string, addrs []uint64) *slabOracle {
	path := filepath.Join(sdir, "slab-oracle.json")
	o := &slabOracle{Dump: dump, Addrs: map[string]*slabAnswer{}}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, o)
	}
	var missing []string
	for _, a := range addrs {
		if o.Addrs[fmt.Sprintf("0x%x", a)] == nil {
			missing = append(missing, fmt.Sprintf("0x%x", a))
		}
	}
	if len(missing) == 0 {
		return o
	}
	if _, err := os.Stat(filepath.Join(lab, "roots", "sid", "versions.json")); err != nil {
		t.Logf("no sid root (%v): no crash or drgn answers for %v", err, missing)
		return o
	}
	noMods := false
	if c := readCrash(t, sdir, "mdf-zlib"); c != nil {
		noMods = c.NoModules
	}
	for a, ans := range crashKmem(t, dump, vmlinux, missing, noMods) {
		o.Addrs[a] = ans
	}
	var again []string
	for _, a := range missing {
		if ans := o.Addrs[a]; ans == nil || ans.Error != "" {
			again = append(again, a)
		}
	}
	if len(again) > 0 {
		for a, ans := range drgnSlabInfo(t, dump, vmlinux, again) {
			if o.Addrs[a] != nil {
				ans.Error = ""
				ans.Tool += " (crash: " + o.Addrs[a].Error + ")"
			}
			o.Addrs[a] = ans
		}
	}
	b, _ := json.MarshalIndent(o, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Logf("cannot keep the answers in %s: %v", path, err)
	}
	return o
}

func inroot(t *testing.T, stdin string, args ...string) string {
	cmd := exec.Command(filepath.Join("..", "testdata", "realkernel", "inroot.sh"), append([]string{"sid"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Logf("inroot.sh %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// crashKmem runs crash 9.0.2's kmem ADDR for each address, in one session.
func crashKmem(t *testing.T, dump, vmlinux string, addrs []string, noMods bool) map[string]*slabAnswer {
	var cmds strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&cmds, "echo @@@vmtriage %s\nkmem %s\n", a, a)
	}
	cmds.WriteString("echo @@@vmtriage end\nquit\n")
	args := []string{"crash", "-s"}
	if noMods {
		args = append(args, "--no_modules")
	}
	out := inroot(t, cmds.String(), append(args, vmlinux, dump)...)
	res := map[string]*slabAnswer{}
	parts := strings.Split(out, "@@@vmtriage ")
	for _, p := range parts[1:] {
		lines := strings.Split(p, "\n")
		a := strings.TrimSpace(lines[0])
		if a == "end" {
			continue
		}
		ans := &slabAnswer{Tool: "crash 9.0.2"}
		res[a] = ans
		for i, l := range lines {
			switch {
			case strings.HasPrefix(l, "kmem: ") && ans.Error == "":
				ans.Error = strings.TrimSpace(l)
			case strings.HasPrefix(l, "CACHE ") && strings.HasSuffix(strings.TrimSpace(l), "NAME") && i+1 < len(lines) && ans.Cache == "":
				if f := strings.Fields(lines[i+1]); len(f) > 0 {
					ans.Cache = f[len(f)-1]
				}
			case strings.TrimSpace(l) == "FREE / [ALLOCATED]" && i+1 < len(lines):
				ans.Allocated = strings.HasPrefix(strings.TrimSpace(lines[i+1]), "[")
			}
		}
		if ans.Cache == "" && ans.Error == "" {
			ans.Error = "no cache in crash's answer"
		}
	}
	return res
}

// drgnSlabInfo asks drgn 0.3.0's slab_object_info.
func drgnSlabInfo(t *testing.T, dump, vmlinux string, addrs []string) map[string]*slabAnswer {
	script := "from drgn.helpers.linux.slab import slab_object_info\n" +
		"for a in [" + strings.Join(addrs, ",") + "]:\n" +
		"    i = slab_object_info(a)\n" +
		"    print('@@@', hex(a), i.slab_cache.name.string_().decode() if i else '-', i.allocated if i else '-')\n"
	out := inroot(t, "", "drgn", "-c", dump, "-s", vmlinux, "-e", script)
	res := map[string]*slabAnswer{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "@@@" {
			continue
		}
		ans := &slabAnswer{Tool: "drgn 0.3.0 slab_object_info", Cache: f[2], Allocated: f[3] == "True"}
		if f[2] == "-" || (f[3] != "True" && f[3] != "False") {
			ans.Error = "drgn: " + l
		}
		res[f[1]] = ans
	}
	return res
}
