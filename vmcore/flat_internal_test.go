package vmcore

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestFlatReader checks record resolution: sorting, holes read as
// zeros, later records overriding earlier ones, and reads past the end.
func TestFlatReader(t *testing.T) {
	// The "flattened file": data for records at known offsets.
	file := []byte("AAAAAAAAAABBBBBCCCCCCCCCCDD")
	rec := func(logical, size, fileOff int64) flatRecord {
		return flatRecord{logical: logical, size: size, fileOff: fileOff}
	}
	for _, tc := range []struct {
		name string
		recs []flatRecord
		want string // logical file, '.' for zero bytes
	}{
		{"in order", []flatRecord{rec(0, 10, 0), rec(10, 5, 10)}, "AAAAAAAAAABBBBB"},
		{"out of order", []flatRecord{rec(10, 5, 10), rec(0, 10, 0)}, "AAAAAAAAAABBBBB"},
		{"hole", []flatRecord{rec(0, 5, 0), rec(8, 5, 10)}, "AAAAA...BBBBB"},
		{"later overrides middle", []flatRecord{rec(0, 10, 0), rec(3, 2, 25)}, "AAADDAAAAA"},
		{"later overrides all", []flatRecord{rec(2, 5, 0), rec(0, 10, 15)}, "CCCCCCCCCC"},
		{"later overrides tail", []flatRecord{rec(0, 10, 0), rec(8, 5, 10)}, "AAAAAAAABBBBB"},
		{"earlier survives", []flatRecord{rec(5, 5, 10), rec(0, 7, 0)}, "AAAAAAABBB"},
		{"none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFlatReader(bytes.NewReader(file), tc.recs)
			if fr.size != int64(len(tc.want)) {
				t.Fatalf("size = %d, want %d", fr.size, len(tc.want))
			}
			got := make([]byte, len(tc.want))
			if n, err := fr.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
			g := bytes.ReplaceAll(got, []byte{0}, []byte("."))
			if string(g) != tc.want {
				t.Errorf("logical file = %q, want %q", g, tc.want)
			}
			if n, err := fr.ReadAt(make([]byte, 4), fr.size); n != 0 || err != io.EOF {
				t.Errorf("read at end = %d, %v", n, err)
			}
		})
	}
	fr := newFlatReader(bytes.NewReader(file), []flatRecord{rec(0, 5, 0), rec(8, 5, 10)})
	fr.truncated = true
	if _, err := fr.ReadAt(make([]byte, 13), 0); !errors.Is(err, ErrTruncated) {
		t.Errorf("hole in a truncated file: %v, want ErrTruncated", err)
	}
}

func TestPageCache(t *testing.T) {
	c := newPageCache(3)
	for i := uint64(0); i < 3; i++ {
		c.put(i, []byte{byte(i)})
	}
	c.get(0) // 1 is now the least recently used
	c.put(3, []byte{3})
	if c.get(1) != nil {
		t.Error("LRU page 1 not evicted")
	}
	for _, pfn := range []uint64{0, 2, 3} {
		if b := c.get(pfn); b == nil || b[0] != byte(pfn) {
			t.Errorf("page %d = %v", pfn, b)
		}
	}
}

func TestParseNotesBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"short header", []byte{1, 2, 3}},
		{"huge namesz", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0}},
		{"huge descsz", []byte{5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 'C', 'O', 'R', 'E', 0, 0, 0, 0}},
		{"zero padding", make([]byte, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ns noteSet
			parseNotes("f", tc.buf, 0, true, &ns)
			if len(ns.cpus) != 0 {
				t.Errorf("parsed %d CPUs from garbage", len(ns.cpus))
			}
		})
	}
}
