package analyzer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmtriage/vmtriage/symbols"
)

// SLUB keeps no list of its full slabs (without slub_debug), so its
// allocated objects are found as crash's kmem -s and drgn's
// slab_cache_for_each_allocated_object find them: every struct page of
// the memory map (vmemmap) is read, the slab pages of a cache are those
// marked slab (see SlabFeatures.PageSlab) whose slab_cache is the cache,
// and a slab's objects are allocated unless free: on the slab's own
// freelist, on a CPU's freelist (cpu_slab, before 7.0) or in a sheaf (a
// CPU's main and spare sheaves and the full sheaves of the node barns,
// 6.18+).

// slubState caches what the walks found; one per Kernel (in Features).
type slubState struct {
	mu     sync.Mutex
	lay    *slubLayout
	layErr error
	scan   *slabScan
	caches map[uint64]*slubCache
	walks  map[uint64]*slubWalk
	swab   int // free-pointer obfuscation: 0 undecided, 1 with swab, 2 plain xor
}

// slubLayout is where the walk reads its words, from the vmlinux's types.
type slubLayout struct {
	pageSize    uint64 // sizeof(struct page)
	flagsOff    uint64
	mapcountOff uint64 // _mapcount / page_type
	compoundOff uint64
	cacheOff    uint64 // slab_cache in struct slab / struct page
	freelistOff uint64
	inuse       symbols.Field
	objects     symbols.Field
	kc          *symbols.Type
	cpuSlabT    *symbols.Type
	sheafT      *symbols.Type
}

// slabPage is one slab found in the memory map.
type slabPage struct {
	Slab     uint64 // its struct slab / struct page
	PFN      uint64
	Freelist uint64
	InUse    uint64
	Objects  uint64
}

// slabScan is one pass over the memory map.
type slabScan struct {
	byCache    map[uint64][]slabPage
	pages      uint64 // struct pages read
	unreadable uint64 // struct pages that could not be read
	took       time.Duration
}

// slubCache is a kmem_cache's geometry and its per-CPU and per-node
// parts.
type slubCache struct {
	Addr     uint64
	Name     string
	Size     uint64 // stride
	ObjSize  uint64
	Offset   uint64 // free pointer offset
	RedLeft  uint64
	Random   uint64
	Order    uint64
	PerSlab  uint64
	Refcount int64
	cpuSlab  uint64
	sheaves  uint64
	nodes    []uint64 // struct kmem_cache_node *
	barns    []uint64 // struct node_barn *
}

// slubWalk is a cache's objects, free and allocated.
type slubWalk struct {
	cache     *slubCache
	slabs     []slabPage
	allocated []uint64
	free      int
	total     int
	where     map[uint64]string // free objects outside slab freelists: "cpu 0 cache", "cpu 1 sheaf"...
	errs      []string          // slabs whose freelist or memory could not be read
}

