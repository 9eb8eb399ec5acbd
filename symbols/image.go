// Package symbols reads a Linux kernel's vmlinux: its ELF symbol table,
// its GNU build-id, the initialized contents of its data symbols and,
// lazily, the type layouts described by its DWARF debug information.
//
// Opening an image reads only the ELF headers, the symbol table and the
// notes. DWARF is touched the first time [Image.Types] is called: a single
// pass over the top-level debugging entries builds a name index, and a type
// is decoded only when it is asked for, then cached.
//
// DWARF versions 2 (as written by gcc 3.4 for RHEL 4 kernels), 4 and 5 are
// supported, including the three ways bit fields are described
// (DW_AT_bit_offset counted from the most significant bit, and
// DW_AT_data_bit_offset counted from the start of the structure).
package symbols

import (
	"bytes"
	"cmp"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/vmtriage/vmtriage/symbols/offheap"
)

// ErrNotFound is matched (with errors.Is) by the errors returned when a
// symbol, type, field or constant does not exist.
var ErrNotFound = errors.New("not found")

// notFoundError names what was missing and the file it was looked for in.
type notFoundError struct {
	what string
	file string
}

func (e *notFoundError) Error() string {
	if e.file == "" { // an image without a file (NewKallsymsImage)
		return e.what + " not found in the dump's kallsyms"
	}
	return e.what + " not found in " + e.file
}

func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// SymbolKind classifies a symbol.
type SymbolKind uint8

// Symbol kinds.
const (
	// SymOther is any symbol that is neither a function nor a data object
	// (assembler labels, absolute symbols, linker-defined markers).
	SymOther SymbolKind = iota
	// SymFunc is a function (ELF STT_FUNC, or kallsyms type t/T).
	SymFunc
	// SymObject is a data object (ELF STT_OBJECT, or kallsyms d/D/b/B/r/R).
	SymObject
)

// String returns "func", "object" or "other".
func (k SymbolKind) String() string {
	switch k {
	case SymFunc:
		return "func"
	case SymObject:
		return "object"
	default:
		return "other"
	}
}

// Symbol is a named address in the kernel or in a loaded module.
type Symbol struct {
	Name string
	// Addr is the run-time address: for vmlinux symbols it includes the
	// slide of the View it came from (link-time for Image methods).
	Addr uint64
	// Size is the symbol's size in bytes, 0 if unknown.
	Size uint64
	Kind SymbolKind
	// Module is the module the symbol belongs to, "" for vmlinux.
	Module string
}

// sym is a table entry: a symbol plus what Lookup needs to rank it, in 40
// bytes (a kernel has 130k of them, and every byte of a fresh heap costs
// a page fault when the table is built).
type sym struct {
	Name   string
	Addr   uint64
	Size   uint64
	Kind   SymbolKind
	text   bool   // in executable code (a function or a label in a text section)
	global bool   // global or weak binding
	shndx  uint16 // ELF section index, for ReadData; 0 for added symbols
	module uint16 // 1 + index into symTable.modules; 0 for vmlinux
}

// symTable is a set of symbols sorted by address with a name index.
type symTable struct {
	byAddr  []sym
	modules []string   // names of the modules the symbols belong to (sym.module)
	names   *nameIndex // index into byAddr, built on first use (or in the background)
}

// symbol returns the entry as a Symbol.
func (t *symTable) symbol(s *sym) Symbol {
	out := Symbol{Name: s.Name, Addr: s.Addr, Size: s.Size, Kind: s.Kind}
	if s.module > 0 && int(s.module) <= len(t.modules) {
		out.Module = t.modules[s.module-1]
	}
	return out
}

// nameIndex maps a symbol name to its entry: an open-addressing hash of
// entry numbers (1 MiB for a kernel's 130k names, where a Go map took 7),
// built once, when a name is first looked up or by the goroutine
// buildTable starts, which then overlaps opening the dump.
type nameIndex struct {
	once  sync.Once
	syms  []sym
	seed  maphash.Seed
	slots []uint32 // 1 + entry number; 0 is empty; a power of two long
}

