// Package vmcore reads the physical memory, CPU register notes and
// VMCOREINFO of Linux kernel crash dumps.
//
// Three container formats are understood and detected by their magic:
// ELF core files (/proc/vmcore copies, QEMU dump-guest-memory, virsh dump),
// makedumpfile's kdump-compressed format ("KDUMP   ") and makedumpfile's
// flattened format ("makedumpfile" records, as written to a pipe with -F).
//
// Opening a dump is lazy: only headers, notes and bitmap metadata are read;
// page data is read and decompressed on demand, with a small LRU cache of
// decompressed pages. The file is opened read-only.
package vmcore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Format identifies the container format of a dump.
type Format string

// The supported dump formats.
const (
	// FormatELF is an ELF ET_CORE file with PT_LOAD segments.
	FormatELF Format = "elf"
	// FormatKdump is makedumpfile's kdump-compressed format.
	FormatKdump Format = "kdump"
	// FormatFlattened is makedumpfile's flattened format wrapping a
	// kdump-compressed file.
	FormatFlattened Format = "flattened"
)

// Sentinel errors. Errors returned by Open and ReadPhys wrap one of these
// where it applies, so callers can test them with errors.Is.
var (
	// ErrUnrecognizedFormat means the file starts with no known dump magic.
	ErrUnrecognizedFormat = errors.New("not a vmcore")
	// ErrExcluded means the page was filtered out when the dump was made
	// (it is not in the kdump 2nd bitmap).
	ErrExcluded = errors.New("page excluded from the dump")
	// ErrNotPresent means the address is not covered by the dump at all.
	ErrNotPresent = errors.New("physical address not in the dump")
	// ErrTruncated means the data lies past the end of a truncated file.
	ErrTruncated = errors.New("dump file is truncated")
	// ErrCorrupt means the dump's metadata or page data is inconsistent.
	ErrCorrupt = errors.New("dump data is corrupt")
)

// FormatError reports malformed dump metadata: the file, the offset at
// which the problem was found and what was expected there.
type FormatError struct {
	Path string // file name
	Off  int64  // offset in the (logical) dump file
	Msg  string // what was expected or found
	Err  error  // underlying error, may be nil
}

// Error implements error.
func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s: offset %#x: %s", e.Path, e.Off, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *FormatError) Unwrap() error { return e.Err }

// PageError describes a failed read of physical memory.
type PageError struct {
	Path   string // file name
	Paddr  uint64 // physical address that could not be read
	Reason string // e.g. "excluded from the dump", "not in any PT_LOAD segment"
	Err    error  // one of ErrExcluded, ErrNotPresent, ErrTruncated, ErrCorrupt (possibly wrapped)
}

// Error implements error.
func (e *PageError) Error() string {
	return fmt.Sprintf("%s: physical address %#x: %s", e.Path, e.Paddr, e.Reason)
}

// Unwrap returns the sentinel error classifying the failure.
func (e *PageError) Unwrap() error { return e.Err }

type unrecognizedError struct {
	path string
	head []byte
	size int64
}

func (e *unrecognizedError) Error() string {
	if len(e.head) < 8 {
		return fmt.Sprintf("%s: not a vmcore: file is only %d bytes long (expected ELF, KDUMP or makedumpfile signature)", e.path, e.size)
	}
	return fmt.Sprintf("%s: not a vmcore: first 8 bytes are % x %q (expected ELF, KDUMP or makedumpfile signature)", e.path, e.head, printable(e.head))
}

func (e *unrecognizedError) Unwrap() error { return ErrUnrecognizedFormat }

func printable(b []byte) string {
	r := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			c = '.'
		}
		r[i] = c
	}
	return string(r)
}

// X86_64Regs is the x86_64 general register set of an elf_prstatus note
// (pr_reg, in struct user_regs_struct order).
type X86_64Regs struct {
	R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8 uint64
	RAX, RCX, RDX, RSI, RDI, OrigRAX               uint64
	RIP, CS, EFlags, RSP, SS                       uint64
	FSBase, GSBase, DS, ES, FS, GS                 uint64
}

// CPUState is one CPU's NT_PRSTATUS note.
type CPUState struct {
	PID  int32      // pr_pid: the task running on the CPU (0 for idle)
	Regs X86_64Regs // registers; zero if the note is not an x86_64 prstatus
}

