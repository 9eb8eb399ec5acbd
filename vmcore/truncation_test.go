package vmcore_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// flatRecords returns the file offset, logical offset and size of each
// record of a flattened file, up to (not including) the end marker.
func flatRecords(t *testing.T, full []byte) (recs [][3]int64) {
	t.Helper()
	be := binary.BigEndian
	for off := int64(4096); off+16 <= int64(len(full)); {
		lo, sz := int64(be.Uint64(full[off:])), int64(be.Uint64(full[off+8:]))
		if lo == -1 && sz == -1 {
			return recs
		}
		recs = append(recs, [3]int64{off, lo, sz})
		off += 16 + sz
	}
	t.Fatal("flattened file has no end marker")
	return nil
}

// TestTruncation checks the typed truncation state of dumps cut or left
// incomplete in each format: its kind, where the data stops, the size the
// file should have and the first missing physical page, which must read
// as ErrTruncated while the dumpable page before it reads.
func TestTruncation(t *testing.T) {
	m := testMemory()
	meta := testMeta()
	pfns := m.PFNs()
	elfFull := writeDump(t, writerKind{"elf", vmcore.FormatELF, 0}, m, meta)
	kdFull := writeDump(t, writerKind{"kdump", vmcore.FormatKdump, dumpwrite.Zlib}, m, meta)
	flatFull := writeDump(t, writerKind{"flat", vmcore.FormatFlattened, dumpwrite.Zlib}, m, meta)

	// ELF: cut 2 pages and 100 bytes into the segment of physical 0x100000.
	var seg vmcore.Segment
	for _, s := range openBytes(t, "elf", elfFull).Segments() {
		if s.Paddr == 0x100000 {
			seg = s
		}
	}
	if seg.FileSize == 0 {
		t.Fatal("no segment at 0x100000")
	}
	elfCut := int(seg.FileOff) + 0x2000 + 100

	// kdump: the descriptor table starts after the header, sub-header and bitmaps.
	descOff := (1 + int(le.Uint32(kdFull[432:])) + int(le.Uint32(kdFull[436:]))) * 4096
	descEnd := descOff + len(pfns)*24
	incomplete := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		le.PutUint32(b[424:], le.Uint32(b[424:])|0x8) // DUMP_DH_COMPRESSED_INCOMPLETE
		return b
	}
	unwritten := incomplete(kdFull)
	clear(unwritten[descOff+5*24 : descEnd]) // descriptors of pages 5.. never written

	recs := flatRecords(t, flatFull)
	var dataRec [3]int64 // the first page data record, right after the descriptor table
	for _, r := range recs {
		if r[1] == int64(descEnd) {
			dataRec = r
		}
	}
	if dataRec[2] == 0 {
		t.Fatalf("no flattened record at logical %#x", descEnd)
	}
	lastRec := recs[len(recs)-1] // the page descriptors, written last
	if lastRec[1] != int64(descOff) {
		t.Fatalf("last flattened record is at logical %#x, want the descriptor table at %#x", lastRec[1], descOff)
	}

	tests := []struct {
		name string
		data []byte
		want *vmcore.Truncation
	}{
		{"elf complete", elfFull, nil},
		{"kdump complete", kdFull, nil},
		{"flattened complete", flatFull, nil},
		{"elf cut in a segment", elfFull[:elfCut], &vmcore.Truncation{Kind: vmcore.TruncELF,
			Offset: int64(elfCut), FileSize: int64(elfCut), ExpectedSize: int64(len(elfFull)), MissingFrom: 0x102000, HasMissing: true}},
		// Page data follows the descriptor table: all of it is missing.
		{"kdump cut in the descriptor table", kdFull[:descOff+3*24+5], &vmcore.Truncation{Kind: vmcore.TruncKdump,
			Offset: int64(descOff + 3*24 + 5), FileSize: int64(descOff + 3*24 + 5), ExpectedSize: int64(descEnd), MissingFrom: pfns[0] * 4096, HasMissing: true}},
		{"kdump cut in the last page", kdFull[:len(kdFull)-100], &vmcore.Truncation{Kind: vmcore.TruncKdump,
			Offset: int64(len(kdFull) - 100), FileSize: int64(len(kdFull) - 100), ExpectedSize: int64(len(kdFull)), MissingFrom: farPage, HasMissing: true}},
		{"kdump incomplete flag, all pages", incomplete(kdFull), &vmcore.Truncation{Kind: vmcore.TruncKdump,
			Offset: int64(len(kdFull)), FileSize: int64(len(kdFull)), Incomplete: true}},
		{"kdump incomplete, descriptors unwritten", unwritten, &vmcore.Truncation{Kind: vmcore.TruncKdump,
			Offset: int64(descOff + 5*24), FileSize: int64(len(kdFull)), MissingFrom: pfns[5] * 4096, HasMissing: true, Incomplete: true}},
		{"flattened without end marker", flatFull[:len(flatFull)-16], &vmcore.Truncation{Kind: vmcore.TruncFlattened,
			Offset: int64(len(flatFull) - 16), FileSize: int64(len(flatFull) - 16), ExpectedSize: int64(len(flatFull))}},
		// The descriptors come last: cut before them, no page can be read.
		{"flattened cut in a data record", flatFull[:dataRec[0]+16+10], &vmcore.Truncation{Kind: vmcore.TruncFlattened,
			Offset: dataRec[0], FileSize: dataRec[0] + 16 + 10, ExpectedSize: dataRec[0] + 16 + dataRec[2] + 16, MissingFrom: 0, HasMissing: true}},
		{"flattened cut in a record header", flatFull[:lastRec[0]+5], &vmcore.Truncation{Kind: vmcore.TruncFlattened,
			Offset: lastRec[0], FileSize: lastRec[0] + 5, ExpectedSize: lastRec[0] + 16, MissingFrom: 0, HasMissing: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := openBytes(t, "dump", tc.data)
			got := d.Truncation()
			if tc.want == nil {
				if got != nil {
					t.Fatalf("Truncation = %+v, want nil", *got)
				}
				return
			}
			if got == nil {
				t.Fatalf("Truncation = nil, want %+v; warnings %q", *tc.want, d.Warnings())
			}
			if *got != *tc.want {
				t.Errorf("Truncation = %+v\n            want %+v", *got, *tc.want)
			}
			if len(d.Warnings()) == 0 {
				t.Error("no warning for a truncated dump")
			}
			// The result is a copy: changing it changes nothing.
			got.Offset = -1
			if again := d.Truncation(); again.Offset != tc.want.Offset {
				t.Errorf("second Truncation().Offset = %d", again.Offset)
			}
			if !got.HasMissing {
				return
			}
			buf := make([]byte, 4096)
			if err := d.ReadPhys(got.MissingFrom, buf); !errors.Is(err, vmcore.ErrTruncated) {
				t.Errorf("ReadPhys(%#x), the first missing page: %v, want ErrTruncated", got.MissingFrom, err)
			}
			prev := -1
			for i, pfn := range pfns {
				if pfn*4096 < got.MissingFrom {
					prev = i
				}
			}
			if prev >= 0 {
				if err := d.ReadPhys(pfns[prev]*4096, buf); err != nil {
					t.Errorf("ReadPhys(%#x), the page before the first missing one: %v", pfns[prev]*4096, err)
				}
			}
		})
	}
}