func (x *nameIndex) build() {
	x.once.Do(func() {
		n := 16
		for n < 2*len(x.syms) {
			n <<= 1
		}
		x.seed = maphash.MakeSeed()
		slots, free := offheap.Slice[uint32](n)
		runtime.AddCleanup(x, func(free func()) { free() }, free)
		mask := uint64(n - 1)
		for i := range x.syms {
			s := &x.syms[i]
			for j := maphash.String(x.seed, s.Name) & mask; ; j = (j + 1) & mask {
				if slots[j] == 0 {
					slots[j] = uint32(i + 1)
					break
				}
				if prev := &x.syms[slots[j]-1]; prev.Name == s.Name {
					// the first of equals in address order, a global one over a local one
					if !prev.global && s.global {
						slots[j] = uint32(i + 1)
					}
					break
				}
			}
		}
		x.slots = slots
	})
}

// byName finds the entry named name (a global one over a local one).
func (t *symTable) byName(name string) (int, bool) {
	x := t.names
	if x == nil {
		return 0, false
	}
	x.build()
	mask := uint64(len(x.slots) - 1)
	for j := maphash.String(x.seed, name) & mask; ; j = (j + 1) & mask {
		e := x.slots[j]
		if e == 0 {
			return 0, false
		}
		if x.syms[e-1].Name == name {
			return int(e - 1), true
		}
	}
}

// Image is an opened vmlinux (or any ELF object with a symbol table).
// Its methods are safe for concurrent use.
type Image struct {
	path   string
	file   *elf.File
	closer io.Closer
	mapped []byte // the file, mapped read-only by Open
	// mappingInUse is set once slices of mapped were handed out (DWARF
	// read lazily, sections): Close then leaves the file mapped
	closed, mappingInUse bool
	buildID              string

	mu     sync.RWMutex // guards closed and mappingInUse
	kernel symTable     // immutable once the image is open

	// an image loaded by LoadSnapshot has no file: its data and types
	// are the recorded ones
	snapData   map[string][]byte
	snapTypes  *SnapshotTypes
	snapSource string // where the recorded types came from

	// fromDump marks an image built by NewKallsymsImage: no file, its
	// symbols from the dump's kallsyms and its types from the dump's BTF
	fromDump bool

	dwarfOnce sync.Once
	dwarf     *dwarf.Data
	dwarfErr  error

	typesOnce sync.Once
	types     *Types
	typesErr  error

	btfOnce sync.Once
	btf     *BTFTypes
	btfErr  error
}

// textFallbackBound is how far past the nearest lower text symbol an
// address may lie and still be described relative to it, when no sized
// symbol contains it.
const textFallbackBound = 64 << 10

// maxReadData bounds ReadData so that a corrupt size cannot exhaust memory.
const maxReadData = 256 << 20

// Open opens the vmlinux at path. The ELF file may be ET_EXEC, ET_DYN or
// ET_REL; a missing symbol table or DWARF is not an error (Types reports
// the latter). Close the image when done with it.
func Open(path string) (*Image, error) { return OpenPrefetch(path, nil) }

// OpenPrefetch is Open that calls prefetch with the image once its ELF
// headers are read and before its symbol table is (a tenth to a quarter
// of a second on a kernel): the caller starts decoding what it will need
// next (types, unwind tables) in goroutines beside it. prefetch must not
// use the image's symbols. When the symbol table then fails to load, the
// file stays mapped (prefetch's goroutines may still read it).
func OpenPrefetch(path string, prefetch func(*Image)) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("symbols: open vmlinux: %w", err)
	}
	if mapped := mapFile(f); mapped != nil {
		im, err := newImage(bytes.NewReader(mapped), path, mapped, prefetch)
		f.Close()
		if err != nil {
			if prefetch == nil {
				syscall.Munmap(mapped)
			}
			return nil, err
		}
		return im, nil
	}
	im, err := newImage(f, path, nil, prefetch)
	if err != nil {
		f.Close()
		return nil, err
	}
	im.closer = f
	return im, nil
}

