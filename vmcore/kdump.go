package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"sync"

	lzo "github.com/anchore/go-lzo"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

const (
	kdumpSignature = "KDUMP   "

	// Offsets in struct disk_dump_header (64-bit layout).
	khVersion    = 8
	khUtsname    = 12
	khUtsField   = 65
	khTimestamp  = 408
	khStatus     = 424
	khBlockSize  = 428
	khSubHdrSize = 432
	khBitmapBlks = 436
	khMaxMapnr   = 440
	khNrCPUs     = 460
	khHeaderSize = 464

	// Offsets in struct kdump_sub_header.
	ksPhysBase      = 0
	ksDumpLevel     = 8
	ksSplit         = 12
	ksStartPFN      = 16
	ksEndPFN        = 24
	ksOffVMCoreInfo = 32
	ksOffNote       = 48
	ksSizeNote      = 56
	ksStartPFN64    = 80
	ksEndPFN64      = 88
	ksMaxMapnr64    = 96
	ksSubHdrSize    = 104
	pageDescSize    = 24
	bitmapChunk     = 4096 // bytes of bitmap per prefix-sum entry
	chunkCacheSize  = 16
	pageCacheSize   = 128      // pages
	pageCacheBytes  = 16 << 20 // bound for large block sizes
	maxBlockSize    = 1 << 18  // 256 KiB: the largest Linux page size is 64 KiB

	// Compression flags in the header status and in page_desc_t.flags.
	dumpZlib       = 0x1
	dumpLZO        = 0x2
	dumpSnappy     = 0x4
	dumpIncomplete = 0x8
	dumpZstd       = 0x20
)

type pageDesc struct {
	offset int64
	size   uint32
	flags  uint32
}

type kdumpBackend struct {
	path       string
	r          io.ReaderAt
	size       int64
	bs         uint64
	maxMapnr   uint64
	bitmap2Off int64
	bitmapLen  uint64 // bytes in each bitmap
	descOff    int64
	split      bool
	startPFN   uint64
	endPFN     uint64
	incomplete bool

	mu        sync.Mutex
	prefix    []uint64 // prefix[c]: set bits in chunks [0,c); len = chunks counted+1
	chunks    map[uint64][]byte
	chunkUse  []uint64 // FIFO of cached chunk numbers
	baseRank  uint64   // rank(startPFN) for split dumps
	baseOK    bool
	cache     *pageCache
	descWin   readWindows // read-ahead over the page descriptors
	dataWin   readWindows // read-ahead over the page data
	inflaters []*inflater // idle decompressors
	segs      []Segment
	segsDone  bool
	probs     []string // problems met after Open, each once
	probSeen  map[string]bool
}

