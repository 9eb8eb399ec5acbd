package seedgen

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// RHEL 4 x86_64 memory map.
const (
	pageOffset     = 0x10000000000      // direct map of all physical memory
	kernelMapStart = 0xffffffff80000000 // __START_KERNEL_map
	modulesStart   = 0xffffffffa0000000
	modulesEnd     = 0xffffffffafffffff
	pageSize       = 4096
)

// builder writes typed kernel objects into a sparse physical memory image,
// placing every field through the vmlinux's DWARF.
type builder struct {
	im      *symbols.Image
	types   *symbols.Types
	mem     *dumpwrite.Memory
	vmap    map[uint64]uint64 // module-space page -> physical page
	busy    map[uint64]bool   // physical pages not to hand out
	objects []span            // placed objects, to catch overlaps
	cursor  uint64            // next physical address for generated objects
	err     error
}

type span struct {
	start, end uint64
	what       string
}

func newBuilder(im *symbols.Image) (*builder, error) {
	t, err := im.Types()
	if err != nil {
		return nil, err
	}
	return &builder{im: im, types: t, mem: dumpwrite.NewMemory(), vmap: map[uint64]uint64{},
		busy: map[uint64]bool{}, cursor: 0x20000000}, nil
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

// reserve marks the pages of [va, va+size) as taken by a seed object.
func (b *builder) reserve(va, size uint64) {
	for p := va &^ (pageSize - 1); p < va+size; p += pageSize {
		if va >= pageOffset && va < pageOffset+(1<<40) {
			b.busy[(p-pageOffset)/pageSize] = true
		}
	}
}

// alloc hands out direct-map memory for generated objects, avoiding the
// pages of seed objects.
func (b *builder) alloc(size, align uint64) uint64 {
	for {
		pa := (b.cursor + align - 1) &^ (align - 1)
		clash := false
		for p := pa &^ (pageSize - 1); p < pa+size; p += pageSize {
			if b.busy[p/pageSize] {
				clash = true
				b.cursor = p + pageSize
				break
			}
		}
		if clash {
			continue
		}
		b.cursor = pa + size
		return pa + pageOffset
	}
}

// objectSlot is the room given to every generated object, whatever its
// type's size, so that generated addresses do not depend on the layout (the
// layout-independence test rebuilds the dumps from a shuffled header and
// expects the same reports).
const objectSlot = 0x800

// allocObj allocates a slot for one generated kernel object.
func (b *builder) allocObj() uint64 { return b.alloc(objectSlot, objectSlot) }

// allocPage returns a fresh physical page (for page tables and module
// memory).
func (b *builder) allocPage() uint64 {
	return b.alloc(pageSize, pageSize) - pageOffset
}

// pa translates a kernel virtual address the way the 2.6.9 kernel maps it.
func (b *builder) pa(va uint64) uint64 {
	switch {
	case va >= pageOffset && va < pageOffset+(1<<40):
		return va - pageOffset
	case va >= modulesStart && va <= modulesEnd:
		page := va &^ (pageSize - 1)
		p, ok := b.vmap[page]
		if !ok {
			p = b.allocPage()
			b.vmap[page] = p
		}
		return p + va - page
	case va >= kernelMapStart:
		return va - kernelMapStart
	}
	b.fail("address 0x%x is not a kernel address", va)
	return 0
}

func (b *builder) write(va uint64, p []byte) {
	for len(p) > 0 {
		n := pageSize - va%pageSize
		if n > uint64(len(p)) {
			n = uint64(len(p))
		}
		b.mem.Write(b.pa(va), p[:n])
		va += n
		p = p[n:]
	}
}

func (b *builder) read(va uint64, p []byte) {
	for len(p) > 0 {
		n := pageSize - va%pageSize
		if n > uint64(len(p)) {
			n = uint64(len(p))
		}
		b.mem.Read(b.pa(va), p[:n])
		va += n
		p = p[n:]
	}
}

func (b *builder) put(va uint64, size int, v uint64) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	b.write(va, buf[:size])
}

func (b *builder) u64(va, v uint64) { b.put(va, 8, v) }

func (b *builder) sym(name string) uint64 {
	a, err := b.im.Addr(name)
	if err != nil {
		b.fail("%v", err)
	}
	return a
}

func (b *builder) constant(name string) uint64 {
	v, err := b.types.Constant(name)
	if err != nil {
		b.fail("%v", err)
	}
	return uint64(v)
}

func (b *builder) typeOf(name string) *symbols.Type {
	t, err := b.types.Lookup(name)
	if err != nil {
		b.fail("%v", err)
		return nil
	}
	return t
}

func (b *builder) sizeof(name string) uint64 {
	if t := b.typeOf(name); t != nil {
		return t.Size
	}
	return 8
}

// object is a typed object at a kernel virtual address.
type object struct {
	b  *builder
	t  *symbols.Type
	va uint64
}

// obj places an object of the named type ("struct dio", "transaction_t")
// at va, zeroing it and checking it overlaps no other object.
func (b *builder) obj(typeName string, va uint64) object {
	t := b.typeOf(typeName)
	if t == nil {
		return object{b: b, va: va}
	}
	b.place(va, t.Size, typeName)
	b.write(va, make([]byte, t.Size))
	return object{b: b, t: t, va: va}
}