// NewImage reads an ELF image from r; name is used in error messages and
// returned by Path. The reader must stay valid while the image is used.
func NewImage(r io.ReaderAt, name string) (*Image, error) {
	return newImage(r, name, nil, nil)
}

func newImage(r io.ReaderAt, path string, mapped []byte, prefetch func(*Image)) (im *Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			im, err = nil, fmt.Errorf("symbols: %s: malformed ELF file: %v", path, p)
		}
	}()
	var magic [4]byte
	if n, err := r.ReadAt(magic[:], 0); n < len(magic) && err != nil && err != io.EOF {
		return nil, fmt.Errorf("symbols: %s: reading the ELF header: %w", path, err)
	} else if n < len(magic) || string(magic[:]) != elf.ELFMAG {
		return nil, fmt.Errorf("symbols: %s is not an ELF file (no \\x7fELF magic)", path)
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		if msg := truncatedELF(mapped); msg != "" {
			return nil, fmt.Errorf("symbols: %s: %s", path, msg)
		}
		return nil, fmt.Errorf("symbols: %s: malformed ELF file: %w", path, err)
	}
	switch ef.Type {
	case elf.ET_EXEC, elf.ET_DYN, elf.ET_REL:
	default:
		return nil, fmt.Errorf("symbols: %s is an ELF file of type %v, want an executable kernel image (ET_EXEC or ET_DYN)", path, ef.Type)
	}
	im = &Image{path: path, file: ef, mapped: mapped}
	im.buildID = readBuildID(ef)
	if prefetch != nil {
		prefetch(im)
	}
	if err := im.loadSymbols(); err != nil {
		return nil, err
	}
	return im, nil
}

// Close releases the file opened by Open. Call Types before Close if
// types are needed: a Types already built keeps working after Close (its
// DWARF is in memory), but the first call to Types reads the file.
func (im *Image) Close() error {
	// A mapped file stays mapped once slices of it were handed out: the
	// symbol names (read in place from .strtab, so a 64-bit little-endian
	// image's mapping is always in use), sections, DWARF read lazily.
	// Only an image read through debug/elf (another class or byte order)
	// is unmapped here. The mapping is address space and reclaimable page
	// cache, not heap.
	im.mu.Lock()
	if im.mapped != nil && !im.mappingInUse {
		syscall.Munmap(im.mapped)
		im.mapped = nil
		im.closed = true
	}
	im.mu.Unlock()
	if im.closer == nil {
		return nil
	}
	err := im.closer.Close()
	im.closer = nil
	if err != nil {
		return fmt.Errorf("symbols: close %s: %w", im.path, err)
	}
	return nil
}

// Path returns the file name the image was opened from.
func (im *Image) Path() string { return im.path }

// BuildID returns the GNU build-id (NT_GNU_BUILD_ID note) in lower-case
// hex, or "" if the image has none.
func (im *Image) BuildID() string { return im.buildID }

// readBuildID looks for an NT_GNU_BUILD_ID note in the note sections, or
// in PT_NOTE segments when there are no section headers.
func readBuildID(ef *elf.File) string {
	var blobs [][]byte
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOTE {
			if b, err := s.Data(); err == nil {
				blobs = append(blobs, b)
			}
		}
	}
	if len(blobs) == 0 {
		for _, p := range ef.Progs {
			if p.Type == elf.PT_NOTE && p.Filesz > 0 && p.Filesz < 1<<20 {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					blobs = append(blobs, b)
				}
			}
		}
	}
	for _, b := range blobs {
		if id := findBuildID(b, ef.ByteOrder); id != "" {
			return id
		}
	}
	return ""
}