func openKdump(d *Dump, r io.ReaderAt, size int64) error {
	path := d.path
	hdr := make([]byte, khHeaderSize)
	if err := readFull(path, r, size, 0, hdr, "kdump disk_dump_header"); err != nil {
		return err
	}
	le := binary.LittleEndian
	version := int32(le.Uint32(hdr[khVersion:]))
	status := le.Uint32(hdr[khStatus:])
	bs := uint64(int64(int32(le.Uint32(hdr[khBlockSize:]))))
	subHdrBlocks := int64(int32(le.Uint32(hdr[khSubHdrSize:])))
	bitmapBlocks := uint64(le.Uint32(hdr[khBitmapBlks:]))
	maxMapnr := uint64(le.Uint32(hdr[khMaxMapnr:]))
	nrCPUs := int32(le.Uint32(hdr[khNrCPUs:]))

	if bs < 512 || bs > maxBlockSize || bs&(bs-1) != 0 {
		return &FormatError{Path: path, Off: khBlockSize, Msg: fmt.Sprintf("block_size %d, expected a power of two between 512 and %d", int64(bs), maxBlockSize), Err: ErrCorrupt}
	}
	if version < 0 || version > 64 {
		return &FormatError{Path: path, Off: khVersion, Msg: fmt.Sprintf("header_version %d, expected 0..6", version), Err: ErrCorrupt}
	}
	if version > 6 {
		d.warns = append(d.warns, fmt.Sprintf("%s: kdump header_version %d is newer than 6; reading it as version 6", path, version))
	}
	if subHdrBlocks < 0 || uint64(subHdrBlocks) > uint64(size)/bs {
		return &FormatError{Path: path, Off: khSubHdrSize, Msg: fmt.Sprintf("sub_hdr_size %d blocks of %d bytes does not fit in the file (%d bytes)", subHdrBlocks, bs, size), Err: ErrCorrupt}
	}
	if bitmapBlocks == 0 {
		return &FormatError{Path: path, Off: khBitmapBlks, Msg: "bitmap_blocks is 0, expected the size of the two page bitmaps in blocks", Err: ErrCorrupt}
	}
	bitmapOff := (1 + uint64(subHdrBlocks)) * bs
	if bitmapBlocks > uint64(size)/bs || bitmapOff+bitmapBlocks*bs > uint64(size) {
		return &FormatError{Path: path, Off: int64(bitmapOff), Msg: fmt.Sprintf("file is too short (%d bytes) for the bitmaps (%d blocks of %d bytes) expected here (bitmap_blocks at offset %#x)", size, bitmapBlocks, bs, khBitmapBlks), Err: ErrTruncated}
	}

	be := &kdumpBackend{
		path: path, r: r, size: size, bs: bs,
		bitmapLen:  bitmapBlocks * bs / 2,
		bitmap2Off: int64(bitmapOff + bitmapBlocks*bs/2),
		descOff:    int64(bitmapOff + bitmapBlocks*bs),
		incomplete: status&dumpIncomplete != 0,
		chunks:     make(map[uint64][]byte),
		prefix:     []uint64{0},
		cache:      newPageCache(int(min(pageCacheSize, pageCacheBytes/bs))),
	}
	d.pageSize = bs
	d.compression = "none"
	switch {
	case status&dumpZlib != 0:
		d.compression = "zlib"
	case status&dumpLZO != 0:
		d.compression = "lzo"
	case status&dumpSnappy != 0:
		d.compression = "snappy"
	case status&dumpZstd != 0:
		d.compression = "zstd"
	}
	if be.incomplete {
		d.warns = append(d.warns, fmt.Sprintf("%s: kdump header status has DUMP_DH_COMPRESSED_INCOMPLETE: makedumpfile did not finish writing this dump; some pages may be missing", path))
	}

	var u [6]string
	for i := range u {
		o := khUtsname + i*khUtsField
		u[i] = cString(hdr[o : o+khUtsField])
	}
	d.uts = Utsname{Sysname: u[0], Nodename: u[1], Release: u[2], Version: u[3], Machine: u[4], Domainname: u[5]}
	d.hasUts = true
	if nrCPUs < 0 || uint64(nrCPUs) > (bs-khHeaderSize)/8 {
		d.warns = append(d.warns, fmt.Sprintf("%s: offset %#x: nr_cpus %d is out of range (expected 0..%d); ignored", path, khNrCPUs, nrCPUs, (bs-khHeaderSize)/8))
	}

	x86 := d.uts.Machine == "x86_64" || d.uts.Machine == ""
	if subHdrBlocks > 0 && version >= 1 {
		sub := make([]byte, ksSubHdrSize)
		n := ksSubHdrSize
		if uint64(n) > uint64(subHdrBlocks)*bs {
			n = int(uint64(subHdrBlocks) * bs)
		}
		if err := readFull(path, r, size, int64(bs), sub[:n], "kdump_sub_header"); err != nil {
			return err
		}
		d.physBase = le.Uint64(sub[ksPhysBase:])
		d.hasPhysBase = true
		if version >= 2 && le.Uint32(sub[ksSplit:]) != 0 {
			be.split = true
			be.startPFN = le.Uint64(sub[ksStartPFN:])
			be.endPFN = le.Uint64(sub[ksEndPFN:])
			if version >= 6 {
				be.startPFN = le.Uint64(sub[ksStartPFN64:])
				be.endPFN = le.Uint64(sub[ksEndPFN64:])
			}
		}
		if version >= 6 {
			if m := le.Uint64(sub[ksMaxMapnr64:]); m != 0 {
				maxMapnr = m
			}
		}
		var ns noteSet
		if version >= 4 {
			off, sz := le.Uint64(sub[ksOffNote:]), le.Uint64(sub[ksSizeNote:])
			if buf := d.readMeta(r, size, off, sz, ksOffNote, "ELF notes"); buf != nil {
				parseNotes(path, buf, int64(off), x86, &ns)
			}
		}
		if version >= 3 {
			off, sz := le.Uint64(sub[ksOffVMCoreInfo:]), le.Uint64(sub[ksOffVMCoreInfo+8:])
			if buf := d.readMeta(r, size, off, sz, ksOffVMCoreInfo, "VMCOREINFO"); buf != nil {
				d.vmcoreinfo = cString(buf)
			}
		}
		if d.vmcoreinfo == "" {
			d.vmcoreinfo = ns.vmcoreinfo
		}
		d.cpus = ns.cpus
		d.warns = append(d.warns, ns.warns...)
	}
	if limit := be.bitmapLen * 8; maxMapnr > limit {
		d.warns = append(d.warns, fmt.Sprintf("%s: offset %#x: max_mapnr %#x exceeds the %#x pages the bitmap can describe; using %#x", path, khMaxMapnr, maxMapnr, limit, limit))
		maxMapnr = limit
	}
	be.maxMapnr = maxMapnr
	if be.split {
		if be.endPFN > maxMapnr {
			be.endPFN = maxMapnr
		}
		if be.startPFN > be.endPFN {
			be.startPFN = be.endPFN
		}
	}
	d.be = be
	return nil
}

