package vmcore_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/vmcore"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

func TestRoundTrip(t *testing.T) {
	m := testMemory()
	meta := testMeta()
	for _, k := range allWriters() {
		t.Run(k.name, func(t *testing.T) {
			d := openBytes(t, k.name, writeDump(t, k, m, meta))
			if d.Format() != k.format {
				t.Errorf("Format = %q, want %q", d.Format(), k.format)
			}
			wantComp := k.comp.String()
			if k.format == vmcore.FormatELF {
				wantComp = "none"
			}
			if d.Compression() != wantComp {
				t.Errorf("Compression = %q, want %q", d.Compression(), wantComp)
			}
			if d.PageSize() != 4096 {
				t.Errorf("PageSize = %d", d.PageSize())
			}
			if w := d.Warnings(); len(w) != 0 {
				t.Errorf("Warnings = %q", w)
			}
			checkMeta(t, d, meta)
			if k.format != vmcore.FormatELF {
				u, ok := d.Utsname()
				if !ok || u != meta.Utsname {
					t.Errorf("Utsname = %+v, %v; want %+v", u, ok, meta.Utsname)
				}
				pb, ok := d.PhysBase()
				if !ok || pb != meta.PhysBase {
					t.Errorf("PhysBase = %#x, %v", pb, ok)
				}
			}
			checkAllPages(t, d, m)

			// Reads spanning pages, within and across runs.
			for _, r := range []struct{ addr, n uint64 }{
				{0xff0, 0x20}, {0x100ff8, 0x2010}, {0x10fff0, 0x20}, {0x300ffe, 4}, {0, 3 * 4096},
			} {
				got := make([]byte, r.n)
				if err := d.ReadPhys(r.addr, got); err != nil {
					t.Errorf("ReadPhys(%#x, %d): %v", r.addr, r.n, err)
					continue
				}
				want := make([]byte, r.n)
				m.Read(r.addr, want)
				if !bytes.Equal(got, want) {
					t.Errorf("ReadPhys(%#x, %d) mismatch", r.addr, r.n)
				}
			}

			// Absent pages.
			absentErr := vmcore.ErrNotPresent
			if k.format != vmcore.FormatELF {
				absentErr = vmcore.ErrExcluded
			}
			for _, addr := range []uint64{0x3000, 0x111000, farPage - 4096, 0x2ff000} {
				checkPageErr(t, d, addr, absentErr)
			}
			// Spanning from a present page into an absent one.
			checkPageErr(t, d, 0x2ff0, absentErr)
			// Beyond the end of memory.
			checkPageErr(t, d, farPage+4096, vmcore.ErrNotPresent)
			checkPageErr(t, d, 1<<62, vmcore.ErrNotPresent)

			segs := d.Segments()
			var total uint64
			for _, s := range segs {
				total += s.MemSize
			}
			if want := uint64(len(m.PFNs())) * 4096; total != want {
				t.Errorf("Segments cover %#x bytes, want %#x: %+v", total, want, segs)
			}
		})
	}
}

