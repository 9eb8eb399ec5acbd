package symbols

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nmSymbols returns name -> {addr, size} for the defined symbols nm -S
// reports, as ground truth.
func nmSymbols(t *testing.T, path string) map[string][2]uint64 {
	t.Helper()
	if _, err := exec.LookPath("nm"); err != nil {
		t.Skip("nm not found in PATH: skipping symbol table comparison")
	}
	out, err := exec.Command("nm", "-S", "--defined-only", path).Output()
	if err != nil {
		t.Fatalf("nm %s: %v", path, err)
	}
	syms := map[string][2]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			continue
		}
		addr, err1 := strconv.ParseUint(fs[0], 16, 64)
		size, err2 := strconv.ParseUint(fs[1], 16, 64)
		if err1 == nil && err2 == nil {
			syms[fs[3]] = [2]uint64{addr, size}
		}
	}
	return syms
}

func TestSymbols(t *testing.T) {
	needGCC(t)
	exe := executable(t, "linked")
	im := openImage(t, exe)
	nm := nmSymbols(t, exe)
	for _, name := range []string{"types_function", "main", "global_counter", "linux_banner", "init_task", "global_dio", "bss_buffer"} {
		t.Run(name, func(t *testing.T) {
			want, ok := nm[name]
			if !ok {
				t.Fatalf("nm does not list %s", name)
			}
			s, ok := im.Symbol(name)
			if !ok {
				t.Fatalf("Symbol(%q) not found", name)
			}
			if s.Addr != want[0] || s.Size != want[1] || s.Module != "" {
				t.Errorf("Symbol(%q) = %+v, nm says addr %#x size %d", name, s, want[0], want[1])
			}
			addr, err := im.Addr(name)
			if err != nil || addr != want[0] {
				t.Errorf("Addr(%q) = %#x, %v", name, addr, err)
			}
			// Every byte of a sized symbol maps back to it.
			for _, off := range []uint64{0, want[1] / 2, want[1] - 1} {
				got, goff, ok := im.Lookup(want[0] + off)
				if !ok || got.Name != name || goff != off {
					t.Errorf("Lookup(%#x) = %s+%#x, %v; want %s+%#x", want[0]+off, got.Name, goff, ok, name, off)
				}
			}
			if got, want := im.Describe(want[0]+1), fmt.Sprintf("%s+0x1", name); got != want {
				t.Errorf("Describe = %q, want %q", got, want)
			}
		})
	}
	fn, _ := im.Symbol("types_function")
	if fn.Kind != SymFunc {
		t.Errorf("types_function kind %v", fn.Kind)
	}
	if v, _ := im.Symbol("global_counter"); v.Kind != SymObject {
		t.Errorf("global_counter kind %v", v.Kind)
	}
	if got := im.Describe(fn.Addr); got != "types_function+0x0" {
		t.Errorf("Describe(start) = %q", got)
	}
	if got := im.Describe(0x10); got != "0x10" {
		t.Errorf("Describe(0x10) = %q", got)
	}
	if _, _, ok := im.Lookup(0x10); ok {
		t.Error("Lookup(0x10) found a symbol")
	}
	_, err := im.Addr("no_such_symbol")
	if err == nil || err.Error() != "symbol no_such_symbol not found in "+exe || !errors.Is(err, ErrNotFound) {
		t.Errorf("Addr(no_such_symbol) error = %v", err)
	}
	if im.Path() != exe {
		t.Errorf("Path() = %q", im.Path())
	}
}