// readMeta reads a sub-header-referenced area, turning a bad reference
// into a warning (the memory can still be read without it).
func (d *Dump) readMeta(r io.ReaderAt, size int64, off, sz uint64, field int64, what string) []byte {
	if off == 0 || sz == 0 {
		return nil
	}
	if sz > maxNoteSize || off > uint64(size) || sz > uint64(size)-off {
		d.warns = append(d.warns, fmt.Sprintf("%s: kdump sub-header field at offset %#x points %s at file offset %#x size %#x, outside the file (%d bytes); ignored", d.path, int64(d.pageSize)+field, what, off, sz, size))
		return nil
	}
	buf := make([]byte, sz)
	if err := readFull(d.path, r, size, int64(off), buf, what); err != nil {
		d.warns = append(d.warns, err.Error())
		return nil
	}
	return buf
}

// chunk returns bitmap chunk c of the 2nd bitmap (cached).
func (be *kdumpBackend) chunk(c uint64) ([]byte, error) {
	if b, ok := be.chunks[c]; ok {
		return b, nil
	}
	start := c * bitmapChunk
	n := min(uint64(bitmapChunk), be.bitmapLen-start)
	b := make([]byte, bitmapChunk)
	if err := readFull(be.path, be.r, be.size, be.bitmap2Off+int64(start), b[:n], "2nd bitmap"); err != nil {
		return nil, err
	}
	if len(be.chunkUse) >= chunkCacheSize {
		delete(be.chunks, be.chunkUse[0])
		be.chunkUse = be.chunkUse[1:]
	}
	be.chunks[c] = b
	be.chunkUse = append(be.chunkUse, c)
	return b, nil
}

// ensurePrefix makes prefix[c] available, reading bitmap chunks as needed.
func (be *kdumpBackend) ensurePrefix(c uint64) error {
	const batch = 64
	buf := make([]byte, 0)
	for uint64(len(be.prefix)) <= c {
		first := uint64(len(be.prefix) - 1)
		nChunks := min(uint64(batch), c-first)
		start := first * bitmapChunk
		if start >= be.bitmapLen {
			return fmt.Errorf("%s: bitmap chunk %d is past the end of the 2nd bitmap", be.path, first)
		}
		n := min(nChunks*bitmapChunk, be.bitmapLen-start)
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if err := readFull(be.path, be.r, be.size, be.bitmap2Off+int64(start), buf, "2nd bitmap"); err != nil {
			return err
		}
		for i := uint64(0); i < nChunks; i++ {
			lo := i * bitmapChunk
			hi := min(lo+bitmapChunk, n)
			be.prefix = append(be.prefix, be.prefix[len(be.prefix)-1]+popcount(buf[lo:hi]))
		}
	}
	return nil
}

func popcount(b []byte) uint64 {
	var n int
	for len(b) >= 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return uint64(n)
}

