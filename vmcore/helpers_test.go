package vmcore_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

const farPage = 0x44b3b6000

// testMemory returns a memory with several runs of pages: compressible
// text, incompressible pseudo-random bytes, an all-zero page, and a page
// far away at farPage.
func testMemory() *dumpwrite.Memory {
	m := dumpwrite.NewMemory()
	text := bytes.Repeat([]byte("Linux version 6.1.0 (vmtriage test) "), 400)
	m.Write(0x0, text[:3*4096])                   // pfns 0-2
	m.Write(0x100000, pseudoRandom(16*4096, 1))   // pfns 0x100-0x10f
	m.Write(0x110000, make([]byte, 4096))         // zero page, contiguous with the run above
	m.Write(0x200000+100, []byte("partial page")) // pfn 0x200, mostly zeros
	m.Write(0x300000, pseudoRandom(4096, 2))
	m.Write(0x301000, text[:4096])
	m.Write(farPage, append([]byte("far away page "), pseudoRandom(4000, 3)...))
	return m
}

// pseudoRandom returns deterministic incompressible bytes.
func pseudoRandom(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 24)
	}
	return b
}

func testMeta() dumpwrite.Meta {
	var cpus []dumpwrite.CPU
	for i := range 3 {
		var r vmcore.X86_64Regs
		r.RIP = 0xffffffff81000000 + uint64(i)
		r.RSP = 0xffffc90000000000 + uint64(i)*0x1000
		r.GS = uint64(i)
		r.R15 = 15
		cpus = append(cpus, dumpwrite.CPU{PID: int32(100 + i), Regs: r})
	}
	return dumpwrite.Meta{
		CPUs:       cpus,
		VMCoreInfo: "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a15a20\nNUMBER(phys_base)=0\nKERNELOFFSET=1e000000\n",
		Utsname:    dumpwrite.Utsname{Sysname: "Linux", Nodename: "testhost", Release: "6.1.0-test", Version: "#1 SMP", Machine: "x86_64", Domainname: "(none)"},
		PhysBase:   0x1000000,
		Timestamp:  1700000000,
	}
}

type writerKind struct {
	name   string
	format vmcore.Format
	comp   dumpwrite.Compression
}

func allWriters() []writerKind {
	w := []writerKind{{"elf", vmcore.FormatELF, dumpwrite.None}}
	for _, c := range []dumpwrite.Compression{dumpwrite.None, dumpwrite.Zlib, dumpwrite.LZO, dumpwrite.Snappy, dumpwrite.Zstd} {
		w = append(w, writerKind{"kdump-" + c.String(), vmcore.FormatKdump, c})
		w = append(w, writerKind{"flat-" + c.String(), vmcore.FormatFlattened, c})
	}
	return w
}

func writeDump(t testing.TB, k writerKind, m *dumpwrite.Memory, meta dumpwrite.Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch k.format {
	case vmcore.FormatELF:
		err = dumpwrite.WriteELF(&buf, m, meta)
	case vmcore.FormatKdump:
		err = dumpwrite.WriteKdump(&buf, m, meta, k.comp)
	case vmcore.FormatFlattened:
		err = dumpwrite.WriteFlattened(&buf, m, meta, k.comp)
	}
	if err != nil {
		t.Fatalf("write %s: %v", k.name, err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openBytes(t testing.TB, name string, data []byte) *vmcore.Dump {
	t.Helper()
	d, err := vmcore.Open(writeFile(t, name, data))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var le = binary.LittleEndian
