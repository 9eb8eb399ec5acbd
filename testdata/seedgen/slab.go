package seedgen

// The bio slab cache: what the seed's authors checked by hand ("none of the
// allocated entries in the bio slab cache is pointing to the dio"). It holds
// a full, a partial and a free slab of bios. In every variant two *free*
// bios still carry the dio in bi_private (one on the partial slab's free
// list, one in a CPU's array cache): completed I/O leaves that behind, and
// the check must not count them. In the in-flight variant an allocated bio
// points at the dio.

const (
	bioObjSize  = 0x80
	bioPerSlab  = 16
	bioSlabBase = 0x140 // s_mem offset in the slab page, after struct slab and the bufctls
)

// slabCaches writes cache_chain with the "bio" cache.
func (g *gen) slabCaches() {
	b, c := g.b, g.c
	chain := b.sym("cache_chain")
	b.listInit(chain)
	if b.sizeof("struct bio") > bioObjSize {
		b.fail("struct bio (%d bytes) does not fit the %d-byte bio slab objects", b.sizeof("struct bio"), bioObjSize)
		return
	}
	cacheVA := b.allocObj()
	kc := b.obj("kmem_cache_t", cacheVA)
	kc.set("objsize", bioObjSize)
	kc.set("num", bioPerSlab)
	kc.set("name", b.cstring("bio"))
	for _, l := range []string{"lists.slabs_partial", "lists.slabs_full", "lists.slabs_free"} {
		b.listInit(kc.addr(l))
	}
	b.listAddTail(kc.addr("next"), chain)

	endIO := b.sym("end_bio_bh_io_sync")
	var staleInArray uint64
	// slab 0 full, slab 1 partial (10 in use), slab 2 free
	for n, inuse := range []int{bioPerSlab, 10, 0} {
		page := b.alloc(pageSize, pageSize)
		sl := b.obj("struct slab", page)
		sl.set("s_mem", page+bioSlabBase)
		sl.set("inuse", uint64(inuse))
		bufctl := page + sl.t.Size
		if bufctl+bioPerSlab*4 > page+bioSlabBase {
			b.fail("struct slab and its bufctls overflow the slab header room")
			return
		}
		// free objects are inuse..num-1, chained through bufctl
		first := uint64(0xffffffff)
		if inuse < bioPerSlab {
			first = uint64(inuse)
		}
		sl.set("free", first)
		for i := 0; i < bioPerSlab; i++ {
			next := uint64(0xffffffff)
			if i >= inuse && i+1 < bioPerSlab {
				next = uint64(i + 1)
			}
			b.put(bufctl+uint64(i)*4, 4, next)
			obj := page + bioSlabBase + uint64(i)*bioObjSize
			bio := b.obj("struct bio", obj)
			bio.set("bi_size", 0x1000)
			bio.set("bi_cnt.counter", 1)
			bio.set("bi_end_io", endIO)
			bio.set("bi_sector", 0x9486000+uint64(n*bioPerSlab+i)*8)
			bio.set("bi_private", 0x10050000000+uint64(n*bioPerSlab+i)*0x100) // other requests' buffer heads
			switch {
			case n == 1 && i == 12: // freed: stale pointer at the dio
				bio.set("bi_private", c.dio)
				bio.set("bi_end_io", b.sym("dio_bio_end_aio"))
			case n == 0 && i == 5: // freed into CPU 4's array cache
				bio.set("bi_private", c.dio)
				bio.set("bi_end_io", b.sym("dio_bio_end_aio"))
				staleInArray = obj
			case n == 0 && i == 9 && g.v == InFlight: // the I/O really in flight
				bio.set("bi_private", c.dio)
				bio.set("bi_end_io", b.sym("dio_bio_end_aio"))
			}
		}
		list := []string{"lists.slabs_full", "lists.slabs_partial", "lists.slabs_free"}[n]
		b.listAddTail(sl.addr("list"), kc.addr(list))
	}
	// CPU 4's array cache holds one freed object
	ac := b.allocObj()
	arr := b.obj("struct array_cache", ac)
	arr.set("avail", 1)
	arr.set("limit", 120)
	b.u64(ac+arr.t.Size, staleInArray) // entries follow the header
	b.u64(kc.addr("array")+uint64(c.rootCPU)*8, ac)
}