// QEMUSegment is a segment register in a QEMU CPU note.
type QEMUSegment struct {
	Selector, Limit, Flags, Pad uint32
	Base                        uint64
}

// QEMUCPUState is the x86_64 "QEMU" ELF note written by QEMU's
// dump-guest-memory (struct QEMUCPUState).
type QEMUCPUState struct {
	Version, Size                          uint32
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFlags                            uint64
	CS, DS, ES, FS, GS, SS                 QEMUSegment
	LDT, TR, GDT, IDT                      QEMUSegment
	CR                                     [5]uint64 // CR[3] is the page table root
	KernelGSBase                           uint64    // valid if HasKernelGSBase
	HasKernelGSBase                        bool
}

// Utsname is the kernel's struct new_utsname as stored in a kdump header.
type Utsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// Segment is a contiguous range of physical memory present in the dump.
// For kdump files there is one Segment per run of dumpable pages, FileOff
// and FileSize are zero and Vaddr is zero.
type Segment struct {
	Paddr    uint64
	Vaddr    uint64
	MemSize  uint64
	FileOff  uint64
	FileSize uint64
}

// TruncationKind says how a dump was found to be cut short.
type TruncationKind string

// The kinds of truncation.
const (
	// TruncFlattened is a makedumpfile flattened file that ends without
	// its end marker (the -1/-1 record), possibly inside a record.
	TruncFlattened TruncationKind = "flattened-no-end-marker"
	// TruncKdump is a kdump-compressed file that holds fewer page
	// descriptors or less page data than its 2nd bitmap says, or whose
	// header has DUMP_DH_COMPRESSED_INCOMPLETE (makedumpfile stopped).
	TruncKdump TruncationKind = "kdump-short"
	// TruncELF is an ELF core whose PT_LOAD segments run past the end of
	// the file.
	TruncELF TruncationKind = "elf-short"
)

// Truncation describes where a dump is cut short. Offsets are in the
// dump file; for a flattened file whose records are complete but whose
// kdump file is short (kind TruncKdump), they are in that kdump file.
type Truncation struct {
	Kind TruncationKind
	// Offset is where the data stops: the end of the file, the start of
	// the flattened record it ends in, or the first page descriptor an
	// incomplete kdump file never wrote.
	Offset int64
	// FileSize is the size of the file.
	FileSize int64
	// ExpectedSize is the size the file needs for everything its headers
	// describe: a lower bound when the headers that would tell are
	// missing too (a cut descriptor table, a flattened file cut between
	// records), 0 when unknown.
	ExpectedSize int64
	// MissingFrom is the physical address from which pages are missing,
	// when HasMissing.
	MissingFrom uint64
	HasMissing  bool
	// Incomplete is set when a kdump header has the incomplete flag.
	Incomplete bool
}

// backend is a format-specific physical memory source.
type backend interface {
	// readPhys reads len(p) bytes at paddr; it may stop at a page or
	// segment boundary and returns the number of bytes read.
	readPhys(paddr uint64, p []byte) (int, error)
	segments() []Segment
	// scan locates a truncation that opening the file could not see
	// (kdump: the page descriptors and data), with the warnings that
	// describe it. It is called once, on first need.
	scan() (*Truncation, []string)
	// problems returns what went wrong reading metadata after Open (an
	// unreadable bitmap chunk), each once.
	problems() []string
}

// Dump is an open crash dump. Its methods are safe for concurrent use.
type Dump struct {
	path        string
	f           *os.File
	format      Format
	compression string
	pageSize    uint64
	cpus        []CPUState
	qemuCPUs    []QEMUCPUState
	vmcoreinfo  string
	vmci        map[string]string
	uts         Utsname
	hasUts      bool
	physBase    uint64
	hasPhysBase bool
	be          backend
	warns       []string
	trunc       *Truncation // found at open (ELF, flattened)

	mu        sync.Mutex
	lateWarn  []string
	lateTrunc *Truncation
	lateDone  bool
}

// Open opens the dump at path read-only and reads its headers. The format
// is detected from the file's first bytes.
func Open(path string) (*Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open vmcore: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open vmcore: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open vmcore: %s: not a regular file", path)
	}
	d, err := OpenReaderAt(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	d.f = f
	return d, nil
}

