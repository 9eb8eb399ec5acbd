package debuginfo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmtriage/vmtriage/rules/batch"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/debuginfo"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// fixture is the committed vmlinux and small seed cores made from it.
type fixture struct {
	vmlinux, buildID, banner string
	elf, kdump, withInfo     string // ELF without notes, kdump (utsname), ELF with VMCOREINFO BUILD-ID
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func fixtures(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = makeFixtures() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func makeFixtures() (fixture, error) {
	var f fixture
	src, err := seedgen.SourceDir()
	if err != nil {
		return f, err
	}
	dir, err := os.MkdirTemp("", "vmtriage-debuginfo-")
	if err != nil {
		return f, err
	}
	f.vmlinux = filepath.Join(src, seedgen.VmlinuxName)
	im, err := symbols.Open(f.vmlinux)
	if err != nil {
		return f, err
	}
	defer im.Close()
	f.buildID = im.BuildID()
	if f.banner, err = debuginfo.Banner(f.vmlinux); err != nil {
		return f, err
	}
	f.elf, f.kdump, f.withInfo = filepath.Join(dir, "core.elf"), filepath.Join(dir, "core.kdump"), filepath.Join(dir, "vmcoreinfo.elf")
	if err := seedgen.WriteDump(f.elf, im, "rhel4-20080616", seedgen.Positive, "elf"); err != nil {
		return f, err
	}
	if err := seedgen.WriteDump(f.kdump, im, "rhel4-20080616", seedgen.Positive, "kdump"); err != nil {
		return f, err
	}
	mem, meta, err := seedgen.Build(im, "rhel4-20080616", seedgen.Positive)
	if err != nil {
		return f, err
	}
	meta.VMCoreInfo = "OSRELEASE=not-in-any-debug-dir\nBUILD-ID=" + f.buildID + "\nPAGESIZE=4096\n"
	var buf bytes.Buffer
	if err := dumpwrite.WriteELF(&buf, mem, meta); err != nil {
		return f, err
	}
	return f, os.WriteFile(f.withInfo, buf.Bytes(), 0o644)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.elf != "" {
		os.RemoveAll(filepath.Dir(fix.elf))
	}
	os.Exit(code)
}

func openDump(t *testing.T, path string) *vmcore.Dump {
	t.Helper()
	d, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestIdentify: build-id and release from VMCOREINFO, release from the
// kdump header, release and banner from the memory of a bare ELF core.
func TestIdentify(t *testing.T) {
	f := fixtures(t)
	tests := []struct {
		name, dump, buildID, release, source string
		scan                                 int64
	}{
		{"vmcoreinfo", f.withInfo, f.buildID, "not-in-any-debug-dir", "vmcoreinfo", debuginfo.DefaultScanLimit},
		{"kdump utsname", f.kdump, "", seedgen.Release, "utsname", debuginfo.DefaultScanLimit},
		{"elf banner", f.elf, "", seedgen.Release, "banner", debuginfo.DefaultScanLimit},
		{"elf, scan disabled", f.elf, "", "", "", 0},
		{"elf, scan shorter than the banner", f.elf, "", "", "", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := debuginfo.Identify(openDump(t, tt.dump), tt.scan)
			if id.BuildID != tt.buildID || id.Release != tt.release || id.Source != tt.source {
				t.Errorf("Identify = %+v, want build-id %q release %q from %q", id, tt.buildID, tt.release, tt.source)
			}
			if tt.source == "banner" && id.Banner != f.banner {
				t.Errorf("banner %q, want the vmlinux's %q", id.Banner, f.banner)
			}
		})
	}
}

// TestFinder: each debug-directory layout, the banner index, the fallback
// and the error when nothing matches.
func TestFinder(t *testing.T) {
	f := fixtures(t)
	vm, err := os.ReadFile(f.vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	place := func(t *testing.T, sub, rel string, data []byte) string {
		dir := filepath.Join(t.TempDir(), sub)
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// A separate debuginfo file: DWARF and build-id, no data (no banner).
	var debugOnly []byte
	dbgPath := filepath.Join(t.TempDir(), "vmlinux.debug")
	dbgErr := exec.Command("objcopy", "--only-keep-debug", f.vmlinux, dbgPath).Run()
	if dbgErr == nil {
		debugOnly, dbgErr = os.ReadFile(dbgPath)
	}
	bid := f.buildID
	tests := []struct {
		name     string
		rel      string // where the vmlinux is placed in the debug dir ("" none)
		dump     string
		fallback string
		how      string // "" = expect ErrNotFound
		sub      string // the debug dir's own name, under a temporary directory
		data     []byte // the file placed at rel; the vmlinux when nil
		errHas   string // for ErrNotFound: also in the error
	}{
		{"build-id", ".build-id/" + bid[:2] + "/" + bid[2:] + ".debug", f.withInfo, "", "build-id", "", nil, ""},
		{"build-id under usr/lib/debug", "usr/lib/debug/.build-id/" + bid[:2] + "/" + bid[2:] + ".debug", f.withInfo, "", "build-id", "", nil, ""},
		{"release, Debian layout", "usr/lib/debug/boot/vmlinux-" + seedgen.Release, f.kdump, "", "release", "", nil, ""},
		{"release, Fedora layout", "usr/lib/debug/lib/modules/" + seedgen.Release + "/vmlinux", f.kdump, "", "release", "", nil, ""},
		{"release from the banner", "boot/vmlinux-" + seedgen.Release, f.elf, "", "release", "", nil, ""},
		{"banner only, odd name", "vmlinux.customer-42", f.elf, "", "banner", "", nil, ""},
		{"nothing matches: fallback", "unrelated/file", f.kdump, f.vmlinux, "fallback", "", nil, ""},
		{"nothing matches", "unrelated/file", f.withInfo, "", "", "", nil, ""},
		// The debug dir's name is not a pattern.
		{"banner only, debug dir named like a pattern", "vmlinux.customer-42", f.elf, "", "banner", "debug[1]*", nil, ""},
		// A vmlinux* that cannot be read is named when nothing matches.
		{"nothing matches, unreadable vmlinux named", "boot/vmlinux-broken", f.withInfo, "", "", "", []byte("not an ELF file"), "boot/vmlinux-broken"},
		// Found by its build-id though its banner cannot be read.
		{"separate debuginfo by build-id, plain name", "vmlinux-" + seedgen.Release + ".debug", f.withInfo, "", "build-id", "", debugOnly, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if data == nil && strings.HasSuffix(tt.rel, ".debug") && !strings.Contains(tt.rel, ".build-id") { // debugOnly, not made
				t.Skipf("objcopy --only-keep-debug: %v", dbgErr)
			}
			if data == nil {
				data = vm
			}
			fd := &debuginfo.Finder{DebugDirs: []string{place(t, tt.sub, tt.rel, data)}, Fallback: tt.fallback}
			found, err := fd.Find(context.Background(), openDump(t, tt.dump))
			if tt.how == "" {
				if !errors.Is(err, debuginfo.ErrNotFound) || !strings.Contains(err.Error(), bid) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Find = %+v, %v; want ErrNotFound naming the build-id and %q", found, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found.How != tt.how {
				t.Errorf("found %s by %s, want by %s", found.Path, found.How, tt.how)
			}
			if tt.data != nil {
				if !strings.HasSuffix(found.Path, tt.rel) {
					t.Errorf("found %s, want %s", found.Path, tt.rel)
				}
				return
			}
			if b, err := debuginfo.Banner(found.Path); err != nil || b != f.banner {
				t.Errorf("found %s with banner %q (%v)", found.Path, b, err)
			}
		})
	}
}

// TestClientHTTP: the protocol against a fake server: the URL, the
// second server when the first has nothing, a wrong file refused, one
// download for concurrent requests, and the cache afterwards.
func TestClientHTTP(t *testing.T) {
	f := fixtures(t)
	vm, err := os.ReadFile(f.vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/buildid/"+f.buildID+"/debuginfo" {
			http.NotFound(w, r)
			return
		}
		time.Sleep(20 * time.Millisecond)
		w.Write(vm)
	}))
	defer good.Close()
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("\x7fELF not really")) }))
	defer liar.Close()

	tests := []struct {
		name    string
		urls    []string
		buildID string
		errHave string
	}{
		{"first server has it", []string{good.URL}, f.buildID, ""},
		{"second server has it", []string{empty.URL, good.URL + "/"}, f.buildID, ""},
		{"not found anywhere", []string{empty.URL}, f.buildID, "404"},
		{"wrong file", []string{liar.URL}, f.buildID, "malformed ELF"},
		{"bad build-id", []string{good.URL}, "xyz", "invalid build-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &debuginfo.Client{URLs: tt.urls, CacheDir: t.TempDir()}
			p, err := c.Fetch(context.Background(), tt.buildID)
			if tt.errHave != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHave) {
					t.Fatalf("Fetch = %q, %v; want an error with %q", p, err, tt.errHave)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, vm) {
				t.Errorf("%s differs from the vmlinux", p)
			}
		})
	}

	t.Run("concurrent fetches download once, then the cache serves", func(t *testing.T) {
		hits.Store(0)
		c := &debuginfo.Client{URLs: []string{good.URL}, CacheDir: t.TempDir()}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Fetch(context.Background(), f.buildID); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if _, err := c.Fetch(context.Background(), f.buildID); err != nil {
			t.Fatal(err)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

// TestDebuginfodServer serves the seed vmlinux with elfutils' debuginfod
// on loopback, fetches it by build-id, and triages a dump whose
// VMCOREINFO names only that build-id, with no --vmlinux at all.
func TestDebuginfodServer(t *testing.T) {
	bin, err := exec.LookPath("debuginfod")
	if err != nil {
		t.Skip("debuginfod is not installed (Debian: apt-get install debuginfod; .ci/run installs it): skipping the test against a real server")
	}
	f := fixtures(t)
	srvDir := t.TempDir()
	vm, _ := os.ReadFile(f.vmlinux)
	if err := os.WriteFile(filepath.Join(srvDir, "vmlinux-served"), vm, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var log bytes.Buffer
	srv := exec.Command(bin, "-F", srvDir, "-p", fmt.Sprint(port), "-d", filepath.Join(t.TempDir(), "db.sqlite"), "-t", "1", "-g", "0")
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)

	// wait until the server has indexed the directory
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/buildid/" + f.buildID + "/debuginfo")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("debuginfod did not serve build-id %s within 30 s (last: %v); its log:\n%s", f.buildID, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	cache := t.TempDir()
	c := &debuginfo.Client{URLs: []string{url}, CacheDir: cache}
	p, err := c.Fetch(context.Background(), f.buildID)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, f.buildID, "debuginfo"); p != want {
		t.Errorf("cached at %s, want %s (elfutils' layout)", p, want)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, vm) {
		t.Errorf("debuginfod served a different file")
	}
	if _, err := c.Fetch(context.Background(), strings.Repeat("ab", 20)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown build-id: %v, want a 404", err)
	}

	t.Setenv("DEBUGINFOD_URLS", "http://127.0.0.1:1 "+url) // the first server is down
	t.Setenv("DEBUGINFOD_CACHE_PATH", t.TempDir())
	fd := &debuginfo.Finder{Client: debuginfo.NewClientFromEnv()}
	rec := batch.AnalyzeOne(context.Background(), f.withInfo, batch.Info{}, fd, "test")
	if rec.Failed() {
		t.Fatalf("triage through debuginfod: %s", rec.Error)
	}
	if rec.Batch.Vmlinux != "debuginfod" || rec.Dump.BuildID != f.buildID {
		t.Errorf("vmlinux found by %q with build-id %q, want debuginfod and %s", rec.Batch.Vmlinux, rec.Dump.BuildID, f.buildID)
	}
	dio := false
	for _, fi := range rec.Findings {
		dio = dio || fi.Rule == "dio-lost-wakeup"
	}
	if !dio {
		t.Errorf("no dio-lost-wakeup finding through debuginfod: %+v", rec.Findings)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
