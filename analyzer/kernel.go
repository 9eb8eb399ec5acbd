// Package analyzer is vmtriage's model of the kernel in a dump: tasks and
// their stacks, run queues, wait queues, journals, direct-I/O requests,
// open files and paths, read through the dump's own type information.
// Nothing here knows a field offset: every layout comes from the vmlinux's
// DWARF, and where kernels renamed a member the accessors try each name.
package analyzer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/addrspace"
)

// Kernel is an opened dump with its vmlinux.
type Kernel struct {
	Dump  *vmcore.Dump
	Mem   *addrspace.Space
	Syms  *symbols.View // the vmlinux as this dump sees it: KASLR slide and module symbols
	Types *TypeSet

	// Layout is the dump's memory map and how it was found.
	Layout addrspace.Detected
	// Features are the kernel-line differences detected once at open.
	Features Features
	// TypesFrom says where the vmlinux's type layouts come from: TypesBTF
	// or TypesDWARF (for a replayed recording, the source it recorded;
	// TypesSnapshot when it does not say).
	TypesFrom string
	// SymbolsFrom says where symbols come from: "elf" (the vmlinux's
	// symbol table).
	SymbolsFrom string

	mu       sync.Mutex // guards warnings and warned
	warnings []string
	warned   map[string]bool
	modules  []Module
	// background counts the walks of the dump started ahead of need
	// (PrefetchSlabs); closing (set under mu) makes them stop, and Close
	// waits for them. prefetchFrames reads only the vmlinux, whose mapping
	// outlives the kernel: nothing waits for it.
	background    sync.WaitGroup
	closing       atomic.Bool
	prefetchSlabs sync.Once

	unwind kernelTablesOnce // UnwindTables

	ignoreVMCOREINFO bool
	ctx              context.Context

	// the dump does not change: its task list, mount table and journals
	// are read once, whoever asks (rules, the wait-for graph, views)
	tasks    memo[[]Task, Task]
	mounts   memo[[]Mount, Mount]
	journals memo[[]Journal, Journal]

	codeOnce   sync.Once
	codeImpl   Code        // see code()
	codeReplay Code        // Options.Code
	codeRec    *CodeRecord // Recording.Code
}

// memo is a value read from the dump once; get returns a copy of the
// slice, so callers may reorder or append to it.
type memo[T ~[]E, E any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T, E]) get(read func() (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = read() })
	return append(T(nil), m.v...), m.err
}

// vmcoreinfo reads a VMCOREINFO key, unless told to ignore the note.
func (k *Kernel) vmcoreinfo(key string) (string, bool) {
	if k.ignoreVMCOREINFO {
		return "", false
	}
	return k.Dump.VMCoreInfoValue(key)
}

// Options tune how a dump is opened.
type Options struct {
	// DebugDirs are searched for the loaded modules' debug info
	// (NAME.ko or NAME.ko.debug, at any depth), whose types the vmlinux
	// lacks on distribution kernels (ext4, jbd2, ...).
	// /usr/lib/debug/lib/modules/RELEASE is always searched.
	DebugDirs []string
	// IgnoreVMCOREINFO makes the dump's VMCOREINFO note unseen: KASLR is
	// then found from CR3 and linux_banner, as for a dump without one
	// (for a note that lies, and to test that path on any dump).
	IgnoreVMCOREINFO bool
	// Record, when set, collects the pages and vmlinux parts the analysis
	// reads (see Recording).
	Record *Recording
	// Context, when set, abandons the analysis once it is done: every
	// read of the dump then fails, and Err says why.
	Context context.Context
	// Code, when set, replays the code questions (unwind tables, inline
	// frames, frame locals) of a recorded analysis (Recording.Code).
	Code *CodeRecord
	// Types chooses where type layouts come from: "btf" (the vmlinux's
	// .BTF section), "dwarf", or "" for BTF when the vmlinux has it (a
	// few MB, read in milliseconds) and DWARF otherwise. DWARF is still
	// read for inline frames and frame locals.
	Types string
}

// Type sources, as Kernel.TypesFrom names them.
const (
	TypesBTF      = "btf"
	TypesDWARF    = "dwarf"
	TypesSnapshot = "snapshot"
)

