package dwarffunc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/vmtriage/vmtriage/symbols/internal/dwarfunit"
)

type fakeMem map[uint64]uint64

func (m fakeMem) Read(addr uint64, b []byte) error {
	v, ok := m[addr]
	if !ok {
		return fmt.Errorf("no memory at 0x%x", addr)
	}
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	copy(b, buf[:])
	return nil
}

func testRegs() *Regs {
	var r Regs
	r.Set(0, 0x1111)      // rax
	r.Set(6, 0xffff0000)  // rbp
	r.Set(7, 0x7ff0)      // rsp
	r.Set(15, 0xdead0000) // r15
	r.CFA, r.CFAKnown = 0x8000, true
	return &r
}

func TestEval(t *testing.T) {
	mem := fakeMem{0x7ff8: 0xabcdef, 0x8000 - 24: 0x42}
	ctx := &evalCtx{regs: testRegs(), mem: mem,
		frameBase: func() (uint64, error) { return 0x8000, nil }}
	tests := []struct {
		name string
		expr []byte
		want location
		reg  int // unavailable: the register needed (-1 other reason, -2 none)
	}{
		{"empty", nil, location{kind: KindOptimized}, -2},
		{"reg15", []byte{0x5f}, location{kind: KindRegister, reg: 15}, -2},
		{"regx", []byte{0x90, 0x03}, location{kind: KindRegister, reg: 3}, -2},
		{"breg7+8", []byte{0x77, 0x08}, location{kind: KindMemory, addr: 0x7ff8}, -2},
		{"breg6-16", []byte{0x76, 0x70}, location{kind: KindMemory, addr: 0xffff0000 - 16}, -2},
		{"fbreg-24", []byte{0x91, 0x68}, location{kind: KindMemory, addr: 0x8000 - 24}, -2},
		{"cfa", []byte{0x9c}, location{kind: KindMemory, addr: 0x8000}, -2},
		{"lit+plus_uconst stack_value", []byte{0x35, 0x23, 0x10, 0x9f}, location{kind: KindValue, value: 0x15}, -2},
		{"const2u", []byte{0x0a, 0x34, 0x12, 0x9f}, location{kind: KindValue, value: 0x1234}, -2},
		{"consts -1", []byte{0x11, 0x7f, 0x9f}, location{kind: KindValue, value: ^uint64(0)}, -2},
		{"breg7 deref", []byte{0x77, 0x08, 0x06, 0x9f}, location{kind: KindValue, value: 0xabcdef}, -2},
		{"breg0 minus", []byte{0x70, 0x00, 0x31, 0x1c, 0x9f}, location{kind: KindValue, value: 0x1110}, -2},
		{"implicit_value", []byte{0x9e, 0x02, 0x01, 0x02}, location{kind: KindValue, bytes: []byte{1, 2}}, -2},
		{"unknown reg", []byte{0x53}, location{kind: KindRegister, reg: 3}, -2}, // value resolved later
		{"breg unknown", []byte{0x73, 0x00}, location{}, 3},
		{"entry_value", []byte{0xa3, 0x01, 0x55, 0x9f}, location{}, -1},
		{"implicit_pointer", []byte{0xa0, 0, 0, 0, 0, 0}, location{}, -1},
		{"deref unreadable", []byte{0x08, 0x10, 0x06}, location{}, -1},
		{"skip", []byte{0x2f, 0x01, 0x00, 0x96, 0x31, 0x9f}, location{kind: KindValue, value: 1}, -2},
		{"bra taken", []byte{0x31, 0x28, 0x02, 0x00, 0x32, 0x9f, 0x33, 0x9f}, location{kind: KindValue, value: 3}, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eval(tc.expr, ctx)
			if tc.reg != -2 {
				var u *unavailable
				if !errors.As(err, &u) || u.reg != tc.reg {
					t.Fatalf("got %+v, %v; want unavailable (reg %d)", got, err, tc.reg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEvalPieces(t *testing.T) {
	ctx := &evalCtx{regs: testRegs(), mem: fakeMem{0x7ff8: 7}}
	// rax:8, [rsp+8]:8, optimized:8
	expr := []byte{0x50, 0x93, 0x08, 0x77, 0x08, 0x93, 0x08, 0x93, 0x08}
	loc, err := eval(expr, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loc.kind != KindPieces || len(loc.pieces) != 3 {
		t.Fatalf("got %+v", loc)
	}
	f := &Funcs{}
	v := Value{Size: 24}
	f.fill(&v, loc, ctx.regs, ctx.mem)
	if !v.Pieces[0].HasValue || v.Pieces[0].Value != 0x1111 || !v.Pieces[1].HasValue || v.Pieces[1].Value != 7 || v.Pieces[2].Kind != KindOptimized {
		t.Errorf("pieces %+v", v.Pieces)
	}
	if !v.HasValue || v.Value != 0x1111 {
		t.Errorf("value %+v", v)
	}
	// a 4+4 composite of two registers assembles into one value
	loc, err = eval([]byte{0x50, 0x93, 0x04, 0x56, 0x93, 0x04}, ctx)
	if err != nil {
		t.Fatal(err)
	}
	v = Value{Size: 8}
	f.fill(&v, loc, ctx.regs, ctx.mem)
	if !v.HasValue || v.Value != 0xffff0000_00001111 {
		t.Errorf("assembled %+v", v)
	}
}

func TestFillRegister(t *testing.T) {
	f := &Funcs{}
	regs := testRegs()
	v := Value{Size: 4}
	f.fill(&v, location{kind: KindRegister, reg: 6}, regs, nil)
	if v.Kind != KindRegister || !v.HasValue || v.Value != 0xffff0000 {
		t.Errorf("%+v", v)
	}
	v = Value{Size: 8}
	f.fill(&v, location{kind: KindRegister, reg: 9}, regs, nil)
	if v.Kind != KindUnavailable || v.NeedReg != 9 || v.HasValue {
		t.Errorf("%+v", v)
	}
}

func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func TestFindLocDwarf4(t *testing.T) {
	le := binary.LittleEndian
	var sec []byte
	add := func(lo, hi uint64, expr []byte) {
		sec = le.AppendUint64(sec, lo)
		sec = le.AppendUint64(sec, hi)
		if expr != nil || lo != 0 || hi != 0 {
			if lo != ^uint64(0) {
				sec = le.AppendUint16(sec, uint16(len(expr)))
				sec = append(sec, expr...)
			}
		}
	}
	sec = append(sec, 0xee) // the list starts at 1
	add(0x10, 0x20, []byte{0x50})
	add(^uint64(0), 0x1000, nil) // base selection
	add(0x0, 0x8, []byte{0x51})
	add(0, 0, nil)
	f := &Funcs{sec: Sections{Loc: sec}, order: le}
	c := &cuInfo{version: 4, lowPC: 0x100}
	for _, tc := range []struct {
		pc   uint64
		want string
	}{{0x110, "50"}, {0x11f, "50"}, {0x120, "none"}, {0x1004, "51"}, {0x1008, "none"}} {
		ex, ok, err := f.findLoc(c, 1, tc.pc)
		if err != nil {
			t.Fatal(err)
		}
		got := "none"
		if ok {
			got = fmt.Sprintf("%x", ex)
		}
		if got != tc.want {
			t.Errorf("pc 0x%x: got %s, want %s", tc.pc, got, tc.want)
		}
	}
}

func TestFindLocDwarf5(t *testing.T) {
	le := binary.LittleEndian
	addr := make([]byte, 8)              // addr_base 8
	addr = le.AppendUint64(addr, 0x5000) // index 0
	addr = le.AppendUint64(addr, 0x6000) // index 1
	var sec []byte
	expr := func(b ...byte) { sec = append(append(sec, uleb(uint64(len(b)))...), b...) }
	sec = append(sec, 0x04)
	sec = append(sec, uleb(0x10)...)
	sec = append(sec, uleb(0x20)...)
	expr(0x50) // offset_pair from the unit base 0x100
	sec = append(sec, 0x06)
	sec = le.AppendUint64(sec, 0x2000) // base_address
	sec = append(sec, 0x04, 0x00, 0x04)
	expr(0x51)
	sec = append(sec, 0x08)
	sec = le.AppendUint64(sec, 0x3000)
	sec = append(sec, uleb(0x10)...)
	expr(0x52) // start_length
	sec = append(sec, 0x03, 0x00, 0x08)
	expr(0x53)                    // startx_length
	sec = append(sec, 0x01, 0x01) // base_addressx 0x6000
	sec = append(sec, 0x04, 0x00, 0x02)
	expr(0x54)
	sec = append(sec, 0x07)
	sec = le.AppendUint64(sec, 0x7000)
	sec = le.AppendUint64(sec, 0x7004)
	expr(0x55) // start_end
	sec = append(sec, 0x00)
	f := &Funcs{sec: Sections{LocLists: sec, Sections: dwarfunit.Sections{Addr: addr}}, order: le}
	c := &cuInfo{version: 5, lowPC: 0x100, addrBase: 8}
	for _, tc := range []struct {
		pc   uint64
		want string
	}{{0x110, "50"}, {0x2002, "51"}, {0x300f, "52"}, {0x5007, "53"}, {0x6001, "54"}, {0x7003, "55"}, {0x7004, "none"}, {0x90, "none"}} {
		ex, ok, err := f.findLoc(c, 0, tc.pc)
		if err != nil {
			t.Fatal(err)
		}
		got := "none"
		if ok {
			got = fmt.Sprintf("%x", ex)
		}
		if got != tc.want {
			t.Errorf("pc 0x%x: got %s, want %s", tc.pc, got, tc.want)
		}
	}
}

func TestApplyRela(t *testing.T) {
	le := binary.LittleEndian
	sec := make([]byte, 24)
	var rela []byte
	entry := func(off uint64, sym uint64, typ uint32, add int64) {
		rela = le.AppendUint64(rela, off)
		rela = le.AppendUint64(rela, sym<<32|uint64(typ))
		rela = le.AppendUint64(rela, uint64(add))
	}
	entry(0, 1, rX8664_64, 0x10)
	entry(8, 2, rX8664_32, 4)
	entry(12, 1, rX8664_PC32, 0)
	entry(16, 0, 0, 0)
	syms := []uint64{0, 0xffffffffc0001000, 0x40}
	if err := ApplyRela(sec, rela, syms, 0xffffffffc0000000); err != nil {
		t.Fatal(err)
	}
	if got := le.Uint64(sec); got != 0xffffffffc0001010 {
		t.Errorf("R_X86_64_64: 0x%x", got)
	}
	if got := le.Uint32(sec[8:]); got != 0x44 {
		t.Errorf("R_X86_64_32: 0x%x", got)
	}
	if got := le.Uint32(sec[12:]); got != 0x1000-12 {
		t.Errorf("R_X86_64_PC32: 0x%x", got)
	}
	bad := append([]byte(nil), rela[:24]...)
	le.PutUint64(bad, 20) // 8 bytes at 20 overflow
	if err := ApplyRela(sec, bad, syms, 0); err == nil {
		t.Error("overflowing relocation accepted")
	}
	le.PutUint64(bad, 0)
	le.PutUint64(bad[8:], 9<<32|rX8664_64)
	if err := ApplyRela(sec, bad, syms, 0); err == nil {
		t.Error("bad symbol accepted")
	}
}

func FuzzApplyRela(f *testing.F) {
	le := binary.LittleEndian
	var seed []byte
	seed = le.AppendUint64(seed, 4)
	seed = le.AppendUint64(seed, 1<<32|rX8664_32)
	seed = le.AppendUint64(seed, 8)
	f.Add(seed, 16)
	f.Add([]byte{1, 2, 3}, 0)
	f.Fuzz(func(t *testing.T, rela []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		sec := make([]byte, n)
		ApplyRela(sec, rela, []uint64{0, 0x1000, 0xffffffffc0000000}, 0x2000)
	})
}

func FuzzEval(f *testing.F) {
	f.Add([]byte{0x77, 0x08, 0x06, 0x9f})
	f.Add([]byte{0x50, 0x93, 0x08, 0x9c, 0x93, 0x08})
	f.Add([]byte{0x28, 0xfd, 0xff})
	f.Fuzz(func(t *testing.T, expr []byte) {
		ctx := &evalCtx{regs: testRegs(), mem: fakeMem{0x7ff8: 1},
			frameBase: func() (uint64, error) { return 0x8000, nil },
			addrx:     func(uint64) (uint64, error) { return 0, errors.New("none") }}
		eval(expr, ctx)
	})
}

func FuzzFindLoc(f *testing.F) {
	f.Add([]byte{0x04, 0x00, 0x10, 0x01, 0x50, 0x00}, uint8(5), uint64(0x104))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(4), uint64(0))
	f.Fuzz(func(t *testing.T, sec []byte, version uint8, pc uint64) {
		fn := &Funcs{sec: Sections{Loc: sec, LocLists: sec, Sections: dwarfunit.Sections{Addr: sec}}, order: binary.LittleEndian}
		c := &cuInfo{version: int(version), lowPC: 0x100, addrBase: 8}
		fn.findLoc(c, 0, pc)
	})
}
