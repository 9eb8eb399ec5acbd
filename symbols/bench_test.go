package symbols

import (
	"debug/dwarf"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// labVmlinuxes returns the vmlinux of every kernel line of the lab cache
// (testdata/realkernel/lab.sh), none when there is no cache.
func labVmlinuxes() map[string]string {
	out := map[string]string{}
	for _, l := range labcache.Lines() {
		out[l.Name] = l.Vmlinux()
	}
	return out
}

// eachLabVmlinux runs check as a subtest on every lab vmlinux, and skips
// the test when there is no lab cache.
func eachLabVmlinux(t *testing.T, check func(t *testing.T, path string)) {
	t.Helper()
	vmlinuxes := labVmlinuxes()
	if len(vmlinuxes) == 0 {
		t.Skip("no lab cache (testdata/realkernel/lab.sh)")
	}
	for name, path := range vmlinuxes {
		t.Run(name, func(t *testing.T) { check(t, path) })
	}
}

// emptyTypes returns Types over im's DWARF with an empty index.
func emptyTypes(tb testing.TB, im *Image) *Types {
	tb.Helper()
	data, err := im.dwarfData()
	if err != nil {
		tb.Fatal(err)
	}
	return &Types{path: im.path, data: data, order: im.file.ByteOrder, addrSize: 8,
		index: map[string]dwarf.Offset{}, consts: map[string]int64{}, vars: map[string]dwarf.Offset{},
		gcache: map[dwarf.Offset]*unitCache{}, stubs: map[string]*Type{}, byOff: map[dwarf.Offset]*Type{},
		conv: map[godwarf.Type]*Type{}, ptrs: map[*Type]*Type{}, void: &Type{Kind: Void, Name: "void"}}
}

// checkFastIndex builds the type index of path both ways and compares them.
func checkFastIndex(t *testing.T, path string) {
	im := openImage(t, path)
	fast, serial := emptyTypes(t, im), emptyTypes(t, im)
	if err := fast.indexFast(im); err != nil {
		t.Fatalf("indexFast: %v", err)
	}
	if err := serial.buildIndex(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"index", fast.index, serial.index},
		{"consts", fast.consts, serial.consts},
		{"vars", fast.vars, serial.vars},
		{"namedOffs", fast.namedOffs, serial.namedOffs},
		{"cuOffs", fast.cuOffs, serial.cuOffs},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: fast index differs from the serial one (%d vs %d entries)", c.what,
				reflect.ValueOf(c.got).Len(), reflect.ValueOf(c.want).Len())
		}
	}
	t.Logf("%s: %d types, %d enumerators, %d variables, %d units", path, len(fast.index), len(fast.consts), len(fast.vars), len(fast.cuOffs))
}

// TestFastIndexMatchesSerial checks that the parallel index (indexFast)
// equals the Reader-based one (buildIndex) entry for entry, on executables
// of every DWARF version and on the lab's 6.1 and 7.2 vmlinux when present
// (skipped with -short; VMTRIAGE_INDEX_ALL=1: every line's, 35 s).
func TestFastIndexMatchesSerial(t *testing.T) {
	needGCC(t)
	for _, v := range dwarfVariants {
		t.Run(v.name, func(t *testing.T) {
			checkFastIndex(t, executable(t, "index-"+v.name, v.flags...))
		})
	}
	if testing.Short() {
		return
	}
	for line, path := range labVmlinuxes() {
		if line != "6.1-amd64" && line != "7.2-amd64" && os.Getenv("VMTRIAGE_INDEX_ALL") == "" {
			continue
		}
		t.Run(line, func(t *testing.T) { checkFastIndex(t, path) })
	}
}

// benchVmlinux is the 6.1 vmlinux of the lab, else the test executable.
func benchVmlinux(b *testing.B) string {
	if p, ok := labVmlinuxes()["6.1-amd64"]; ok {
		return p
	}
	needGCC(b)
	return executable(b, "index-dwarf5", "-gdwarf-5")
}