// typeSource picks the kernel's type source (see Options.Types).
func typeSource(im *symbols.Image, want string) (symbols.TypeSource, *symbols.BTFTypes, string, error) {
	if im.FromDump() { // no vmlinux: the BTF in the dump (see nodebug.go)
		if want != "" && want != TypesBTF {
			return nil, nil, "", fmt.Errorf("without a vmlinux the types can only come from the BTF in the dump (not %q)", want)
		}
		bt, err := im.BTF()
		return bt, bt, TypesBTFFromDump, err
	}
	if im.IsSnapshot() {
		// a replay reports the source the recording read
		src, err := im.TypeSource()
		from := im.SnapshotSource()
		if from == "" {
			from = TypesSnapshot
		}
		return src, nil, from, err
	}
	switch want {
	case "", TypesBTF:
		bt, err := im.BTF()
		if err == nil {
			return bt, bt, TypesBTF, nil
		}
		if want == TypesBTF {
			return nil, nil, "", err
		}
	case TypesDWARF:
	default:
		return nil, nil, "", fmt.Errorf("unknown type source %q (want btf or dwarf)", want)
	}
	t, err := im.Types()
	return t, nil, TypesDWARF, err
}

// Open opens a dump and the vmlinux it was taken from.
func Open(dumpPath, vmlinuxPath string) (*Kernel, error) {
	return OpenWith(dumpPath, vmlinuxPath, Options{})
}

// OpenWith opens a dump and its vmlinux with options.
func OpenWith(dumpPath, vmlinuxPath string, opt Options) (*Kernel, error) {
	// the dump and the vmlinux are opened side by side, and what the
	// analysis reads of the vmlinux first (its BTF, its unwind tables) is
	// decoded while the dump's layout is detected
	type opened struct {
		d   *vmcore.Dump
		err error
	}
	dc := make(chan opened, 1)
	go func() {
		d, err := vmcore.Open(dumpPath)
		dc <- opened{d, err}
	}()
	im, imErr := openImage(vmlinuxPath, opt)
	r := <-dc
	if r.err != nil {
		if imErr == nil {
			im.Close()
		}
		return nil, r.err
	}
	if imErr != nil {
		r.d.Close()
		return nil, imErr
	}
	k, err := newOwning(r.d, im, opt)
	if err != nil {
		r.d.Close()
		return nil, err
	}
	return k, nil
}

// ModuleDebugRoot holds the module debug directories searched by the
// dump's release (ModuleDebugRoot/RELEASE), besides Options.DebugDirs.
const ModuleDebugRoot = "/usr/lib/debug/lib/modules"

// NewWithVmlinux builds the kernel model over an opened dump (one opened to
// find its vmlinux) and the vmlinux at vmlinuxPath, decoding the vmlinux's
// types and unwind tables beside its symbol table as OpenWith does. On
// error the dump is left open.
func NewWithVmlinux(d *vmcore.Dump, vmlinuxPath string, opt Options) (*Kernel, error) {
	im, err := openImage(vmlinuxPath, opt)
	if err != nil {
		return nil, err
	}
	return newOwning(d, im, opt)
}

// openImage opens a vmlinux, its types and unwind tables decoded in the
// background beside its symbol table (prewarm).
func openImage(path string, opt Options) (*symbols.Image, error) {
	return symbols.OpenPrefetch(path, func(im *symbols.Image) { prewarm(im, opt) })
}

// newOwning is NewWith over an image opened for this kernel: closed on
// error.
func newOwning(d *vmcore.Dump, im *symbols.Image, opt Options) (*Kernel, error) {
	k, err := NewWith(d, im, opt)
	if err != nil {
		im.Close()
		return nil, err
	}
	return k, nil
}

// prewarm decodes in the background, beside the symbol table, what
// NewWith and the first backtrace read from a vmlinux (the types, the
// unwind tables: each computed once per image).
func prewarm(im *symbols.Image, opt Options) {
	if opt.Code != nil || im.IsSnapshot() || im.FromDump() {
		return
	}
	switch opt.Types {
	case "", TypesBTF:
		go im.BTF()
	case TypesDWARF:
		go im.Types()
	}
	go readImageTables(im)
}

// New builds the kernel model over an opened dump and symbol image.
func New(d *vmcore.Dump, im *symbols.Image) (*Kernel, error) {
	return NewWith(d, im, Options{})
}