// findBuildID parses ELF notes (4-byte aligned, as both ELF classes use
// for GNU notes) and returns the hex descriptor of NT_GNU_BUILD_ID.
func findBuildID(b []byte, order binary.ByteOrder) string {
	const ntGNUBuildID = 3
	align := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(b) >= 12 {
		namesz := uint64(order.Uint32(b[0:]))
		descsz := uint64(order.Uint32(b[4:]))
		typ := order.Uint32(b[8:])
		b = b[12:]
		if namesz > uint64(len(b)) || align(namesz) > uint64(len(b)) {
			return ""
		}
		name := b[:namesz]
		b = b[align(namesz):]
		if descsz > uint64(len(b)) {
			return ""
		}
		desc := b[:descsz]
		if align(descsz) > uint64(len(b)) {
			b = nil
		} else {
			b = b[align(descsz):]
		}
		if typ == ntGNUBuildID && bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("GNU")) && len(desc) > 0 {
			return hex.EncodeToString(desc)
		}
	}
	return ""
}

// loadSymbols reads .symtab (or .dynsym when there is no .symtab).
func (im *Image) loadSymbols() error {
	if syms, release, ok, err := im.mappedSymbols(); ok || err != nil {
		if err != nil {
			return err
		}
		im.kernel = buildTable(syms, nil)
		runtime.AddCleanup(im.kernel.names, func(release func()) { release() }, release)
		return nil
	}
	esyms, err := im.file.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		esyms, err = im.file.DynamicSymbols()
		if errors.Is(err, elf.ErrNoSymbols) {
			esyms, err = nil, nil
		}
	}
	if err != nil {
		return fmt.Errorf("symbols: %s: reading symbol table: %w", im.path, err)
	}
	syms := make([]sym, 0, len(esyms))
	for _, es := range esyms {
		if s, ok := im.classify(es.Name, es.Info, es.Section, es.Value, es.Size); ok {
			syms = append(syms, s)
		}
	}
	im.kernel = buildTable(syms, nil)
	return nil
}

// mappedSymbols reads a 64-bit little-endian .symtab straight from the
// mapped file: the names are substrings of the mapped .strtab, where
// debug/elf allocates a string and a record per symbol (a kernel has
// 130k). ok is false when the file is not mapped or not such an ELF file.
func (im *Image) mappedSymbols() (syms []sym, release func(), ok bool, err error) {
	f := im.file
	if im.mapped == nil || f.Class != elf.ELFCLASS64 || f.ByteOrder != binary.LittleEndian {
		return nil, nil, false, nil
	}
	st := f.Section(".symtab")
	if st == nil || st.Type != elf.SHT_SYMTAB || int(st.Link) >= len(f.Sections) {
		return nil, nil, false, nil
	}
	str := f.Sections[st.Link]
	section := func(s *elf.Section) ([]byte, error) {
		if b, ok := im.mappedBytes(s); ok {
			return b, nil
		}
		return nil, fmt.Errorf("symbols: %s: section %s at 0x%x+0x%x is not in the file (%d bytes)", im.path, s.Name, s.Offset, s.Size, len(im.mapped))
	}
	tab, err := section(st)
	if err != nil {
		return nil, nil, true, err
	}
	strBytes, err := section(str)
	if err != nil {
		return nil, nil, true, err
	}
	const entSize = 24 // Elf64_Sym
	if len(tab)%entSize != 0 {
		return nil, nil, true, fmt.Errorf("symbols: %s: .symtab is %d bytes, not a multiple of %d", im.path, len(tab), entSize)
	}
	// the names are read in place: the mapping outlives Close (mappedBytes)
	strs := unsafe.String(unsafe.SliceData(strBytes), len(strBytes))
	le := binary.LittleEndian
	// first the addresses of the entries kept, sorted; then the entries,
	// built in that order (sorting built entries moved 40 bytes at a time
	// through cache misses: most of the time to open a vmlinux)
	n := len(tab) / entSize
	// the keys and the table live outside the Go heap (package offheap):
	// megabytes of fresh memory, faulted in 2 MiB at a time where the
	// kernel allows; the table's names are in the mapping too
	keyBuf, freeKeys := offheap.Slice[symKey](n)
	defer freeKeys()
	keys := keyBuf[:0]
	for i := 1; i < n; i++ { // entry 0 is the null symbol
		e := tab[i*entSize:]
		nameOff := int(le.Uint32(e))
		if nameOff >= len(strs) {
			return nil, nil, true, fmt.Errorf("symbols: %s: symbol %d names offset 0x%x, past .strtab's end (0x%x)", im.path, i, nameOff, len(strs))
		}
		if keep(strs[nameOff:], e[4], elf.SectionIndex(le.Uint16(e[6:]))) {
			keys = append(keys, symKey{le.Uint64(e[8:]), uint32(i)})
		}
	}
	tmp, freeTmp := offheap.Slice[symKey](len(keys))
	defer freeTmp()
	keys = radixSortKeys(keys, tmp)
	// the entries' names point into the mapping, never into the Go heap,
	// as offheap requires; loadSymbols releases the table with the name
	// index, which every reader of it reaches (the goroutine building the
	// index holds only the index)
	syms, release = offheap.Slice[sym](len(keys))
	for j, k := range keys {
		e := tab[int(k.i)*entSize:]
		name := strs[le.Uint32(e):]
		if i := strings.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		syms[j], _ = im.classify(name, e[4], elf.SectionIndex(le.Uint16(e[6:])), le.Uint64(e[8:]), le.Uint64(e[16:]))
	}
	sortTies(syms)
	return syms, release, true, nil
}

