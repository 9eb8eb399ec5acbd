package addrspace_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/testdata/seedgen"

	"github.com/vmtriage/vmtriage/testdata/labcache"
)

// benchKernel opens the lab's 6.1-amd64 scenario B paging ELF with its
// vmlinux when present, else the first seed core.
func benchKernel(b *testing.B) *analyzer.Kernel {
	line := labcache.Named("6.1-amd64")
	dump, vmlinux := line.Dump("B", "elf-paging"), line.Vmlinux()
	if _, err := os.Stat(dump); err != nil {
		dir := seedgen.Cores(b)
		dump, vmlinux = filepath.Join(dir, "rhel4-1822328.elf"), filepath.Join(dir, seedgen.VmlinuxName)
	}
	k, err := analyzer.Open(dump, vmlinux)
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { k.Close() })
	b.Logf("%s", dump)
	return k
}

// BenchmarkTranslate translates kernel virtual addresses: in the direct
// map and the kernel image (arithmetic), and through the page tables (a
// module's address, from the modules list; skipped when no module is
// loaded or the address is in a linear map).
func BenchmarkTranslate(b *testing.B) {
	k := benchKernel(b)
	l := k.Mem.Layout()
	text, err := k.Syms.Addr("_text")
	if err != nil {
		b.Skip(err)
	}
	addrs := map[string]uint64{"direct": l.PageOffset + 0x100000, "image": text}
	if mods, err := k.Syms.Addr("modules"); err == nil {
		var w [8]byte
		if k.Mem.Read(mods, w[:]) == nil {
			next := binary.LittleEndian.Uint64(w[:])
			inLinear := (next >= l.PageOffset && next-l.PageOffset < l.DirectMapSize) ||
				(next >= l.KernelMap && next-l.KernelMap < l.KernelMapSize)
			if next != mods && !inLinear {
				addrs["pagewalk"] = next
			}
		}
	}
	for _, name := range []string{"direct", "image", "pagewalk"} {
		va, ok := addrs[name]
		if !ok {
			continue
		}
		if _, err := k.Mem.Translate(va); err != nil {
			b.Logf("%s 0x%x: %v", name, va, err)
			continue
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := k.Mem.Translate(va); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/u64", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := k.Mem.U64(va &^ 7); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