// NewWith builds the kernel model with options.
func NewWith(d *vmcore.Dump, im *symbols.Image, opt Options) (*Kernel, error) {
	types, bt, from, err := typeSource(im, opt.Types)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Dump: d, Types: newTypeSet(types), TypesFrom: from, SymbolsFrom: "elf", ignoreVMCOREINFO: opt.IgnoreVMCOREINFO}
	k.Types.btf = bt
	if opt.Code != nil {
		k.codeReplay = replayCode{rec: opt.Code}
	} else if im.FromDump() {
		k.codeReplay = &dumpCode{k: k} // ORC from the dump, no DWARF
	}
	if im.FromDump() {
		k.SymbolsFrom = SymbolsKallsyms
	}
	var phys addrspace.Dump = d
	link := linkSymbols{im: im}
	if opt.Context != nil {
		k.ctx = opt.Context
		phys = cancellableDump{Dump: phys, ctx: opt.Context}
	}
	if opt.Record != nil {
		phys = opt.Record.wrap(phys)
		link.rec = opt.Record.Symbols
		k.Types.rec = opt.Record.Symbols
		opt.Record.Symbols.Source(from)
		k.codeRec = opt.Record.Code
		if s, ok := im.Symbol("_text"); ok { // per-CPU symbols are told apart by it
			opt.Record.Symbols.Symbol(s, true)
		}
	}
	det, err := addrspace.DetectX86_64(phys, link, addrspace.DetectOptions{IgnoreVMCOREINFO: opt.IgnoreVMCOREINFO})
	if err != nil {
		return nil, err
	}
	k.Layout = det
	k.warnings = append(k.warnings, det.Warnings...)
	k.Syms = im.View(det.Slide)
	if opt.Record != nil {
		k.Syms.Record(opt.Record.Symbols)
	}
	k.Mem = addrspace.New(phys, det.Layout)
	if err := k.checkBuildID(); err != nil {
		return nil, err
	}
	if err := k.checkBanner(); err != nil {
		return nil, err
	}
	k.probeModules(&k.Features)
	k.loadModules()
	if im.FromDump() {
		k.addModuleBTF() // the modules' types are in the dump too
	}
	dirs := append([]string(nil), opt.DebugDirs...)
	if rel, ok := k.vmcoreinfo("OSRELEASE"); ok {
		dirs = append(dirs, filepath.Join(ModuleDebugRoot, rel))
	}
	var names []string
	for _, m := range k.modules {
		names = append(names, m.Name)
	}
	k.Types.AddModuleDebugDirs(dirs, names)
	k.detectFeatures(&k.Features)
	k.prefetchFrames()
	return k, nil
}

// linkSymbols gives layout detection the vmlinux's link-time addresses.
type linkSymbols struct {
	im  *symbols.Image
	rec *symbols.SnapshotBuilder
}

func (l linkSymbols) LinkAddr(name string) (uint64, bool) {
	s, ok := l.im.Symbol(name)
	if ok && l.rec != nil {
		l.rec.Symbol(s, s.Kind == symbols.SymFunc)
	}
	return s.Addr, ok
}

func (l linkSymbols) ReadData(name string) ([]byte, error) {
	d, err := l.im.ReadData(name)
	if err == nil && l.rec != nil {
		s, _ := l.im.Symbol(name)
		l.rec.Symbol(s, false)
		l.rec.Data(name, d)
	}
	return d, err
}

// Close releases the dump.
func (k *Kernel) Close() error {
	k.mu.Lock()
	k.closing.Store(true)
	k.mu.Unlock()
	k.background.Wait()
	return k.Dump.Close()
}

// Warnings are problems met while reading that did not stop the analysis.
// The dump's own warnings come first, read now: reading pages may have
// added some (a bad bitmap chunk) since the dump was opened.
func (k *Kernel) Warnings() []string {
	out := k.Dump.Warnings()
	k.mu.Lock()
	defer k.mu.Unlock()
	return append(out, k.warnings...)
}

func (k *Kernel) warnf(format string, args ...any) {
	k.mu.Lock()
	k.warnings = append(k.warnings, fmt.Sprintf(format, args...))
	k.mu.Unlock()
}

// Warnf records a warning for the report (a read that failed, a value
// assumed), for layers above the analyzer.
func (k *Kernel) Warnf(format string, args ...any) { k.warnf(format, args...) }

// warnOncef records a warning once per key (a task, an address).
func (k *Kernel) warnOncef(key, format string, args ...any) {
	k.mu.Lock()
	if k.warned == nil {
		k.warned = map[string]bool{}
	}
	seen := k.warned[key]
	k.warned[key] = true
	k.mu.Unlock()
	if !seen {
		k.warnf(format, args...)
	}
}