func (k *Kernel) slub() (*slubState, *slubLayout, error) {
	st := k.Features.Slab.st
	if st == nil || k.Features.Slab.Allocator != "SLUB" {
		return nil, nil, ErrNoSlabWalk
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.lay == nil && st.layErr == nil {
		st.lay, st.layErr = k.slubLayout()
	}
	return st, st.lay, st.layErr
}

func (k *Kernel) slubLayout() (*slubLayout, error) {
	f := k.Features.Slab
	if f.PageSlab == "" {
		return nil, fmt.Errorf("%w: how slab pages are marked is unknown (no PG_slab, PGTY_slab or PAGE_SLAB_MAPCOUNT_VALUE)", ErrNoSlabWalk)
	}
	if k.Layout.VmemmapBase == 0 {
		return nil, fmt.Errorf("%w: the memory map (vmemmap) was not found", ErrNoSlabWalk)
	}
	l := &slubLayout{}
	pt, err := k.Types.Lookup("struct page")
	if err != nil {
		return nil, err
	}
	l.pageSize = pt.Size
	if l.flagsOff, err = pt.Offset("flags"); err != nil {
		return nil, err
	}
	if f.PageSlab == "flags.PG_slab" {
		l.mapcountOff = 0
	} else if l.mapcountOff, err = pt.Offset(firstField(pt, "page_type", "_mapcount")); err != nil {
		return nil, err
	}
	if f.Compound != "" {
		if l.compoundOff, err = pt.Offset(f.Compound); err != nil {
			return nil, err
		}
	}
	st, err := k.Types.Lookup(f.Page)
	if err != nil {
		return nil, err
	}
	if st.Size > l.pageSize {
		return nil, fmt.Errorf("%s is larger than struct page", f.Page)
	}
	if l.cacheOff, err = st.Offset("slab_cache"); err != nil {
		return nil, err
	}
	if l.freelistOff, err = st.Offset("freelist"); err != nil {
		return nil, err
	}
	if l.inuse, err = st.Field("inuse"); err != nil {
		return nil, err
	}
	if l.objects, err = st.Field("objects"); err != nil {
		return nil, err
	}
	if l.kc, err = k.Types.Lookup("struct kmem_cache"); err != nil {
		return nil, err
	}
	if strings.Contains(f.PerCPU, "cpu_slab") {
		if l.cpuSlabT, err = k.Types.Lookup("struct kmem_cache_cpu"); err != nil {
			return nil, err
		}
	}
	if strings.Contains(f.PerCPU, "cpu_sheaves") {
		if l.sheafT, err = k.Types.Lookup("struct slab_sheaf"); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func firstField(t *symbols.Type, names ...string) string {
	for _, n := range names {
		if t.HasField(n) {
			return n
		}
	}
	return names[0]
}

// fieldBits reads a (bit)field from raw bytes of its struct.
func fieldBits(b []byte, f symbols.Field) uint64 {
	size := f.Type.Resolve().Size
	if size == 0 || size > 8 || f.Offset+size > uint64(len(b)) {
		return 0
	}
	var buf [8]byte
	copy(buf[:], b[f.Offset:f.Offset+size])
	v := binary.LittleEndian.Uint64(buf[:])
	if f.BitSize > 0 {
		v = v >> f.BitOffset & (1<<f.BitSize - 1)
	}
	return v
}

// isSlab tells a slab page (a head page: tails carry no mark) from its
// struct page bytes.
func (k *Kernel) isSlab(l *slubLayout, p []byte) bool {
	f := &k.Features.Slab
	switch f.PageSlab {
	case "flags.PG_slab":
		return binary.LittleEndian.Uint64(p[l.flagsOff:])&(1<<uint(f.slabFlagBit)) != 0
	case "_mapcount":
		return int32(binary.LittleEndian.Uint32(p[l.mapcountOff:])) == int32(f.slabMapcount)
	case "page_type.PGTY_slab":
		return int64(binary.LittleEndian.Uint32(p[l.mapcountOff:])>>24) == f.slabType
	}
	return false
}

// maxPFN is the end of the memory map: max_pfn, else the dump's end.
func (k *Kernel) maxPFN() uint64 {
	ps := k.Layout.PageSize
	if ps == 0 {
		ps = 4096
	}
	if a, err := k.Addr("max_pfn"); err == nil {
		if v, err := k.U64(a); err == nil && v > 0 && v < 1<<40 {
			return v
		}
	}
	return k.Layout.PhysEnd / ps
}

// vmemmapChunk is how many struct pages a worker of the memory map scan
// takes at a time (2 MiB of them), vmemmapRead how many one read takes
// (64 KiB: a buffer that stays in the cache; fresh megabytes cost page
// faults).
const (
	vmemmapChunk = 32768
	vmemmapRead  = 1024
)

// slabScan reads the whole memory map once and files every slab page by
// its cache.
func (k *Kernel) slabScan() (*slabScan, error) {
	st, l, err := k.slub()
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scan != nil {
		return st.scan, nil
	}
	start := time.Now()
	s := &slabScan{byCache: map[uint64][]slabPage{}}
	end := k.maxPFN()
	ps := k.Layout.PageSize
	if ps == 0 {
		ps = 4096
	}
	// the chunks are read by as many workers as there are CPUs (reading a
	// compressed dump is decompressing it), then filed in order
	type chunk struct {
		pages      []filedSlab
		unreadable uint64
		err        error
	}
	chunks := make([]chunk, (end+vmemmapChunk-1)/vmemmapChunk)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, vmemmapRead*l.pageSize)
			for {
				c := int(next.Add(1) - 1)
				if c >= len(chunks) {
					return
				}
				first := uint64(c) * vmemmapChunk
				last := min(first+vmemmapChunk, end)
				for pfn := first; pfn < last; pfn += vmemmapRead {
					found, unreadable, err := k.scanMemmapChunk(l, buf, pfn, min(vmemmapRead, last-pfn), ps)
					chunks[c].pages = append(chunks[c].pages, found...)
					chunks[c].unreadable += unreadable
					if err != nil {
						chunks[c].err = err
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range chunks {
		if c.err != nil {
			return nil, c.err
		}
		for _, p := range c.pages {
			s.byCache[p.cache] = append(s.byCache[p.cache], p.slabPage)
		}
		s.unreadable += c.unreadable
	}
	s.pages = end
	s.took = time.Since(start)
	st.scan = s
	return s, nil
}

// filedSlab is a slab page with the cache it belongs to.
type filedSlab struct {
	slabPage
	cache uint64
}

// scanMemmapChunk reads the n struct pages from pfn on (into buf, n of
// them long) and returns the slab pages among them, and how many could
// not be read.
func (k *Kernel) scanMemmapChunk(l *slubLayout, buf []byte, pfn, n, ps uint64) ([]filedSlab, uint64, error) {
	if err := k.stopped(); err != nil {
		return nil, 0, err
	}
	var unreadable uint64
	b := buf[:n*l.pageSize]
	va := k.Layout.VmemmapBase + pfn*l.pageSize
	if err := k.Mem.Read(va, b); err != nil {
		// a hole in the memory map: read what is there page by page
		for off := uint64(0); off < uint64(len(b)); {
			m := min(ps-(va+off)%ps, uint64(len(b))-off)
			if err := k.Mem.Read(va+off, b[off:off+m]); err != nil {
				if k.stopped() != nil {
					return nil, 0, k.stopped()
				}
				clear(b[off : off+m])
				unreadable += (m + l.pageSize - 1) / l.pageSize
			}
			off += m
		}
	}
	var found []filedSlab
	for i := uint64(0); i < n; i++ {
		p := b[i*l.pageSize : (i+1)*l.pageSize]
		if !k.isSlab(l, p) {
			continue
		}
		cache := binary.LittleEndian.Uint64(p[l.cacheOff:])
		if cache == 0 {
			continue
		}
		found = append(found, filedSlab{slabPage{
			Slab: va + i*l.pageSize, PFN: pfn + i,
			Freelist: binary.LittleEndian.Uint64(p[l.freelistOff:]),
			InUse:    fieldBits(p, l.inuse), Objects: fieldBits(p, l.objects),
		}, cache})
	}
	return found, unreadable, nil
}

// PrefetchSlabs starts the SLUB memory-map scan in the background (the
// first call), for an analysis that will look for slab objects (the bios
// of a task waiting in direct I/O) while it walks stacks on another CPU.
// It does nothing on other allocators; Close stops it.
func (k *Kernel) PrefetchSlabs() {
	if k.Features.Slab.st == nil || k.Features.Slab.Allocator != "SLUB" {
		return
	}
	k.prefetchSlabs.Do(func() {
		k.mu.Lock() // against Close: no Add once it waits
		defer k.mu.Unlock()
		if k.closing.Load() {
			return
		}
		k.background.Add(1)
		go func() {
			defer k.background.Done()
			k.slabScan() // the walk that needs it waits for it, or redoes it after an error
		}()
	})
}

// slubCacheAt reads a kmem_cache (only the words needed: the struct's
// node array is sized for MAX_NUMNODES but allocated for nr_node_ids).
func (k *Kernel) slubCacheAt(addr uint64) (*slubCache, error) {
	st, l, err := k.slub()
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	if c, ok := st.caches[addr]; ok {
		st.mu.Unlock()
		return c, nil
	}
	st.mu.Unlock()
	f := k.Features.Slab
	nodeField, err := l.kc.Field(f.Node)
	if err != nil {
		return nil, err
	}
	nodes := k.nrNodes()
	elem := uint64(8)
	if f.Node == "per_node" {
		elem = nodeField.Type.Resolve().Elem.Resolve().Size
	}
	data := make([]byte, nodeField.Offset+uint64(nodes)*elem)
	if err := k.Mem.Read(addr, data); err != nil {
		return nil, fmt.Errorf("reading struct kmem_cache at 0x%x: %w", addr, err)
	}
	o := Object{k: k, Type: l.kc, Addr: addr, data: data}
	c := &slubCache{Addr: addr}
	np, _ := o.Uint("name")
	c.Name, _ = k.CString(np, 64)
	c.Size, _ = o.Uint("size")
	c.ObjSize, _ = o.Uint("object_size")
	c.Offset, _ = o.Uint("offset")
	c.RedLeft, _ = o.Uint("red_left_pad")
	c.Random, _ = o.Uint("random")
	oo, _ := o.Uint("oo.x")
	c.Order, c.PerSlab = oo>>16, oo&0xffff
	c.Refcount, _ = o.Int("refcount")
	c.cpuSlab, _ = o.Uint("cpu_slab")
	c.sheaves, _ = o.Uint("cpu_sheaves")
	if c.Size == 0 || c.Size > 1<<24 || c.Offset >= c.Size+8 {
		return nil, fmt.Errorf("struct kmem_cache at 0x%x (%q): implausible size %d / offset %d", addr, c.Name, c.Size, c.Offset)
	}
	for n := 0; n < nodes; n++ {
		base := nodeField.Offset + uint64(n)*elem
		switch f.Node {
		case "per_node":
			pn := nodeField.Type.Resolve().Elem.Resolve()
			if off, err := pn.Offset("node"); err == nil {
				c.nodes = append(c.nodes, binary.LittleEndian.Uint64(data[base+off:]))
			}
			if off, err := pn.Offset("barn"); err == nil {
				c.barns = append(c.barns, binary.LittleEndian.Uint64(data[base+off:]))
			}
		default:
			node := binary.LittleEndian.Uint64(data[base:])
			c.nodes = append(c.nodes, node)
			if node != 0 && k.hasMember("struct kmem_cache_node", "barn") { // 6.18-7.0
				if kn, err := k.Object("struct kmem_cache_node", node); err == nil {
					b, _ := kn.Uint("barn")
					c.barns = append(c.barns, b)
				}
			}
		}
	}
	st.mu.Lock()
	if st.caches == nil {
		st.caches = map[uint64]*slubCache{}
	}
	st.caches[addr] = c
	st.mu.Unlock()
	return c, nil
}

// nrNodes is nr_node_ids (1 without NUMA).
func (k *Kernel) nrNodes() int {
	if a, err := k.Addr("nr_node_ids"); err == nil {
		var b [4]byte
		if k.Mem.Read(a, b[:]) == nil {
			if n := binary.LittleEndian.Uint32(b[:]); n > 0 && n <= 1024 {
				return int(n)
			}
		}
	}
	return 1
}

// perCPUPtr is a __percpu pointer's copy for cpu.
func (k *Kernel) perCPUPtr(p uint64, cpu int) (uint64, error) {
	offs, err := k.Addr("__per_cpu_offset")
	if err != nil {
		return 0, err
	}
	off, err := k.U64(offs + uint64(cpu)*8)
	if err != nil {
		return 0, err
	}
	return p + off, nil
}

// slubCachesList walks slab_caches.
func (k *Kernel) slubCachesList() ([]*slubCache, error) {
	_, l, err := k.slub()
	if err != nil {
		return nil, err
	}
	head, err := k.Addr("slab_caches")
	if err != nil {
		return nil, err
	}
	listOff, err := l.kc.Offset("list")
	if err != nil {
		return nil, err
	}
	var out []*slubCache
	err = k.ListEach(head, func(node uint64) error {
		if err := k.Err(); err != nil {
			return err
		}
		c, err := k.slubCacheAt(node - listOff)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// swab64 reverses a word's bytes.
func swab64(v uint64) uint64 { return bits.ReverseBytes64(v) }

// freelist follows a SLUB free list from head within one slab (objects
// at base + i*size, i < n): the objects on it, in order.
func (k *Kernel) freelist(st *slubState, c *slubCache, head, base, n uint64) ([]uint64, error) {
	var out []uint64
	seen := map[uint64]bool{}
	valid := func(p uint64) bool {
		return p >= base && p < base+n*c.Size && (p-base)%c.Size == 0
	}
	for p := head; p != 0; {
		if !valid(p) {
			return out, fmt.Errorf("free pointer 0x%x is not an object of the slab at 0x%x (%d objects of %d bytes)", p, base, n, c.Size)
		}
		if seen[p] || uint64(len(out)) >= n {
			return out, fmt.Errorf("freelist of the slab at 0x%x loops at 0x%x", base, p)
		}
		seen[p] = true
		out = append(out, p)
		at := p + c.Offset
		raw, err := k.U64(at)
		if err != nil {
			return out, err
		}
		if !k.Features.Slab.Hardened {
			p = raw
			continue
		}
		withSwab, plain := raw^c.Random^swab64(at), raw^c.Random^at
		st.mu.Lock()
		mode := st.swab
		st.mu.Unlock()
		switch mode {
		case 1:
			p = withSwab
		case 2:
			p = plain
		default:
			switch {
			case withSwab == 0 || valid(withSwab):
				p = withSwab
				if withSwab != 0 {
					mode = 1
				}
			case plain == 0 || valid(plain):
				p, mode = plain, 2
			default:
				p = withSwab
			}
			if mode != 0 {
				st.mu.Lock()
				st.swab = mode
				st.mu.Unlock()
			}
		}
	}
	return out, nil
}

// cpuFree lists the free objects a cache keeps outside its slabs'
// freelists: the CPUs' freelists (with the slab each belongs to) and the
// sheaves.
func (k *Kernel) cpuFree(st *slubState, l *slubLayout, c *slubCache) (map[uint64]string, error) {
	out := map[uint64]string{}
	var errs []string
	ps := k.Layout.PageSize
	for _, cpu := range k.CPUs() {
		if c.cpuSlab != 0 && l.cpuSlabT != nil {
			a, err := k.perCPUPtr(c.cpuSlab, cpu)
			if err != nil {
				return nil, err
			}
			cc, err := k.objectOfType(l.cpuSlabT, a)
			if err != nil {
				errs = append(errs, fmt.Sprintf("cpu %d: %v", cpu, err))
				continue
			}
			fl, _ := cc.Uint("freelist")
			slab, _ := cc.First("slab", "page")
			if slab != 0 && fl != 0 {
				pfn := (slab - k.Layout.VmemmapBase) / l.pageSize
				sp, err := k.readSlabPage(l, slab)
				if err != nil {
					errs = append(errs, fmt.Sprintf("cpu %d slab 0x%x: %v", cpu, slab, err))
					continue
				}
				base := k.Layout.PageOffset + pfn*ps + c.RedLeft
				objs, err := k.freelist(st, c, fl, base, sp.Objects)
				for _, o := range objs {
					out[o] = fmt.Sprintf("cpu %d cache", cpu)
				}
				if err != nil {
					errs = append(errs, fmt.Sprintf("cpu %d freelist: %v", cpu, err))
				}
			}
		}
		if c.sheaves != 0 && l.sheafT != nil {
			a, err := k.perCPUPtr(c.sheaves, cpu)
			if err != nil {
				return nil, err
			}
			pcs, err := k.Object("struct slub_percpu_sheaves", a)
			if err != nil {
				errs = append(errs, fmt.Sprintf("cpu %d sheaves: %v", cpu, err))
				continue
			}
			for _, m := range []string{"main", "spare"} {
				sh, _ := pcs.Uint(m)
				if sh == 0 {
					continue
				}
				if err := k.sheafObjects(l, sh, fmt.Sprintf("cpu %d sheaf", cpu), out); err != nil {
					errs = append(errs, fmt.Sprintf("cpu %d %s sheaf: %v", cpu, m, err))
				}
			}
		}
	}
	for n, barn := range c.barns {
		if barn == 0 {
			continue
		}
		nb, err := k.Object("struct node_barn", barn)
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %d barn: %v", n, err))
			continue
		}
		head, _ := nb.FieldAddr("sheaves_full")
		lo, err := l.sheafT.Offset("barn_list")
		if err != nil {
			return nil, err
		}
		err = k.ListEach(head, func(node uint64) error {
			return k.sheafObjects(l, node-lo, fmt.Sprintf("node %d barn", n), out)
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %d barn: %v", n, err))
		}
	}
	if len(errs) > 0 {
		return out, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// sheafObjects adds the objects of a struct slab_sheaf.
func (k *Kernel) sheafObjects(l *slubLayout, sh uint64, where string, into map[uint64]string) error {
	o, err := k.objectOfType(l.sheafT, sh)
	if err != nil {
		return err
	}
	size, _ := o.Uint("size")
	if size > 1<<16 {
		return fmt.Errorf("sheaf 0x%x: implausible size %d", sh, size)
	}
	off, err := l.sheafT.Offset("objects")
	if err != nil {
		return err
	}
	b := make([]byte, size*8)
	if err := k.Mem.Read(sh+off, b); err != nil {
		return err
	}
	for i := uint64(0); i < size; i++ {
		into[binary.LittleEndian.Uint64(b[i*8:])] = where
	}
	return nil
}

// readSlabPage reads one struct slab / struct page.
func (k *Kernel) readSlabPage(l *slubLayout, slab uint64) (slabPage, error) {
	p := make([]byte, l.pageSize)
	if err := k.Mem.Read(slab, p); err != nil {
		return slabPage{}, err
	}
	return slabPage{Slab: slab, PFN: (slab - k.Layout.VmemmapBase) / l.pageSize,
		Freelist: binary.LittleEndian.Uint64(p[l.freelistOff:]),
		InUse:    fieldBits(p, l.inuse), Objects: fieldBits(p, l.objects)}, nil
}

// walkCache lists a cache's allocated objects (cached per cache).
func (k *Kernel) walkCache(c *slubCache, withObjects bool) (*slubWalk, error) {
	st, l, err := k.slub()
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	if w, ok := st.walks[c.Addr]; ok && (!withObjects || w.allocated != nil) {
		st.mu.Unlock()
		return w, nil
	}
	st.mu.Unlock()
	scan, err := k.slabScan()
	if err != nil {
		return nil, err
	}
	w := &slubWalk{cache: c, slabs: scan.byCache[c.Addr]}
	w.where, err = k.cpuFree(st, l, c)
	if err != nil {
		w.errs = append(w.errs, err.Error())
	}
	ps := k.Layout.PageSize
	for _, sp := range w.slabs {
		if err := k.Err(); err != nil {
			return nil, err
		}
		n := sp.Objects
		if n == 0 || n > 1<<15 {
			w.errs = append(w.errs, fmt.Sprintf("slab 0x%x: %d objects", sp.Slab, n))
			continue
		}
		w.total += int(n)
		base := k.Layout.PageOffset + sp.PFN*ps + c.RedLeft
		free := map[uint64]bool{}
		objs, err := k.freelist(st, c, sp.Freelist, base, n)
		for _, o := range objs {
			free[o] = true
		}
		if err != nil {
			w.errs = append(w.errs, fmt.Sprintf("slab 0x%x: %v", sp.Slab, err))
		}
		for i := uint64(0); i < n; i++ {
			o := base + i*c.Size
			if free[o] || w.where[o] != "" {
				w.free++
				continue
			}
			if withObjects {
				if len(w.allocated) >= maxSlabObjects {
					return nil, fmt.Errorf("cache %s: more than %d objects", c.Name, maxSlabObjects)
				}
				w.allocated = append(w.allocated, o)
			}
		}
	}
	if withObjects && w.allocated == nil {
		w.allocated = []uint64{}
	}
	st.mu.Lock()
	if st.walks == nil {
		st.walks = map[uint64]*slubWalk{}
	}
	st.walks[c.Addr] = w
	st.mu.Unlock()
	return w, nil
}

func (w *slubWalk) toSlabCache(ps uint64) SlabCache {
	c := w.cache
	return SlabCache{Name: c.Name, Addr: c.Addr, ObjSize: c.ObjSize, Size: c.Size, SlabBytes: ps << c.Order,
		Slabs: len(w.slabs), Total: w.total, Allocated: w.allocated, Free: w.free, Refcount: int(c.Refcount)}
}

// slubCaches is SlabCaches for SLUB.
func (k *Kernel) slubCaches(names []string, withObjects bool) ([]SlabCache, error) {
	all, err := k.slubCachesList()
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []SlabCache
	for _, c := range all {
		if len(want) > 0 && !want[c.Name] {
			continue
		}
		w, err := k.walkCache(c, withObjects)
		if err != nil {
			return nil, err
		}
		out = append(out, w.toSlabCache(k.Layout.PageSize))
	}
	return out, nil
}

// SlabCacheSummaries is crash's kmem -s: every cache (or those named)
// with its object counts, without listing the objects.
func (k *Kernel) SlabCacheSummaries(names ...string) ([]SlabCache, error) {
	if k.Features.Slab.Allocator == "SLUB" && k.Features.Slab.st != nil {
		return k.slubCaches(names, false)
	}
	return k.SlabCaches(names...)
}

// SlabObject is what crash's kmem ADDR says of an address in a slab.
type SlabObject struct {
	Cache     string
	CacheAddr uint64
	Object    uint64 // the object's first byte
	Allocated bool
	Where     string // for a free object: "slab freelist", "cpu 0 cache", "cpu 1 sheaf", "node 0 barn"
	Slab      uint64 // the struct slab (5.17+) or struct page
	Page      uint64 // the slab's (head) struct page
	Memory    uint64 // the slab's first byte
	Objects   int    // objects in the slab
	InUse     int    // allocated objects in the slab
	ObjSize   uint64
	Size      uint64
	// Unsure is set when a freelist could not be read whole: Allocated
	// may then be wrong.
	Unsure string
}

// SlabOf finds the slab object holding addr (SLUB): its cache, its first
// byte, whether it is allocated.
func (k *Kernel) SlabOf(addr uint64) (SlabObject, error) {
	st, l, err := k.slub()
	if err != nil {
		return SlabObject{}, err
	}
	lay := k.Layout
	if !lay.InDirectMap(addr) {
		return SlabObject{}, fmt.Errorf("0x%x is not in the direct map: not a slab object", addr)
	}
	ps := lay.PageSize
	pfn := (addr - lay.PageOffset) / ps
	page := lay.VmemmapBase + pfn*l.pageSize
	p := make([]byte, l.pageSize)
	if err := k.Mem.Read(page, p); err != nil {
		return SlabObject{}, fmt.Errorf("struct page of 0x%x at 0x%x: %w", addr, page, err)
	}
	head := page
	if f := k.Features.Slab; f.Compound != "" {
		if info := binary.LittleEndian.Uint64(p[l.compoundOff:]); info&1 != 0 {
			if f.CompoundMask {
				head = page & info
			} else {
				head = info - 1
			}
			if err := k.Mem.Read(head, p); err != nil {
				return SlabObject{}, fmt.Errorf("head page 0x%x of 0x%x: %w", head, addr, err)
			}
		}
	}
	if !k.isSlab(l, p) {
		return SlabObject{}, fmt.Errorf("0x%x is not a slab object: its page 0x%x is not a slab page", addr, head)
	}
	cache := binary.LittleEndian.Uint64(p[l.cacheOff:])
	c, err := k.slubCacheAt(cache)
	if err != nil {
		return SlabObject{}, err
	}
	sp := slabPage{Slab: head, PFN: (head - lay.VmemmapBase) / l.pageSize,
		Freelist: binary.LittleEndian.Uint64(p[l.freelistOff:]), InUse: fieldBits(p, l.inuse), Objects: fieldBits(p, l.objects)}
	mem := lay.PageOffset + sp.PFN*ps
	base := mem + c.RedLeft
	if addr < base || addr >= base+sp.Objects*c.Size {
		return SlabObject{}, fmt.Errorf("0x%x is in slab 0x%x of cache %s but in no object (the slab's padding)", addr, head, c.Name)
	}
	o := SlabObject{Cache: c.Name, CacheAddr: c.Addr, Object: base + (addr-base)/c.Size*c.Size, Slab: head, Page: head,
		Memory: mem, Objects: int(sp.Objects), ObjSize: c.ObjSize, Size: c.Size}
	where, err := k.cpuFree(st, l, c)
	if err != nil {
		o.Unsure = err.Error()
	}
	free := map[uint64]bool{}
	objs, err := k.freelist(st, c, sp.Freelist, base, sp.Objects)
	if err != nil {
		o.Unsure = strings.TrimPrefix(o.Unsure+"; "+err.Error(), "; ")
	}
	for _, x := range objs {
		free[x] = true
	}
	nfree := 0
	for i := uint64(0); i < sp.Objects; i++ {
		if x := base + i*c.Size; free[x] || where[x] != "" {
			nfree++
		}
	}
	o.InUse = o.Objects - nfree
	switch {
	case free[o.Object]:
		o.Where = "slab freelist"
	case where[o.Object] != "":
		o.Where = where[o.Object]
	default:
		o.Allocated = true
	}
	return o, nil
}

// slubBiosPointingAt is the bio check on SLUB: the allocated objects of
// every bio cache ("bio-N", named by object size since 5.x, and
// fs_bio_set's bio_slab, whatever it was merged into) whose bi_private is
// target.
func (k *Kernel) slubBiosPointingAt(target uint64) ([]uint64, string, error) {
	bioT, err := k.Types.Lookup("struct bio")
	if err != nil {
		return nil, "", err
	}
	privOff, err := bioT.Offset("bi_private")
	if err != nil {
		return nil, "", err
	}
	all, err := k.slubCachesList()
	if err != nil {
		return nil, "", err
	}
	pads := []uint64{0}
	var fsSlab uint64
	if bs, err := k.fsBioSet(); err == nil {
		fsSlab, _ = bs.Uint("bio_slab")
		if fp, err := bs.Uint("front_pad"); err == nil && fp != 0 && fp < 1<<16 {
			pads = append(pads, fp)
		}
	}
	var caches []*slubCache
	for _, c := range all {
		if strings.HasPrefix(c.Name, "bio-") || c.Name == "bio" || c.Addr == fsSlab {
			caches = append(caches, c)
		}
	}
	if len(caches) == 0 {
		return nil, "", fmt.Errorf("no bio slab cache (bio-N) on slab_caches")
	}
	var found []uint64
	var names, problems []string
	checked, slabs, free := 0, 0, 0
	for _, c := range caches {
		w, err := k.walkCache(c, true)
		if err != nil {
			return nil, "", err
		}
		name := fmt.Sprintf("%q", c.Name)
		if c.Addr == fsSlab {
			name += " (fs_bio_set's)"
		}
		names = append(names, name)
		slabs += len(w.slabs)
		free += w.free
		problems = append(problems, w.errs...)
		for _, obj := range w.allocated {
			checked++
			for _, fp := range pads {
				p, err := k.U64(obj + fp + privOff)
				if err != nil {
					problems = append(problems, fmt.Sprintf("bio 0x%x: %v", obj, err))
					break
				}
				if p == target {
					found = append(found, obj+fp)
					break
				}
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i] < found[j] })
	scan, _ := k.slabScan()
	acc := fmt.Sprintf("%d allocated bios in %d slabs of caches %s checked (%d free objects skipped: slab freelists, per-CPU freelists and sheaves; slabs found among %d struct pages of the memory map)",
		checked, slabs, strings.Join(names, ", "), free, scan.pages)
	if scan.unreadable > 0 {
		acc += fmt.Sprintf("; %d struct pages unreadable", scan.unreadable)
	}
	if len(problems) > 0 && len(found) == 0 {
		// an unread freelist or bio could hide the one in flight
		return nil, "", fmt.Errorf("bio slab walk incomplete: %s", strings.Join(firstN(problems, 3), "; "))
	}
	return found, acc, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

// fsBioSet reads fs_bio_set (a struct since 4.18, a pointer before).
func (k *Kernel) fsBioSet() (Object, error) {
	a, err := k.Addr("fs_bio_set")
	if err != nil {
		return Object{}, err
	}
	t, err := k.Types.Variable("fs_bio_set")
	if err != nil {
		return Object{}, err
	}
	if t.Resolve().Kind == symbols.Pointer {
		p, err := k.U64(a)
		if err != nil {
			return Object{}, err
		}
		return k.Object("struct bio_set", p)
	}
	return k.Object("struct bio_set", a)
}

// SlabScanStats says how much of the memory map the SLUB walk read and how
// long it took (zero before the first walk).
func (k *Kernel) SlabScanStats() (structPages, unreadable uint64, took time.Duration) {
	st := k.Features.Slab.st
	if st == nil {
		return 0, 0, 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scan == nil {
		return 0, 0, 0
	}
	return st.scan.pages, st.scan.unreadable, st.scan.took
}
