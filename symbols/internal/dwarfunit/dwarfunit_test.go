package dwarfunit

import (
	"debug/dwarf"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func TestAranges(t *testing.T) {
	rs := []Range{{0x1000, 0x1100, 0}, {0x2000, 0x2010, 0x40}, {0x1200, 0x1300, 0}}
	got, err := Aranges(AppendAranges(nil, rs), binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{0x1000, 0x1100, 0}, {0x1200, 0x1300, 0}, {0x2000, 0x2010, 0x40}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		err  string
	}{
		{"truncated", []byte{1, 2}, "truncated set header at 0x0"},
		{"past the end", []byte{0xff, 0, 0, 0, 2, 0}, "past the section's end"},
		{"version", []byte{8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 8, 0}, "version 3, want 2"},
		{"address size", []byte{8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0}, "address size 3"},
	} {
		if _, err := Aranges(tc.b, binary.LittleEndian); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestHeaders(t *testing.T) {
	le := binary.LittleEndian
	// a DWARF 4 unit (11 header bytes) and a DWARF 5 one (12), each with
	// one null entry, then garbage
	info := le.AppendUint32(nil, 8)
	info = append(info, 4, 0, 0, 0, 0, 0, 8, 0)
	info = le.AppendUint32(info, 9)
	info = append(info, 5, 0, 1, 8, 0, 0, 0, 0, 0)
	info = append(info, 0xff, 0xff)
	hs := Headers(info, le)
	want := []Header{{0, 12, 4}, {12, 25, 5}}
	if !slices.Equal(hs, want) {
		t.Errorf("headers %v, want %v", hs, want)
	}
	s := NewSet(Sections{Info: info}, le, []dwarf.Offset{0})
	if h, err := s.HeaderOf(15); err != nil || h != want[1] {
		t.Errorf("HeaderOf(15) = %v, %v", h, err)
	}
	if _, err := s.HeaderOf(27); err == nil {
		t.Error("HeaderOf past the units: no error")
	}
	// found from the first entries instead: a DWARF 4 unit's is 11 bytes
	// in, a DWARF 5 one's 12
	e := NewSetFromEntries(Sections{Info: info}, le, []dwarf.Offset{11, 24})
	for _, tc := range []struct {
		off  dwarf.Offset
		want Header
	}{{11, want[0]}, {24, want[1]}} {
		if h, err := e.HeaderOf(tc.off); err != nil || h != tc.want {
			t.Errorf("from entries: HeaderOf(%d) = %v, %v; want %v", tc.off, h, err, tc.want)
		}
	}
	if _, err := e.HeaderOf(5); err == nil {
		t.Error("from entries: HeaderOf before the first entry: no error")
	}
}

func FuzzAranges(f *testing.F) {
	f.Add(AppendAranges(nil, []Range{{0x1000, 0x1100, 0}, {0x2000, 0x2010, 0x40}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, _ := Aranges(b, binary.LittleEndian)
		for _, r := range rs {
			if r.Hi <= r.Lo {
				t.Fatalf("empty or wrapped range %v", r)
			}
		}
		Headers(b, binary.LittleEndian)
	})
}
