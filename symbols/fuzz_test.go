package symbols

import (
	"bytes"
	"encoding/binary"
	"sort"
	"testing"
)

// minimalELF64 is an ELF64 little-endian ET_EXEC header with no sections.
func minimalELF64() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1                // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	binary.LittleEndian.PutUint16(h[16:], 2)  // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 62) // EM_X86_64
	binary.LittleEndian.PutUint32(h[20:], 1)  // EV_CURRENT
	binary.LittleEndian.PutUint16(h[52:], 64) // e_ehsize
	return h
}

// FuzzOpen feeds arbitrary bytes to NewImage and exercises every reader;
// nothing may panic. Seeds: testdata/fuzz/FuzzOpen holds two small
// objects with DWARF 2 and DWARF 5; more are added here.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("not an ELF file"))
	f.Add([]byte("\x7fELF"))
	f.Add(minimalELF64())
	withShoff := minimalELF64()
	binary.LittleEndian.PutUint64(withShoff[40:], 1<<40) // section headers far past EOF
	binary.LittleEndian.PutUint16(withShoff[58:], 64)
	binary.LittleEndian.PutUint16(withShoff[60:], 3)
	f.Add(withShoff)

	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := NewImage(bytes.NewReader(data), "fuzz-input")
		if err != nil {
			return
		}
		_ = im.BuildID()
		for _, a := range []uint64{0, 0x10, 0x1000, ^uint64(0)} {
			im.Describe(a)
		}
		v := im.View(0x1000)
		v.AddModuleSymbols([]Symbol{{Name: "m", Addr: 0x1000, Size: 4, Kind: SymFunc, Module: "mod"}})
		v.Describe(0x1002)
		for _, s := range im.kernel.byAddr {
			if _, err := im.ReadData(s.Name); err != nil {
				continue
			}
		}
		ts, err := im.Types()
		if err != nil {
			return
		}
		names := make([]string, 0, len(ts.index))
		for n := range ts.index {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 50 {
			names = names[:50]
		}
		for _, n := range names {
			ty, err := ts.Lookup(n)
			if err != nil {
				continue
			}
			_ = ty.String()
			var paths []string
			walkPaths(ty, "", 0, &paths)
			for _, p := range paths {
				ty.HasField(p)
			}
			ty.EnumName(0)
		}
	})
}

// BenchmarkOpenStruct measures opening an image, indexing its DWARF and
// decoding one struct.
func BenchmarkOpenStruct(b *testing.B) {
	needGCC(b)
	obj := executable(b, "linked")
	b.ResetTimer()
	for b.Loop() {
		im, err := Open(obj)
		if err != nil {
			b.Fatal(err)
		}
		ts, err := im.Types()
		if err != nil {
			b.Fatal(err)
		}
		st, err := ts.Struct("dio")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Offset("map_bh.b_size"); err != nil {
			b.Fatal(err)
		}
		im.Close()
	}
}

// BenchmarkStructCached measures a repeated lookup served by the cache.
func BenchmarkStructCached(b *testing.B) {
	needGCC(b)
	ts := openTypes(b, executable(b, "linked"))
	for b.Loop() {
		st, err := ts.Struct("dio")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Offset("map_bh.b_size"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzReadSnapshot: a corrupt symbols snapshot is an error, never a panic,
// and what loads can be looked up and printed.
func FuzzReadSnapshot(f *testing.F) {
	var buf bytes.Buffer
	b := &SnapshotBuilder{syms: map[string]SnapshotSymbol{}, data: map[string][]byte{}, types: map[string]*Type{},
		vars: map[string]*Type{}, consts: map[string]int64{}, misses: map[string]map[string]bool{}}
	node := &Type{Name: "node", Kind: Struct, Size: 16}
	node.Fields = []Field{{Name: "next", Offset: 0, Type: &Type{Kind: Pointer, Size: 8, Elem: node}},
		{Name: "v", Offset: 8, Type: &Type{Name: "long", Kind: Int, Size: 8}}}
	b.Type("struct node", node)
	b.Symbol(Symbol{Name: "f", Addr: 0x1000, Size: 16, Kind: SymFunc}, true)
	b.Data("linux_banner", []byte("Linux version x\x00"))
	if err := WriteSnapshot(&buf, b.Build()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := readSnapshot(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		ts, _ := im.TypeSource()
		if ty, err := ts.Lookup("struct node"); err == nil {
			_ = ty.String()
			ty.Field("next")
			ty.Resolve()
		}
		im.View(0x100).Describe(0x1004)
		im.ReadData("linux_banner")
	})
}
