package offheap

import (
	"runtime"
	"testing"
)

type pair struct {
	a uint64
	b uint32
}

// TestSlice: small and large requests give zeroed, writable slices of the
// length asked for, which survive garbage collections until released.
func TestSlice(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 200_000, 1 << 20} {
		s, free := Slice[pair](n)
		if len(s) != n {
			t.Fatalf("Slice(%d): length %d", n, len(s))
		}
		for i := range s {
			if s[i] != (pair{}) {
				t.Fatalf("Slice(%d)[%d] = %+v, not zero", n, i, s[i])
			}
			s[i] = pair{uint64(i), uint32(i)}
		}
		runtime.GC()
		for i := range s {
			if s[i].a != uint64(i) || s[i].b != uint32(i) {
				t.Fatalf("Slice(%d)[%d] = %+v after a GC", n, i, s[i])
			}
		}
		free()
	}
}
