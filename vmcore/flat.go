package vmcore

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

const (
	flatSignature  = "makedumpfile"
	flatHeaderSize = 4096
	flatRecordHdr  = 16
	flatTypeHeader = 1
)

// flatRecord maps a range of the logical (rearranged) file to file data.
type flatRecord struct {
	logical int64 // offset in the logical kdump file
	size    int64
	fileOff int64 // where the data is in the flattened file
}

// flatReader serves the logical kdump file described by a flattened
// file's records. Regions no record covers read as zeros, as in the file
// makedumpfile -R would write.
type flatReader struct {
	r    io.ReaderAt
	recs []flatRecord // sorted by logical, non-overlapping
	size int64        // logical size: end of the furthest record
	// truncated: the file ends without an end marker, so holes may be
	// data that was never copied rather than unwritten padding.
	truncated bool
	cut       *Truncation // where, when truncated
}

func openFlattened(d *Dump, r io.ReaderAt, size int64) error {
	path := d.path
	hdr := make([]byte, 32)
	if err := readFull(path, r, size, 0, hdr, "makedumpfile flattened header"); err != nil {
		return err
	}
	if string(hdr[:13]) != flatSignature+"\x00" {
		return &FormatError{Path: path, Off: 0, Msg: fmt.Sprintf("flattened signature %q, expected %q", printable(hdr[:16]), flatSignature), Err: ErrCorrupt}
	}
	typ := int64(binary.BigEndian.Uint64(hdr[16:]))
	if typ != flatTypeHeader {
		return &FormatError{Path: path, Off: 16, Msg: fmt.Sprintf("flattened header type %d, expected %d (TYPE_FLAT_HEADER)", typ, flatTypeHeader), Err: ErrCorrupt}
	}
	if size < flatHeaderSize {
		return &FormatError{Path: path, Off: 0, Msg: fmt.Sprintf("file is too short (%d bytes) for the %d-byte makedumpfile flattened header", size, flatHeaderSize), Err: ErrTruncated}
	}
	fr, warns, err := indexFlattened(path, r, size)
	if err != nil {
		return err
	}
	d.warns = append(d.warns, warns...)
	d.trunc = fr.cut
	head := make([]byte, 8)
	n, err := fr.ReadAt(head, 0)
	if n != 8 && err != nil && err != io.EOF {
		return &FormatError{Path: path, Off: flatHeaderSize, Msg: "reading the kdump header at logical offset 0", Err: err}
	}
	if n != 8 || string(head) != kdumpSignature {
		return &FormatError{Path: path, Off: flatHeaderSize, Msg: fmt.Sprintf("flattened records do not start a kdump-compressed file: logical offset 0 holds %q, expected %q", printable(head[:n]), kdumpSignature), Err: ErrCorrupt}
	}
	if err := openKdump(d, fr, fr.size); err != nil {
		return fmt.Errorf("in the kdump file rebuilt from the flattened records: %w", err)
	}
	return nil
}

