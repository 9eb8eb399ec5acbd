package analyzer

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
	"github.com/vmtriage/vmtriage/vmcore/addrspace"
)

// flatPhys is physical memory as one byte slice.
type flatPhys []byte

func (f flatPhys) ReadPhys(pa uint64, p []byte) error {
	if pa+uint64(len(p)) > uint64(len(f)) {
		return errors.New("beyond memory")
	}
	copy(p, f[pa:])
	return nil
}

const testPageOffset = 0xffff888000000000

func fakeKernel(mem flatPhys, hardened bool) *Kernel {
	l := addrspace.Layout{PageOffset: testPageOffset, DirectMapSize: uint64(len(mem)), PageSize: 4096}
	k := &Kernel{Mem: addrspace.New(mem, l)}
	k.Layout.Layout = l
	k.Features.Slab = SlabFeatures{Allocator: "SLUB", Hardened: hardened, st: &slubState{}}
	return k
}

// TestSlubFreelist follows a hardened freelist (ptr ^ random ^
// swab(ptr_addr), 5.7+) and a plain one through a slab of four objects.
func TestSlubFreelist(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		mem := make(flatPhys, 0x3000)
		k := fakeKernel(mem, hardened)
		c := &slubCache{Name: "test", Size: 64, Offset: 32, Random: 0x1234abcd5678ef01}
		base := uint64(testPageOffset + 0x1000)
		put := func(obj, next uint64) {
			at := obj + c.Offset
			v := next
			if hardened {
				v = next ^ c.Random ^ swab64(at)
			}
			binary.LittleEndian.PutUint64(mem[at-testPageOffset:], v)
		}
		// free: obj 2 -> obj 0 -> obj 3 -> NULL; obj 1 allocated
		put(base+2*64, base)
		put(base, base+3*64)
		put(base+3*64, 0)
		got, err := k.freelist(k.Features.Slab.st, c, base+2*64, base, 4)
		if err != nil {
			t.Fatalf("hardened=%v: %v", hardened, err)
		}
		want := []uint64{base + 128, base, base + 192}
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("hardened=%v: freelist %x, want %x", hardened, got, want)
		}
		if hardened && k.Features.Slab.st.swab != 1 {
			t.Errorf("swab mode %d, want 1 (with swab)", k.Features.Slab.st.swab)
		}
		// a loop is an error, not a hang
		put(base+3*64, base+2*64)
		if _, err := k.freelist(&slubState{swab: 1}, c, base+2*64, base, 4); err == nil {
			t.Errorf("hardened=%v: a looping freelist gave no error", hardened)
		}
		// a pointer out of the slab is an error
		put(base+3*64, base+5*64)
		if _, err := k.freelist(&slubState{swab: 1}, c, base+2*64, base, 4); err == nil {
			t.Errorf("hardened=%v: a pointer beyond the slab gave no error", hardened)
		}
	}
}

// TestIsSlab checks the three ways kernels mark slab pages.
func TestIsSlab(t *testing.T) {
	l := &slubLayout{flagsOff: 0, mapcountOff: 48}
	p := make([]byte, 64)
	k := &Kernel{}
	k.Features.Slab = SlabFeatures{PageSlab: "flags.PG_slab", slabFlagBit: 9}
	binary.LittleEndian.PutUint64(p, 1<<9|1<<16)
	if !k.isSlab(l, p) {
		t.Error("PG_slab set: not a slab page")
	}
	binary.LittleEndian.PutUint64(p, 1<<16)
	if k.isSlab(l, p) {
		t.Error("PG_slab clear: a slab page")
	}
	k.Features.Slab = SlabFeatures{PageSlab: "page_type.PGTY_slab", slabType: 0xf5}
	binary.LittleEndian.PutUint32(p[48:], 0xf5000000)
	if !k.isSlab(l, p) {
		t.Error("page_type 0xf5000000: not a slab page")
	}
	binary.LittleEndian.PutUint32(p[48:], 0xf0000000) // PGTY_buddy
	if k.isSlab(l, p) {
		t.Error("page_type buddy: a slab page")
	}
	k.Features.Slab = SlabFeatures{PageSlab: "_mapcount", slabMapcount: int64(int32(-0x1001))}
	binary.LittleEndian.PutUint32(p[48:], uint32(0xffffefff))
	if !k.isSlab(l, p) {
		t.Error("_mapcount ~0x1000: not a slab page")
	}
}

func TestFieldBits(t *testing.T) {
	u := &symbols.Type{Kind: symbols.Uint, Size: 4}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[8:], 12|30<<16|1<<31)
	inuse := symbols.Field{Type: u, Offset: 8, BitSize: 16}
	objects := symbols.Field{Type: u, Offset: 8, BitSize: 15, BitOffset: 16}
	if fieldBits(b, inuse) != 12 || fieldBits(b, objects) != 30 {
		t.Errorf("inuse %d objects %d, want 12 and 30", fieldBits(b, inuse), fieldBits(b, objects))
	}
}

// TestSeedSlab walks the 2.6.9 SLAB caches of a seed core: the per-cache
// accounts add up and kmem -s (every cache) lists the bio cache.
func TestSeedSlab(t *testing.T) {
	dir := seedgen.Cores(t)
	k, err := Open(filepath.Join(dir, "rhel4-1822328.elf"), filepath.Join(dir, seedgen.VmlinuxName))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	alloc, free, err := k.CacheObjects("bio")
	if err != nil || len(alloc) != 25 || free != 7 {
		t.Errorf("CacheObjects(bio) = %d allocated, %d free, %v; want 25 and 7", len(alloc), free, err)
	}
	if _, _, err := k.CacheObjects("no-such-cache"); err == nil {
		t.Error("CacheObjects of a missing cache gave no error")
	}
	all, err := k.SlabCacheSummaries()
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, c := range all {
		if c.Total != len(c.Allocated)+c.Free {
			t.Errorf("cache %s: %d objects != %d allocated + %d free", c.Name, c.Total, len(c.Allocated), c.Free)
		}
		seen = seen || c.Name == "bio" && c.Slabs == 2
	}
	if !seen { // the generated seed cores hold the caches the analysis reads
		t.Errorf("%d caches, bio with 2 slabs not among them", len(all))
	}
	if _, err := k.SlabOf(alloc[0]); !errors.Is(err, ErrNoSlabWalk) {
		t.Errorf("SlabOf on SLAB: %v, want ErrNoSlabWalk", err)
	}
}
