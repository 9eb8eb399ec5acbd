//go:build realkernel

package rules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
)

// TestNoVmlinux analyses every scenario dump (mdf-zlib.vmcore) of every
// lab line twice: with the vmlinux (and the modules' debug files), and
// without any (analyzer.OpenWithoutVmlinux: symbols from the dump's
// kallsyms, types from the BTF in its memory, ORC from its memory), and
// requires the same findings once the fields that say where things came
// from are normalised (see normaliseReport). Run with:
//
//	go test -tags realkernel -run TestNoVmlinux ./rules
func TestNoVmlinux(t *testing.T) {
	lab := labDir(t)
	found := false
	for _, line := range labLines(t) {
		dir := filepath.Join(lab, "lines", line)
		if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err != nil {
			continue
		}
		found = true
		t.Run(line, func(t *testing.T) {
			for _, sc := range []string{"A", "B", "B-notimeout", "C", "D"} {
				dump := filepath.Join(dir, "dumps", sc, "mdf-zlib.vmcore")
				if _, err := os.Stat(dump); err != nil {
					continue
				}
				t.Run(sc, func(t *testing.T) { compareNoVmlinux(t, dump, dir) })
			}
		})
	}
	if !found {
		t.Skipf("no lab output in %s: run testdata/realkernel/lab.sh first", lab)
	}
}

func compareNoVmlinux(t *testing.T, dump, dir string) {
	start := time.Now()
	k, err := analyzer.OpenWith(dump, filepath.Join(dir, "vmlinux"), analyzer.Options{DebugDirs: []string{filepath.Join(dir, "debug-modules")}})
	if err != nil {
		t.Fatalf("with the vmlinux: %v", err)
	}
	defer k.Close()
	want := reportJSON(t, k)
	withTime := time.Since(start)

	start = time.Now()
	k2, err := analyzer.OpenWithoutVmlinux(dump, analyzer.Options{})
	if err != nil {
		t.Fatalf("without a vmlinux: %v", err)
	}
	defer k2.Close()
	got := reportJSON(t, k2)
	t.Logf("with the vmlinux %v, without %v", withTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	if s := got["symbols"].(map[string]any); s["source"] != analyzer.TypesBTFFromDump || s["table"] != analyzer.SymbolsKallsyms {
		t.Errorf("symbols = %v, want source %s, table %s", s, analyzer.TypesBTFFromDump, analyzer.SymbolsKallsyms)
	}
	checkScanFallback(t, got)
	if _, ok := k2.Syms.Symbol("btf_modules"); !ok && !reflect.DeepEqual(len(want["findings"].([]any)), len(got["findings"].([]any))) {
		// 5.10: modules have no BTF before 5.11 (CONFIG_DEBUG_INFO_BTF_MODULES)
		t.Skipf("blocked: the kernel keeps no BTF of its modules (5.11+), so module types (jbd2, ext4) are unknown without their debug files: %d findings, %d with the vmlinux", len(got["findings"].([]any)), len(want["findings"].([]any)))
	}
	normaliseReport(want)
	normaliseReport(got)
	if len(want["findings"].([]any)) == 0 && strings.Contains(dump, "/B/") {
		t.Errorf("no findings with the vmlinux on a B dump")
	}
	diffJSON(t, "", want, got)
}

// reportJSON analyses and returns the report as generic JSON.
func reportJSON(t *testing.T, k *analyzer.Kernel) map[string]any {
	t.Helper()
	r, err := rules.Analyze(k, "realkernel")
	if err != nil {
		t.Fatalf("rules.Analyze: %v", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkScanFallback: without DWARF every dio is found by the stack scan,
// and found_by says so.
func checkScanFallback(t *testing.T, r map[string]any) {
	walkJSON(r, func(key string, v any) {
		if s, ok := v.(string); ok && key == "found_by" && !strings.Contains(s, "scanning the stack") {
			t.Errorf("found_by %q: want the stack scan without a vmlinux", s)
		}
	})
}

func walkJSON(v any, fn func(key string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(k, e)
			walkJSON(e, fn)
		}
	case []any:
		for _, e := range x {
			walkJSON(e, fn)
		}
	}
}

// stackQuote is the backtrace quoted by fact evidence ("stack: a <- b ...").
var stackQuote = regexp.MustCompile(`stack: [^;]*`)

// normaliseReport removes or masks what says where things came from: the
// symbols object, the vmlinux and its build-id, the warnings, how each dio
// was found (found_by, found_at, and the evidence texts quoting found_by),
// the inline frames of backtraces (there is no DWARF without the vmlinux)
// and the backtraces quoted in evidence texts, and the hung tasks' wait-for
// edges, which read frame locals (DWARF): without it only the journals'
// wait queues and the dio stack scan name a wait.
func normaliseReport(r map[string]any) {
	delete(r, "symbols")
	delete(r, "warnings")
	if hs, ok := r["hung_tasks"].([]any); ok {
		for _, h := range hs {
			if m, ok := h.(map[string]any); ok {
				delete(m, "wait")
			}
		}
	}
	// so do the rules over the wait-for graph decide whether they apply
	if rs, ok := r["rules"].([]any); ok {
		var keep []any
		for _, x := range rs {
			if m, ok := x.(map[string]any); ok {
				if id, _ := m["id"].(string); strings.HasPrefix(id, "lost-wakeup-") || id == "deadlock" {
					if m["findings"] != float64(0) {
						keep = append(keep, x) // a finding must be found both ways
					}
					continue
				}
			}
			keep = append(keep, x)
		}
		r["rules"] = keep
	}
	if d, ok := r["dump"].(map[string]any); ok {
		delete(d, "vmlinux")
		delete(d, "build_id")
	}
	var foundBy []string
	walkJSON(r, func(key string, v any) {
		if s, ok := v.(string); ok && key == "found_by" && s != "" {
			foundBy = append(foundBy, s)
		}
	})
	sort.Slice(foundBy, func(i, j int) bool { return len(foundBy[i]) > len(foundBy[j]) })
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "found_by")
			delete(x, "found_at")
			for k, e := range x {
				if k == "backtrace" {
					if frames, ok := e.([]any); ok {
						var kept []any
						for _, f := range frames {
							if s, ok := f.(string); !ok || !strings.Contains(s, "(inlined)") {
								kept = append(kept, f)
							}
						}
						x[k] = kept
						continue
					}
				}
				x[k] = fix(e)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = fix(e)
			}
			return x
		case string:
			for _, fb := range foundBy {
				x = strings.ReplaceAll(x, fb, "FOUND_BY")
			}
			return stackQuote.ReplaceAllString(x, "stack: STACK")
		}
		return v
	}
	fix(r)
}

// diffJSON reports every difference between two JSON values.
func diffJSON(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: %v, want %v", path, got, want)
			return
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			diffJSON(t, path+"."+k, w[k], g[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: %d entries, want %d:\n got  %v\n want %v", path, len(g), len(w), got, want)
			return
		}
		for i := range w {
			diffJSON(t, path+"["+itoa(i)+"]", w[i], g[i])
		}
	default:
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
