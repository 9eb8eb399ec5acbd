package rules_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/testdata/labcache"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// kernelThreadComms are kernel threads' names, which rules may name: they
// are the kernel's, not a dump's.
var kernelThreadComms = regexp.MustCompile(`^(kjournald|jbd2/.*|kworker/.*|ksoftirqd/.*|migration/.*|kthreadd|swapper.*|init|systemd.*)$`)

// userName reports whether a task's name is a user process's own, one a
// rule has no business quoting: not a kernel thread's, and not so short
// it is also a word ("dd", "sync": the kind of an I/O).
func userName(comm string) bool {
	return len(comm) >= 5 && !kernelThreadComms.MatchString(comm)
}

// importSpec is a line of an import declaration.
var importSpec = regexp.MustCompile(`^\s*(import\s+)?(\w+\s+)?"[^"]+"\s*$`)

// TestNoFixtureValuesInProductionCode: no production source (a non-test Go
// file outside testdata) holds a value of the seed cores, or of the lab's
// dumps when the lab cache is here: a task's or a dio's address, a pid
// above 999, a user process's name (userName) in quotes. An analysis that reads such a constant reports the fixture, not
// the dump.
func TestNoFixtureValuesInProductionCode(t *testing.T) {
	seed := seedgen.Cores(t)
	vmlinux := filepath.Join(seed, seedgen.VmlinuxName)
	// what the sources are checked for: hex addresses, pids, quoted names
	addrs, pids, names := map[string]string{}, map[string]string{}, map[string]string{}
	for _, o := range seedgen.Outputs() {
		k, err := analyzer.Open(filepath.Join(seed, o.Name), vmlinux)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := k.Tasks()
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			from := fmt.Sprintf("%s: task %d %s", o.Name, task.PID, task.Comm)
			addrs[fmt.Sprintf("%x", task.Addr)] = from
			if task.PID > 999 {
				pids[fmt.Sprint(task.PID)] = from
			}
			if task.StateName() == "UN" && userName(task.Comm) {
				names[task.Comm] = from
			}
		}
		k.Close()
	}
	// the lab's dumps, when the lab cache is here: their UN tasks (drgn's oracle)
	for _, l := range labcache.Lines() {
		oracles, _ := filepath.Glob(filepath.Join(l.Dir, "dumps", "*", "drgn.json"))
		for _, o := range oracles {
			b, err := os.ReadFile(o)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				UN []struct {
					PID  int    `json:"pid"`
					Comm string `json:"comm"`
					Task string `json:"task"`
					DIO  struct {
						DIO string `json:"dio"`
					} `json:"dio"`
				} `json:"un_tasks"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("%s: %v", o, err)
			}
			for _, u := range doc.UN {
				from := fmt.Sprintf("%s: UN task %d %s", o, u.PID, u.Comm)
				for _, a := range []string{u.Task, u.DIO.DIO} {
					if a = strings.TrimPrefix(a, "0x"); a != "" {
						addrs[a] = from
					}
				}
				if u.PID > 999 {
					pids[fmt.Sprint(u.PID)] = from
				}
				if userName(u.Comm) {
					names[u.Comm] = from
				}
			}
		}
	}
	hexToken := regexp.MustCompile(`\b(?:0x)?([0-9a-f]{9,16})\b`)
	pidToken := regexp.MustCompile(`(?i)\bpids?\W{0,4}(\d{4,})\b`)
	quoted := regexp.MustCompile(`"([^"\\\n]{1,32})"`)
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		src := string(b)
		for _, check := range []struct {
			re  *regexp.Regexp
			set map[string]string
		}{{hexToken, addrs}, {pidToken, pids}, {quoted, names}} {
			for _, m := range check.re.FindAllStringSubmatchIndex(src, -1) {
				if from, ok := check.set[src[m[2]:m[3]]]; ok {
					lineStart := strings.LastIndexByte(src[:m[0]], '\n') + 1
					lineEnd := len(src)
					if e := strings.IndexByte(src[m[0]:], '\n'); e >= 0 {
						lineEnd = m[0] + e
					}
					if importSpec.MatchString(src[lineStart:lineEnd]) {
						continue // "sync" the package, not sync the command
					}
					line := strings.Count(src[:m[0]], "\n") + 1
					t.Errorf("%s:%d holds %s, a value of a fixture (%s)", p, line, src[m[0]:m[1]], from)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) < 100 || len(names) == 0 {
		t.Errorf("%d addresses and %d names collected from the seed cores", len(addrs), len(names))
	}
}
