package analyzer

import (
	"errors"
	"fmt"
)

// ErrNoSlabWalk means the kernel's allocator cannot be walked for
// allocated objects: SLUB keeps no list of full slabs (without
// slub_debug), so "every allocated object" is not knowable from its
// caches.
var ErrNoSlabWalk = errors.New("the slab allocator of this kernel cannot be walked for allocated objects")

// SlabFeatures say which allocator the kernel was built with.
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
}

// SlabCache is a cache's allocated objects, as the SLAB allocator (2.6)
// tracks them.
type SlabCache struct {
	Name      string
	Addr      uint64
	ObjSize   uint64
	Slabs     int
	Allocated []uint64
	Free      int // free objects seen (slab free lists and CPU array caches)
}

// maxSlabObjects bounds a cache walk.
const maxSlabObjects = 1 << 22

// SlabCaches finds the caches whose name is one of names on cache_chain
// and lists their allocated objects: every object on a full or partial
// slab that is neither on the slab's bufctl free chain nor in a CPU's
// array cache (freed objects parked there are free, whatever they hold).
func (k *Kernel) SlabCaches(names ...string) ([]SlabCache, error) {
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
		if !want[name] {
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

func (k *Kernel) slabCache(kc Object, name string) (SlabCache, error) {
	c := SlabCache{Name: name, Addr: kc.Addr}
	var err error
	if c.ObjSize, err = kc.Uint("objsize"); err != nil {
		return c, err
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