// OpenReaderAt reads a dump of the given size from r. name is used in
// error messages and returned by Path. Close does not close r.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*Dump, error) {
	head := make([]byte, 16)
	n, err := r.ReadAt(head, 0)
	if n < len(head) && int64(n) < size && err != nil && err != io.EOF {
		return nil, &FormatError{Path: name, Off: int64(n), Msg: "reading the dump's first bytes", Err: err}
	}
	head = head[:n]
	d := &Dump{path: name, pageSize: 4096, compression: "none"}
	switch {
	case len(head) >= 4 && string(head[:4]) == "\x7fELF":
		d.format = FormatELF
		err = openELF(d, r, size)
	case len(head) >= 8 && string(head[:8]) == kdumpSignature:
		d.format = FormatKdump
		err = openKdump(d, r, size)
	case len(head) >= 8 && string(head[:8]) == flatSignature[:8]:
		d.format = FormatFlattened
		err = openFlattened(d, r, size)
	default:
		if len(head) > 8 {
			head = head[:8]
		}
		return nil, &unrecognizedError{path: name, head: head, size: size}
	}
	if err != nil {
		return nil, err
	}
	var werr error
	d.vmci, werr = parseVMCoreInfo(d.vmcoreinfo)
	if werr != nil {
		d.warns = append(d.warns, fmt.Sprintf("%s: VMCOREINFO: %v; the lines after it are ignored", name, werr))
	}
	if d.format == FormatELF {
		if ps, ok := d.vmci["PAGESIZE"]; ok {
			v, err := strconv.ParseUint(strings.TrimSpace(ps), 10, 64)
			if err == nil && v >= 512 && v <= 1<<20 && v&(v-1) == 0 {
				d.pageSize = v
			} else {
				d.warns = append(d.warns, fmt.Sprintf("%s: VMCOREINFO PAGESIZE=%q is not a power of two from 512 to 1 MiB; using %d", name, ps, d.pageSize))
			}
		}
	}
	return d, nil
}

// parseVMCoreInfo reads the "key=value" lines of VMCOREINFO (the first
// value of a key wins). The error says where reading stopped, if it did.
func parseVMCoreInfo(s string) (map[string]string, error) {
	m := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(s))
	const maxLine = 1 << 20
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	read := 0
	for sc.Scan() {
		line := sc.Text()
		read += len(line) + 1
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("line at byte %d: %w (lines are at most %d bytes)", read, err, maxLine)
	}
	return m, nil
}

// Path returns the file name given to Open.
func (d *Dump) Path() string { return d.path }

// Format returns the container format.
func (d *Dump) Format() Format { return d.format }

// Compression returns the page compression of a kdump file ("zlib", "lzo",
// "snappy", "zstd", or "none"); ELF dumps report "none".
func (d *Dump) Compression() string { return d.compression }

// PageSize returns the page size of the dump (the kdump block size, or the
// VMCOREINFO PAGESIZE of an ELF dump, 4096 by default).
func (d *Dump) PageSize() uint64 { return d.pageSize }

// CPUs returns the NT_PRSTATUS notes in file order.
func (d *Dump) CPUs() []CPUState { return append([]CPUState(nil), d.cpus...) }

// QEMUCPUs returns the "QEMU" CPU notes of a QEMU-made ELF dump, if any.
func (d *Dump) QEMUCPUs() []QEMUCPUState { return append([]QEMUCPUState(nil), d.qemuCPUs...) }

// VMCoreInfo returns the raw VMCOREINFO text, or "" if the dump has none.
func (d *Dump) VMCoreInfo() string { return d.vmcoreinfo }

// VMCoreInfoValue returns the value of a VMCOREINFO line "key=value", for
// keys like "OSRELEASE", "SYMBOL(init_uts_ns)" or "NUMBER(phys_base)".
// When a key occurs more than once the first value is returned.
func (d *Dump) VMCoreInfoValue(key string) (string, bool) {
	v, ok := d.vmci[key]
	return v, ok
}

// Utsname returns the new_utsname stored in a kdump header.
func (d *Dump) Utsname() (Utsname, bool) { return d.uts, d.hasUts }

// PhysBase returns the phys_base recorded in a kdump sub-header.
func (d *Dump) PhysBase() (uint64, bool) { return d.physBase, d.hasPhysBase }

// Segments returns the physical memory ranges present in the dump, sorted
// by physical address for kdump files and in file order for ELF files.
func (d *Dump) Segments() []Segment { return d.be.segments() }