// keep tells from its name (what follows may be the rest of a string
// table), its type and its section whether classify keeps an ELF symbol.
// Besides unnamed, undefined and mapping symbols, sections and files, it
// drops what names no code or variable of the kernel: the exported-symbol
// tables' entries and strings (__ksymtab_*, __kstrtab_*, __kstrtabns_*)
// and the padding before each function of 6.2+ kernels (__pfx_*): 42% of
// a 7.2 vmlinux's 230k symbols.
func keep(name string, info byte, shndx elf.SectionIndex) bool {
	if name == "" || name[0] == 0 || name[0] == '$' || shndx == elf.SHN_UNDEF {
		return false
	}
	if name[0] == '_' && (strings.HasPrefix(name, "__pfx_") || strings.HasPrefix(name, "__ksymtab_") || strings.HasPrefix(name, "__kstrtab")) {
		return false
	}
	switch elf.ST_TYPE(info) {
	case elf.STT_FUNC, elf.STT_OBJECT, elf.STT_TLS, elf.STT_COMMON, elf.STT_NOTYPE, elf.STT_GNU_IFUNC:
		return true
	}
	return false
}

// classify turns an ELF symbol into a table entry, or says to skip it
// (unnamed, undefined, mapping symbols, sections, files).
func (im *Image) classify(name string, info byte, shndx elf.SectionIndex, value, size uint64) (sym, bool) {
	if !keep(name, info, shndx) {
		return sym{}, false
	}
	st := elf.ST_TYPE(info)
	var s sym
	switch st {
	case elf.STT_FUNC:
		s.Kind = SymFunc
		s.text = true
	case elf.STT_OBJECT, elf.STT_TLS, elf.STT_COMMON:
		s.Kind = SymObject
	case elf.STT_NOTYPE:
		s.Kind = SymOther
		if int(shndx) < len(im.file.Sections) && shndx < elf.SHN_LORESERVE {
			s.text = im.file.Sections[shndx].Flags&elf.SHF_EXECINSTR != 0
		}
	case elf.STT_GNU_IFUNC: // the last type keep lets through
		s.Kind = SymFunc
		s.text = true
	}
	s.Name = name
	s.Addr = value
	s.Size = size
	b := elf.ST_BIND(info)
	s.global = b == elf.STB_GLOBAL || b == elf.STB_WEAK
	s.shndx = uint16(shndx) // ELF section indexes are 16-bit
	return s, true
}

