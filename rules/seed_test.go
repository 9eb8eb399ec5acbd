package rules_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/rules/report"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

func TestMain(m *testing.M) {
	code := m.Run()
	seedgen.RemoveCached()
	os.Exit(code)
}

func analyze(t *testing.T, dump, vmlinux string) *report.Report {
	t.Helper()
	k, err := analyzer.Open(dump, vmlinux)
	if err != nil {
		t.Fatalf("open %s: %v", dump, err)
	}
	defer k.Close()
	r, err := rules.Analyze(k, "test")
	if err != nil {
		t.Fatalf("analyze %s: %v", dump, err)
	}
	return r
}

func finding(r *report.Report, rule string) *report.Finding {
	for i := range r.Findings {
		if r.Findings[i].Rule == rule {
			return &r.Findings[i]
		}
	}
	return nil
}

// seedCase is what the seed report says about one core.
type seedCase struct {
	core                     string
	pid, cpu                 int
	blocked                  int64
	task, dio, file          string
	offset, buf              string
	device, mount, tr        string
	kjPID, waiting           int
	sampleComm               string
	samplePID                int
	tasks                    int
	uptime                   int64
	load                     [3]float64
	release, panic, nodename string
}

var seedCases = []seedCase{
	{core: "rhel4-1822328", pid: 8960, cpu: 4, blocked: 427, task: "0x102edef7030", dio: "0x1010012b800",
		file: "/data1/oracle/archive/CC/1_59673_629046150.dbf", offset: "0xb00200", buf: "0x2a974a3e00",
		device: "/dev/md10", mount: "/data1", tr: "0x103fb8952c0", kjPID: 30348, waiting: 192,
		sampleComm: "ls", samplePID: 24278, tasks: 3527, uptime: 3*3600 + 18*60 + 57,
		load: [3]float64{268.20, 166.55, 80.32}, release: "2.6.9-67.0.4.ELlargesmp", panic: "Oops: 0002 [1] SMP ",
		nodename: "host.example.com"},
	{core: "rhel4-20080616", pid: 21356, cpu: 10, blocked: 1492, task: "0x103f8f97030", dio: "0x101f3c8b800",
		file: "/data/oracle/archive/DBTEST/1_472_657217547.dbf", offset: "0x3900200", buf: "0x2a97ce3e00",
		device: "/dev/md0", mount: "/data", tr: "0x100012f11c0", kjPID: 17538, waiting: 24,
		sampleComm: "ls", samplePID: 21578, tasks: 275, uptime: 1*3600 + 14*60 + 21,
		load: [3]float64{29.24, 34.39, 30.91}, release: "2.6.9-67.0.4.ELlargesmp", panic: "Oops: 0002 [1] SMP ",
		nodename: "host.example.com"},
}

func TestSeedCores(t *testing.T) {
	dir := seedgen.Cores(t)
	vmlinux := filepath.Join(dir, seedgen.VmlinuxName)
	for _, c := range seedCases {
		for _, ext := range []string{"elf", "kdump"} {
			t.Run(c.core+"."+ext, func(t *testing.T) {
				r := analyze(t, filepath.Join(dir, c.core+"."+ext), vmlinux)
				checkSeed(t, r, c)
				if r.Dump.Format != ext {
					t.Errorf("dump.format = %q, want %q", r.Dump.Format, ext)
				}
			})
		}
	}
}

func checkSeed(t *testing.T, r *report.Report, c seedCase) {
	t.Helper()
	s := r.System
	if s.Release != c.release || s.Nodename != c.nodename || s.Machine != "x86_64" || s.CPUs != 16 ||
		s.Tasks != c.tasks || s.UptimeSeconds != c.uptime || s.LoadAverage != c.load || s.Panic != c.panic {
		t.Errorf("system = %+v, want release %s nodename %s 16 CPUs %d tasks uptime %d load %v panic %q",
			s, c.release, c.nodename, c.tasks, c.uptime, c.load, c.panic)
	}
	f := finding(r, "dio-lost-wakeup")
	if f == nil {
		t.Fatalf("no dio-lost-wakeup finding; findings: %+v", r.Findings)
	}
	rt := f.RootTask
	if rt.PID != c.pid || rt.Comm != "oracle" || rt.CPU != c.cpu || rt.Task.String() != c.task ||
		rt.State != "UN" || rt.BlockedSeconds == nil || *rt.BlockedSeconds != c.blocked {
		t.Errorf("root task = %+v (blocked %v), want pid %d oracle cpu %d task %s blocked %d",
			rt, rt.BlockedSeconds, c.pid, c.cpu, c.task, c.blocked)
	}
	var e rules.DIODetails
	if err := f.DecodeDetails(&e); err != nil {
		t.Fatalf("dio-lost-wakeup details: %v", err)
	}
	if e.DIO.String() != c.dio || e.Refcount != 1 || e.Waiter.String() != c.task || e.BioList != 0 ||
		e.IsAsync != 1 || e.Result != 0xe00 || e.Size != 0x100000 || e.File != c.file || e.PartialWrite == "" {
		t.Errorf("evidence = %+v, want dio %s refcount 1 waiter %s bio_list 0 file %s", e, c.dio, c.task, c.file)
	}
	if io := e.IOCB; io == nil || io.Opcode != "PWRITE" || io.FD != 22 || io.NBytes != 0x100000 ||
		io.Offset.String() != c.offset || io.Buf.String() != c.buf || io.Copy == nil {
		t.Errorf("iocb = %+v, want PWRITE fd 22 nbytes 0x100000 offset %s buf %s from the stack copy", io, c.offset, c.buf)
	}
	if !strings.HasPrefix(e.BioSlabCheck, "25 allocated bios in 2 slabs") || f.Confidence != "high" {
		t.Errorf("bio slab check %q, confidence %q: want the check run over 25 allocated bios", e.BioSlabCheck, f.Confidence)
	}
	if !strings.Contains(f.Verdict, "fix available") || f.Bucket == "" {
		t.Errorf("verdict %q bucket %q: want a fix-available verdict and a bucket", f.Verdict, f.Bucket)
	}
	js := finding(r, "journal-stall")
	if js == nil {
		t.Fatalf("no journal-stall finding")
	}
	var jd rules.JournalDetails
	if err := js.DecodeDetails(&jd); err != nil {
		t.Fatalf("journal-stall details: %v", err)
	}
	for _, j := range []*rules.JournalDetails{&jd, e.Journal} {
		if j == nil {
			t.Fatalf("finding without journal evidence")
		}
		if j.Device != c.device || j.Mount != c.mount || j.Transaction.String() != c.tr || j.TState != "T_LOCKED" ||
			j.TUpdates != 1 || j.CommitTask == nil || j.CommitTask.PID != c.kjPID || j.CommitTask.Comm != "kjournald" ||
			j.WaitingTasks != c.waiting {
			t.Errorf("journal = %+v, want %s on %s transaction %s T_LOCKED t_updates 1 kjournald %d, %d waiting",
				j, c.device, c.mount, c.tr, c.kjPID, c.waiting)
		}
		found := false
		for _, w := range j.WaitingSample {
			found = found || (w.PID == c.samplePID && w.Comm == c.sampleComm)
		}
		if !found {
			t.Errorf("waiting sample %+v lacks %s %d", j.WaitingSample, c.sampleComm, c.samplePID)
		}
	}
	if len(jd.HandleHolders) != 1 || jd.HandleHolders[0].PID != c.pid {
		t.Errorf("handle holders = %+v, want pid %d", jd.HandleHolders, c.pid)
	}
	if len(r.HungTasks) != c.waiting+2 {
		t.Errorf("%d hung tasks, want %d (waiters + kjournald + root)", len(r.HungTasks), c.waiting+2)
	}
}

