package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// testBTFBlob is a small blob of byte order bo: a struct with a pointer
// to itself, a bit field, an array, an enum, a typedef and a variable in
// a data section.
func testBTFBlob(t *testing.T, bo binary.ByteOrder) []byte {
	t.Helper()
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	ch := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed | btf.Char}
	s := &btf.Struct{Name: "dio", Size: 32}
	s.Members = []btf.Member{
		{Name: "next", Type: &btf.Pointer{Target: s}, Offset: 0},
		{Name: "bits", Type: u32, Offset: 64, BitfieldSize: 3},
		{Name: "name", Type: &btf.Array{Index: u32, Type: ch, Nelems: 8}, Offset: 96},
		{Name: "state", Type: &btf.Enum{Name: "st", Size: 4, Values: []btf.EnumValue{{Name: "A", Value: 1}}}, Offset: 192},
	}
	v := &btf.Var{Name: "runqueues", Type: s, Linkage: btf.GlobalVar}
	ds := &btf.Datasec{Name: ".data..percpu", Size: 32, Vars: []btf.VarSecinfo{{Type: v, Offset: 0, Size: 32}}}
	b, err := btf.NewBuilder([]btf.Type{s, &btf.Typedef{Name: "dio_t", Type: s}, v, ds}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := b.Marshal(nil, &btf.MarshalOptions{Order: bo})
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// describeSpec renders every type of a spec, referring to other types by
// id: kind, name, size, members, elements, values.
func describeSpec(t *testing.T, spec *btf.Spec) string {
	t.Helper()
	id := func(typ btf.Type) btf.TypeID {
		i, err := spec.TypeID(typ)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	var out bytes.Buffer
	for typ, err := range spec.All() {
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%d %T %q", id(typ), typ, typ.TypeName())
		switch x := typ.(type) {
		case *btf.Struct:
			fmt.Fprintf(&out, " size %d", x.Size)
			for _, m := range x.Members {
				fmt.Fprintf(&out, " %s@%d:%d->%d", m.Name, m.Offset, m.BitfieldSize, id(m.Type))
			}
		case *btf.Union:
			fmt.Fprintf(&out, " size %d", x.Size)
			for _, m := range x.Members {
				fmt.Fprintf(&out, " %s@%d:%d->%d", m.Name, m.Offset, m.BitfieldSize, id(m.Type))
			}
		case *btf.Int:
			fmt.Fprintf(&out, " size %d enc %d", x.Size, x.Encoding)
		case *btf.Enum:
			fmt.Fprintf(&out, " size %d signed %v values %v", x.Size, x.Signed, x.Values)
		case *btf.Array:
			fmt.Fprintf(&out, " %d x %d index %d", x.Nelems, id(x.Type), id(x.Index))
		case *btf.Pointer:
			fmt.Fprintf(&out, " -> %d", id(x.Target))
		case *btf.Typedef:
			fmt.Fprintf(&out, " -> %d", id(x.Type))
		case *btf.Var:
			fmt.Fprintf(&out, " -> %d linkage %v", id(x.Type), x.Linkage)
		case *btf.Datasec:
			fmt.Fprintf(&out, " size %d", x.Size)
			for _, v := range x.Vars {
				fmt.Fprintf(&out, " %d@%d+%d", id(v.Type), v.Offset, v.Size)
			}
		}
		out.WriteByte('\n')
	}
	return out.String()
}

// loadBothWays loads a blob raw and through btfELF and renders each spec.
func loadBothWays(t *testing.T, blob []byte) (raw, viaELF string) {
	t.Helper()
	a, err := btf.LoadSpecFromReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	b, err := btf.LoadSpecFromReader(newBTFELF(blob))
	if err != nil {
		t.Fatal(err)
	}
	return describeSpec(t, a), describeSpec(t, b)
}

// TestBTFELF: a blob loaded through btfELF gives the spec the raw blob
// gives, type for type, in either byte order, and btfELF reads as an ELF
// file whose .BTF section is the blob.
func TestBTFELF(t *testing.T) {
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(bo.String(), func(t *testing.T) {
			blob := testBTFBlob(t, bo)
			if a, b := loadBothWays(t, blob); a != b {
				t.Errorf("raw:\n%s\nthrough btfELF:\n%s", a, b)
			}
			f, err := elf.NewFile(newBTFELF(blob))
			if err != nil {
				t.Fatal(err)
			}
			data, err := f.Section(".BTF").Data()
			if err != nil || !bytes.Equal(data, blob) {
				t.Errorf(".BTF section: %d bytes, %v; want the %d-byte blob", len(data), err, len(blob))
			}
		})
	}
}

func TestBTFELFReadAt(t *testing.T) {
	blob := []byte{1, 2, 3, 4}
	f := newBTFELF(blob)
	for _, tc := range []struct {
		off     int64
		n       int
		want    []byte
		wantErr error
	}{
		{0, 4, []byte(elf.ELFMAG), nil},
		{btfBlobOff - 2, 4, []byte{0, 0, 1, 2}, nil},
		{btfBlobOff + 2, 4, []byte{3, 4}, io.EOF},
		{btfBlobOff + 4, 1, nil, io.EOF},
		{-1, 1, nil, io.ErrUnexpectedEOF},
	} {
		p := make([]byte, tc.n)
		n, err := f.ReadAt(p, tc.off)
		if !bytes.Equal(p[:n], tc.want) || err != tc.wantErr {
			t.Errorf("ReadAt(%d bytes at %d) = %v, %v; want %v, %v", tc.n, tc.off, p[:n], err, tc.want, tc.wantErr)
		}
	}
}

// TestBTFELFLab compares the two loads on each lab vmlinux's .BTF.
func TestBTFELFLab(t *testing.T) {
	eachLabVmlinux(t, func(t *testing.T, path string) {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		blob, err := f.Section(".BTF").Data()
		if err != nil {
			t.Fatal(err)
		}
		if a, b := loadBothWays(t, blob); a != b {
			t.Error("the specs differ")
		}
	})
}
