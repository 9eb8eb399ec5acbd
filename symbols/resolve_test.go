package symbols

import (
	"path/filepath"
	"sync"
	"testing"
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
