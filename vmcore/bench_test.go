package vmcore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/seedgen"
	"github.com/vmtriage/vmtriage/vmcore"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// benchDumps returns the dumps to read: the lab's 6.1-amd64 scenario B in
// every format it has (testdata/realkernel/lab.sh), when present, and the
// seed cores (ELF and kdump) generated from the committed vmlinux.
func benchDumps(b *testing.B) map[string]string {
	out := map[string]string{}
	line := labcache.Named("6.1-amd64")
	for _, f := range []string{"elf-paging", "elf-nopaging", "kdump-zlib-flat", "mdf-zlib", "mdf-lzo"} {
		p := line.Dump("B", f)
		if _, err := os.Stat(p); err == nil {
			out["lab-6.1-"+f] = p
		}
	}
	seeds := seedgen.Cores(b)
	for _, f := range []string{"rhel4-1822328.elf", "rhel4-1822328.kdump"} {
		out["seed-"+f] = filepath.Join(seeds, f)
	}
	return out
}

// pages returns up to n page-aligned physical addresses spread over the
// dump's segments (one in every segment first, then evenly).
func pages(d *vmcore.Dump, n int) []uint64 {
	ps := d.PageSize()
	var total uint64
	segs := d.Segments()
	for _, s := range segs {
		total += s.MemSize / ps
	}
	if total == 0 {
		return nil
	}
	step := total / uint64(n)
	if step == 0 {
		step = 1
	}
	var out []uint64
	var k uint64
	for _, s := range segs {
		for off := uint64(0); off+ps <= s.MemSize && len(out) < n; off += ps {
			if k%step == 0 {
				out = append(out, (s.Paddr+off)&^(ps-1))
			}
			k++
		}
	}
	return out
}

// BenchmarkOpen measures opening a dump (headers, notes, page tables of
// the format: kdump bitmaps, flattened file index).
func BenchmarkOpen(b *testing.B) {
	for name, path := range benchDumps(b) {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				d, err := vmcore.Open(path)
				if err != nil {
					b.Skip(err)
				}
				d.Close()
			}
		})
	}
}

// BenchmarkReadPhys reads whole pages spread over physical memory: "spread"
// cycles through 4096 pages of the dump (decompressing each in compressed
// formats), "same" rereads one page.
func BenchmarkReadPhys(b *testing.B) {
	for name, path := range benchDumps(b) {
		d, err := vmcore.Open(path)
		if err != nil {
			b.Logf("%s: %v", name, err)
			continue
		}
		b.Cleanup(func() { d.Close() })
		var addrs []uint64
		buf := make([]byte, d.PageSize())
		for _, pa := range pages(d, 4096) {
			if d.ReadPhys(pa, buf) == nil { // excluded pages are not read
				addrs = append(addrs, pa)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		b.Run(name+"/spread", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				if err := d.ReadPhys(addrs[i%len(addrs)], buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/same", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				if err := d.ReadPhys(addrs[len(addrs)/2], buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/u64", func(b *testing.B) {
			var w [8]byte
			for i := 0; i < b.N; i++ {
				if err := d.ReadPhys(addrs[i%len(addrs)]+8*uint64(i%512), w[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