// better reports whether a should be preferred over b when both start at
// the same address: sized before unsized, functions before objects
// before others, global before local, fewer leading underscores, then by
// name for determinism.
func better(a, b *sym) bool {
	if (a.Size > 0) != (b.Size > 0) {
		return a.Size > 0
	}
	rank := func(s *sym) int {
		switch s.Kind {
		case SymFunc:
			return 0
		case SymObject:
			return 1
		}
		return 2
	}
	if rank(a) != rank(b) {
		return rank(a) < rank(b)
	}
	if a.global != b.global {
		return a.global
	}
	ua := len(a.Name) - len(strings.TrimLeft(a.Name, "_"))
	ub := len(b.Name) - len(strings.TrimLeft(b.Name, "_"))
	if ua != ub {
		return ua < ub
	}
	return a.Name < b.Name
}

// buildTable sorts syms in place (it takes them over) into a table of
// the given modules' symbols (sym.module indexes modules).
func buildTable(syms []sym, modules []string) symTable {
	sortSyms(syms)
	t := symTable{byAddr: syms, modules: modules, names: &nameIndex{syms: syms}}
	if len(syms) > 10000 {
		go t.names.build()
	}
	return t
}

// symKey is an entry's address and where the entry is, for sorting.
type symKey struct {
	addr uint64
	i    uint32
}

// sortSyms orders syms by address, and those at one address by better
// (with the size, section and module after it, a total order, so the
// result does not depend on the input's order): the addresses are radix
// sorted, then the entries moved once into place.
func sortSyms(syms []sym) {
	n := len(syms)
	if n < 2 || isSorted(syms) {
		return
	}
	keys := make([]symKey, n)
	for i := range syms {
		keys[i] = symKey{syms[i].Addr, uint32(i)}
	}
	keys = radixSortKeys(keys, make([]symKey, n))
	// keys[j].i is the entry that belongs at j: follow each cycle of the
	// permutation, marking the places filled
	const done = ^uint32(0)
	for start := range keys {
		if keys[start].i == done || int(keys[start].i) == start {
			continue
		}
		saved := syms[start]
		j := start
		for {
			from := int(keys[j].i)
			keys[j].i = done
			if from == start {
				syms[j] = saved
				break
			}
			syms[j] = syms[from]
			j = from
		}
	}
	sortTies(syms)
}

// radixSortKeys sorts keys by address, stably, 16 bits at a time (the
// digits where all addresses agree are skipped), with tmp (as long as
// keys) for scratch; the sorted keys are in keys or in tmp.
func radixSortKeys(keys, tmp []symKey) []symKey {
	if len(keys) < 2 {
		return keys
	}
	var or, and uint64 = 0, ^uint64(0)
	for _, k := range keys {
		or |= k.addr
		and &= k.addr
	}
	count := make([]uint32, 1<<16)
	for shift := uint(0); shift < 64; shift += 16 {
		if (or^and)>>shift&0xffff == 0 {
			continue // every address has the same digit here
		}
		clear(count)
		for _, k := range keys {
			count[k.addr>>shift&0xffff]++
		}
		var sum uint32
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, k := range keys {
			d := k.addr >> shift & 0xffff
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	return keys
}

// isSorted reports whether syms is in sortSyms' order already (a table
// mappedSymbols built).
func isSorted(syms []sym) bool {
	for i := 1; i < len(syms); i++ {
		if a, b := &syms[i-1], &syms[i]; a.Addr > b.Addr || a.Addr == b.Addr && compareTies(a, b) > 0 {
			return false
		}
	}
	return true
}

// compareTies orders two entries at one address: by better, then by size,
// section and module.
func compareTies(a, b *sym) int {
	switch {
	case better(a, b):
		return -1
	case better(b, a):
		return 1
	}
	return cmp.Or(cmp.Compare(a.Size, b.Size), cmp.Compare(a.shndx, b.shndx), cmp.Compare(a.module, b.module))
}

// sortTies orders the entries at each address (a few aliases at most) by
// rank, in a table sorted by address.
func sortTies(syms []sym) {
	for lo := 0; lo < len(syms); {
		hi := lo + 1
		for hi < len(syms) && syms[hi].Addr == syms[lo].Addr {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(syms[lo:hi], func(x, y sym) int { return compareTies(&x, &y) })
		}
		lo = hi
	}
}

// lookup finds the symbol for addr in t. quality is 2 when a sized
// symbol contains addr, 1 for the nearest-lower-text fallback, 0 for none.
func (t *symTable) lookup(addr uint64) (s *sym, quality int) {
	syms := t.byAddr
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Addr > addr }) - 1
	if i < 0 {
		return nil, 0
	}
	// Symbols at the greatest address <= addr come first in rank order,
	// so the first containing one found is the best. Scan back a little
	// further for a sized symbol that encloses addr past smaller labels.
	const maxScan = 64
	for j := i; j >= 0 && i-j < maxScan; j-- {
		c := &syms[j]
		if c.Size > 0 && addr-c.Addr < c.Size {
			// Prefer the best-ranked symbol at that same address.
			k := j
			for k > 0 && syms[k-1].Addr == c.Addr {
				k--
			}
			for ; k <= j; k++ {
				if syms[k].Size > 0 && addr-syms[k].Addr < syms[k].Size {
					return &syms[k], 2
				}
			}
			return c, 2
		}
	}
	// Fall back to the symbols at the nearest lower address, if they are
	// code: like kallsyms, an address in a function without a size (an
	// assembler routine) or in padding after one belongs to it.
	if addr-syms[i].Addr >= textFallbackBound {
		return nil, 0
	}
	k := i
	for k > 0 && syms[k-1].Addr == syms[i].Addr {
		k--
	}
	for ; k <= i; k++ {
		if syms[k].text {
			return &syms[k], 1
		}
	}
	return nil, 0
}