// checkBuildID compares VMCOREINFO's BUILD-ID with the vmlinux's.
func (k *Kernel) checkBuildID() error {
	want, ok := k.vmcoreinfo("BUILD-ID")
	got := k.Syms.BuildID()
	if !ok || got == "" {
		return nil
	}
	if !strings.EqualFold(want, got) {
		return fmt.Errorf("%s does not match %s: build-id %s, the dump's kernel is %s", k.Syms.Path(), k.Dump.Path(), got, want)
	}
	return nil
}

// checkBanner compares linux_banner in the vmlinux and in the dump, so a
// vmlinux from another build is an error, not a wrong report.
func (k *Kernel) checkBanner() error {
	if k.Syms.Image().FromDump() {
		return nil // the symbols are the dump's own: nothing to compare
	}
	want, err := k.Syms.ReadData("linux_banner")
	if err != nil {
		k.warnf("cannot check that the vmlinux matches the dump: %v", err)
		return nil
	}
	addr, _ := k.Syms.Addr("linux_banner")
	got := make([]byte, len(want))
	if err := k.Mem.Read(addr, got); err != nil {
		if errors.Is(err, vmcore.ErrTruncated) {
			return fmt.Errorf("%s is cut before the kernel's linux_banner, so it cannot be checked against %s: %w", k.Dump.Path(), k.Syms.Path(), err)
		}
		return fmt.Errorf("%s does not seem to match %s: its linux_banner cannot be read from the dump (%v)", k.Syms.Path(), k.Dump.Path(), err)
	}
	want, got = cstr(want), cstr(got)
	if !bytes.Equal(want, got) {
		return fmt.Errorf("%s does not match %s: its linux_banner is %q, the dump's is %q",
			k.Syms.Path(), k.Dump.Path(), want, got)
	}
	return nil
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// Addr is a symbol's address.
func (k *Kernel) Addr(name string) (uint64, error) { return k.Syms.Addr(name) }

// U64 reads a 64-bit word of kernel memory.
func (k *Kernel) U64(va uint64) (uint64, error) { return k.Mem.U64(va) }

// CString reads a NUL-terminated string of at most max bytes.
func (k *Kernel) CString(va uint64, max int) (string, error) {
	var out []byte
	buf := make([]byte, 64)
	for len(out) < max {
		n := 64 - int(va%64)
		if err := k.Mem.Read(va, buf[:n]); err != nil {
			return string(out), err
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:n]...)
		va += uint64(n)
	}
	return string(out[:max]), nil
}

// Object is a typed kernel object read from the dump.
type Object struct {
	k    *Kernel
	Type *symbols.Type
	Addr uint64
	data []byte
}

// Object reads an object of the named type ("struct dio", "transaction_t").
func (k *Kernel) Object(typeName string, addr uint64) (Object, error) {
	t, err := k.Types.Lookup(typeName)
	if err != nil {
		return Object{}, err
	}
	if addr == 0 {
		return Object{}, fmt.Errorf("%s at NULL", typeName)
	}
	return k.objectOfType(t, addr)
}

// initTask reads init_task, the first task (pid 0 of CPU 0).
func (k *Kernel) initTask() (Object, error) {
	a, err := k.Addr("init_task")
	if err != nil {
		return Object{}, err
	}
	return k.Object("struct task_struct", a)
}

// objectOfType reads an object of a type already looked up.
func (k *Kernel) objectOfType(t *symbols.Type, addr uint64) (Object, error) {
	if addr == 0 {
		return Object{}, fmt.Errorf("%s at NULL", t)
	}
	data := make([]byte, t.Size)
	if err := k.Mem.Read(addr, data); err != nil {
		return Object{}, fmt.Errorf("reading %s at 0x%x: %w", t, addr, err)
	}
	return Object{k: k, Type: t, Addr: addr, data: data}, nil
}

// Variable reads a global variable with the type its DWARF gives it.
func (k *Kernel) Variable(name string) (Object, error) {
	addr, err := k.Addr(name)
	if err != nil {
		return Object{}, err
	}
	t, err := k.Types.Variable(name)
	if err != nil {
		return Object{}, err
	}
	data := make([]byte, t.Size)
	if err := k.Mem.Read(addr, data); err != nil {
		return Object{}, fmt.Errorf("reading %s at 0x%x: %w", name, addr, err)
	}
	return Object{k: k, Type: t, Addr: addr, data: data}, nil
}

