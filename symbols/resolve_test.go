package symbols

import (
	"debug/dwarf"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
)

// seedVmlinux is the synthetic RHEL 4 kernel of the seed fixtures (DWARF 2,
// one compilation unit), committed in testdata/kernel/rhel4.
func seedVmlinux(tb testing.TB) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testdata", "kernel", "rhel4", "vmlinux-2.6.9-67.0.4.ELlargesmp"))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// pointerCases are pointer members of the seed kernel's structures, the
// struct each points to and a member of that struct read after Resolve.
var pointerCases = []struct {
	from, ptr, target, member string
}{
	{"dio", "waiter", "task_struct", "pid"},
	{"dio", "iocb", "kiocb", "ki_filp"},
	{"dio", "bio_list", "bio", "bi_private"},
	{"dio", "inode", "inode", "i_sb"},
	{"kiocb", "ki_filp", "file", "f_dentry"},
	{"kiocb", "ki_obj.tsk", "task_struct", "comm"},
	{"transaction_s", "t_journal", "journal_s", "j_running_transaction"},
	{"journal_s", "j_task", "task_struct", "state"},
	{"journal_s", "j_running_transaction", "transaction_s", "t_updates"},
	{"handle_s", "h_transaction", "transaction_s", "t_state"},
	{"file", "f_dentry", "dentry", "d_inode"},
}

// TestSharedTypesConcurrentResolve resolves pointer targets (lazily
// decoded stubs) from many goroutines through two images sharing one
// type set, as a batch's workers do for dumps of one kernel (run with
// -race). Each resolved target must be the shared definition node, with
// the size and member offset an independently decoded type set gives.
func TestSharedTypesConcurrentResolve(t *testing.T) {
	path := seedVmlinux(t)
	// Expected layouts from a type set of its own.
	ref := openTypes(t, path)
	type want struct {
		size, off uint64
	}
	wants := make([]want, len(pointerCases))
	for i, c := range pointerCases {
		st, err := ref.Struct(c.target)
		if err != nil {
			t.Fatal(err)
		}
		off, err := st.Offset(c.member)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size == 0 || (off == 0 && c.member != "state") {
			t.Fatalf("reference %s: size %d, %s at %d", c.target, st.Size, c.member, off)
		}
		wants[i] = want{st.Size, off}
	}
	// Each round starts from undecoded types: the race is on the first
	// resolutions.
	for round := 0; round < 8 && !t.Failed(); round++ {
		concurrentResolveRound(t, path, func(i int) (uint64, uint64) { return wants[i].size, wants[i].off })
	}
}

func concurrentResolveRound(t *testing.T, path string, want func(i int) (size, off uint64)) {
	donor := openImage(t, path)
	shared := openImage(t, path)
	if err := shared.ShareTypes(donor); err != nil {
		t.Fatal(err)
	}
	const workers = 16
	start := make(chan struct{})
	var wg sync.WaitGroup
	resolved := make([][]*Type, workers)
	errs := make(chan error, workers*len(pointerCases))
	for g := 0; g < workers; g++ {
		resolved[g] = make([]*Type, len(pointerCases))
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			im := donor
			if g%2 == 1 {
				im = shared
			}
			ts, err := im.Types()
			if err != nil {
				errs <- err
				return
			}
			<-start
			for k := range pointerCases {
				i := (k + g) % len(pointerCases) // workers start on different cases
				c := pointerCases[i]
				st, err := ts.Struct(c.from)
				if err != nil {
					errs <- err
					continue
				}
				f, err := st.Field(c.ptr)
				if err != nil {
					errs <- err
					continue
				}
				if f.Type.Kind != Pointer {
					t.Errorf("%s.%s is %v, want a pointer", c.from, c.ptr, f.Type.Kind)
					continue
				}
				target := f.Type.Elem.Resolve()
				resolved[g][i] = target
				if target.Kind != Struct || target.Name != c.target || target.Incomplete {
					t.Errorf("%s.%s -> %s (kind %v, incomplete %v), want struct %s", c.from, c.ptr, target, target.Kind, target.Incomplete, c.target)
					continue
				}
				wantSize, wantOff := want(i)
				if target.Size != wantSize {
					t.Errorf("%s.%s -> struct %s of size %d, want %d", c.from, c.ptr, c.target, target.Size, wantSize)
				}
				m, err := target.Field(c.member)
				if err != nil {
					errs <- err
					continue
				}
				if m.Offset != wantOff {
					t.Errorf("%s.%s -> %s.%s at %d, want %d", c.from, c.ptr, c.target, c.member, m.Offset, wantOff)
				}
				// The pointer type itself must read the same after Resolve.
				if f.Type.Size != 8 || f.Type.Elem == nil {
					t.Errorf("%s.%s: pointer size %d, elem %v", c.from, c.ptr, f.Type.Size, f.Type.Elem)
				}
			}
		}(g)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ts, err := shared.Types()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range pointerCases {
		def, err := ts.Struct(c.target)
		if err != nil {
			t.Fatal(err)
		}
		for g := 0; g < workers; g++ {
			if resolved[g][i] != nil && resolved[g][i] != def {
				t.Errorf("worker %d: %s.%s resolved to node %p, not the shared struct %s %p", g, c.from, c.ptr, resolved[g][i], c.target, def)
			}
		}
	}
}