// Symbol returns the named vmlinux symbol at its link-time address (no
// KASLR slide, no module symbols: see View for a dump's run-time view).
func (im *Image) Symbol(name string) (Symbol, bool) {
	return im.symbol(name, 0)
}

func (im *Image) symbol(name string, slide uint64) (Symbol, bool) {
	if i, ok := im.kernel.byName(name); ok {
		s := im.kernel.symbol(&im.kernel.byAddr[i])
		if !im.isPerCPU(s.Addr) {
			s.Addr += slide
		}
		return s, true
	}
	return Symbol{}, false
}

// Addr returns the link-time address of the named vmlinux symbol.
func (im *Image) Addr(name string) (uint64, error) {
	return addrOf(im.path, name, im.Symbol)
}

func addrOf(path, name string, find func(string) (Symbol, bool)) (uint64, error) {
	s, ok := find(name)
	if !ok {
		return 0, &notFoundError{what: "symbol " + name, file: path}
	}
	return s.Addr, nil
}

// Lookup returns the vmlinux symbol containing the link-time address addr
// and addr's offset into it. A sized symbol that contains addr is
// preferred (functions first); when there is none and the nearest lower
// symbol is code within 64 KiB, that symbol is used, as kallsyms would.
func (im *Image) Lookup(addr uint64) (Symbol, uint64, bool) {
	s, q := im.kernel.lookup(addr)
	if q == 0 {
		return Symbol{}, 0, false
	}
	return im.kernel.symbol(s), addr - s.Addr, true
}

// Describe renders a link-time addr as "name+0xoff", or as "0x..." when no
// symbol covers it.
func (im *Image) Describe(addr uint64) string { return describe(addr, im.Lookup) }

func describe(addr uint64, lookup func(uint64) (Symbol, uint64, bool)) string {
	s, off, ok := lookup(addr)
	if !ok {
		return fmt.Sprintf("%#x", addr)
	}
	d := fmt.Sprintf("%s+%#x", s.Name, off)
	if off == 0 {
		d = s.Name + "+0x0"
	}
	if s.Module != "" {
		d += " [" + s.Module + "]"
	}
	return d
}

// kernelImageStart is x86_64's __START_KERNEL_map. KASLR moves only the
// symbols of the kernel image; per-CPU symbols (linked at small absolute
// addresses and used as offsets from __per_cpu_offset) stay put.
const kernelImageStart = 0xffffffff80000000

