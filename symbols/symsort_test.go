package symbols

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// compareSyms is the order sortSyms makes, as one comparison.
func compareSyms(a, b sym) int {
	return cmp.Or(cmp.Compare(a.Addr, b.Addr), compareTies(&a, &b))
}

// TestSortSyms checks the radix sort against a comparison sort, on tables
// with many aliases, per-CPU-like low addresses and every digit varying.
func TestSortSyms(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		n     int
		addrs func() uint64
	}{
		{0, nil},
		{1, func() uint64 { return 5 }},
		{2, func() uint64 { return 0xffffffff81000000 }},
		{1000, func() uint64 { return 0xffffffff81000000 + uint64(r.IntN(300))*16 }},
		{5000, func() uint64 {
			if r.IntN(10) == 0 {
				return uint64(r.IntN(0x40000)) // per-CPU
			}
			return 0xffffffff81000000 + uint64(r.IntN(1<<26))
		}},
		{3000, func() uint64 { return r.Uint64() }},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			syms := make([]sym, tc.n)
			for i := range syms {
				syms[i] = sym{Name: fmt.Sprintf("%s%d", []string{"", "_", "__"}[r.IntN(3)], r.IntN(50)),
					Addr: tc.addrs(), Size: uint64(r.IntN(3)) * 8, Kind: SymbolKind(r.IntN(3)),
					text: r.IntN(2) == 0, global: r.IntN(2) == 0, shndx: 0, module: uint16(r.IntN(3))}
			}
			want := slices.Clone(syms)
			slices.SortStableFunc(want, compareSyms)
			sortSyms(syms)
			for i := range syms {
				if compareSyms(syms[i], want[i]) != 0 {
					t.Fatalf("entry %d: got %+v, want %+v", i, syms[i], want[i])
				}
			}
		})
	}
}

// TestSortSymsLab checks the table mappedSymbols builds for each lab
// vmlinux, and sortSyms on it shuffled, against a comparison sort.
func TestSortSymsLab(t *testing.T) {
	eachLabVmlinux(t, func(t *testing.T, path string) {
		im := openImage(t, path)
		syms, release, ok, err := im.mappedSymbols()
		if ok && err == nil {
			defer release()
		}
		if !ok || err != nil {
			t.Fatalf("mappedSymbols: ok %v, %v", ok, err)
		}
		want := slices.Clone(syms)
		slices.SortStableFunc(want, compareSyms)
		for i := range syms {
			if compareSyms(syms[i], want[i]) != 0 {
				t.Fatalf("mappedSymbols: entry %d: got %+v, want %+v", i, syms[i], want[i])
			}
		}
		r := rand.New(rand.NewPCG(3, 4))
		r.Shuffle(len(syms), func(i, j int) { syms[i], syms[j] = syms[j], syms[i] })
		sortSyms(syms)
		for i := range syms {
			if compareSyms(syms[i], want[i]) != 0 {
				t.Fatalf("sortSyms: entry %d: got %+v, want %+v", i, syms[i], want[i])
			}
		}
		if len(syms) < 50000 {
			t.Errorf("%d symbols: a kernel has over 100k", len(syms))
		}
	})
}

// TestOpenCloseCollect: an image opened, closed and dropped at once (as
// the debug-directory search does with every vmlinux it meets) may be
// collected while its name index is still being built; the off-heap table
// the index reads must outlive it (it is released with the index).
func TestOpenCloseCollect(t *testing.T) {
	eachLabVmlinux(t, func(t *testing.T, path string) {
		for range 10 {
			im, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			im.Close()
			runtime.GC() // the image is gone, its name index perhaps not built
		}
		runtime.GC()
	})
}
