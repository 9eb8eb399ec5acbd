package orc

import (
	"encoding/binary"
	"testing"
)

// raw builds a 6-byte entry from its fields and the 16 flag bits.
func raw(sp, bp int16, flags uint16) []byte {
	b := make([]byte, EntrySize)
	binary.LittleEndian.PutUint16(b[0:], uint16(sp))
	binary.LittleEndian.PutUint16(b[2:], uint16(bp))
	binary.LittleEndian.PutUint16(b[4:], flags)
	return b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		f     Format
		flags uint16
		want  Entry
	}{
		// v1: sp_reg:4 bp_reg:4 type:2 end:1
		{"v1 call sp+8", FormatV1, 0x0005, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeCall}},
		{"v1 call bp prevsp", FormatV1, 0x0014, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegBP, BPReg: RegPrevSP, Type: TypeCall}},
		{"v1 regs", FormatV1, 0x0105, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeRegs, Signal: true}},
		{"v1 regs_iret", FormatV1, 0x0205, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeRegsPartial, Signal: true}},
		{"v1 end", FormatV1, 0x0400, Entry{SPOffset: 8, BPOffset: -16, Type: TypeEndOfStack}},
		{"v1 undefined", FormatV1, 0x0000, Entry{SPOffset: 8, BPOffset: -16, Type: TypeUndefined}},
		// v2: type:2 signal:1 end:1
		{"v2 call signal", FormatV2, 0x0405, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeCall, Signal: true}},
		{"v2 end", FormatV2, 0x0800, Entry{SPOffset: 8, BPOffset: -16, Type: TypeEndOfStack}},
		{"v2 regs", FormatV2, 0x0109, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSPIndirect, Type: TypeRegs, Signal: true}},
		// v3: type:3 signal:1
		{"v3 call", FormatV3, 0x0205, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeCall}},
		{"v3 regs_partial signal", FormatV3, 0x0c05, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeRegsPartial, Signal: true}},
		{"v3 end", FormatV3, 0x0100, Entry{SPOffset: 8, BPOffset: -16, Type: TypeEndOfStack}},
		{"v3 undefined", FormatV3, 0x0000, Entry{SPOffset: 8, BPOffset: -16, Type: TypeUndefined}},
		// v4: v3 with the registers renumbered (SP 3, BP 4, PREV_SP 8)
		{"v4 call sp", FormatV4, 0x0203, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSP, Type: TypeCall}},
		{"v4 call bp prevsp", FormatV4, 0x0284, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegBP, BPReg: RegPrevSP, Type: TypeCall}},
		{"v4 sp indirect", FormatV4, 0x0309, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegSPIndirect, Type: TypeRegs}},
		{"v4 di", FormatV4, 0x0205, Entry{SPOffset: 8, BPOffset: -16, SPReg: RegDI, Type: TypeCall}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Decode(raw(8, -16, tt.flags)); got != tt.want {
				t.Errorf("Decode(%#04x) = %v, want %v", tt.flags, got, tt.want)
			}
		})
	}
}

// table builds .orc_unwind_ip and .orc_unwind for entries at pcs.
func table(base uint64, pcs []uint64, flags []uint16) (ip, ent []byte) {
	ip = make([]byte, 4*len(pcs))
	for i, pc := range pcs {
		binary.LittleEndian.PutUint32(ip[4*i:], uint32(int32(int64(pc)-int64(base+uint64(4*i)))))
		ent = append(ent, raw(int16(8*(i+1)), 0, flags[i])...)
	}
	return ip, ent
}

