package vmcore_test

import (
	"bytes"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// fuzzSeedMemory is small so the seeds are small: the fuzzing engine
// spends much of its time minimizing inputs, proportionally to their size.
func fuzzSeedMemory() *dumpwrite.Memory {
	m := dumpwrite.NewMemory()
	m.Write(0x0, bytes.Repeat([]byte("seed text "), 410)) // half text, half zeros
	m.Write(0x3000, pseudoRandom(512, 7))
	return m
}

func fuzzSeedMeta() dumpwrite.Meta {
	meta := testMeta()
	meta.CPUs = meta.CPUs[:1]
	meta.VMCoreInfo = "OSRELEASE=6.1.0\nPAGESIZE=4096\n"
	meta.KdumpBlockSize = 512 // 512-byte kdump pages: tiny headers and bitmaps
	return meta
}

// exercise opens data and reads a little; it must never panic or hang.
func exercise(t *testing.T, data []byte) {
	d, err := vmcore.OpenReaderAt("fuzz", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if err.Error() == "" {
			t.Error("empty error message")
		}
		return
	}
	defer d.Close()
	_ = d.Warnings()
	_ = d.CPUs()
	_ = d.QEMUCPUs()
	_, _ = d.VMCoreInfoValue("OSRELEASE")
	addrs := []uint64{0, 0x200, 0x1000, 0x3000, 0x3ff8, 1 << 40}
	for i, s := range d.Segments() {
		if i >= 8 {
			break
		}
		addrs = append(addrs, s.Paddr, s.Paddr+s.MemSize-1)
	}
	buf := make([]byte, 8192)
	for _, a := range addrs {
		_ = d.ReadPhys(a, buf[:100])
		_ = d.ReadPhys(a, buf)
	}
}

func addSeeds(f *testing.F, k writerKind) {
	f.Helper()
	full := writeDump(f, k, fuzzSeedMemory(), fuzzSeedMeta())
	f.Add(full)
	f.Add(full[:len(full)/2])
	f.Add(full[:len(full)-1000])
}

func FuzzOpenELF(f *testing.F) {
	addSeeds(f, writerKind{"elf", vmcore.FormatELF, dumpwrite.None})
	meta := fuzzSeedMeta()
	meta.ELFPNXNUM = true
	meta.QEMUCPUs = []vmcore.QEMUCPUState{{Version: 1}}
	var buf bytes.Buffer
	if err := dumpwrite.WriteELF(&buf, fuzzSeedMemory(), meta); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(exercise)
}

func FuzzOpenKdump(f *testing.F) {
	for _, c := range []dumpwrite.Compression{dumpwrite.None, dumpwrite.Zlib, dumpwrite.LZO, dumpwrite.Snappy, dumpwrite.Zstd} {
		addSeeds(f, writerKind{"kdump", vmcore.FormatKdump, c})
	}
	f.Fuzz(exercise)
}

func FuzzOpenFlattened(f *testing.F) {
	for _, c := range []dumpwrite.Compression{dumpwrite.None, dumpwrite.Zlib, dumpwrite.LZO} {
		addSeeds(f, writerKind{"flat", vmcore.FormatFlattened, c})
	}
	f.Fuzz(exercise)
}