// isPerCPU reports whether addr is a per-CPU symbol of an x86_64 kernel:
// one linked below the kernel image map in an image whose text is in it.
func (im *Image) isPerCPU(addr uint64) bool {
	if addr >= kernelImageStart {
		return false
	}
	if i, ok := im.kernel.byName("_text"); ok {
		return im.kernel.byAddr[i].Addr >= kernelImageStart
	}
	return false
}

// ReadData returns the initialized bytes of the named vmlinux data symbol
// (Size bytes from its section in the file), e.g. linux_banner. Symbols in
// .bss or without a size are errors.
func (im *Image) ReadData(name string) (data []byte, err error) {
	if im.file == nil {
		if d, ok := im.snapData[name]; ok {
			return d, nil
		}
		return nil, &notFoundError{what: "data of symbol " + name, file: im.path}
	}
	im.mu.RLock()
	if im.closed {
		im.mu.RUnlock()
		return nil, fmt.Errorf("symbols: %s: ReadData after Close", im.path)
	}
	i, ok := im.kernel.byName(name)
	var s sym
	if ok {
		s = im.kernel.byAddr[i]
	}
	im.mu.RUnlock()
	if !ok {
		return nil, &notFoundError{what: "symbol " + name, file: im.path}
	}
	if s.Size == 0 {
		return nil, fmt.Errorf("symbols: symbol %s in %s has no size", name, im.path)
	}
	if s.Size > maxReadData {
		return nil, fmt.Errorf("symbols: symbol %s in %s is too large to read (%d bytes)", name, im.path, s.Size)
	}
	if elf.SectionIndex(s.shndx) >= elf.SHN_LORESERVE || int(s.shndx) >= len(im.file.Sections) {
		return nil, fmt.Errorf("symbols: symbol %s in %s is not in a file section", name, im.path)
	}
	sec := im.file.Sections[s.shndx]
	if sec.Type == elf.SHT_NOBITS {
		return nil, fmt.Errorf("symbols: symbol %s is in %s (no initialized data in %s)", name, sec.Name, im.path)
	}
	// In executables symbol values are addresses; in relocatable objects
	// they are offsets into the section (whose Addr is 0).
	off := s.Addr - sec.Addr
	if s.Addr < sec.Addr || off > sec.Size || s.Size > sec.Size-off {
		return nil, fmt.Errorf("symbols: symbol %s (%#x, %d bytes) lies outside its section %s in %s", name, s.Addr, s.Size, sec.Name, im.path)
	}
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("symbols: reading %s from %s in %s: %v", name, sec.Name, im.path, p)
		}
	}()
	rs := sec.Open()
	if _, err := rs.Seek(int64(off), io.SeekStart); err != nil {
		return nil, fmt.Errorf("symbols: reading %s from %s in %s: %w", name, sec.Name, im.path, err)
	}
	// Grow the buffer as data arrives rather than trusting the size up
	// front: a corrupt header must not cost a huge allocation.
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(rs, int64(s.Size)))
	if err == nil && uint64(n) < s.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("symbols: reading %s from %s in %s: %w", name, sec.Name, im.path, err)
	}
	return buf.Bytes(), nil
}

// truncatedELF says, for a 64-bit little-endian ELF file that debug/elf
// could not read, whether its section header table lies past its end (a
// vmlinux cut short in a copy: debug/elf says only "EOF"); "" otherwise.
func truncatedELF(b []byte) string {
	if len(b) < 64 || b[4] != byte(elf.ELFCLASS64) || b[5] != byte(elf.ELFDATA2LSB) {
		return ""
	}
	le := binary.LittleEndian
	shoff, shentsize, shnum := le.Uint64(b[0x28:]), uint64(le.Uint16(b[0x3a:])), uint64(le.Uint16(b[0x3c:]))
	if end := shoff + shentsize*shnum; end > uint64(len(b)) && shoff < 1<<62 {
		return fmt.Sprintf("truncated ELF file: its %d section headers at offset 0x%x end at 0x%x, past the end of the file (0x%x bytes)", shnum, shoff, end, len(b))
	}
	return ""
}