func TestParseFind(t *testing.T) {
	const base = 0xffffffff82000000
	for _, tc := range []struct {
		name string
		pcs  []uint64
	}{
		{"sorted", []uint64{0xffffffff81000000, 0xffffffff81000010, 0xffffffff81000020}},
		{"unsorted", []uint64{0xffffffff81000020, 0xffffffff81000000, 0xffffffff81000010}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, ent := table(base, tc.pcs, []uint16{0x0205, 0x0205, 0x0205})
			tab, err := Parse(ip, base, ent, FormatV3)
			if err != nil {
				t.Fatal(err)
			}
			if lo, hi := tab.Range(); lo != 0xffffffff81000000 || hi != 0xffffffff81000020 || tab.Len() != 3 {
				t.Fatalf("range %#x-%#x len %d", lo, hi, tab.Len())
			}
			// each entry keeps its own sp_offset through the sort
			want := map[uint64]int16{}
			for i, pc := range tc.pcs {
				want[pc] = int16(8 * (i + 1))
			}
			for _, q := range []struct {
				pc uint64
				at uint64
				ok bool
			}{
				{0xffffffff80ffffff, 0, false},
				{0xffffffff81000000, 0xffffffff81000000, true},
				{0xffffffff8100000f, 0xffffffff81000000, true},
				{0xffffffff81000010, 0xffffffff81000010, true},
				{0xffffffff81000fff, 0xffffffff81000020, true},
			} {
				e, ok := tab.Find(q.pc)
				if ok != q.ok || (ok && e.SPOffset != want[q.at]) {
					t.Errorf("Find(%#x) = %v %v, want the entry at %#x", q.pc, e, ok, q.at)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse(make([]byte, 5), 0, nil, FormatV3); err == nil {
		t.Error("a 5-byte .orc_unwind_ip parsed")
	}
	if _, err := Parse(make([]byte, 8), 0, make([]byte, 6), FormatV3); err == nil {
		t.Error("2 pcs with 1 entry parsed")
	}
	if _, err := Parse(nil, 0, nil, Format{Name: "bad"}); err == nil {
		t.Error("a format without a type width parsed")
	}
}

func TestHeaderAndGuess(t *testing.T) {
	if f, ok := FormatFromHeader([]byte{0xfe, 0x5d, 0x32, 0xbf, 0x58, 0x1b, 0xd6, 0x3b, 0x2c, 0xa9, 0xa5, 0xc6, 0x5b, 0xa5, 0xa6, 0x25, 0xea, 0xb3, 0xfe, 0x24}); !ok || f.Name != "v3" {
		t.Errorf("6.4 header: %v %v", f.Name, ok)
	}
	if _, ok := FormatFromHeader([]byte{1, 2, 3}); ok {
		t.Error("an unknown header is known")
	}
	var old, renum []byte
	for i := 0; i < 10; i++ {
		old = append(old, raw(8, 0, 0x0205)...)     // sp_reg 5: SP before the renumbering
		renum = append(renum, raw(8, 0, 0x0203)...) // sp_reg 3: SP after
	}
	if f := GuessRegs(old, FormatV3); f.Regs != nil {
		t.Errorf("old numbering guessed as %s", f.Name)
	}
	if f := GuessRegs(renum, FormatV3); f.Regs == nil || f.Decode(renum).SPReg != RegSP {
		t.Errorf("renumbered guessed as %s", f.Name)
	}
}

func FuzzParse(f *testing.F) {
	ip, ent := table(0x1000, []uint64{0x100, 0x80, 0x200}, []uint16{0x0205, 0x0100, 0xffff})
	f.Add(ip, ent, uint8(3), uint64(0x180))
	f.Add([]byte{}, []byte{}, uint8(1), uint64(0))
	formats := []Format{FormatV1, FormatV2, FormatV3, FormatV4}
	f.Fuzz(func(t *testing.T, ip, ent []byte, v uint8, pc uint64) {
		tab, err := Parse(ip, 0xffffffff81000000, ent, formats[int(v)%len(formats)])
		if err != nil {
			return
		}
		for i := 1; i < tab.Len(); i++ {
			if tab.PC(i) < tab.PC(i-1) {
				t.Fatalf("not sorted at %d", i)
			}
		}
		e, ok := tab.Find(pc)
		if ok && e.Type > TypeRegsPartial && !formats[int(v)%len(formats)].TypesV3 {
			t.Fatalf("v1/v2 decoded to type %v", e.Type)
		}
		_ = e.String()
	})
}