// Has reports whether the object's type has a member.
func (o Object) Has(path string) bool { return o.Type != nil && o.Type.HasField(path) }

// FieldAddr is the address of a member.
func (o Object) FieldAddr(path string) (uint64, error) {
	f, err := o.Type.Field(path)
	if err != nil {
		return 0, err
	}
	return o.Addr + f.Offset, nil
}

// Uint reads an integer, enum or pointer member (bitfields included).
func (o Object) Uint(path string) (uint64, error) {
	f, err := o.Type.Field(path)
	if err != nil {
		return 0, err
	}
	rt := f.Type.Resolve()
	size := rt.Size
	if size == 0 || size > 8 || f.Offset+size > uint64(len(o.data)) {
		return 0, fmt.Errorf("%s.%s at 0x%x: cannot read a %d-byte %s as an integer", o.Type, path, o.Addr+f.Offset, size, f.Type)
	}
	var buf [8]byte
	copy(buf[:], o.data[f.Offset:f.Offset+size])
	v := binary.LittleEndian.Uint64(buf[:])
	if f.BitSize > 0 {
		v = v >> f.BitOffset & (1<<f.BitSize - 1)
	}
	return v, nil
}

// Int reads a signed integer member, sign-extended.
func (o Object) Int(path string) (int64, error) {
	v, err := o.Uint(path)
	if err != nil {
		return 0, err
	}
	f, _ := o.Type.Field(path)
	bits := f.Type.Resolve().Size * 8
	if f.BitSize > 0 {
		bits = f.BitSize
	}
	if bits < 64 && v&(1<<(bits-1)) != 0 {
		v |= ^uint64(0) << bits
	}
	return int64(v), nil
}

// First reads the first of several member names that the type has (for
// members renamed between kernel versions, such as state and __state).
func (o Object) First(paths ...string) (uint64, error) {
	for _, p := range paths {
		if o.Has(p) {
			return o.Uint(p)
		}
	}
	return 0, fmt.Errorf("%s has none of the members %q", o.Type, paths)
}

// Chars reads a char array member as a string.
func (o Object) Chars(path string) (string, error) {
	f, err := o.Type.Field(path)
	if err != nil {
		return "", err
	}
	end := f.Offset + f.Type.Resolve().Size
	if end > uint64(len(o.data)) {
		return "", fmt.Errorf("%s.%s: beyond the object", o.Type, path)
	}
	return string(cstr(o.data[f.Offset:end])), nil
}

// Deref reads the object a pointer member points to.
func (o Object) Deref(path, typeName string) (Object, error) {
	p, err := o.Uint(path)
	if err != nil {
		return Object{}, err
	}
	if p == 0 {
		return Object{}, fmt.Errorf("%s.%s at 0x%x is NULL", o.Type, path, o.Addr)
	}
	return o.k.Object(typeName, p)
}

// errStop ends a list walk early without error.
var errStop = errors.New("stop")

// maxListLen bounds every list walk, so a corrupt list cannot hang us.
const maxListLen = 1 << 20

// ListEach calls fn for every node of the list_head at head (the node
// addresses are those of the list_head members). Walks stop at the head,
// on a NULL or unreadable pointer (an error) or on a cycle not through the
// head (an error).
func (k *Kernel) ListEach(head uint64, fn func(node uint64) error) error {
	lh, err := k.Types.Lookup("struct list_head")
	if err != nil {
		return err
	}
	nextOff, err := lh.Offset("next")
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	cur := head
	for n := 0; ; n++ {
		next, err := k.U64(cur + nextOff)
		if err != nil {
			return fmt.Errorf("list at 0x%x: reading next of 0x%x: %w", head, cur, err)
		}
		if next == head {
			return nil
		}
		if next == 0 {
			return fmt.Errorf("list at 0x%x: NULL next pointer in node 0x%x", head, cur)
		}
		if seen[next] || n >= maxListLen {
			return fmt.Errorf("list at 0x%x: cycle or runaway list at node 0x%x after %d nodes", head, next, n)
		}
		seen[next] = true
		if err := fn(next); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
		cur = next
	}
}

// containerOf turns the address of a member into the address of its
// containing object.
func (k *Kernel) containerOf(member uint64, typeName, path string) (uint64, error) {
	t, err := k.Types.Lookup(typeName)
	if err != nil {
		return 0, err
	}
	off, err := t.Offset(path)
	if err != nil {
		return 0, err
	}
	return member - off, nil
}