// at wraps an existing object without clearing it.
func (b *builder) at(typeName string, va uint64) object {
	return object{b: b, t: b.typeOf(typeName), va: va}
}

func (b *builder) place(va, size uint64, what string) {
	s := span{va, va + size, what}
	i := sort.Search(len(b.objects), func(i int) bool { return b.objects[i].start >= s.start })
	if i > 0 && b.objects[i-1].end > s.start {
		b.fail("%s at 0x%x overlaps %s at 0x%x", what, va, b.objects[i-1].what, b.objects[i-1].start)
	}
	if i < len(b.objects) && b.objects[i].start < s.end {
		b.fail("%s at 0x%x overlaps %s at 0x%x", what, va, b.objects[i].what, b.objects[i].start)
	}
	b.objects = append(b.objects, span{})
	copy(b.objects[i+1:], b.objects[i:])
	b.objects[i] = s
}

func (o object) field(path string) symbols.Field {
	if o.t == nil {
		return symbols.Field{}
	}
	f, err := o.t.Field(path)
	if err != nil {
		o.b.fail("%v", err)
	}
	return f
}

// addr is the address of a member.
func (o object) addr(path string) uint64 { return o.va + o.field(path).Offset }

// set writes an integer or pointer member, bitfields included.
func (o object) set(path string, v uint64) {
	f := o.field(path)
	if f.Type == nil {
		return
	}
	size := f.Type.Resolve().Size
	if size == 0 || size > 8 {
		o.b.fail("%s.%s: cannot store an integer in %d bytes", o.t, path, size)
		return
	}
	if f.BitSize > 0 {
		cur := o.getSized(f.Offset, int(size))
		mask := (uint64(1)<<f.BitSize - 1) << f.BitOffset
		v = cur&^mask | (v<<f.BitOffset)&mask
	}
	o.b.put(o.va+f.Offset, int(size), v)
}

func (o object) getSized(off uint64, size int) uint64 {
	var buf [8]byte
	o.b.read(o.va+off, buf[:size])
	return binary.LittleEndian.Uint64(buf[:])
}

// get reads an integer or pointer member.
func (o object) get(path string) uint64 {
	f := o.field(path)
	if f.Type == nil {
		return 0
	}
	return o.getSized(f.Offset, int(f.Type.Resolve().Size))
}

// str writes a NUL-terminated string into a char array member.
func (o object) str(path, s string) {
	f := o.field(path)
	if f.Type == nil {
		return
	}
	if uint64(len(s)) >= f.Type.Resolve().Size {
		o.b.fail("%s.%s: %q does not fit", o.t, path, s)
		return
	}
	o.b.write(o.va+f.Offset, append([]byte(s), 0))
}

// listInit makes the list_head at head empty.
func (b *builder) listInit(head uint64) {
	l := b.at("struct list_head", head)
	l.set("next", head)
	l.set("prev", head)
}

// listAddTail links node before head, as the kernel's list_add_tail.
func (b *builder) listAddTail(node, head uint64) {
	h := b.at("struct list_head", head)
	prev := h.get("prev")
	n := b.at("struct list_head", node)
	n.set("next", head)
	n.set("prev", prev)
	b.at("struct list_head", prev).set("next", node)
	h.set("prev", node)
}

// cstring stores a NUL-terminated string in fresh memory and returns its
// address.
func (b *builder) cstring(s string) uint64 {
	va := b.alloc(uint64(len(s))+1, 8)
	b.place(va, uint64(len(s))+1, "string "+s)
	b.write(va, append([]byte(s), 0))
	return va
}

// buildPageTables writes init_level4_pgt: the kernel image mapped with
// 2 MiB pages and every module-space page mapped with 4 KiB pages.
func (b *builder) buildPageTables() {
	pml4 := b.pa(b.sym("init_level4_pgt"))
	const present = 0x63 // present, rw, accessed, dirty
	tables := map[uint64]uint64{}
	table := func(parent uint64, index uint64) uint64 {
		key := parent<<9 | index
		if t, ok := tables[key]; ok {
			return t
		}
		t := b.allocPage()
		b.mem.Write(t, make([]byte, pageSize))
		tables[key] = t
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], t|present)
		b.mem.Write(parent+index*8, buf[:])
		return t
	}
	idx := func(va uint64, shift uint) uint64 { return va >> shift & 511 }
	var buf [8]byte
	for i := uint64(0); i < 20; i++ { // 40 MiB of kernel image, large pages
		va := kernelMapStart + i<<21
		pud := table(pml4, idx(va, 39))
		pmd := table(pud, idx(va, 30))
		binary.LittleEndian.PutUint64(buf[:], i<<21|present|0x80)
		b.mem.Write(pmd+idx(va, 21)*8, buf[:])
	}
	pages := make([]uint64, 0, len(b.vmap))
	for va := range b.vmap {
		pages = append(pages, va)
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
	for _, va := range pages {
		pud := table(pml4, idx(va, 39))
		pmd := table(pud, idx(va, 30))
		pte := table(pmd, idx(va, 21))
		binary.LittleEndian.PutUint64(buf[:], b.vmap[va]|present)
		b.mem.Write(pte+idx(va, 12)*8, buf[:])
	}
}