func TestSlideAndModules(t *testing.T) {
	needGCC(t)
	im := openImage(t, executable(t, "linked"))
	fn, _ := im.Symbol("types_function")
	const slide = 0x20000000
	v := im.View(slide)
	if v.Slide() != slide {
		t.Fatalf("Slide() = %#x", v.Slide())
	}
	moved, _ := v.Symbol("types_function")
	if moved.Addr != fn.Addr+slide {
		t.Errorf("slid Symbol addr %#x, want %#x", moved.Addr, fn.Addr+slide)
	}
	mods := []Symbol{
		{Name: "ext3_direct_IO", Addr: 0xffffffffa0001000, Size: 0x200, Kind: SymFunc, Module: "ext3"},
		{Name: "ext3_unsized", Addr: 0xffffffffa0002000, Kind: SymFunc, Module: "ext3"},
		{Name: "ext3_data", Addr: 0xffffffffa0100000, Size: 16, Kind: SymObject, Module: "ext3"},
		{Name: "jbd_after_slid_text", Addr: moved.Addr + moved.Size + 0x100, Size: 0x10, Kind: SymFunc, Module: "jbd"},
	}
	v.AddModuleSymbols(mods)
	tests := []struct {
		addr uint64
		want string
	}{
		{moved.Addr + 4, "types_function+0x4"},
		{fn.Addr + 4, fmt.Sprintf("%#x", fn.Addr+4)}, // the unslid address is no longer the function
		{0xffffffffa0001010, "ext3_direct_IO+0x10 [ext3]"},
		{0xffffffffa0002004, "ext3_unsized+0x4 [ext3]"},                // unsized text: nearest lower
		{0xffffffffa0002000 + textFallbackBound, "0xffffffffa0012000"}, // too far from it
		{0xffffffffa0100008, "ext3_data+0x8 [ext3]"},
		{0xffffffffa0100010, "0xffffffffa0100010"}, // past an object's end
		{moved.Addr + moved.Size + 0x104, "jbd_after_slid_text+0x4 [jbd]"},
	}
	for _, tc := range tests {
		if got := v.Describe(tc.addr); got != tc.want {
			t.Errorf("Describe(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	s, ok := v.Symbol("ext3_direct_IO")
	if !ok || s.Module != "ext3" || s.Addr != 0xffffffffa0001000 {
		t.Errorf("Symbol(ext3_direct_IO) = %+v, %v", s, ok)
	}
	// The image itself is untouched: link-time addresses, no module symbols,
	// so another dump's view of it starts clean.
	if a, _ := im.Addr("types_function"); a != fn.Addr {
		t.Errorf("image Addr(types_function) = %#x after a view slid, want %#x", a, fn.Addr)
	}
	if _, ok := im.Symbol("ext3_direct_IO"); ok {
		t.Errorf("a view's module symbol leaked into the image")
	}
	if _, ok := im.View(0).Symbol("ext3_direct_IO"); ok {
		t.Errorf("a view's module symbol leaked into another view")
	}
	// A module symbol may not shadow a vmlinux one.
	v.AddModuleSymbols([]Symbol{{Name: "types_function", Addr: 0xffffffffa0300000, Kind: SymFunc, Module: "evil"}})
	if a, _ := v.Addr("types_function"); a != fn.Addr+slide {
		t.Errorf("Addr(types_function) = %#x after a clashing module symbol, want %#x", a, fn.Addr+slide)
	}
}

func TestReadData(t *testing.T) {
	needGCC(t)
	exe := executable(t, "linked")
	im := openImage(t, exe)
	tests := []struct {
		name    string
		want    []byte
		wantErr string
	}{
		{"linux_banner", []byte("Linux version 2.6.9-vmtriage-test (gcc) #1 SMP\n\x00"), ""},
		{"global_counter", binary.LittleEndian.AppendUint64(nil, 7), ""},
		{"global_state", binary.LittleEndian.AppendUint32(nil, 4), ""}, // T_COMMIT
		{"bss_buffer", nil, ".bss"},
		{"no_such_symbol", nil, "symbol no_such_symbol not found in " + exe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := im.ReadData(tc.name)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadData error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("ReadData = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBuildID(t *testing.T) {
	needGCC(t)
	tests := []struct {
		name  string
		flags []string
		check func(string) bool
	}{
		{"explicit", []string{"-Wl,--build-id=0x0123456789abcdef42"}, func(s string) bool { return s == "0123456789abcdef42" }},
		{"sha1", []string{"-Wl,--build-id=sha1"}, func(s string) bool {
			_, err := strconv.ParseUint(s[:16], 16, 64)
			return len(s) == 40 && err == nil
		}},
		{"none", []string{"-Wl,--build-id=none"}, func(s string) bool { return s == "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im := openImage(t, executable(t, "buildid-"+tc.name, tc.flags...))
			if id := im.BuildID(); !tc.check(id) {
				t.Errorf("BuildID() = %q", id)
			}
		})
	}
}

// TestBadInput checks that broken files give errors naming the file, and
// never panic.
func TestBadInput(t *testing.T) {
	needGCC(t)
	dir := t.TempDir()
	exe := executable(t, "linked")
	whole, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noDebug := gccBuild(t, "nodebug.o", "-c", "-O0", "-w", testdataPath(t, "types.c"))

	// An object whose .debug_info is overwritten with garbage.
	obj, err := os.ReadFile(objectFor(t, dwarfVariants[2]))
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	info := ef.Section(".debug_info")
	garbage := append([]byte(nil), obj...)
	for i := info.Offset + 11; i < info.Offset+info.Size; i++ {
		garbage[i] = byte(i*7 + 3)
	}
	// An object whose .debug_abbrev is zeroed.
	abbrev := ef.Section(".debug_abbrev")
	noAbbrev := append([]byte(nil), obj...)
	for i := abbrev.Offset; i < abbrev.Offset+abbrev.Size; i++ {
		noAbbrev[i] = 0
	}

	tests := []struct {
		name     string
		path     string
		openErr  string // "" if Open must succeed
		typesErr string // checked when Open succeeds
	}{
		{"missing", filepath.Join(dir, "does-not-exist"), "no such file", ""},
		{"empty", write("empty", nil), "not an ELF file", ""},
		{"text", write("text", []byte("this is not a vmlinux, just some text\n")), "not an ELF file", ""},
		{"elf magic only", write("magic", []byte("\x7fELF")), "malformed ELF", ""},
		{"truncated 64", write("trunc64", whole[:64]), "truncated ELF file: its", ""},
		{"truncated 1000", write("trunc1000", whole[:1000]), "truncated ELF file: its", ""},
		{"truncated half", write("trunchalf", whole[:len(whole)/2]), "truncated ELF file: its", ""},
		{"truncated end", write("truncend", whole[:len(whole)-200]), "truncated ELF file: its", ""},
		{"no DWARF", noDebug, "", "has no DWARF debug info"},
		{"garbage DWARF", write("garbage.o", garbage), "", "DWARF"},
		{"zeroed abbrev", write("noabbrev.o", noAbbrev), "", "DWARF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := Open(tc.path)
			if tc.openErr != "" {
				if err == nil {
					im.Close()
					t.Fatalf("Open succeeded")
				}
				if !strings.Contains(err.Error(), tc.openErr) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("Open error %q does not name the file and %q", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer im.Close()
			ts, err := im.Types()
			if err == nil {
				// Garbage may index; decoding must then fail cleanly.
				_, err = ts.Lookup("struct dio")
			}
			if err == nil {
				t.Fatal("no error from Types or Lookup")
			}
			if !strings.Contains(err.Error(), tc.typesErr) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file and %q", err, tc.typesErr)
			}
		})
	}
}

// TestLookupRanking checks Lookup's preferences on a synthetic table.
func TestLookupRanking(t *testing.T) {
	mk := func(name string, addr, size uint64, kind SymbolKind, text, global bool) sym {
		return sym{Name: name, Addr: addr, Size: size, Kind: kind, text: text, global: global}
	}
	table := buildTable([]sym{
		mk("__foo_alias", 0x1000, 0x100, SymFunc, true, false),
		mk("foo_label", 0x1050, 0, SymOther, true, false),
		mk("foo", 0x1000, 0x100, SymFunc, true, true),
		mk("foo_start_label", 0x1000, 0, SymOther, true, true),
		mk("bar", 0x2000, 8, SymObject, false, true),
		mk("entry_asm", 0x3000, 0, SymOther, true, true),
		mk("big_object", 0x5000, 0x1000, SymObject, false, true),
		mk("inner_object", 0x5100, 0x10, SymObject, false, true),
	}, nil)
	im := &Image{path: "synthetic", kernel: table}
	tests := []struct {
		addr uint64
		want string
	}{
		{0x0fff, "0xfff"},
		{0x1000, "foo+0x0"},        // sized global function beats alias and label
		{0x1060, "foo+0x60"},       // sized container beats a nearer label
		{0x1100, "foo_label+0xb0"}, // past foo's end: nearest lower code
		{0x2004, "bar+0x4"},        // inside an object
		{0x2008, "0x2008"},         // past an object: no fallback for data
		{0x3010, "entry_asm+0x10"}, // unsized assembler symbol
		{0x3000 + textFallbackBound, "0x13000"},
		{0x5104, "inner_object+0x4"}, // innermost sized symbol
		{0x5200, "big_object+0x200"}, // enclosing object past an inner one
	}
	for _, tc := range tests {
		if got := im.Describe(tc.addr); got != tc.want {
			t.Errorf("Describe(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if s, ok := im.Symbol("foo"); !ok || s.Addr != 0x1000 {
		t.Errorf("Symbol(foo) = %+v, %v", s, ok)
	}
}

// TestConcurrentUse exercises the locks (run with -race).
func TestConcurrentUse(t *testing.T) {
	needGCC(t)
	im := openImage(t, executable(t, "linked"))
	fn, _ := im.Symbol("types_function")
	v := im.View(0)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			ts, err := im.Types()
			if err == nil {
				for _, n := range []string{"dio", "kiocb", "transaction_t", "task_struct", "holder"} {
					var st *Type
					if st, err = ts.Struct(n); err != nil {
						break
					}
					_ = st.String()
				}
			}
			v.AddModuleSymbols([]Symbol{{Name: fmt.Sprintf("mod_sym_%d", g), Addr: 0xffffffffa0000000 + uint64(g)*0x100, Size: 0x10, Kind: SymFunc, Module: "m"}})
			if d := v.Describe(fn.Addr + 2); err == nil && d != "types_function+0x2" {
				err = fmt.Errorf("Describe = %q", d)
			}
			done <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	for g := 0; g < 8; g++ {
		if _, ok := v.Symbol(fmt.Sprintf("mod_sym_%d", g)); !ok {
			t.Errorf("mod_sym_%d lost", g)
		}
	}
}

// TestMappedSymbolsMatchDebugELF: the symbol table read straight from the
// mapped file is the one debug/elf's Symbols gives, entry for entry, on a
// GCC-built executable (and a vmlinux: VMTRIAGE_TEST_VMLINUX=PATH).
func TestMappedSymbolsMatchDebugELF(t *testing.T) {
	paths := []string{executable(t, "main")}
	if v := os.Getenv("VMTRIAGE_TEST_VMLINUX"); v != "" {
		paths = append(paths, v)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			im := openImage(t, path)
			defer im.Close()
			fast, release, ok, err := im.mappedSymbols()
			if ok && err == nil {
				defer release()
			}
			if err != nil || !ok {
				t.Fatalf("mappedSymbols: ok %v, %v", ok, err)
			}
			esyms, err := im.file.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			var slow []sym
			for _, es := range esyms {
				if s, ok := im.classify(es.Name, es.Info, es.Section, es.Value, es.Size); ok {
					slow = append(slow, s)
				}
			}
			if len(fast) != len(slow) || len(fast) == 0 {
				t.Fatalf("%d symbols from the mapping, %d from debug/elf", len(fast), len(slow))
			}
			sortSyms(slow) // mappedSymbols sorts as it builds
			if !isSorted(fast) {
				t.Error("mappedSymbols' table is not sorted")
			}
			for i := range fast {
				if fast[i] != slow[i] {
					t.Fatalf("symbol %d: %+v from the mapping, %+v from debug/elf", i, fast[i], slow[i])
				}
			}
		})
	}
}
