package dumpwrite

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	lzo "github.com/anchore/go-lzo"
)

func TestMemory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		addr     uint64
		data     []byte
		wantPFNs []uint64
	}{
		{"within a page", 0x1010, []byte("abc"), []uint64{1}},
		{"spanning pages", 0x1ffe, []byte("abcdef"), []uint64{1, 2}},
		{"several pages", 0x5000, bytes.Repeat([]byte{7}, 3*PageSize+1), []uint64{5, 6, 7, 8}},
		{"far away", 0x44b3b6000, []byte("far"), []uint64{0x44b3b6}},
		{"empty", 0x9000, nil, []uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory()
			m.Write(tc.addr, tc.data)
			if got := m.PFNs(); !slices.Equal(got, tc.wantPFNs) {
				t.Errorf("PFNs = %#x, want %#x", got, tc.wantPFNs)
			}
			got := make([]byte, len(tc.data)+20)
			m.Read(tc.addr-10, got)
			want := append(append(make([]byte, 10), tc.data...), make([]byte, 10)...)
			if !bytes.Equal(got, want) {
				t.Errorf("Read = %q, want %q", got, want)
			}
		})
	}
}

func lzoInputs() map[string][]byte {
	rnd := make([]byte, 4096)
	x := uint32(12345)
	for i := range rnd {
		x = x*1664525 + 1013904223
		rnd[i] = byte(x >> 24)
	}
	mixed := append(append(append([]byte{}, rnd[:300]...), make([]byte, 1000)...), rnd[300:600]...)
	mixed = append(mixed, bytes.Repeat([]byte("abcd"), 600)...)
	return map[string][]byte{
		"one byte":      {42},
		"three bytes":   []byte("xyz"),
		"zeros":         make([]byte, 4096),
		"text":          bytes.Repeat([]byte("the quick brown fox "), 205)[:4096],
		"random":        rnd,
		"random 239":    rnd[:239],
		"random 300":    rnd[:300],
		"mixed":         mixed,
		"short literal": append([]byte("ab"), make([]byte, 100)...),
		"literal 5":     append(append([]byte("abcde"), make([]byte, 50)...), []byte("fghij")...),
		"long match":    append(rnd[:20], rnd[:20]...),
	}
}

func TestLZOCompressRoundTrip(t *testing.T) {
	for name, src := range lzoInputs() {
		t.Run(name, func(t *testing.T) {
			c := lzo1xCompress(src)
			out := make([]byte, len(src))
			n, err := lzo.Decompress(c, out)
			if err != nil || n != len(src) || !bytes.Equal(out, src) {
				t.Fatalf("Decompress = %d, %v; equal %v", n, err, bytes.Equal(out, src))
			}
			if (name == "zeros" || name == "text") && len(c) > 200 {
				t.Errorf("%s compressed to %d bytes", name, len(c))
			}
		})
	}
}