// indexFlattened reads the 16-byte record headers, skipping the data.
func indexFlattened(path string, r io.ReaderAt, size int64) (*flatReader, []string, error) {
	var recs []flatRecord
	var warns []string
	off := int64(flatHeaderSize)
	var hdr [flatRecordHdr]byte
	ended := false
	var cut *Truncation
	for off < size {
		if size-off < flatRecordHdr {
			warns = append(warns, fmt.Sprintf("%s is truncated: %d bytes, flattened record header at offset %#x needs %#x bytes; pages after it are missing", path, size, off, off+flatRecordHdr))
			cut = &Truncation{Kind: TruncFlattened, Offset: off, FileSize: size, ExpectedSize: off + flatRecordHdr}
			break
		}
		if n, err := r.ReadAt(hdr[:], off); n != flatRecordHdr {
			return nil, nil, &FormatError{Path: path, Off: off, Msg: "reading flattened record header", Err: err}
		}
		lo := int64(binary.BigEndian.Uint64(hdr[0:]))
		sz := int64(binary.BigEndian.Uint64(hdr[8:]))
		if lo == -1 && sz == -1 {
			ended = true
			break
		}
		if lo < 0 || sz < 0 || lo > 1<<56 || sz > 1<<56 {
			err := &FormatError{Path: path, Off: off, Msg: fmt.Sprintf("flattened record has offset %d size %d, expected non-negative values or the -1/-1 end marker", lo, sz), Err: ErrCorrupt}
			if len(recs) == 0 {
				return nil, nil, err
			}
			warns = append(warns, err.Error()+"; ignoring the rest of the file")
			ended = true
			break
		}
		data := off + flatRecordHdr
		if sz > size-data {
			warns = append(warns, fmt.Sprintf("%s is truncated: %d bytes, flattened record at offset %#x needs %#x bytes; data from logical offset %#x on is missing", path, size, off, data+sz, lo+(size-data)))
			cut = &Truncation{Kind: TruncFlattened, Offset: off, FileSize: size, ExpectedSize: data + sz + flatRecordHdr}
			if size > data {
				recs = append(recs, flatRecord{logical: lo, size: size - data, fileOff: data})
			}
			break
		}
		if sz > 0 {
			recs = append(recs, flatRecord{logical: lo, size: sz, fileOff: data})
		}
		off = data + sz
	}
	if !ended && off >= size {
		warns = append(warns, fmt.Sprintf("%s: flattened file has no end marker at offset %#x: it may be truncated", path, off))
		cut = &Truncation{Kind: TruncFlattened, Offset: off, FileSize: size, ExpectedSize: off + flatRecordHdr}
	}
	fr := newFlatReader(r, recs)
	fr.truncated = !ended
	fr.cut = cut
	return fr, warns, nil
}

// newFlatReader resolves overlaps (a later record wins) and sorts.
func newFlatReader(r io.ReaderAt, recs []flatRecord) *flatReader {
	sorted := append([]flatRecord(nil), recs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].logical < sorted[j].logical })
	overlap := false
	for i := 1; i < len(sorted); i++ {
		if sorted[i].logical < sorted[i-1].logical+sorted[i-1].size {
			overlap = true
			break
		}
	}
	if overlap {
		sorted = resolveOverlaps(recs)
	}
	fr := &flatReader{r: r, recs: sorted}
	for _, rec := range sorted {
		fr.size = max(fr.size, rec.logical+rec.size)
	}
	return fr
}

// resolveOverlaps applies records in file order onto an interval list.
// It is quadratic in the worst case, but overlapping records are rare.
func resolveOverlaps(recs []flatRecord) []flatRecord {
	var out []flatRecord // sorted, non-overlapping
	for _, rec := range recs {
		end := rec.logical + rec.size
		var next []flatRecord
		i := sort.Search(len(out), func(i int) bool { return out[i].logical+out[i].size > rec.logical })
		next = append(next, out[:i]...)
		inserted := false
		for _, o := range out[i:] {
			oend := o.logical + o.size
			if o.logical >= end {
				if !inserted {
					next = append(next, rec)
					inserted = true
				}
				next = append(next, o)
				continue
			}
			if o.logical < rec.logical {
				next = append(next, flatRecord{logical: o.logical, size: rec.logical - o.logical, fileOff: o.fileOff})
			}
			if !inserted {
				next = append(next, rec)
				inserted = true
			}
			if oend > end {
				next = append(next, flatRecord{logical: end, size: oend - end, fileOff: o.fileOff + (end - o.logical)})
			}
		}
		if !inserted {
			next = append(next, rec)
		}
		out = next
	}
	return out
}

// ReadAt implements io.ReaderAt over the logical file.
func (fr *flatReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("flattened read at negative offset %d", off)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= fr.size {
			return n, io.EOF
		}
		i := sort.Search(len(fr.recs), func(i int) bool { return fr.recs[i].logical+fr.recs[i].size > pos })
		want := int64(len(p) - n)
		if i == len(fr.recs) {
			return n, io.EOF
		}
		rec := fr.recs[i]
		if rec.logical > pos {
			if fr.truncated {
				return n, fmt.Errorf("%w: logical offset %#x is in no flattened record", ErrTruncated, pos)
			}
			// A hole: zeros up to the next record.
			z := min(want, rec.logical-pos)
			clear(p[n : n+int(z)])
			n += int(z)
			continue
		}
		k := min(want, rec.logical+rec.size-pos)
		got, err := fr.r.ReadAt(p[n:n+int(k)], rec.fileOff+(pos-rec.logical))
		n += got
		if got < int(k) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}
