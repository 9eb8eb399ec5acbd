package vmcore

import (
	"reflect"
	"testing"
)

func TestDisjointSegments(t *testing.T) {
	seg := func(pa, size, off, fsize uint64) Segment {
		return Segment{Paddr: pa, MemSize: size, FileOff: off, FileSize: fsize}
	}
	tests := []struct {
		name string
		in   []Segment
		want []Segment
	}{
		{"disjoint", []Segment{seg(0x2000, 0x1000, 0x100, 0x1000), seg(0, 0x1000, 0x2000, 0x1000)},
			[]Segment{seg(0, 0x1000, 0x2000, 0x1000), seg(0x2000, 0x1000, 0x100, 0x1000)}},
		{"alias inside", []Segment{seg(0, 0x10000, 0x1000, 0x10000), seg(0x4000, 0x1000, 0x90000, 0x1000)},
			[]Segment{seg(0, 0x10000, 0x1000, 0x10000)}},
		{"partial overlap keeps the tail", []Segment{seg(0, 0x3000, 0x1000, 0x3000), seg(0x2000, 0x2000, 0x8000, 0x2000)},
			[]Segment{seg(0, 0x3000, 0x1000, 0x3000), seg(0x3000, 0x1000, 0x9000, 0x1000)}},
		{"tail past filesz", []Segment{seg(0, 0x3000, 0, 0x3000), seg(0x1000, 0x4000, 0x8000, 0x1000)},
			[]Segment{seg(0, 0x3000, 0, 0x3000), seg(0x3000, 0x2000, 0xa000, 0)}},
		{"empty skipped", []Segment{seg(0, 0, 0, 0), seg(0x1000, 0x1000, 0, 0x1000)},
			[]Segment{seg(0x1000, 0x1000, 0, 0x1000)}},
	}
	for _, tt := range tests {
		var got []Segment
		for _, s := range disjointSegments(tt.in) {
			got = append(got, s.Segment)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