// rank returns the number of dumpable pages with pfn below the given pfn,
// and whether pfn itself is dumpable. pfn must be < bitmapLen*8.
func (be *kdumpBackend) rank(pfn uint64) (uint64, bool, error) {
	c := pfn / (bitmapChunk * 8)
	if err := be.ensurePrefix(c); err != nil {
		return 0, false, err
	}
	b, err := be.chunk(c)
	if err != nil {
		return 0, false, err
	}
	bit := pfn % (bitmapChunk * 8)
	r := be.prefix[c] + popcount(b[:bit/8])
	r += uint64(bits.OnesCount8(b[bit/8] & (1<<(bit%8) - 1)))
	return r, b[bit/8]&(1<<(bit%8)) != 0, nil
}

// rankUpTo is rank for any pfn up to and including the bitmap's end.
func (be *kdumpBackend) rankUpTo(pfn uint64) (uint64, error) {
	if pfn < be.bitmapLen*8 {
		r, _, err := be.rank(pfn)
		return r, err
	}
	nChunks := (be.bitmapLen + bitmapChunk - 1) / bitmapChunk
	if err := be.ensurePrefix(nChunks); err != nil {
		return 0, err
	}
	return be.prefix[nChunks], nil
}

// selectPFN returns the pfn of the k-th (0-based) dumpable page.
func (be *kdumpBackend) selectPFN(k uint64) (uint64, error) {
	nChunks := (be.bitmapLen + bitmapChunk - 1) / bitmapChunk
	if nChunks == 0 {
		return 0, fmt.Errorf("the 2nd bitmap is empty")
	}
	if err := be.ensurePrefix(nChunks); err != nil {
		return 0, err
	}
	c := uint64(sort.Search(int(nChunks), func(i int) bool { return be.prefix[i+1] > k }))
	if c >= nChunks {
		return 0, fmt.Errorf("the 2nd bitmap has %d dumpable pages, not %d", be.prefix[nChunks], k+1)
	}
	b, err := be.chunk(c)
	if err != nil {
		return 0, err
	}
	left := k - be.prefix[c]
	for i, x := range b {
		n := uint64(bits.OnesCount8(x))
		if left < n {
			for j := uint64(0); j < 8; j++ {
				if x&(1<<j) != 0 {
					if left == 0 {
						return c*bitmapChunk*8 + uint64(i)*8 + j, nil
					}
					left--
				}
			}
		}
		left -= n
	}
	return 0, fmt.Errorf("2nd bitmap chunk %d holds fewer dumpable pages than counted", c)
}

func (be *kdumpBackend) descIndex(pfn uint64) (uint64, error) {
	r, _, err := be.rank(pfn)
	if err != nil {
		return 0, err
	}
	if be.split {
		if !be.baseOK {
			if be.baseRank, err = be.rankUpTo(be.startPFN); err != nil {
				return 0, err
			}
			be.baseOK = true
		}
		r -= be.baseRank
	}
	return r, nil
}

func (be *kdumpBackend) readDesc(i uint64) (pageDesc, int64, error) {
	pos := uint64(be.descOff) + i*pageDescSize
	if i > uint64(be.size)/pageDescSize || pos+pageDescSize > uint64(be.size) {
		return pageDesc{}, int64(min(pos, 1<<62)), ErrTruncated
	}
	var b [pageDescSize]byte
	if n, err := be.descWin.readAt(be.r, be.size, b[:], int64(pos)); n != len(b) {
		return pageDesc{}, int64(pos), err
	}
	le := binary.LittleEndian
	return pageDesc{offset: int64(le.Uint64(b[0:])), size: le.Uint32(b[8:]), flags: le.Uint32(b[12:])}, int64(pos), nil
}