// TestNegativeVariants: the legitimate wait, a dio without waiter and a
// running task must not match dio-lost-wakeup.
func TestNegativeVariants(t *testing.T) {
	dir := seedgen.Cores(t)
	vmlinux := filepath.Join(dir, seedgen.VmlinuxName)
	tests := []struct {
		file       string
		hung       bool   // the root task is still listed among hung tasks
		waitingHas string // what the hung-task entry says it waits on
	}{
		{"rhel4-1822328-inflight.elf", true, "direct I/O in flight: dio 0x1010012b800 refcount 2, allocated bio 0x"},
		{"rhel4-1822328-nowaiter.elf", true, "no struct dio naming this task"},
		{"rhel4-1822328-running.elf", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := analyze(t, filepath.Join(dir, tt.file), vmlinux)
			if f := finding(r, "dio-lost-wakeup"); f != nil {
				t.Fatalf("unexpected dio-lost-wakeup finding: %s", f.Summary)
			}
			var root *report.HungTask
			for i := range r.HungTasks {
				if r.HungTasks[i].PID == 8960 {
					root = &r.HungTasks[i]
				}
			}
			if (root != nil) != tt.hung {
				t.Fatalf("pid 8960 among hung tasks = %v, want %v", root != nil, tt.hung)
			}
			if root != nil && !strings.Contains(root.Waiting, tt.waitingHas) {
				t.Errorf("pid 8960 waits on %q, want it to mention %q", root.Waiting, tt.waitingHas)
			}
		})
	}
}

// TestLayoutIndependence rebuilds the vmlinux from a header whose structure
// members are shuffled and padded, regenerates the cores, and expects the
// same reports: nothing in analyzer/ or rules/ may know an offset.
func TestLayoutIndependence(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the vmlinux with gcc")
	}
	for _, tool := range []string{"gcc", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := seedgen.Cores(t)
	src, err := seedgen.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	shuffled := t.TempDir()
	vm := filepath.Join(shuffled, "vmlinux-shuffled")
	if err := seedgen.BuildVmlinux(src, vm, 20080616); err != nil {
		t.Fatal(err)
	}
	if err := seedgen.Generate(shuffled, vm); err != nil {
		t.Fatal(err)
	}
	for _, o := range seedgen.Outputs() {
		t.Run(o.Name, func(t *testing.T) {
			want := normalize(t, analyze(t, filepath.Join(dir, o.Name), filepath.Join(dir, seedgen.VmlinuxName)))
			got := normalize(t, analyze(t, filepath.Join(shuffled, o.Name), filepath.Join(shuffled, seedgen.VmlinuxName)))
			if !reflect.DeepEqual(got, want) {
				gj, _ := json.MarshalIndent(got["findings"], "", " ")
				wj, _ := json.MarshalIndent(want["findings"], "", " ")
				t.Errorf("reports differ with a shuffled layout\ngot findings:  %.3000s\nwant findings: %.3000s", gj, wj)
			}
		})
	}
}

// normalize drops what legitimately differs between two builds: file names,
// build-id, and addresses of members inside objects (stack slots, user iocb
// copies and the journal's wait queues are at layout-dependent places).
func normalize(t *testing.T, r *report.Report) map[string]any {
	t.Helper()
	r.Dump = report.Dump{Format: r.Dump.Format}
	for i := range r.Findings {
		if d := r.Findings[i].Details; r.Findings[i].Rule == "dio-lost-wakeup" && d != nil {
			delete(d, "found_at")
			if io, ok := d["iocb"].(map[string]any); ok {
				delete(io, "stack_copy")
			}
		}
		r.Findings[i].Evidence = nil // rows quote the addresses of stack slots and copies
		r.Findings[i].Facts = nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