// BenchmarkResolveCold opens the seed vmlinux (index from the cache) and
// resolves every pointer target of pointerCases once: stub creation and
// lazy decoding.
func BenchmarkResolveCold(b *testing.B) {
	path := seedVmlinux(b)
	for b.Loop() {
		im, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		ts, err := im.Types()
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range pointerCases {
			st, err := ts.Struct(c.from)
			if err != nil {
				b.Fatal(err)
			}
			f, err := st.Field(c.ptr)
			if err != nil {
				b.Fatal(err)
			}
			if f.Type.Elem.Resolve().Size == 0 {
				b.Fatalf("%s.%s: empty target", c.from, c.ptr)
			}
		}
		im.Close()
	}
}

// BenchmarkResolveWarm resolves pointer targets already decoded: the cost
// every field access through a pointer pays.
func BenchmarkResolveWarm(b *testing.B) {
	ts := openTypes(b, seedVmlinux(b))
	var ptrs []*Type
	for _, c := range pointerCases {
		st, err := ts.Struct(c.from)
		if err != nil {
			b.Fatal(err)
		}
		f, err := st.Field(c.ptr)
		if err != nil {
			b.Fatal(err)
		}
		ptrs = append(ptrs, f.Type)
	}
	for _, p := range ptrs {
		p.Elem.Resolve()
	}
	b.ResetTimer()
	for b.Loop() {
		for _, p := range ptrs {
			if p.Elem.Resolve().Size == 0 {
				b.Fatal("empty target")
			}
		}
	}
}

// TestStandInWithoutDefinition: a pointer target whose definition cannot
// be found or decoded stays an incomplete stand-in, and Field says why.
func TestStandInWithoutDefinition(t *testing.T) {
	tests := []struct {
		name     string
		index    map[string]dwarf.Offset
		notFound bool   // the error matches ErrNotFound
		want     string // in Field's error
	}{
		{"declared nowhere", map[string]dwarf.Offset{}, true,
			`struct nowhere has no field "x": struct nowhere has no usable definition: type struct nowhere not found in vmlinux`},
		{"undecodable", map[string]dwarf.Offset{"struct nowhere": 0x10}, false,
			`struct nowhere has no usable definition: symbols: vmlinux: malformed DWARF type at offset 0x10`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &Types{path: "vmlinux", index: tc.index, stubs: map[string]*Type{}, byOff: map[dwarf.Offset]*Type{},
				gcache: map[dwarf.Offset]*unitCache{}, conv: map[godwarf.Type]*Type{}}
			stand := ts.stub(&godwarf.StructType{StructName: "nowhere", Kind: "struct"})
			ptr := &Type{Kind: Pointer, Size: 8, Elem: stand}
			got := ptr.Elem.Resolve()
			if got != stand || !got.Incomplete || got.Kind != Struct || got.Name != "nowhere" {
				t.Fatalf("Resolve = %+v, want the incomplete stand-in", got)
			}
			if again := ptr.Elem.Resolve(); again != stand {
				t.Errorf("second Resolve = %p, want the stand-in %p", again, stand)
			}
			_, err := got.Field("x")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Field error %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, !tc.notFound, tc.notFound)
			}
		})
	}
}