func (be *kdumpBackend) pageErr(paddr uint64, sentinel error, format string, args ...any) error {
	return &PageError{Path: be.path, Paddr: paddr, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// readPhys copies what the dump holds at paddr, up to the end of its page,
// into p. The page is located and its stored bytes read under be.mu, and
// decompressed outside it, so that several goroutines reading different
// pages (a slab scan's workers) decompress side by side.
func (be *kdumpBackend) readPhys(paddr uint64, p []byte) (int, error) {
	pfn := paddr / be.bs
	off := paddr % be.bs
	be.mu.Lock()
	if b := be.cache.get(pfn); b != nil {
		n := copy(p, b[off:])
		be.mu.Unlock()
		return n, nil
	}
	var in *inflater
	if k := len(be.inflaters); k > 0 {
		in, be.inflaters = be.inflaters[k-1], be.inflaters[:k-1]
	} else {
		in = &inflater{}
	}
	desc, err := be.stored(pfn, paddr, in)
	be.mu.Unlock()
	var out []byte
	if err == nil {
		out, err = in.inflate(in.raw[:desc.size], desc.flags, in.spare, int(be.bs))
		in.spare = nil
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if err == nil {
		// the buffer the cache lets go serves this inflater's next page
		in.spare = be.cache.put(pfn, out)
	}
	be.inflaters = append(be.inflaters, in)
	var pe *PageError
	switch {
	case errors.As(err, &pe):
		return 0, err
	case err != nil:
		return 0, &PageError{Path: be.path, Paddr: paddr, Reason: fmt.Sprintf("corrupt: page data at %#x (%d bytes, flags %#x): %v", desc.offset, desc.size, desc.flags, err), Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	return copy(p, out[off:]), nil
}

// stored locates page pfn and reads its stored bytes into in.raw. Caller
// holds be.mu.
func (be *kdumpBackend) stored(pfn, paddr uint64, in *inflater) (pageDesc, error) {
	if pfn >= be.maxMapnr {
		return pageDesc{}, be.pageErr(paddr, ErrNotPresent, "beyond max_mapnr (%#x pages, physical memory ends at %#x)", be.maxMapnr, be.maxMapnr*be.bs)
	}
	if be.split && (pfn < be.startPFN || pfn >= be.endPFN) {
		return pageDesc{}, be.pageErr(paddr, ErrNotPresent, "not in this split dump file (it holds pfns %#x-%#x)", be.startPFN, be.endPFN)
	}
	_, set, err := be.rank(pfn)
	if err != nil {
		return pageDesc{}, &PageError{Path: be.path, Paddr: paddr, Reason: "reading the 2nd bitmap: " + err.Error(), Err: ErrTruncated}
	}
	if !set {
		return pageDesc{}, be.pageErr(paddr, ErrExcluded, "excluded from the dump")
	}
	idx, err := be.descIndex(pfn)
	if err != nil {
		return pageDesc{}, &PageError{Path: be.path, Paddr: paddr, Reason: "reading the 2nd bitmap: " + err.Error(), Err: ErrTruncated}
	}
	desc, pos, err := be.readDesc(idx)
	if errors.Is(err, ErrTruncated) {
		return desc, be.pageErr(paddr, ErrTruncated, "truncated: file ends at %#x, page descriptor is at %#x", be.size, pos)
	} else if err != nil {
		return desc, be.pageErr(paddr, err, "reading page descriptor at %#x: %v", pos, err)
	}
	if desc.offset == 0 && desc.size == 0 {
		if be.incomplete {
			return desc, be.pageErr(paddr, ErrTruncated, "truncated: page descriptor at %#x was never written (incomplete dump)", pos)
		}
		return desc, be.pageErr(paddr, ErrCorrupt, "corrupt: page descriptor at %#x is empty", pos)
	}
	if desc.offset <= 0 || desc.size == 0 || uint64(desc.size) > 2*be.bs {
		return desc, be.pageErr(paddr, ErrCorrupt, "corrupt: page descriptor at %#x has offset %#x size %#x, expected a positive offset and size up to %#x", pos, desc.offset, desc.size, 2*be.bs)
	}
	end := uint64(desc.offset) + uint64(desc.size)
	if end > uint64(be.size) {
		return desc, be.pageErr(paddr, ErrTruncated, "truncated: file ends at %#x, page data is at %#x-%#x", be.size, desc.offset, end)
	}
	if cap(in.raw) < int(desc.size) {
		in.raw = make([]byte, desc.size)
	}
	if n, err := be.dataWin.readAt(be.r, be.size, in.raw[:desc.size], desc.offset); n != int(desc.size) {
		if err == nil || err == io.EOF {
			return desc, be.pageErr(paddr, ErrTruncated, "truncated: page data at %#x-%#x could not be read", desc.offset, end)
		}
		return desc, be.pageErr(paddr, err, "reading page data at %#x: %v", desc.offset, err)
	}
	return desc, nil
}

// inflater decompresses pages: its decoders are kept between pages, and
// each goroutine decompressing at a time has its own.
type inflater struct {
	raw   []byte        // the page's stored bytes
	spare []byte        // a page buffer the cache let go, to decompress into
	zlib  io.ReadCloser // reused through zlib.Resetter
	zstd  *zstd.Decoder
}

// inflate decompresses one page of bs bytes stored as raw with flags,
// into out when it is bs bytes long.
func (in *inflater) inflate(raw []byte, flags uint32, out []byte, bs int) ([]byte, error) {
	if len(out) != bs {
		out = make([]byte, bs)
	}
	switch {
	case flags&dumpZlib != 0:
		var zr io.ReadCloser
		if in.zlib != nil {
			if err := in.zlib.(zlib.Resetter).Reset(bytes.NewReader(raw), nil); err != nil {
				return nil, fmt.Errorf("zlib: %w", err)
			}
			zr = in.zlib
		} else {
			r, err := zlib.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("zlib: %w", err)
			}
			zr, in.zlib = r, r
		}
		if _, err := io.ReadFull(zr, out); err != nil {
			return nil, fmt.Errorf("zlib: %w", err)
		}
		var extra [1]byte
		if n, _ := zr.Read(extra[:]); n != 0 {
			return nil, fmt.Errorf("zlib: decompresses to more than %d bytes", bs)
		}
	case flags&dumpLZO != 0:
		n, err := lzo.Decompress(raw, out)
		if err != nil {
			return nil, fmt.Errorf("lzo: %w", err)
		}
		if n != bs {
			return nil, fmt.Errorf("lzo: decompressed to %d bytes, expected %d", n, bs)
		}
	case flags&dumpSnappy != 0:
		n, err := snappy.DecodedLen(raw)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n != bs {
			return nil, fmt.Errorf("snappy: decodes to %d bytes, expected %d", n, bs)
		}
		if _, err := snappy.Decode(out, raw); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
	case flags&dumpZstd != 0:
		if in.zstd == nil {
			dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(4*bs)), zstd.WithDecoderMaxWindow(uint64(max(4*bs, 1<<20))))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			in.zstd = dec
		}
		got, err := in.zstd.DecodeAll(raw, out[:0])
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(got) != bs {
			return nil, fmt.Errorf("zstd: decompressed to %d bytes, expected %d", len(got), bs)
		}
		out = got
	default:
		if len(raw) != bs {
			return nil, fmt.Errorf("uncompressed page is %d bytes, expected %d", len(raw), bs)
		}
		copy(out, raw)
	}
	return out, nil
}

// segments returns one Segment per run of dumpable pages (reads the whole
// 2nd bitmap on first use).
func (be *kdumpBackend) segments() []Segment {
	be.mu.Lock()
	defer be.mu.Unlock()
	if !be.segsDone {
		be.segsDone = true
		lo, hi := uint64(0), be.maxMapnr
		if be.split {
			lo, hi = be.startPFN, be.endPFN
		}
		var cur *Segment
		for c := lo / (bitmapChunk * 8); c*bitmapChunk*8 < hi; c++ {
			b, err := be.chunk(c)
			if err != nil {
				be.problem(fmt.Sprintf("%s: 2nd bitmap chunk %d at offset %#x cannot be read (%v): the dump's segments stop at physical %#x",
					be.path, c, be.bitmap2Off+int64(c*bitmapChunk), err, max(lo, c*bitmapChunk*8)*be.bs))
				break
			}
			for i, x := range b {
				base := c*bitmapChunk*8 + uint64(i)*8
				if base >= hi {
					break
				}
				if x == 0 {
					cur = nil
					continue
				}
				for j := uint64(0); j < 8; j++ {
					pfn := base + j
					if pfn < lo || pfn >= hi || x&(1<<j) == 0 {
						cur = nil
						continue
					}
					if cur == nil {
						be.segs = append(be.segs, Segment{Paddr: pfn * be.bs})
						cur = &be.segs[len(be.segs)-1]
					}
					cur.MemSize += be.bs
				}
			}
		}
	}
	return append([]Segment(nil), be.segs...)
}

// problem records a warning once. Caller holds be.mu.
func (be *kdumpBackend) problem(w string) {
	if be.probSeen[w] {
		return
	}
	if be.probSeen == nil {
		be.probSeen = map[string]bool{}
	}
	be.probSeen[w] = true
	be.probs = append(be.probs, w)
}

func (be *kdumpBackend) problems() []string {
	be.mu.Lock()
	defer be.mu.Unlock()
	return append([]string(nil), be.probs...)
}

// scan locates a truncation point, if any, by checking the descriptor
// table size and the data of the last descriptors; in a file whose header
// says it is incomplete, by finding the first descriptor never written.
func (be *kdumpBackend) scan() (*Truncation, []string) {
	be.mu.Lock()
	defer be.mu.Unlock()
	var lo, hi uint64 = 0, be.maxMapnr
	if be.split {
		lo, hi = be.startPFN, be.endPFN
	}
	cut := &Truncation{Kind: TruncKdump, Offset: be.size, FileSize: be.size, Incomplete: be.incomplete}
	rlo, err1 := be.rankUpTo(lo)
	rhi, err2 := be.rankUpTo(hi)
	if err := errors.Join(err1, err2); err != nil {
		w := []string{fmt.Sprintf("%s: cannot scan the 2nd bitmap: %v", be.path, err)}
		if be.incomplete {
			return cut, w
		}
		return nil, w
	}
	var count uint64
	if rhi > rlo {
		count = rhi - rlo
	}
	// missing names the first missing page, the k-th dumpable one.
	missing := func(k uint64) string {
		pfn, err := be.selectPFN(rlo + k)
		if err != nil {
			return fmt.Sprintf("the first missing page could not be located (%v)", err)
		}
		cut.MissingFrom, cut.HasMissing = pfn*be.bs, true
		return fmt.Sprintf("pages from physical %#x on are missing", pfn*be.bs)
	}
	descEnd := uint64(be.descOff) + count*pageDescSize
	if count > 0 && descEnd > uint64(be.size) {
		// Page data follows the table: none of it is in the file.
		cut.ExpectedSize = int64(min(descEnd, 1<<62))
		return cut, []string{fmt.Sprintf("%s is truncated: %d bytes, page descriptor table at file offset %#x needs %#x bytes, and the page data follows it; %s",
			be.path, be.size, be.descOff, descEnd, missing(0))}
	}
	// The shared zero page is stored first, right after the table; all
	// other pages are stored in pfn order, so skipping descriptors that
	// point at the first data block makes "data past the end of the file"
	// monotonic in the descriptor index.
	shared := int64(descEnd)
	bad := func(i uint64) bool {
		for j := i; j < count && j-i < 4096; j++ {
			d, _, err := be.readDesc(j)
			if err != nil {
				return true
			}
			if d.offset == shared && j+1 < count {
				continue
			}
			return d.offset < 0 || uint64(d.offset)+uint64(d.size) > uint64(be.size)
		}
		return false
	}
	if count > 0 && (bad(count-1) || bad(0)) {
		k := uint64(sort.Search(int(min(count, 1<<62)), func(i int) bool { return bad(uint64(i)) }))
		cut.ExpectedSize = int64(descEnd)
		if d, _, err := be.readDesc(count - 1); err == nil && d.offset > 0 {
			cut.ExpectedSize = max(cut.ExpectedSize, d.offset+int64(d.size))
		}
		return cut, []string{fmt.Sprintf("%s is truncated: %d bytes, page descriptors or data of %d of %d dumpable pages are missing; %s",
			be.path, be.size, count-k, count, missing(k))}
	}
	if !be.incomplete {
		return nil, nil
	}
	// Every descriptor's data is in the file, but makedumpfile stopped
	// (the header says so): the descriptors it never wrote are empty, and
	// it writes them in pfn order. How much it did not write is unknown.
	empty := func(i int) bool {
		d, _, err := be.readDesc(uint64(i))
		return err != nil || (d.offset == 0 && d.size == 0)
	}
	k := uint64(sort.Search(int(min(count, 1<<62)), empty))
	if k >= count {
		return cut, nil // the incomplete flag's warning says it all
	}
	cut.Offset = be.descOff + int64(k)*pageDescSize
	return cut, []string{fmt.Sprintf("%s is truncated: page descriptors from file offset %#x on were never written (incomplete dump), %d of %d dumpable pages; %s",
		be.path, cut.Offset, count-k, count, missing(k))}
}