func checkMeta(t *testing.T, d *vmcore.Dump, meta dumpwrite.Meta) {
	t.Helper()
	cpus := d.CPUs()
	if len(cpus) != len(meta.CPUs) {
		t.Fatalf("CPUs: got %d, want %d", len(cpus), len(meta.CPUs))
	}
	for i, c := range cpus {
		if c.PID != meta.CPUs[i].PID || c.Regs != meta.CPUs[i].Regs {
			t.Errorf("CPU %d = %+v, want %+v", i, c, meta.CPUs[i])
		}
	}
	if d.VMCoreInfo() != meta.VMCoreInfo {
		t.Errorf("VMCoreInfo = %q", d.VMCoreInfo())
	}
	for key, want := range map[string]string{"OSRELEASE": "6.1.0-test", "SYMBOL(init_uts_ns)": "ffffffff82a15a20", "KERNELOFFSET": "1e000000", "NUMBER(phys_base)": "0"} {
		if got, ok := d.VMCoreInfoValue(key); !ok || got != want {
			t.Errorf("VMCoreInfoValue(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := d.VMCoreInfoValue("NOPE"); ok {
		t.Error("VMCoreInfoValue(NOPE) found")
	}
}

func checkAllPages(t *testing.T, d *vmcore.Dump, m *dumpwrite.Memory) {
	t.Helper()
	got := make([]byte, 4096)
	want := make([]byte, 4096)
	for _, pfn := range m.PFNs() {
		if err := d.ReadPhys(pfn*4096, got); err != nil {
			t.Errorf("ReadPhys(pfn %#x): %v", pfn, err)
			continue
		}
		m.Read(pfn*4096, want)
		if !bytes.Equal(got, want) {
			t.Errorf("pfn %#x: data mismatch", pfn)
		}
	}
}

func checkPageErr(t *testing.T, d *vmcore.Dump, addr uint64, want error) {
	t.Helper()
	err := d.ReadPhys(addr, make([]byte, 64))
	if !errors.Is(err, want) {
		t.Errorf("ReadPhys(%#x) = %v, want %v", addr, err, want)
		return
	}
	var pe *vmcore.PageError
	if !errors.As(err, &pe) {
		t.Errorf("ReadPhys(%#x) error %T is not a *PageError", addr, err)
		return
	}
	if !strings.HasPrefix(err.Error(), d.Path()+": physical address 0x") || !strings.Contains(err.Error(), fmt.Sprintf("%#x", pe.Paddr)) {
		t.Errorf("error %q does not name the file and address", err)
	}
	if pe.Paddr/4096 != addr/4096 && pe.Paddr/4096 != addr/4096+1 {
		t.Errorf("error names %#x, read was at %#x", pe.Paddr, addr)
	}
}

func TestUnrecognized(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"garbage", "GARBAGE!and more bytes", `first 8 bytes are 47 41 52 42 41 47 45 21 "GARBAGE!"`},
		{"empty", "", "file is only 0 bytes long"},
		{"short", "KDU", "file is only 3 bytes long"},
		{"binary", "\x00\x01\x02\x03\x04\x05\x06\x07\x08", `00 01 02 03 04 05 06 07 "........"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.name, []byte(tc.data))
			_, err := vmcore.Open(p)
			if !errors.Is(err, vmcore.ErrUnrecognizedFormat) {
				t.Fatalf("Open = %v, want ErrUnrecognizedFormat", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, p+": not a vmcore: ") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "(expected ELF, KDUMP or makedumpfile signature)") {
				t.Errorf("error = %q", msg)
			}
		})
	}
	if _, err := vmcore.Open(t.TempDir() + "/missing"); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

// TestCorruptHeaders checks that damaged headers give a FormatError
// naming the file and offset, and never a panic.
func TestCorruptHeaders(t *testing.T) {
	m := testMemory()
	meta := testMeta()
	elf := writeDump(t, writerKind{"elf", vmcore.FormatELF, 0}, m, meta)
	kd := writeDump(t, writerKind{"kdump", vmcore.FormatKdump, dumpwrite.Zlib}, m, meta)
	fl := writeDump(t, writerKind{"flat", vmcore.FormatFlattened, dumpwrite.Zlib}, m, meta)
	patch := func(b []byte, off int, v []byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[off:], v)
		return c
	}
	u16 := func(v uint16) []byte { return le.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"elf-class", patch(elf, 4, []byte{9}), "ELF class 9"},
		{"elf-bigendian", patch(elf, 5, []byte{2}), "big-endian"},
		{"elf-type", patch(elf, 16, u16(2)), "expected 4 (ET_CORE)"},
		{"elf-phnum-huge", patch(elf, 56, u16(0xfffe)), "program headers"},
		{"elf-phoff-huge", patch(elf, 32, u64(1<<62)), "program headers"},
		{"elf-phentsize", patch(elf, 54, u16(12)), "e_phentsize 12"},
		{"elf-xnum-no-sections", patch(elf, 56, u16(0xffff)), "PN_XNUM"},
		{"elf-header-short", elf[:40], "ELF header"},
		{"elf-note-past-eof", patch(elf, 64+8, u64(1<<40)), "PT_NOTE"},
		{"kdump-short", kd[:100], "disk_dump_header"},
		{"kdump-blocksize", patch(kd, 428, u32(3)), "block_size 3"},
		{"kdump-subhdr", patch(kd, 432, u32(0x7fffffff)), "sub_hdr_size"},
		{"kdump-bitmap-huge", patch(kd, 436, u32(0xffffffff)), "bitmaps"},
		{"kdump-bitmap-zero", patch(kd, 436, u32(0)), "bitmap_blocks is 0"},
		{"kdump-version", patch(kd, 8, u32(0xffffffff)), "header_version -1"},
		{"kdump-before-bitmap", kd[:2*4096+10], "bitmaps"},
		{"flat-type", patch(fl, 16, []byte{0, 0, 0, 0, 0, 0, 0, 7}), "flattened header type 7"},
		{"flat-short", fl[:100], "flattened header"},
		{"flat-bad-record", patch(fl, 4096, []byte{0x80}), "end marker"},
		{"flat-no-kdump", patch(fl, 4096+16, []byte("XXXXXXXX")), "logical offset 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.name, tc.data)
			d, err := vmcore.Open(p)
			if err == nil {
				d.Close()
				t.Fatalf("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, p+": ") || !strings.Contains(msg, "offset 0x") || !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want the path, an offset and %q", msg, tc.want)
			}
		})
	}
}

// TestTruncated cuts dumps at several points: Open must succeed once the
// headers are complete, warn about the truncation, serve every page
// before the reported missing address and fail later pages with
// ErrTruncated; it must never return wrong data.
func TestTruncated(t *testing.T) {
	m := testMemory()
	meta := testMeta()
	missingRE := regexp.MustCompile(`pages from physical (0x[0-9a-f]+) on are missing`)
	for _, k := range allWriters() {
		full := writeDump(t, k, m, meta)
		head := headerEnd(t, k, full)
		cuts := []int{10, head / 2, head - 1}
		for _, frac := range []float64{0, 0.01, 0.3, 0.6, 0.95, 0.999} {
			cuts = append(cuts, head+int(float64(len(full)-head)*frac))
		}
		for _, cut := range cuts {
			t.Run(fmt.Sprintf("%s/%d", k.name, cut), func(t *testing.T) {
				p := writeFile(t, k.name, full[:cut])
				d, err := vmcore.Open(p)
				if err != nil {
					if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "offset 0x") {
						t.Errorf("Open error %q does not name the file and offset", err)
					}
					if cut >= head {
						t.Errorf("Open failed on a file cut at %#x after the headers (%#x): %v", cut, head, err)
					}
					return
				}
				if cut < head && k.format == vmcore.FormatKdump {
					t.Errorf("Open succeeded on a file cut at %#x inside the headers (%#x)", cut, head)
				}
				defer d.Close()
				warns := strings.Join(d.Warnings(), "\n")
				if !strings.Contains(warns, "truncated") {
					t.Errorf("Warnings = %q, want a truncation warning", warns)
				}
				missing := uint64(1 << 63)
				if mm := missingRE.FindStringSubmatch(warns); mm != nil {
					missing, _ = strconv.ParseUint(mm[1][2:], 16, 64)
				} else {
					t.Errorf("warning %q does not say where pages go missing", warns)
				}
				got := make([]byte, 4096)
				want := make([]byte, 4096)
				ok, bad := 0, 0
				for _, pfn := range m.PFNs() {
					err := d.ReadPhys(pfn*4096, got)
					if err != nil {
						if !errors.Is(err, vmcore.ErrTruncated) {
							t.Errorf("pfn %#x: %v, want ErrTruncated", pfn, err)
						}
						if pfn*4096 < missing {
							t.Errorf("pfn %#x is before the reported missing address %#x but failed: %v", pfn, missing, err)
						}
						bad++
						continue
					}
					m.Read(pfn*4096, want)
					if !bytes.Equal(got, want) {
						t.Errorf("pfn %#x: wrong data", pfn)
					}
					ok++
				}
				if bad == 0 {
					t.Errorf("no page failed, though the file was cut")
				}
			})
		}
	}
}

func TestELFVariants(t *testing.T) {
	m := testMemory()
	meta := testMeta()
	meta.ELFPNXNUM = true
	meta.ELFVaddrOffset = 0x10000000000
	q := vmcore.QEMUCPUState{Version: 1, RIP: 0xffffffff81001234, RSP: 0x1000, KernelGSBase: 0xffff888000000000}
	q.CR[3] = 0x2a0a000
	q.GS.Base = 0xffff88807fc00000
	meta.QEMUCPUs = []vmcore.QEMUCPUState{q, q}
	data := writeDump(t, writerKind{"elf", vmcore.FormatELF, 0}, m, meta)
	if got := le.Uint16(data[56:]); got != 0xffff {
		t.Fatalf("e_phnum = %#x, want PN_XNUM", got)
	}
	if got := le.Uint64(data[32:]); got != 0x80 {
		t.Fatalf("e_phoff = %#x", got)
	}
	d := openBytes(t, "xnum.elf", data)
	checkMeta(t, d, meta)
	checkAllPages(t, d, m)
	for _, s := range d.Segments() {
		if s.Vaddr != s.Paddr+meta.ELFVaddrOffset || s.FileSize != s.MemSize {
			t.Errorf("segment %+v", s)
		}
	}
	qs := d.QEMUCPUs()
	q.Size = 440
	q.HasKernelGSBase = true
	if len(qs) != 2 || qs[0] != q {
		t.Errorf("QEMUCPUs = %+v, want 2 x %+v", qs, q)
	}
}

// TestELFMemszZeroFill checks that bytes between p_filesz and p_memsz
// read as zeros and that ELF32 cores are accepted.
func TestELFMemszZeroFill(t *testing.T) {
	m := dumpwrite.NewMemory()
	m.Write(0x1000, bytes.Repeat([]byte{0xaa}, 8192))
	data := writeDump(t, writerKind{"elf", vmcore.FormatELF, 0}, m, dumpwrite.Meta{})
	// The PT_LOAD is the second program header; halve its p_filesz.
	ph := 64 + 56
	le.PutUint64(data[ph+32:], 4096)
	d := openBytes(t, "memsz.elf", data)
	got := make([]byte, 8192)
	if err := d.ReadPhys(0x1000, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:4096], bytes.Repeat([]byte{0xaa}, 4096)) || !bytes.Equal(got[4096:], make([]byte, 4096)) {
		t.Error("p_filesz < p_memsz not zero-filled")
	}

	// A hand-made ELF32 core with one PT_LOAD.
	e := make([]byte, 52+32+16)
	copy(e, "\x7fELF\x01\x01\x01")
	le.PutUint16(e[16:], 4)
	le.PutUint16(e[18:], 3)
	le.PutUint32(e[28:], 52) // e_phoff
	le.PutUint16(e[42:], 32) // e_phentsize
	le.PutUint16(e[44:], 1)  // e_phnum
	le.PutUint32(e[52:], 1)  // PT_LOAD
	le.PutUint32(e[56:], 84) // p_offset
	le.PutUint32(e[64:], 0x5000)
	le.PutUint32(e[68:], 16)
	le.PutUint32(e[72:], 16)
	copy(e[84:], "elf32 test bytes")
	d32 := openBytes(t, "elf32", e)
	got = make([]byte, 16)
	if err := d32.ReadPhys(0x5000, got); err != nil || string(got) != "elf32 test bytes" {
		t.Errorf("ELF32 read = %q, %v", got, err)
	}
}

// TestManySegments checks lookups among thousands of small PT_LOADs.
func TestManySegments(t *testing.T) {
	m := dumpwrite.NewMemory()
	for i := uint64(0); i < 5000; i++ {
		m.Write(i*3*4096+8, []byte(fmt.Sprintf("page %d", i)))
	}
	d := openBytes(t, "many.elf", writeDump(t, writerKind{"elf", vmcore.FormatELF, 0}, m, dumpwrite.Meta{}))
	if n := len(d.Segments()); n != 5000 {
		t.Fatalf("%d segments", n)
	}
	checkAllPages(t, d, m)
	checkPageErr(t, d, 4096, vmcore.ErrNotPresent)
}

func TestDeterministicWriters(t *testing.T) {
	for _, k := range allWriters() {
		a := writeDump(t, k, testMemory(), testMeta())
		b := writeDump(t, k, testMemory(), testMeta())
		if !bytes.Equal(a, b) {
			t.Errorf("%s: output differs between runs", k.name)
		}
	}
}

func BenchmarkReadPhysZlib(b *testing.B) {
	m := dumpwrite.NewMemory()
	text := bytes.Repeat([]byte("benchmark page data 0123456789 "), 140)
	const pages = 1024
	for i := uint64(0); i < pages; i++ {
		m.Write(i*4096, text[:4096])
		m.Write(i*4096, []byte(fmt.Sprint(i)))
	}
	d := openBytes(b, "bench", writeDump(b, writerKind{"kdump", vmcore.FormatKdump, dumpwrite.Zlib}, m, dumpwrite.Meta{}))
	buf := make([]byte, 4096)
	b.Run("cold", func(b *testing.B) {
		// Sequential over 1024 pages: the 128-page cache never hits.
		b.SetBytes(4096)
		for i := 0; b.Loop(); i++ {
			if err := d.ReadPhys(uint64(i%pages)*4096, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		b.SetBytes(4096)
		for i := 0; b.Loop(); i++ {
			if err := d.ReadPhys(uint64(i%64)*4096, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// headerEnd returns the file offset where a dump's headers end: the first
// PT_LOAD data of an ELF file, the page descriptor table of a kdump file,
// the first data record after the bitmap records of a flattened file.
func headerEnd(t *testing.T, k writerKind, full []byte) int {
	switch k.format {
	case vmcore.FormatELF:
		d := openBytes(t, "full", full)
		first := uint64(len(full))
		for _, s := range d.Segments() {
			first = min(first, s.FileOff)
		}
		return int(first)
	case vmcore.FormatKdump:
		return (1 + int(le.Uint32(full[432:])) + int(le.Uint32(full[436:]))) * 4096
	default:
		kd := full[4096+16:] // the header record's data
		descOff := (1 + int(le.Uint32(kd[432:])) + int(le.Uint32(kd[436:]))) * 4096
		bitmapLen := int(le.Uint32(kd[436:])) * 4096
		records := 2 + (bitmapLen+65535)/65536
		return 4096 + descOff + 16*records
	}
}

// TestSmallBlocks reads kdump files whose block (page) size is below
// 4 KiB, as on the fuzz seeds.
func TestSmallBlocks(t *testing.T) {
	m := fuzzSeedMemory()
	m.Write(0x100000, pseudoRandom(8192, 9))
	m.Write(0x102000, bytes.Repeat([]byte("x"), 4096))
	for _, bs := range []uint64{512, 1024, 2048} {
		for _, c := range []dumpwrite.Compression{dumpwrite.Zlib, dumpwrite.LZO, dumpwrite.None} {
			t.Run(fmt.Sprintf("%d-%s", bs, c), func(t *testing.T) {
				meta := testMeta()
				meta.CPUs = meta.CPUs[:1]
				meta.KdumpBlockSize = bs
				d := openBytes(t, "small", writeDump(t, writerKind{"kdump", vmcore.FormatKdump, c}, m, meta))
				if d.PageSize() != bs {
					t.Errorf("PageSize = %d, want %d", d.PageSize(), bs)
				}
				if w := d.Warnings(); len(w) != 0 {
					t.Errorf("Warnings = %q", w)
				}
				checkAllPages(t, d, m)
				checkPageErr(t, d, 0x5000, vmcore.ErrExcluded)
			})
		}
	}
}
