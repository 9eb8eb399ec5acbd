package addrspace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// fakePhys is sparse physical memory.
type fakePhys map[uint64][]byte

func (f fakePhys) ReadPhys(pa uint64, p []byte) error {
	page, ok := f[pa&^0xfff]
	if !ok {
		return fmt.Errorf("physical 0x%x not present", pa)
	}
	if pa%4096+uint64(len(p)) > 4096 {
		return fmt.Errorf("read crosses a page")
	}
	copy(p, page[pa%4096:])
	return nil
}

func (f fakePhys) set(pa, v uint64) {
	if f[pa&^0xfff] == nil {
		f[pa&^0xfff] = make([]byte, 4096)
	}
	binary.LittleEndian.PutUint64(f[pa&^0xfff][pa%4096:], v)
}

func TestTranslate(t *testing.T) {
	mem := fakePhys{}
	const pgd, pud, pmd, pte = 0x1000, 0x2000, 0x3000, 0x4000
	va4k := uint64(0xffffffffa0105000) // module page, 4 KiB
	va2m := uint64(0xffffc90000200000) // 2 MiB page
	va1g := uint64(0xffffc90040000000) // 1 GiB page
	idx := func(va uint64, sh uint) uint64 { return va >> sh & 511 }
	mem.set(pgd+idx(va4k, 39)*8, pud|0x63)
	mem.set(pud+idx(va4k, 30)*8, pmd|0x63)
	mem.set(pmd+idx(va4k, 21)*8, pte|0x63)
	mem.set(pte+idx(va4k, 12)*8, 0x7777000|0x63)
	mem.set(pgd+idx(va2m, 39)*8, 0x5000|0x63)
	mem.set(0x5000+idx(va2m, 30)*8, 0x6000|0x63)
	mem.set(0x6000+idx(va2m, 21)*8, 0x40000000|0xe3)
	mem.set(0x5000+idx(va1g, 30)*8, 0x80000000|0xe3)
	l := RHEL4()
	l.TopPGT = pgd
	s := New(mem, l)
	tests := []struct {
		va, pa uint64
		err    error
	}{
		{0x10000001234, 0x1234, nil},          // direct map
		{0xffffffff80401000, 0x401000, nil},   // kernel image
		{va4k + 0x123, 0x7777123, nil},        // page-table walk, 4 KiB
		{va2m + 0x12345, 0x40012345, nil},     // 2 MiB page
		{va1g + 0x1234567, 0x81234567, nil},   // 1 GiB page
		{0xffffffffa0200000, 0, ErrNotMapped}, // PTE table entry absent
		{0xffff900000000000, 0, ErrNotMapped}, // PGD entry absent
	}
	for _, tt := range tests {
		pa, err := s.Translate(tt.va)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Translate(0x%x) = 0x%x, %v; want %v", tt.va, pa, err, tt.err)
			}
			continue
		}
		if err != nil || pa != tt.pa {
			t.Errorf("Translate(0x%x) = 0x%x, %v; want 0x%x", tt.va, pa, err, tt.pa)
		}
	}
	// without a page table, the walk fails with a clear error
	if _, err := New(mem, RHEL4()).Translate(va4k); err == nil {
		t.Error("walk without a page table succeeded")
	}
}

func TestReadAcrossPages(t *testing.T) {
	mem := fakePhys{}
	mem.set(0x1ff8, 0x1122334455667788)
	mem.set(0x2000, 0x99aabbccddeeff00)
	s := New(mem, RHEL4())
	b := make([]byte, 16)
	if err := s.Read(0x10000001ff8, b); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint64(b[8:]) != 0x99aabbccddeeff00 {
		t.Errorf("read across pages: % x", b)
	}
	if err := s.Read(0x10000009000, b); err == nil {
		t.Error("read of an absent page succeeded")
	}
}
