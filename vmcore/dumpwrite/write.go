package dumpwrite

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/vmtriage/vmtriage/vmcore"
)

const (
	ntPRSTATUS   = 1
	prstatusSize = 336
	pnXNum       = 0xffff
	emX86_64     = 62
)

var le = binary.LittleEndian

// note appends one ELF note with 4-byte aligned name and desc.
func note(b []byte, name string, typ uint32, desc []byte) []byte {
	namesz := len(name) + 1
	b = le.AppendUint32(b, uint32(namesz))
	b = le.AppendUint32(b, uint32(len(desc)))
	b = le.AppendUint32(b, typ)
	b = append(b, name...)
	b = append(b, make([]byte, align4(namesz)-len(name))...)
	b = append(b, desc...)
	return append(b, make([]byte, align4(len(desc))-len(desc))...)
}

func align4(n int) int { return (n + 3) &^ 3 }

func prstatus(c CPU) []byte {
	d := make([]byte, prstatusSize)
	le.PutUint32(d[32:], uint32(c.PID))
	regs := c.Regs.RegsArray()
	for i, r := range regs {
		le.PutUint64(d[112+8*i:], r)
	}
	return d
}

func qemuNote(q vmcore.QEMUCPUState) []byte {
	d := make([]byte, 440)
	le.PutUint32(d[0:], q.Version)
	size := q.Size
	if size == 0 {
		size = 440
	}
	le.PutUint32(d[4:], size)
	regs := []uint64{q.RAX, q.RBX, q.RCX, q.RDX, q.RSI, q.RDI, q.RSP, q.RBP,
		q.R8, q.R9, q.R10, q.R11, q.R12, q.R13, q.R14, q.R15, q.RIP, q.RFlags}
	for i, r := range regs {
		le.PutUint64(d[8+8*i:], r)
	}
	for i, s := range []vmcore.QEMUSegment{q.CS, q.DS, q.ES, q.FS, q.GS, q.SS, q.LDT, q.TR, q.GDT, q.IDT} {
		o := 152 + 24*i
		le.PutUint32(d[o:], s.Selector)
		le.PutUint32(d[o+4:], s.Limit)
		le.PutUint32(d[o+8:], s.Flags)
		le.PutUint32(d[o+12:], s.Pad)
		le.PutUint64(d[o+16:], s.Base)
	}
	for i, c := range q.CR {
		le.PutUint64(d[392+8*i:], c)
	}
	le.PutUint64(d[432:], q.KernelGSBase)
	return d[:min(int(size), 440)]
}

// notes returns the NT_PRSTATUS notes, then the QEMU notes if qemu, then
// the VMCOREINFO note, and the offset of the VMCOREINFO text inside.
func notes(meta Meta, qemu bool) ([]byte, int) {
	var b []byte
	for _, c := range meta.CPUs {
		b = note(b, "CORE", ntPRSTATUS, prstatus(c))
	}
	if qemu {
		for _, q := range meta.QEMUCPUs {
			b = note(b, "QEMU", 0, qemuNote(q))
		}
	}
	vmciOff := -1
	if meta.VMCoreInfo != "" {
		vmciOff = len(b) + 12 + align4(len("VMCOREINFO")+1)
		b = note(b, "VMCOREINFO", 0, []byte(meta.VMCoreInfo))
	}
	return b, vmciOff
}

// runs returns [first, last] pfn pairs of contiguous populated pages.
func runs(pfns []uint64) [][2]uint64 {
	var r [][2]uint64
	for _, pfn := range pfns {
		if n := len(r); n > 0 && r[n-1][1]+1 == pfn {
			r[n-1][1] = pfn
			continue
		}
		r = append(r, [2]uint64{pfn, pfn})
	}
	return r
}

