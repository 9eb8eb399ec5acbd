package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/cmd/vmtriage/sample"
)

// sampleFiles writes the embedded sample core and its vmlinux to files,
// for the views that take paths.
func sampleFiles(t *testing.T) (dump, vmlinux string) {
	t.Helper()
	dir := t.TempDir()
	d, err := sample.Dump()
	if err != nil {
		t.Fatal(err)
	}
	v, err := sample.Vmlinux()
	if err != nil {
		t.Fatal(err)
	}
	dump, vmlinux = filepath.Join(dir, "rhel4-1822328.kdump"), filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(dump, d, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vmlinux, v, 0o644); err != nil {
		t.Fatal(err)
	}
	return dump, vmlinux
}

// jsonPath walks decoded JSON along object keys and array indexes.
func jsonPath(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// TestCrashViewsMore: struct, waitq, files, log, sys and mount on the
// embedded sample core (Red Hat bug 451819's first core), in both formats,
// against the values of that core: the dio oracle 8960 waits on, the /data1
// journal whose T_LOCKED transaction 192 tasks wait for.
func TestCrashViewsMore(t *testing.T) {
	dump, vm := sampleFiles(t)
	// journal_t.j_wait_transaction_locked of /data1's journal
	const journal = "0x1040016bc00"
	tests := []struct {
		name string
		args []string
		have []string                  // table output contains
		json func(t *testing.T, v any) // checks of the decoded --format json
	}{
		{"struct dio", []string{"struct", dump, "dio", "0x1010012b800"},
			[]string{"struct dio {\n  bio = 0x0,\n  inode = 0x1056b3fcb18,\n", "  refcount = {\n    counter = 1\n  },\n", "  waiter = 0x102edef7030,\n",
				"  get_blocks = 0xffffffffa01114c8 <ext3_direct_io_get_blocks>,\n", "  map_bh = {\n    b_state = 0,\n",
				"    b_size = 4096,\n", "  is_async = 1,\n", "  pages = {0x10002cea048, 0x102ff4e21a0, "},
			func(t *testing.T, v any) {
				for _, c := range []struct {
					path []any
					want any
				}{
					{[]any{"type"}, "struct dio"}, {[]any{"address"}, "0x1010012b800"},
					{[]any{"value", "refcount", "counter"}, 1.0}, {[]any{"value", "waiter"}, "0x102edef7030"},
					{[]any{"value", "is_async"}, 1.0}, {[]any{"value", "map_bh", "b_size"}, 4096.0},
					{[]any{"value", "get_blocks"}, "0xffffffffa01114c8"}, {[]any{"value", "pages", 1}, "0x102ff4e21a0"},
					{[]any{"value", "inode"}, "0x1056b3fcb18"},
				} {
					if got := jsonPath(v, c.path...); got != c.want {
						t.Errorf("%v = %v, want %v", c.path, got, c.want)
					}
				}
				if s, _ := jsonPath(v, "size").(float64); s < 600 {
					t.Errorf("size %v", jsonPath(v, "size"))
				}
			}},
		{"struct task_struct", []string{"struct", dump, "struct task_struct", "102edef7030"},
			[]string{"struct task_struct {\n", "  pid = 8960,\n", `  comm = "oracle\000\000\000\000\000\000\000\000\000",`},
			func(t *testing.T, v any) {
				if jsonPath(v, "value", "comm") != "oracle" || jsonPath(v, "value", "pid") != 8960.0 {
					t.Errorf("comm %v pid %v", jsonPath(v, "value", "comm"), jsonPath(v, "value", "pid"))
				}
			}},
		{"struct -o", []string{"struct", dump, "journal_t", "-o"},
			[]string{"struct journal_s {\n    [0] unsigned long j_flags;\n    [8] int j_errno;\n", "   [56] transaction_t *j_running_transaction;\n", "\nSIZE: "},
			func(t *testing.T, v any) {
				ms, _ := jsonPath(v, "members").([]any)
				found := false
				for _, m := range ms {
					if jsonPath(m, "name") == "j_running_transaction" {
						found = jsonPath(m, "offset") == 56.0 && jsonPath(m, "type") == "transaction_t *"
					}
				}
				if jsonPath(v, "type") != "struct journal_s" || !found {
					t.Errorf("struct -o journal_t: %v", v)
				}
			}},
		{"waitq", []string{"waitq", dump, "journal_t.j_wait_transaction_locked", journal},
			[]string{"PID: 25604    TASK: 10444f1f030  CPU: 4    COMMAND: \"oracle\"\n", "PID: 25542    TASK: 10216e75030  CPU: 15   COMMAND: \"oracle\"\n"},
			func(t *testing.T, v any) {
				ts, _ := jsonPath(v, "tasks").([]any)
				comms := map[string]int{}
				for _, x := range ts {
					comms[jsonPath(x, "comm").(string)]++
				}
				if len(ts) != 192 || comms["oracle"] != 191 || comms["ls"] != 1 || jsonPath(v, "tasks", 0, "pid") != 25604.0 ||
					jsonPath(v, "tasks", 0, "task") != "0x10444f1f030" || jsonPath(v, "head") != "0x1040016bc50" {
					t.Errorf("waitq: %d tasks %v, first %v, head %v", len(ts), comms, jsonPath(v, "tasks", 0), jsonPath(v, "head"))
				}
			}},
		{"waitq by address", []string{"waitq", dump, "1040016bc50"},
			[]string{"PID: 25604    TASK: 10444f1f030"}, nil},
		{"files", []string{"files", dump, "8960"},
			[]string{"PID: 8960     TASK: 102edef7030  CPU: 4    COMMAND: \"oracle\"\nROOT: /    CWD: /\n",
				" FD       FILE            DENTRY           INODE       TYPE PATH\n",
				"  0      100201be800      100201be000      100201bd800 CHR  /dev/null\n",
				" 22      1024869c880      1044fde6228      1056b3fcb18 REG  /data1/oracle/archive/CC/1_59673_629046150.dbf\n"},
			func(t *testing.T, v any) {
				fs, _ := jsonPath(v, "files").([]any)
				var f22 any
				for _, f := range fs {
					if jsonPath(f, "fd") == 22.0 {
						f22 = f
					}
				}
				if jsonPath(v, "pid") != 8960.0 || jsonPath(v, "root") != "/" || jsonPath(f22, "inode") != "0x1056b3fcb18" ||
					jsonPath(f22, "type") != "REG" || jsonPath(f22, "path") != "/data1/oracle/archive/CC/1_59673_629046150.dbf" {
					t.Errorf("files: %v", v)
				}
			}},
		{"log", []string{"log", dump},
			[]string{"Linux version 2.6.9-67.0.4.ELlargesmp (brewbuilder@", "\nEXT3 FS on md10, internal journal\n", "\nOops: 0002 [1] SMP \n"},
			func(t *testing.T, v any) {
				rs, _ := jsonPath(v, "records").([]any)
				if jsonPath(v, "buffer") != "log_buf" || len(rs) < 10 || jsonPath(v, "boot_time") != "2008-04-23T23:55:30Z" {
					t.Errorf("log: buffer %v, %d records, boot %v", jsonPath(v, "buffer"), len(rs), jsonPath(v, "boot_time"))
				}
			}},
		{"sys", []string{"sys", dump},
			[]string{"        CPUS: 16\n", "        DATE: Thu Apr 24 03:14:27 UTC 2008\n", "      UPTIME: 03:18:57\n",
				"LOAD AVERAGE: 268.20, 166.55, 80.32\n", "       TASKS: 3527\n", "    NODENAME: host.example.com\n",
				"     RELEASE: 2.6.9-67.0.4.ELlargesmp\n", "     MACHINE: x86_64  (2800 Mhz)\n", "       PANIC: \"Oops: 0002 [1] SMP \"\n"},
			func(t *testing.T, v any) {
				if jsonPath(v, "cpus") != 16.0 || jsonPath(v, "tasks") != 3527.0 || jsonPath(v, "uptime_seconds") != 11937.0 ||
					jsonPath(v, "release") != "2.6.9-67.0.4.ELlargesmp" || jsonPath(v, "date") != "2008-04-24T03:14:27Z" ||
					jsonPath(v, "load_average", 0) != 268.2 || jsonPath(v, "dump_format") != "kdump" {
					t.Errorf("sys: %v", v)
				}
			}},
		{"mount", []string{"mount", dump},
			[]string{"MOUNT", "SUPERBLK", "DEVNAME", "DIRNAME", "10300025500 104000fe800 ext3 /dev/md10 /data1"},
			func(t *testing.T, v any) {
				want := []string{"0x10020012000 0x1002000f800 ext3 /dev/sda2 /", "0x10300025500 0x104000fe800 ext3 /dev/md10 /data1",
					"0x1002001c800 0x10020019000 ext3 /dev/sda1 /boot"}
				ms, _ := v.([]any)
				var got []string
				for _, m := range ms {
					got = append(got, strings.Join([]string{jsonPath(m, "mount").(string), jsonPath(m, "superblock").(string),
						jsonPath(m, "type").(string), jsonPath(m, "devname").(string), jsonPath(m, "dirname").(string)}, " "))
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("mounts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--vmlinux", vm)
			code, out, errOut := runCLI(t, args...)
			if code != exitClean {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, h := range tt.have {
				if !strings.Contains(out, h) {
					t.Errorf("output lacks %q:\n%s", h, head(out, 3000))
				}
			}
			if tt.json == nil {
				return
			}
			code, out, errOut = runCLI(t, append(args, "--format", "json")...)
			if code != exitClean {
				t.Fatalf("--format json: exit %d: %s", code, errOut)
			}
			var v any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("--format json does not parse: %v\n%s", err, head(out, 2000))
			}
			tt.json(t, v)
		})
	}
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// TestCrashViewsMoreErrors: the views' mistakes are one-line errors.
func TestCrashViewsMoreErrors(t *testing.T) {
	dump, vm := sampleFiles(t)
	runCLICases(t, []cliCase{
		{"struct bad format", []string{"struct", dump, "dio", "0x1010012b800", "--vmlinux", vm, "--format", "xml"}, exitError, "unknown --format"},
		{"struct unknown type", []string{"struct", dump, "no_such_type", "0x1010012b800", "--vmlinux", vm}, exitError, "no_such_type"},
		{"struct no address", []string{"struct", dump, "dio", "--vmlinux", vm}, exitError, "an address or symbol is needed"},
		{"struct bad address", []string{"struct", dump, "dio", "nowhere_at_all", "--vmlinux", vm}, exitError, "neither a hexadecimal address nor a symbol"},
		{"files bad pid", []string{"files", dump, "x1", "--vmlinux", vm}, exitError, "not a number"},
		{"files no such pid", []string{"files", dump, "999999", "--vmlinux", vm}, exitError, "no task with PID 999999"},
		{"waitq no member", []string{"waitq", dump, "journal_t.no_such", "0x1040016bc00", "--vmlinux", vm}, exitError, "no_such"},
		{"mount no vmlinux", []string{"mount", dump}, exitError, "--vmlinux is required"},
	})
}