// Warnings returns problems found that do not prevent reading, such as a
// truncated file. For kdump files the first call may read the 2nd bitmap
// and a few page descriptors to locate the truncation point.
func (d *Dump) Warnings() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scanLocked()
	w := append(append([]string(nil), d.warns...), d.lateWarn...)
	return append(w, d.be.problems()...)
}

// Truncation returns where and how the dump file is cut short, or nil
// when it is complete. For kdump files the first call (of Truncation or
// Warnings) may read the 2nd bitmap and a few page descriptors.
func (d *Dump) Truncation() *Truncation {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scanLocked()
	if d.lateTrunc == nil {
		return nil
	}
	t := *d.lateTrunc
	return &t
}

// scanLocked runs the backend's scan once and settles the truncation:
// one found at open (the flattened records, ELF segments) comes first,
// with the physical address the kdump scan found missing. d.mu is held.
func (d *Dump) scanLocked() {
	if d.lateDone {
		return
	}
	d.lateDone = true
	var t *Truncation
	t, d.lateWarn = d.be.scan()
	if d.trunc != nil {
		merged := *d.trunc
		if t != nil && t.HasMissing && !merged.HasMissing {
			merged.MissingFrom, merged.HasMissing = t.MissingFrom, true
		}
		if t != nil && t.Incomplete {
			merged.Incomplete = true
		}
		t = &merged
	}
	d.lateTrunc = t
}

// ReadPhys fills p with physical memory starting at paddr. The read may
// span pages and segments; it either fills all of p or returns an error,
// usually a *PageError naming the first address that could not be read.
func (d *Dump) ReadPhys(paddr uint64, p []byte) error {
	for len(p) > 0 {
		if paddr+uint64(len(p)) < paddr && paddr+uint64(len(p)) != 0 {
			return &PageError{Path: d.path, Paddr: paddr, Reason: "address range wraps around", Err: ErrNotPresent}
		}
		n, err := d.be.readPhys(paddr, p)
		if err != nil {
			return err
		}
		if n <= 0 {
			return &PageError{Path: d.path, Paddr: paddr, Reason: "corrupt: no progress reading", Err: ErrCorrupt}
		}
		p = p[n:]
		paddr += uint64(n)
	}
	return nil
}

// Close closes the underlying file (if Open opened it).
func (d *Dump) Close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("close vmcore: %w", err)
	}
	return nil
}

// readFull reads exactly len(p) bytes at off from r, reporting a
// FormatError that names what was expected.
func readFull(path string, r io.ReaderAt, size, off int64, p []byte, what string) error {
	if off < 0 || off > size || int64(len(p)) > size-off {
		return &FormatError{Path: path, Off: off, Msg: fmt.Sprintf("file is too short (%d bytes) for %s (%d bytes)", size, what, len(p)), Err: ErrTruncated}
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &FormatError{Path: path, Off: off, Msg: "reading " + what, Err: err}
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// pageCache is a small LRU cache of decompressed pages keyed by pfn.
type pageCache struct {
	max   int
	tick  uint64
	pages map[uint64]*cachedPage
}

type cachedPage struct {
	data []byte
	used uint64
}

func newPageCache(n int) *pageCache {
	return &pageCache{max: n, pages: make(map[uint64]*cachedPage, n)}
}

func (c *pageCache) get(pfn uint64) []byte {
	e, ok := c.pages[pfn]
	if !ok {
		return nil
	}
	c.tick++
	e.used = c.tick
	return e.data
}

// put stores data, evicting the least recently used page, whose buffer
// it returns (nil when none was evicted) for the caller to reuse. Eviction
// is a linear scan of at most max entries, negligible next to
// decompression.
func (c *pageCache) put(pfn uint64, data []byte) (evicted []byte) {
	c.tick++
	if e, ok := c.pages[pfn]; ok {
		evicted, e.data, e.used = e.data, data, c.tick
		return evicted
	}
	if len(c.pages) >= c.max {
		var victim uint64
		oldest := ^uint64(0)
		for k, e := range c.pages {
			if e.used < oldest {
				oldest, victim = e.used, k
			}
		}
		evicted = c.pages[victim].data
		delete(c.pages, victim)
	}
	c.pages[pfn] = &cachedPage{data: data, used: c.tick}
	return evicted
}
