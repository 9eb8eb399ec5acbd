package analyzer

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNoSlabWalk means the kernel's allocator cannot be walked for
// allocated objects: SLUB keeps no list of full slabs (without
// slub_debug), so "every allocated object" is not knowable from its
// caches.
var ErrNoSlabWalk = errors.New("the slab allocator of this kernel cannot be walked for allocated objects")

// SlabFeatures say which allocator the kernel was built with and how its
// slabs are laid out.
type SlabFeatures struct {
	// Allocator is "SLUB" (kmem_cache.oo, its order/objects word, or
	// cpu_slab; the default since 2.6.23 and the only one since 6.8,
	// 16a1d968358a; per-CPU "sheaves" replaced cpu_slab after 6.12), "SLAB"
	// (kmem_cache.array, cpu_cache from 3.18) or "SLOB".
	Allocator string
	// Chain is the list of caches: "slab_caches" (3.x+, common to the
	// allocators) or "cache_chain" (2.6 SLAB).
	Chain string
	// Page is what describes a slab page: "struct slab" (5.17+,
	// d122019bf061 "mm: Split slab into its own type") or "struct page"
	// (SLUB before 5.17; 2.6's SLAB has its own struct slab descriptor).
	Page string

	// The rest is SLUB only.

	// PageSlab is how a page is told to be a slab page: "flags.PG_slab"
	// (a page flag, before 6.10), "_mapcount" (6.10, 46df8e73a4a3 "mm:
	// free up PG_slab": a page type, page_type == PAGE_SLAB_MAPCOUNT_VALUE)
	// or "page_type.PGTY_slab" (6.12, "mm: support only one page_type per
	// page": the type in the top byte of page_type). The value comes from
	// VMCOREINFO, else from the vmlinux's enums.
	PageSlab string
	// PerCPU is where a CPU keeps free objects of a cache:
	// "cpu_slab" (struct kmem_cache_cpu: freelist of its slab, whose member
	// is "slab" from 5.17, bb192ed9aa71, "page" before; partial slabs),
	// "cpu_sheaves" (7.0, 32c894c7274b "slab: remove struct
	// kmem_cache_cpu": arrays of free objects, 6.18 2d517aa09bbc) or
	// "cpu_slab+cpu_sheaves" (6.18-6.19).
	PerCPU string
	// Node is "node" (kmem_cache.node[]: struct kmem_cache_node *) or
	// "per_node" (7.1, 5ba6bc27b1f9 "slab: decouple pointer to barn from
	// kmem_cache_node": struct kmem_cache_per_node_ptrs {barn, node}).
	Node string
	// Hardened is CONFIG_SLAB_FREELIST_HARDENED (4.14, 2482ddec670f:
	// kmem_cache.random): a free pointer is stored as ptr ^ s->random ^
	// swab(its own address) (the swab since 5.7, 1ad53d9fa3f6, backported
	// to the stable lines; tried first, the plain xor if it fails).
	Hardened bool
	// Compound is the struct page member that leads a tail page to its
	// head: "compound_head" (4.4, 1d798ca3f164) or "compound_info" (7.1,
	// d50569612c29; a mask instead of a pointer when struct page's size is
	// a power of two and struct zone has vmemmap_tails, 8c846c879e22).
	Compound     string
	CompoundMask bool

	slabFlagBit  int64 // PG_slab, for "flags.PG_slab"
	slabMapcount int64 // PAGE_SLAB_MAPCOUNT_VALUE, for "_mapcount"
	slabType     int64 // PGTY_slab, for "page_type.PGTY_slab"

	st *slubState // the walk's cache, shared by copies of Features
}

func (k *Kernel) probeSlab(f *Features) {
	s := &f.Slab
	kc := k.firstType("struct kmem_cache", "kmem_cache_t")
	switch {
	case kc != "" && (k.hasMember(kc, "oo") || k.hasMember(kc, "cpu_slab")):
		s.Allocator = "SLUB"
	case kc != "" && (k.hasMember(kc, "array") || k.hasMember(kc, "cpu_cache")):
		s.Allocator = "SLAB"
	case k.hasSymbol("slob_alloc"):
		s.Allocator = "SLOB"
	}
	s.Chain = k.firstSymbol("slab_caches", "cache_chain")
	s.Page = "struct page"
	if k.hasMember("struct slab", "slab_cache") {
		s.Page = "struct slab"
	}
	f.set("slab.allocator", "%s", orNone(s.Allocator))
	f.set("slab.chain", "%s", orNone(s.Chain))
	f.set("slab.page", "%s", s.Page)
	if s.Allocator != "SLUB" {
		return
	}
	s.st = &slubState{}
	k.probeSlubPageSlab(s)
	switch {
	case k.hasMember(kc, "cpu_slab") && k.hasMember(kc, "cpu_sheaves"):
		s.PerCPU = "cpu_slab+cpu_sheaves"
	case k.hasMember(kc, "cpu_sheaves"):
		s.PerCPU = "cpu_sheaves"
	case k.hasMember(kc, "cpu_slab"):
		s.PerCPU = "cpu_slab"
	}
	s.Node = k.firstMember(kc, "per_node", "node")
	s.Hardened = k.hasMember(kc, "random")
	s.Compound = k.firstMember("struct page", "compound_info", "compound_head")
	if s.Compound == "compound_info" {
		ps := k.typeSize("struct page")
		s.CompoundMask = ps&(ps-1) == 0 && k.hasMember("struct zone", "vmemmap_tails")
	}
	f.set("slab.page_slab", "%s", orNone(s.PageSlab))
	f.set("slab.percpu", "%s", orNone(s.PerCPU))
	f.set("slab.node", "%s", orNone(s.Node))
	f.set("slab.freelist_hardened", "%t", s.Hardened)
	f.set("slab.compound", "%s%s", orNone(s.Compound), map[bool]string{true: " (mask)"}[s.CompoundMask])
}

// probeSlubPageSlab finds how slab pages are marked, VMCOREINFO first (it
// has the very values makedumpfile uses), then the vmlinux's enums.
func (k *Kernel) probeSlubPageSlab(s *SlabFeatures) {
	num := func(key string) (int64, bool) {
		v, ok := k.vmcoreinfo("NUMBER(" + key + ")")
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	if v, ok := num("PAGE_SLAB_MAPCOUNT_VALUE"); ok {
		// 6.10 (46df8e73a4a3) exports ~PG_slab-style values; 6.12
		// exports PGTY_slab << 24 and the type is the top byte
		if uint32(v)&0xffffff == 0 {
			s.PageSlab, s.slabType = "page_type.PGTY_slab", int64(uint32(v)>>24)
		} else {
			s.PageSlab, s.slabMapcount = "_mapcount", v
		}
		return
	}
	if v, ok := num("PG_slab"); ok {
		s.PageSlab, s.slabFlagBit = "flags.PG_slab", v
		return
	}
	if v, err := k.Types.Constant("PGTY_slab"); err == nil {
		s.PageSlab, s.slabType = "page_type.PGTY_slab", v
		return
	}
	if base, err := k.Types.Constant("PAGE_TYPE_BASE"); err == nil {
		if v, err := k.Types.Constant("PG_slab"); err == nil {
			s.PageSlab, s.slabMapcount = "_mapcount", int64(int32(uint32(base)&^uint32(v)))
			return
		}
	}
	if v, err := k.Types.Constant("PG_slab"); err == nil {
		s.PageSlab, s.slabFlagBit = "flags.PG_slab", v
	}
}

// SlabCache is a cache and its allocated objects.
type SlabCache struct {
	Name      string
	Addr      uint64
	ObjSize   uint64 // the object's size (SLUB object_size, SLAB objsize)
	Size      uint64 // the stride between objects (SLUB size; SLAB objsize)
	SlabBytes uint64 // bytes per slab (PAGE_SIZE << order; 0 if unknown)
	Slabs     int
	Total     int // objects in the slabs walked
	Allocated []uint64
	Free      int // free objects seen (slab free lists and CPU array caches)
	// Refcount above 1 means other caches were merged into this one
	// (SLUB: kmem_cache_create of a compatible size returns it).
	Refcount int
}

// maxSlabObjects bounds a cache walk.
const maxSlabObjects = 1 << 22

// SlabCaches finds the caches whose name is one of names (every cache if
// none is given) and lists their allocated objects.
//
// 2.6 SLAB (cache_chain): every object on a full or partial slab that is
// neither on the slab's bufctl free chain nor in a CPU's array cache
// (freed objects parked there are free, whatever they hold).
//
// SLUB: every slab found in the memory map (see slub.go), minus the
// objects on the slabs' freelists, the CPUs' freelists and the sheaves.
func (k *Kernel) SlabCaches(names ...string) ([]SlabCache, error) {
	if k.Features.Slab.Allocator == "SLUB" && k.Features.Slab.st != nil {
		return k.slubCaches(names, true)
	}
	if k.Features.Slab.Allocator != "SLAB" || k.Features.Slab.Chain != "cache_chain" {
		return nil, ErrNoSlabWalk
	}
	chain, err := k.Addr("cache_chain")
	if err != nil {
		return nil, ErrNoSlabWalk
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []SlabCache
	err = k.ListEach(chain, func(node uint64) error {
		if err := k.Err(); err != nil {
			return err
		}
		addr, err := k.containerOf(node, "kmem_cache_t", "next")
		if err != nil {
			return err
		}
		kc, err := k.Object("kmem_cache_t", addr)
		if err != nil {
			return err
		}
		np, _ := kc.Uint("name")
		name, _ := k.CString(np, 64)
		if len(want) > 0 && !want[name] {
			return nil
		}
		c, err := k.slabCache(kc, name)
		if err != nil {
			return fmt.Errorf("slab cache %s at 0x%x: %w", name, addr, err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// CacheObjects lists the allocated objects of the cache named name and
// counts its free ones. A cache merged into another (SLUB) has no entry of
// its own: ask for the cache it was merged into (SlabOf of one of its
// objects names it).
func (k *Kernel) CacheObjects(name string) (allocated []uint64, free int, err error) {
	cs, err := k.SlabCaches(name)
	if err != nil {
		return nil, 0, err
	}
	if len(cs) == 0 {
		return nil, 0, fmt.Errorf("no slab cache named %q (it may have been merged into another cache)", name)
	}
	for _, c := range cs {
		allocated = append(allocated, c.Allocated...)
		free += c.Free
	}
	return allocated, free, nil
}

func (k *Kernel) slabCache(kc Object, name string) (SlabCache, error) {
	c := SlabCache{Name: name, Addr: kc.Addr, Refcount: 1}
	var err error
	if c.ObjSize, err = kc.Uint("objsize"); err != nil {
		return c, err
	}
	c.Size = c.ObjSize
	if order, err := kc.Uint("gfporder"); err == nil && order < 16 {
		c.SlabBytes = k.Layout.PageSize << order
	}
	num, err := kc.Uint("num")
	if err != nil {
		return c, err
	}
	if num == 0 || num > 1<<16 || c.ObjSize == 0 || c.ObjSize > 1<<24 {
		return c, fmt.Errorf("implausible num %d / objsize %d", num, c.ObjSize)
	}
	slabT, err := k.Types.Lookup("struct slab")
	if err != nil {
		return c, err
	}
	acT, err := k.Types.Lookup("struct array_cache")
	if err != nil {
		return c, err
	}
	// objects parked in the CPUs' array caches are free
	parked := map[uint64]bool{}
	arr, err := kc.FieldAddr("array")
	if err != nil {
		return c, err
	}
	af, _ := kc.Type.Field("array")
	for cpu := int64(0); cpu < af.Type.Resolve().Len; cpu++ {
		ac, err := k.U64(arr + uint64(cpu)*8)
		if err != nil || ac == 0 {
			continue
		}
		a, err := k.Object("struct array_cache", ac)
		if err != nil {
			continue
		}
		avail, _ := a.Uint("avail")
		if avail > 1<<16 {
			return c, fmt.Errorf("CPU %d array cache 0x%x: avail %d is implausible", cpu, ac, avail)
		}
		for i := uint64(0); i < avail; i++ {
			if o, err := k.U64(ac + acT.Size + i*8); err == nil {
				parked[o] = true
			}
		}
	}
	for _, list := range []string{"lists.slabs_full", "lists.slabs_partial"} {
		head, err := kc.FieldAddr(list)
		if err != nil {
			return c, err
		}
		err = k.ListEach(head, func(node uint64) error {
			sa, err := k.containerOf(node, "struct slab", "list")
			if err != nil {
				return err
			}
			sl, err := k.Object("struct slab", sa)
			if err != nil {
				return err
			}
			c.Slabs++
			c.Total += int(num)
			mem, _ := sl.Uint("s_mem")
			free := map[uint64]bool{}
			idx, _ := sl.Uint("free")
			for n := uint64(0); idx != 0xffffffff && n <= num; n++ { // BUFCTL_END
				if idx >= num {
					return fmt.Errorf("slab 0x%x: bufctl index %d beyond %d objects", sa, idx, num)
				}
				free[idx] = true
				var b [4]byte
				if err := k.Mem.Read(sa+slabT.Size+idx*4, b[:]); err != nil {
					return err
				}
				idx = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
			}
			for i := uint64(0); i < num; i++ {
				obj := mem + i*c.ObjSize
				if free[i] || parked[obj] {
					c.Free++
					continue
				}
				if len(c.Allocated) >= maxSlabObjects {
					return fmt.Errorf("more than %d objects", maxSlabObjects)
				}
				c.Allocated = append(c.Allocated, obj)
			}
			return nil
		})
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// BiosPointingAt walks the bio caches for allocated bios whose bi_private
// is target (the seed's check that no I/O is in flight for a dio). It
// returns the bios found and a one-line account of what was checked.
func (k *Kernel) BiosPointingAt(target uint64) ([]uint64, string, error) {
	if k.Features.Slab.Allocator == "SLUB" && k.Features.Slab.st != nil {
		return k.slubBiosPointingAt(target)
	}
	caches, err := k.SlabCaches("bio", "biovec-1")
	if err != nil {
		return nil, "", err
	}
	if len(caches) == 0 {
		return nil, "", fmt.Errorf("no bio slab cache on cache_chain")
	}
	bioT, err := k.Types.Lookup("struct bio")
	if err != nil {
		return nil, "", err
	}
	privOff, err := bioT.Offset("bi_private")
	if err != nil {
		return nil, "", err
	}
	var found []uint64
	checked, slabs, free := 0, 0, 0
	for _, c := range caches {
		if c.Name != "bio" {
			continue
		}
		slabs += c.Slabs
		free += c.Free
		for _, obj := range c.Allocated {
			checked++
			if p, err := k.U64(obj + privOff); err == nil && p == target {
				found = append(found, obj)
			}
		}
	}
	return found, fmt.Sprintf("%d allocated bios in %d slabs of cache \"bio\" checked (%d free objects skipped: slab free lists and CPU array caches)", checked, slabs, free), nil
}