// WriteELF writes m as an x86_64 ELF64 ET_CORE file: a PT_NOTE with an
// NT_PRSTATUS note per CPU (then QEMU notes and VMCOREINFO if set), then
// one PT_LOAD per run of contiguous populated pages with p_paddr set.
func WriteELF(w io.Writer, m *Memory, meta Meta) error {
	pfns := m.PFNs()
	rs := runs(pfns)
	phnum := 1 + len(rs)
	xnum := meta.ELFPNXNUM || phnum >= pnXNum
	noteBuf, _ := notes(meta, true)

	phoff := 64
	if xnum {
		phoff = 128 // after one 64-byte section header
	}
	noteOff := phoff + 56*phnum
	dataOff := (noteOff + len(noteBuf) + PageSize - 1) &^ (PageSize - 1)

	hdr := make([]byte, 0, dataOff)
	hdr = append(hdr, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0)
	hdr = append(hdr, make([]byte, 8)...)
	hdr = le.AppendUint16(hdr, 4) // ET_CORE
	hdr = le.AppendUint16(hdr, emX86_64)
	hdr = le.AppendUint32(hdr, 1)
	hdr = le.AppendUint64(hdr, 0) // e_entry
	hdr = le.AppendUint64(hdr, uint64(phoff))
	shoff, shnum, ephnum := 0, 0, phnum
	if xnum {
		shoff, shnum, ephnum = 64, 1, pnXNum
	}
	hdr = le.AppendUint64(hdr, uint64(shoff))
	hdr = le.AppendUint32(hdr, 0)  // e_flags
	hdr = le.AppendUint16(hdr, 64) // e_ehsize
	hdr = le.AppendUint16(hdr, 56) // e_phentsize
	hdr = le.AppendUint16(hdr, uint16(ephnum))
	hdr = le.AppendUint16(hdr, 64) // e_shentsize
	hdr = le.AppendUint16(hdr, uint16(shnum))
	hdr = le.AppendUint16(hdr, 0) // e_shstrndx
	if xnum {
		sh := make([]byte, 64)
		le.PutUint32(sh[44:], uint32(phnum)) // sh_info
		hdr = append(hdr, sh...)
	}
	phdr := func(typ, flags uint32, off, vaddr, paddr, filesz, memsz, align uint64) {
		hdr = le.AppendUint32(hdr, typ)
		hdr = le.AppendUint32(hdr, flags)
		for _, v := range []uint64{off, vaddr, paddr, filesz, memsz, align} {
			hdr = le.AppendUint64(hdr, v)
		}
	}
	phdr(4, 0, uint64(noteOff), 0, 0, uint64(len(noteBuf)), uint64(len(noteBuf)), 0)
	off := uint64(dataOff)
	for _, r := range rs {
		paddr := r[0] * PageSize
		size := (r[1] - r[0] + 1) * PageSize
		var vaddr uint64
		if meta.ELFVaddrOffset != 0 {
			vaddr = paddr + meta.ELFVaddrOffset
		}
		phdr(1, 7, off, vaddr, paddr, size, size, 0)
		off += size
	}
	hdr = append(hdr, noteBuf...)
	hdr = append(hdr, make([]byte, dataOff-len(hdr))...)

	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("write ELF headers: %w", err)
	}
	for _, pfn := range pfns {
		if _, err := bw.Write(m.page(pfn)); err != nil {
			return fmt.Errorf("write ELF page %#x: %w", pfn, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write ELF: %w", err)
	}
	return nil
}

// region is a piece of a kdump file at a fixed offset.
type region struct {
	off  int64
	data []byte
}

const (
	flagZlib   = 0x1
	flagLZO    = 0x2
	flagSnappy = 0x4
	flagZstd   = 0x20
)

type compressor struct {
	c    Compression
	zstd *zstd.Encoder
}

func newCompressor(c Compression) (*compressor, error) {
	cp := &compressor{c: c}
	switch c {
	case None, Zlib, LZO, Snappy:
	case Zstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
		cp.zstd = enc
	default:
		return nil, fmt.Errorf("unknown compression %d", int(c))
	}
	return cp, nil
}

// page compresses one page; a page that does not shrink is stored raw
// with flags 0, as makedumpfile does.
func (cp *compressor) page(pg []byte) ([]byte, uint32, error) {
	var out []byte
	var flag uint32
	switch cp.c {
	case Zlib:
		var b bytes.Buffer
		zw, err := zlib.NewWriterLevel(&b, zlib.BestSpeed)
		if err != nil {
			return nil, 0, fmt.Errorf("zlib: %w", err)
		}
		if _, err := zw.Write(pg); err != nil {
			return nil, 0, fmt.Errorf("zlib: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, 0, fmt.Errorf("zlib: %w", err)
		}
		out, flag = b.Bytes(), flagZlib
	case LZO:
		out, flag = lzo1xCompress(pg), flagLZO
	case Snappy:
		out, flag = snappy.Encode(nil, pg), flagSnappy
	case Zstd:
		out, flag = cp.zstd.EncodeAll(pg, nil), flagZstd
	}
	if out == nil || len(out) >= len(pg) {
		return append([]byte(nil), pg...), 0, nil
	}
	return out, flag, nil
}

func statusFlag(c Compression) uint32 {
	switch c {
	case Zlib:
		return flagZlib
	case LZO:
		return flagLZO
	case Snappy:
		return flagSnappy
	case Zstd:
		return flagZstd
	}
	return 0
}

// kdumpLayout describes a kdump-compressed file as regions in order:
// header, sub-header area, bitmaps, page data, page descriptors.
type kdumpLayout struct {
	head  []region // header, sub-header area, bitmaps
	descs region
	data  region
}

func buildKdump(m *Memory, meta Meta, c Compression) (*kdumpLayout, error) {
	bs := uint64(PageSize)
	if meta.KdumpBlockSize != 0 {
		bs = meta.KdumpBlockSize
		if bs < 512 || bs > PageSize || bs&(bs-1) != 0 {
			return nil, fmt.Errorf("KdumpBlockSize %d is not a power of two between 512 and %d", bs, PageSize)
		}
	}
	per := PageSize / bs // blocks per 4 KiB page
	cp, err := newCompressor(c)
	if err != nil {
		return nil, err
	}
	pagePFNs := m.PFNs()
	maxMapnr := meta.MaxMapnr
	if maxMapnr == 0 && len(pagePFNs) > 0 {
		maxMapnr = pagePFNs[len(pagePFNs)-1] + 1
	}
	for _, pfn := range pagePFNs {
		if pfn >= maxMapnr {
			return nil, fmt.Errorf("page frame %#x is beyond MaxMapnr %#x", pfn, maxMapnr)
		}
	}
	maxMapnr *= per
	// The dump's pages are blocks of bs bytes.
	var pfns []uint64
	var blocks [][]byte
	for _, pfn := range pagePFNs {
		pg := m.page(pfn)
		for k := uint64(0); k < per; k++ {
			pfns = append(pfns, pfn*per+k)
			blocks = append(blocks, pg[k*bs:(k+1)*bs])
		}
	}
	if uint64(len(meta.CPUs)) > (bs-464)/8 {
		return nil, fmt.Errorf("%d CPUs do not fit in the kdump header", len(meta.CPUs))
	}
	noteBuf, vmciOff := notes(meta, false)
	const subSize = 104
	subBlocks := (subSize + uint64(len(noteBuf)) + bs - 1) / bs
	bitmapLen := (maxMapnr + 7) / 8
	bitmapLen = max((bitmapLen+bs-1)/bs*bs, bs)
	bitmapOff := (1 + subBlocks) * bs
	descOff := bitmapOff + 2*bitmapLen
	dataOff := descOff + uint64(len(pfns))*24

	// Header block.
	h := make([]byte, bs)
	copy(h, "KDUMP   ")
	le.PutUint32(h[8:], 6)
	u := meta.Utsname
	for i, s := range []string{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		copy(h[12+65*i:12+65*i+64], s)
	}
	le.PutUint64(h[408:], uint64(meta.Timestamp))
	le.PutUint32(h[424:], statusFlag(c))
	le.PutUint32(h[428:], uint32(bs))
	le.PutUint32(h[432:], uint32(subBlocks))
	le.PutUint32(h[436:], uint32(2*bitmapLen/bs))
	le.PutUint32(h[440:], uint32(min(maxMapnr, 0xffffffff)))
	le.PutUint32(h[460:], uint32(len(meta.CPUs)))

	// Sub-header, notes and VMCOREINFO.
	sub := make([]byte, subBlocks*bs)
	le.PutUint64(sub[0:], meta.PhysBase)
	le.PutUint64(sub[24:], min(maxMapnr, 0xffffffff)) // end_pfn
	noteOff := bs + subSize
	if vmciOff >= 0 {
		le.PutUint64(sub[32:], noteOff+uint64(vmciOff))
		le.PutUint64(sub[40:], uint64(len(meta.VMCoreInfo)))
	}
	if len(noteBuf) > 0 {
		le.PutUint64(sub[48:], noteOff)
		le.PutUint64(sub[56:], uint64(len(noteBuf)))
	}
	le.PutUint64(sub[88:], maxMapnr) // end_pfn_64
	le.PutUint64(sub[96:], maxMapnr) // max_mapnr_64
	copy(sub[subSize:], noteBuf)

	// Bitmaps: the 1st marks RAM, the 2nd dumpable pages; both are the
	// populated pages here.
	bm := make([]byte, 2*bitmapLen)
	for _, pfn := range pfns {
		bm[pfn/8] |= 1 << (pfn % 8)
		bm[bitmapLen+pfn/8] |= 1 << (pfn % 8)
	}

	// Page data: a shared zero page first (if any page is all zeros),
	// then the pages in pfn order.
	var data []byte
	descs := make([]byte, 0, len(pfns)*24)
	zero := make([]byte, bs)
	var zeroDesc []byte
	for _, pg := range blocks {
		if bytes.Equal(pg, zero) {
			out, flag, err := cp.page(pg)
			if err != nil {
				return nil, err
			}
			zeroDesc = pageDesc(dataOff, len(out), flag)
			data = append(data, out...)
			break
		}
	}
	for i, pg := range blocks {
		if zeroDesc != nil && bytes.Equal(pg, zero) {
			descs = append(descs, zeroDesc...)
			continue
		}
		out, flag, err := cp.page(pg)
		if err != nil {
			return nil, fmt.Errorf("compress page %#x: %w", pfns[i], err)
		}
		descs = append(descs, pageDesc(dataOff+uint64(len(data)), len(out), flag)...)
		data = append(data, out...)
	}
	return &kdumpLayout{
		head:  []region{{0, h}, {int64(bs), sub}, {int64(bitmapOff), bm}},
		descs: region{int64(descOff), descs},
		data:  region{int64(dataOff), data},
	}, nil
}

func pageDesc(off uint64, size int, flags uint32) []byte {
	b := make([]byte, 0, 24)
	b = le.AppendUint64(b, off)
	b = le.AppendUint32(b, uint32(size))
	b = le.AppendUint32(b, flags)
	return le.AppendUint64(b, 0) // page_flags
}

// WriteKdump writes m as a makedumpfile kdump-compressed file (header
// version 6, 4 KiB blocks): header, sub-header with the notes and
// VMCOREINFO, both bitmaps, page descriptors and page data. All-zero pages
// share one stored zero page, as makedumpfile does.
func WriteKdump(w io.Writer, m *Memory, meta Meta, c Compression) error {
	l, err := buildKdump(m, meta, c)
	if err != nil {
		return fmt.Errorf("write kdump: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	for _, r := range append(l.head, l.descs, l.data) {
		if _, err := bw.Write(r.data); err != nil {
			return fmt.Errorf("write kdump at offset %#x: %w", r.off, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write kdump: %w", err)
	}
	return nil
}

// WriteFlattened writes the same file as WriteKdump in makedumpfile's
// flattened format: a 4 KiB "makedumpfile" header, then (offset, size)
// records in big-endian followed by their data, then the -1/-1 end
// marker. Like makedumpfile, page data records come before the page
// descriptor records, so the records are not in offset order.
func WriteFlattened(w io.Writer, m *Memory, meta Meta, c Compression) error {
	l, err := buildKdump(m, meta, c)
	if err != nil {
		return fmt.Errorf("write flattened: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	h := make([]byte, PageSize)
	copy(h, "makedumpfile")
	binary.BigEndian.PutUint64(h[16:], 1) // TYPE_FLAT_HEADER
	binary.BigEndian.PutUint64(h[24:], 1) // VERSION_FLAT_HEADER
	if _, err := bw.Write(h); err != nil {
		return fmt.Errorf("write flattened header: %w", err)
	}
	record := func(off int64, data []byte) error {
		var rh [16]byte
		binary.BigEndian.PutUint64(rh[0:], uint64(off))
		binary.BigEndian.PutUint64(rh[8:], uint64(len(data)))
		if _, err := bw.Write(rh[:]); err != nil {
			return fmt.Errorf("write flattened record at %#x: %w", off, err)
		}
		if _, err := bw.Write(data); err != nil {
			return fmt.Errorf("write flattened record at %#x: %w", off, err)
		}
		return nil
	}
	const chunk = 64 << 10
	for _, r := range append(l.head, l.data, l.descs) {
		for i := 0; i < len(r.data); i += chunk {
			if err := record(r.off+int64(i), r.data[i:min(i+chunk, len(r.data))]); err != nil {
				return err
			}
		}
	}
	var end [16]byte
	for i := range end {
		end[i] = 0xff
	}
	if _, err := bw.Write(end[:]); err != nil {
		return fmt.Errorf("write flattened end marker: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write flattened: %w", err)
	}
	return nil
}