// BenchmarkTypeIndex builds the DWARF type-name index, the cold DWARF
// path's main cost: fast (parallel, lean) and serial (debug/dwarf Reader).
func BenchmarkTypeIndex(b *testing.B) {
	path := benchVmlinux(b)
	im := openImage(b, path)
	if _, err := im.dwarfData(); err != nil {
		b.Skip(err)
	}
	for _, mode := range []string{"fast", "serial"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				ts := emptyTypes(b, im)
				var err error
				if mode == "fast" {
					err = ts.indexFast(im)
				} else {
					err = ts.buildIndex()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenDWARF measures debug/dwarf.New over the mapped sections (its
// parseAbbrev of every unit's table).
func BenchmarkOpenDWARF(b *testing.B) {
	path := benchVmlinux(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		im, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := im.DWARF(); err != nil {
			b.Fatal(err)
		}
		im.Close()
	}
}

// BenchmarkOpenSymbols measures Open: the ELF headers and the symbol table.
func BenchmarkOpenSymbols(b *testing.B) {
	path := benchVmlinux(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		im, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		im.Close()
	}
}

var lookupNames = []string{"struct task_struct", "struct dio", "struct bio", "transaction_t",
	"struct rq", "unsigned long", "struct list_head", "struct inode", "struct page *"}

// BenchmarkLookup measures type lookups from BTF and from DWARF: "first"
// is a lookup on fresh Types (decoding), "cached" a repeated one.
func BenchmarkLookup(b *testing.B) {
	path := benchVmlinux(b)
	b.Setenv("VMTRIAGE_CACHE", b.TempDir())
	im := openImage(b, path)
	sources := map[string]func() (TypeSource, error){
		"dwarf": func() (TypeSource, error) { return im.Types() },
		"btf":   func() (TypeSource, error) { return im.BTF() },
	}
	for _, src := range []string{"btf", "dwarf"} {
		ts, err := sources[src]()
		if err != nil {
			b.Logf("%s: %v", src, err)
			continue
		}
		found := []string{}
		for _, n := range lookupNames {
			if _, err := ts.Lookup(n); err == nil {
				found = append(found, n)
			}
		}
		if len(found) == 0 {
			continue
		}
		b.Run(src+"/cached", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := ts.Lookup(found[i%len(found)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("dwarf/first", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			jm, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			ts, err := jm.Types() // from the on-disk index cache after the first
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := ts.Lookup("struct task_struct"); err != nil {
				b.Skip(err)
			}
			b.StopTimer()
			jm.Close()
			b.StartTimer()
		}
	})
}

// TestIndexCacheRoundTrip checks that the on-disk index (cache.go) gives
// back the index it was written from, and that a damaged file is rebuilt.
func TestIndexCacheRoundTrip(t *testing.T) {
	needGCC(t)
	dir := t.TempDir()
	t.Setenv("VMTRIAGE_CACHE", dir)
	path := executable(t, "index-cache", "-gdwarf-5", "-Wl,--build-id")
	im := openImage(t, path)
	if im.buildID == "" {
		t.Skip("no build-id")
	}
	built, err := im.Types()
	if err != nil {
		t.Fatal(err)
	}
	file := cacheFile(im.buildID)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no cache file: %v", err)
	}
	check := func(what string) {
		t.Helper()
		loaded := emptyTypes(t, im)
		if !loaded.loadIndex(im.buildID) {
			t.Fatalf("%s: cache not loaded", what)
		}
		if !reflect.DeepEqual(loaded.index, built.index) || !reflect.DeepEqual(loaded.consts, built.consts) ||
			!reflect.DeepEqual(loaded.vars, built.vars) || !reflect.DeepEqual(loaded.namedOffs, built.namedOffs) ||
			!reflect.DeepEqual(loaded.cuOffs, built.cuOffs) {
			t.Errorf("%s: cached index differs from the built one", what)
		}
	}
	check("first")
	b, _ := os.ReadFile(file)
	for _, bad := range [][]byte{b[:len(b)/2], append(append([]byte{}, b...), 0), []byte("junk")} {
		os.WriteFile(file, bad, 0o644)
		if emptyTypes(t, im).loadIndex(im.buildID) {
			t.Errorf("a damaged cache file (%d bytes) was loaded", len(bad))
		}
		jm := openImage(t, path)
		if _, err := jm.Types(); err != nil {
			t.Fatal(err)
		}
		check("rewritten")
	}
}

// TestUnitTypesMatchWholeDWARF decodes every named struct and union of
// executables of every DWARF version (and the lab's 6.1 vmlinux, unless
// -short) twice: through a dwarf.Data per unit (the default on a mapped
// image) and through one over the whole section (VMTRIAGE_TYPEINDEX=serial
// forces it), and compares them field by field.
func TestUnitTypesMatchWholeDWARF(t *testing.T) {
	needGCC(t)
	paths := map[string]string{}
	for _, v := range dwarfVariants {
		paths[v.name] = executable(t, "units-"+v.name, v.flags...)
	}
	if p, ok := labVmlinuxes()["6.1-amd64"]; ok && !testing.Short() {
		paths["6.1-amd64"] = p
	}
	t.Setenv("VMTRIAGE_CACHE", t.TempDir())
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			t.Setenv("VMTRIAGE_TYPEINDEX", "")
			byUnit := openTypes(t, path)
			if byUnit.units == nil {
				t.Fatal("the mapped image's types do not decode by unit")
			}
			t.Setenv("VMTRIAGE_TYPEINDEX", "serial")
			t.Setenv("VMTRIAGE_CACHE", t.TempDir())
			whole := openTypes(t, path)
			if whole.units != nil {
				t.Fatal("VMTRIAGE_TYPEINDEX=serial still decodes by unit")
			}
			var names []string
			for k := range byUnit.index {
				if strings.HasPrefix(k, "struct ") || strings.HasPrefix(k, "union ") {
					names = append(names, k)
				}
			}
			sort.Strings(names)
			if len(names) > 800 { // a vmlinux: an even sample
				step := len(names) / 800
				var s []string
				for i := 0; i < len(names); i += step {
					s = append(s, names[i])
				}
				names = s
			}
			for _, n := range names {
				a, errA := byUnit.Lookup(n)
				b, errB := whole.Lookup(n)
				if (errA == nil) != (errB == nil) {
					t.Fatalf("%s: by unit %v, whole %v", n, errA, errB)
				}
				if errA != nil {
					continue
				}
				if d := CompareTypes(a, b); len(d) > 0 {
					t.Errorf("%s: %v", n, d)
				}
			}
			t.Logf("%d types compared", len(names))
		})
	}
}