// TestLZOAgainstLiblzo2 checks the compressor's output with liblzo2's
// lzo1x_decompress_safe when a C compiler and liblzo2-dev are present.
func TestLZOAgainstLiblzo2(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	if _, err := os.Stat("/usr/include/lzo/lzo1x.h"); err != nil {
		t.Skip("liblzo2-dev not installed")
	}
	dir := t.TempDir()
	src := `#include <stdio.h>
#include <stdlib.h>
#include <lzo/lzo1x.h>
int main(int argc, char **argv) {
	static unsigned char in[1<<20], out[1<<20];
	FILE *f = fopen(argv[1], "rb");
	size_t n = fread(in, 1, sizeof in, f);
	lzo_uint outlen = sizeof out;
	if (lzo_init() != LZO_E_OK) return 2;
	int r = lzo1x_decompress_safe(in, n, out, &outlen, NULL);
	if (r != LZO_E_OK) { fprintf(stderr, "lzo error %d\n", r); return 1; }
	fwrite(out, 1, outlen, stdout);
	return 0;
}`
	if err := os.WriteFile(filepath.Join(dir, "d.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "d")
	if out, err := exec.Command(cc, "-O1", "-o", bin, filepath.Join(dir, "d.c"), "-llzo2").CombinedOutput(); err != nil {
		t.Skipf("cannot build the liblzo2 checker: %v\n%s", err, out)
	}
	for name, data := range lzoInputs() {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(f, lzo1xCompress(data), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, f).Output()
		if err != nil {
			t.Errorf("%s: liblzo2 rejected the stream: %v", name, err)
			continue
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s: liblzo2 decompressed different data", name)
		}
	}
}

func sampleMemory() *Memory {
	m := NewMemory()
	m.Write(0, bytes.Repeat([]byte("page text "), 1000))
	m.Write(0x10000, make([]byte, PageSize))
	m.Write(0x20000, []byte("lonely"))
	return m
}

func sampleMeta() Meta {
	return Meta{
		CPUs:       []CPU{{PID: 7}, {PID: 8}},
		VMCoreInfo: "OSRELEASE=6.1.0\n",
		Utsname:    Utsname{Sysname: "Linux", Release: "6.1.0", Machine: "x86_64"},
		Timestamp:  1700000000,
	}
}

func TestDeterministic(t *testing.T) {
	writers := map[string]func(*bytes.Buffer) error{
		"elf": func(b *bytes.Buffer) error { return WriteELF(b, sampleMemory(), sampleMeta()) },
	}
	for _, c := range []Compression{None, Zlib, LZO, Snappy, Zstd} {
		writers["kdump-"+c.String()] = func(b *bytes.Buffer) error { return WriteKdump(b, sampleMemory(), sampleMeta(), c) }
		writers["flat-"+c.String()] = func(b *bytes.Buffer) error { return WriteFlattened(b, sampleMemory(), sampleMeta(), c) }
	}
	for name, w := range writers {
		t.Run(name, func(t *testing.T) {
			var sums [3][32]byte
			for i := range sums {
				var b bytes.Buffer
				if err := w(&b); err != nil {
					t.Fatal(err)
				}
				sums[i] = sha256.Sum256(b.Bytes())
			}
			if sums[0] != sums[1] || sums[1] != sums[2] {
				t.Error("output is not deterministic")
			}
		})
	}
}

func TestKdumpHeader(t *testing.T) {
	for _, c := range []Compression{None, Zlib, LZO, Snappy, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteKdump(&b, sampleMemory(), sampleMeta(), c); err != nil {
				t.Fatal(err)
			}
			h := b.Bytes()
			le := binary.LittleEndian
			if string(h[:8]) != "KDUMP   " || le.Uint32(h[8:]) != 6 || le.Uint32(h[428:]) != PageSize || le.Uint32(h[460:]) != 2 {
				t.Errorf("bad header: %q version %d block %d cpus %d", h[:8], le.Uint32(h[8:]), le.Uint32(h[428:]), le.Uint32(h[460:]))
			}
			if got, want := le.Uint32(h[424:]), statusFlag(c); got != want {
				t.Errorf("status = %#x, want %#x", got, want)
			}
			if c != None {
				// The text page must actually be compressed.
				sub := int(le.Uint32(h[432:]))
				bitmaps := int(le.Uint32(h[436:]))
				desc := h[(1+sub+bitmaps)*PageSize:]
				if flags := le.Uint32(desc[12:]); flags != statusFlag(c) || le.Uint32(desc[8:]) >= PageSize {
					t.Errorf("first page desc: size %d flags %#x", le.Uint32(desc[8:]), flags)
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	tooMany := sampleMeta()
	tooMany.CPUs = make([]CPU, 600)
	small := sampleMeta()
	small.MaxMapnr = 4
	for _, tc := range []struct {
		name string
		meta Meta
		c    Compression
		want string
	}{
		{"too many cpus", tooMany, Zlib, "CPUs do not fit"},
		{"max_mapnr too small", small, None, "beyond MaxMapnr"},
		{"bad compression", sampleMeta(), Compression(99), "unknown compression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteKdump(&bytes.Buffer{}, sampleMemory(), tc.meta, tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WriteKdump = %v, want %q", err, tc.want)
			}
			err = WriteFlattened(&bytes.Buffer{}, sampleMemory(), tc.meta, tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WriteFlattened = %v, want %q", err, tc.want)
			}
		})
	}
	if err := WriteELF(failWriter{}, sampleMemory(), sampleMeta()); !errors.Is(err, errFail) {
		t.Errorf("WriteELF to a failing writer = %v", err)
	}
	if err := WriteKdump(failWriter{}, sampleMemory(), sampleMeta(), Zlib); !errors.Is(err, errFail) {
		t.Errorf("WriteKdump to a failing writer = %v", err)
	}
}

var errFail = fmt.Errorf("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }
