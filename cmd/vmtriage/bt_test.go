package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBtSample: bt on the embedded sample (2.6.9: no ORC, no frame
// pointers, so the stack is scanned) in both formats, for one task and -a.
func TestBtSample(t *testing.T) {
	dump, vm := sampleFiles(t)

	code, out, errOut := runCLI(t, "bt", dump, "8960", "--vmlinux", vm)
	if code != exitClean {
		t.Fatalf("bt: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`PID: 8960 `, `COMMAND: "oracle"`, "scanning the stack", "__blockdev_direct_IO+0x", " #0 ["} {
		if !strings.Contains(out, want) {
			t.Errorf("bt output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runCLI(t, "bt", dump, "8960", "--vmlinux", vm, "--format", "json")
	if code != exitClean {
		t.Fatalf("bt --format json: exit %d: %s", code, errOut)
	}
	var tr struct {
		PID    int    `json:"pid"`
		Task   string `json:"task"`
		Comm   string `json:"comm"`
		Frames []struct {
			PC       string `json:"pc"`
			SP       string `json:"sp"`
			Function string `json:"function"`
			Offset   uint64 `json:"offset"`
			Module   string `json:"module"`
			Inline   bool   `json:"inline"`
			Reliable bool   `json:"reliable"`
		} `json:"frames"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	found := false
	for _, f := range tr.Frames {
		found = found || f.Function == "__blockdev_direct_IO"
		if f.Reliable || !strings.HasPrefix(f.PC, "0x") || !strings.HasPrefix(f.SP, "0x") || f.Offset == 0 {
			t.Errorf("frame %+v", f)
		}
	}
	if tr.PID != 8960 || tr.Comm != "oracle" || !strings.HasPrefix(tr.Task, "0x") || !found {
		t.Errorf("trace %+v", tr)
	}

	code, out, errOut = runCLI(t, "bt", dump, "-a", "--vmlinux", vm, "--format", "json")
	if code != exitClean {
		t.Fatalf("bt -a: exit %d: %s", code, errOut)
	}
	var all []json.RawMessage
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) < 100 {
		t.Errorf("bt -a: %d traces, %v", len(all), err)
	}

	for _, args := range [][]string{
		{"bt", dump, "--vmlinux", vm},
		{"bt", dump, "8960", "-a", "--vmlinux", vm},
		{"bt", dump, "x", "--vmlinux", vm},
		{"bt", dump, "8960", "--vmlinux", vm, "--format", "xml"},
		{"bt", dump, "999999", "--vmlinux", vm},
	} {
		if code, _, _ := runCLI(t, args...); code == exitClean {
			t.Errorf("%v: exit %d, want an error", args, code)
		}
	}
}
