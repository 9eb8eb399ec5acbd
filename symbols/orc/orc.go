// Package orc parses the x86_64 kernel's ORC unwind tables (4.14+,
// ee9f8fce9964 "x86/unwind: Add the ORC unwinder"): .orc_unwind_ip, an
// array of int32 pc offsets each relative to its own address, sorted by
// pc, and .orc_unwind, the parallel array of 6-byte entries saying how to
// find the caller's stack pointer and frame pointer at that pc. Modules
// carry the same two arrays (struct mod_arch_specific).
//
// The entry's bit fields changed twice; Format describes them and Entry is
// the decoded, version-independent form (the 6.4+ types).
package orc

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// EntrySize is the size of struct orc_entry (packed: s16 sp_offset, s16
// bp_offset, 16 bits of flags).
const EntrySize = 6

// Reg is where ORC finds the caller's stack pointer or frame pointer
// (ORC_REG_*; the same numbers in every version).
type Reg uint8

const (
	RegUndefined  Reg = 0
	RegPrevSP     Reg = 1
	RegDX         Reg = 2
	RegDI         Reg = 3
	RegBP         Reg = 4
	RegSP         Reg = 5
	RegR10        Reg = 6
	RegR13        Reg = 7
	RegBPIndirect Reg = 8
	RegSPIndirect Reg = 9
)

var regNames = [...]string{"undef", "prevsp", "dx", "di", "bp", "sp", "r10", "r13", "bp(ind)", "sp(ind)"}

func (r Reg) String() string {
	if int(r) < len(regNames) {
		return regNames[r]
	}
	return fmt.Sprintf("reg%d", uint8(r))
}

// Type is the kind of frame at a pc, in the 6.4+ numbering (fb799447ae29
// "x86,objtool: Split UNWIND_HINT_EMPTY in two"); older entries are mapped
// onto it.
type Type uint8

const (
	// TypeUndefined: the unwinder cannot go on (no information).
	TypeUndefined Type = 0
	// TypeEndOfStack: the outermost frame (a kernel thread's start, an
	// entry from user space without pt_regs).
	TypeEndOfStack Type = 1
	// TypeCall: a normal call frame; the return address is just below
	// the caller's stack pointer.
	TypeCall Type = 2
	// TypeRegs: a full struct pt_regs is at the computed stack pointer.
	TypeRegs Type = 3
	// TypeRegsPartial: only the hardware iret frame (ip, cs, flags, sp,
	// ss) is valid, at the computed stack pointer.
	TypeRegsPartial Type = 4
)

var typeNames = [...]string{"undefined", "end_of_stack", "call", "regs", "regs_partial"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// Entry is one decoded ORC entry.
type Entry struct {
	SPOffset int16 `json:"sp_offset"`
	BPOffset int16 `json:"bp_offset"`
	SPReg    Reg   `json:"sp_reg"`
	BPReg    Reg   `json:"bp_reg"`
	Type     Type  `json:"type"`
	// Signal: the frame was interrupted (or is a signal-like frame), so
	// its ip is exact, not a return address (6.3+; implied by the pt_regs
	// types before).
	Signal bool `json:"signal,omitempty"`
}

func (e Entry) String() string {
	s := fmt.Sprintf("sp:%v%+d bp:%v%+d type:%v", e.SPReg, e.SPOffset, e.BPReg, e.BPOffset, e.Type)
	if e.Signal {
		s += " signal"
	}
	return s
}

// Format is the layout of the 16 flag bits after sp_offset and bp_offset:
// bit positions counted from the least significant bit of the little-endian
// 16-bit word at byte 4. A field absent from a version has position -1.
type Format struct {
	Name      string
	SPRegBit  int // sp_reg:4
	BPRegBit  int // bp_reg:4
	TypeBit   int
	TypeBits  int // 2 before 6.4, 3 after
	EndBit    int // end:1 before 6.4
	SignalBit int // signal:1 since 6.3
	// Regs maps the register numbers of the entries to Reg (nil: the
	// numbering of 4.14-6.x, Reg's own); see RegsRenumbered.
	Regs *[16]Reg
	// TypesV3: the type numbers are the 6.4+ ones (UNDEFINED,
	// END_OF_STACK, CALL, REGS, REGS_PARTIAL); before, CALL, REGS,
	// REGS_IRET (REGS_PARTIAL), with end-of-stack an sp_reg of UNDEFINED
	// with the end bit set.
	TypesV3 bool
}

// The known formats.
var (
	// FormatV1 is 4.14-6.2: sp_reg:4 bp_reg:4 type:2 end:1.
	FormatV1 = Format{Name: "v1", SPRegBit: 0, BPRegBit: 4, TypeBit: 8, TypeBits: 2, EndBit: 10, SignalBit: -1}
	// FormatV2 is 6.3 (ffb1b4a41016 "x86/unwind/orc: Add 'signal' field
	// to ORC metadata"): sp_reg:4 bp_reg:4 type:2 signal:1 end:1.
	FormatV2 = Format{Name: "v2", SPRegBit: 0, BPRegBit: 4, TypeBit: 8, TypeBits: 2, SignalBit: 10, EndBit: 11}
	// FormatV3 is 6.4+: sp_reg:4 bp_reg:4 type:3 signal:1, with the
	// .orc_header section.
	FormatV3 = Format{Name: "v3", SPRegBit: 0, BPRegBit: 4, TypeBit: 8, TypeBits: 3, SignalBit: 11, EndBit: -1, TypesV3: true}
	// FormatV4 is v3 with the registers renumbered (UNDEFINED, AX, DX,
	// SP, BP, DI, R10, R13, PREV_SP, SP_INDIRECT, BP_INDIRECT), as the
	// lab's 7.2 kernels have it (.orc_header 137c36ad...).
	FormatV4 = Format{Name: "v4", SPRegBit: 0, BPRegBit: 4, TypeBit: 8, TypeBits: 3, SignalBit: 11, EndBit: -1, TypesV3: true, Regs: &RegsRenumbered}
)

// RegsRenumbered is the register numbering of FormatV4. ORC_REG_AX has
// no Reg of its own (no unwinder rule uses it) and maps to RegUndefined+16
// so that it is never taken for another register.
var RegsRenumbered = [16]Reg{RegUndefined, regAX, RegDX, RegSP, RegBP, RegDI, RegR10, RegR13, RegPrevSP, RegSPIndirect, RegBPIndirect,
	regInvalid, regInvalid, regInvalid, regInvalid, regInvalid}

const (
	regAX      Reg = 14
	regInvalid Reg = 15
)

// Known .orc_header hashes (scripts/orc_hash.sh over orc_types.h).
var headerFormats = map[string]Format{
	"db84aed4103b31dd51e017f8f79783ca985c2c51": FormatV2, // 6.3 (backported to 6.3.10)
	"fe5d32bf581bd63b2ca9a5c65ba5a625eab3fe24": FormatV3, // 6.4+
	"137c36ad7627c4dd55932176bb0ecdbd5041fc82": FormatV4, // registers renumbered (7.x)
}

// FormatFromHeader returns the format a .orc_header identifies.
func FormatFromHeader(hdr []byte) (Format, bool) {
	f, ok := headerFormats[fmt.Sprintf("%x", hdr)]
	return f, ok
}

// GuessRegs tells the two register numberings apart for an unknown
// .orc_header: the register most entries compute the caller's stack
// pointer from is SP (5 before the renumbering, 3 after).
func GuessRegs(entries []byte, f Format) Format {
	var count [16]int
	for i := 0; i+EntrySize <= len(entries); i += EntrySize {
		w := binary.LittleEndian.Uint16(entries[i+4:])
		count[bits(w, f.SPRegBit, 4)]++
	}
	if count[3] > count[5] {
		f.Regs = &RegsRenumbered
		f.Name += "+renumbered"
	} else {
		f.Regs = nil
	}
	return f
}

func bits(w uint16, pos, n int) uint16 {
	if pos < 0 || n <= 0 {
		return 0
	}
	return (w >> uint(pos)) & (1<<uint(n) - 1)
}

// Decode decodes one 6-byte entry.
func (f Format) Decode(b []byte) Entry {
	w := binary.LittleEndian.Uint16(b[4:])
	e := Entry{
		SPOffset: int16(binary.LittleEndian.Uint16(b[0:])),
		BPOffset: int16(binary.LittleEndian.Uint16(b[2:])),
		SPReg:    Reg(bits(w, f.SPRegBit, 4)),
		BPReg:    Reg(bits(w, f.BPRegBit, 4)),
		Signal:   bits(w, f.SignalBit, 1) == 1,
	}
	if f.Regs != nil {
		e.SPReg, e.BPReg = f.Regs[e.SPReg], f.Regs[e.BPReg]
	}
	t := uint8(bits(w, f.TypeBit, f.TypeBits))
	if f.TypesV3 {
		e.Type = Type(t)
		return e
	}
	switch {
	case e.SPReg == RegUndefined && bits(w, f.EndBit, 1) == 1:
		e.Type = TypeEndOfStack
	case e.SPReg == RegUndefined:
		e.Type = TypeUndefined
	case t == 0:
		e.Type = TypeCall
	case t == 1:
		e.Type, e.Signal = TypeRegs, true
	case t == 2:
		e.Type, e.Signal = TypeRegsPartial, true
	default:
		e.Type = TypeUndefined
	}
	return e
}

// Table is a sorted ORC table: entry i holds from PC(i) up to the next
// pc. The pcs are read from the kernel's .orc_unwind_ip where they are
// needed and the entries stay encoded until Find needs one (a vmlinux has
// hundreds of thousands of them and an unwind needs a few hundred),
// unless the table had to be sorted here.
type Table struct {
	ip      []byte // the encoded pcs, when they are sorted
	ipAddr  uint64
	pcs     []uint64 // else the pcs, sorted here
	n       int
	entries []Entry // decoded, when the table was sorted here
	raw     []byte  // else the encoded entries, in the pcs' order
	f       Format
}

// Len is the number of entries.
func (t *Table) Len() int { return t.n }

// PC is the first pc of entry i.
func (t *Table) PC(i int) uint64 {
	if t.pcs != nil {
		return t.pcs[i]
	}
	return encodedPC(t.ip, t.ipAddr, i)
}

// encodedPC is the pc of entry i of .orc_unwind_ip at ipAddr: the int32
// there is relative to its own address.
func encodedPC(ip []byte, ipAddr uint64, i int) uint64 {
	off := int64(int32(binary.LittleEndian.Uint32(ip[i*4:])))
	return ipAddr + uint64(i*4) + uint64(off)
}

// Parse decodes the two arrays. ipAddr is the address of the first int32
// of ip (each entry's pc is its own address plus its value); the table is
// sorted by pc if it is not already (the kernel sorts it at build time or
// at module load, a copy from a file may not be). A sorted table keeps ip
// and entries (it does not copy them).
func Parse(ip []byte, ipAddr uint64, entries []byte, f Format) (*Table, error) {
	if len(ip)%4 != 0 {
		return nil, fmt.Errorf("orc: .orc_unwind_ip is %d bytes, not a multiple of 4", len(ip))
	}
	n := len(ip) / 4
	if len(entries) != n*EntrySize {
		return nil, fmt.Errorf("orc: %d pcs but %d bytes of entries (want %d)", n, len(entries), n*EntrySize)
	}
	if f.TypeBits <= 0 || f.TypeBits > 4 {
		return nil, fmt.Errorf("orc: format %q has a %d-bit type", f.Name, f.TypeBits)
	}
	t := &Table{ip: ip, ipAddr: ipAddr, n: n, raw: entries, f: f}
	for i := 1; i < n; i++ {
		if encodedPC(ip, ipAddr, i) < encodedPC(ip, ipAddr, i-1) {
			t.sort()
			break
		}
	}
	return t, nil
}

// sort decodes the table and sorts it by pc.
func (t *Table) sort() {
	t.pcs = make([]uint64, t.n)
	t.entries = make([]Entry, t.n)
	for i := range t.n {
		t.pcs[i] = encodedPC(t.ip, t.ipAddr, i)
		t.entries[i] = t.f.Decode(t.raw[i*EntrySize:])
	}
	t.ip, t.raw = nil, nil
	sort.Stable(byPC{t})
}

func (t *Table) entry(i int) Entry {
	if t.entries != nil {
		return t.entries[i]
	}
	return t.f.Decode(t.raw[i*EntrySize:])
}

type byPC struct{ t *Table }

func (s byPC) Len() int           { return len(s.t.pcs) }
func (s byPC) Less(i, j int) bool { return s.t.pcs[i] < s.t.pcs[j] }
func (s byPC) Swap(i, j int) {
	s.t.pcs[i], s.t.pcs[j] = s.t.pcs[j], s.t.pcs[i]
	s.t.entries[i], s.t.entries[j] = s.t.entries[j], s.t.entries[i]
}

// Find returns the entry covering pc: the last one whose pc is <= pc
// (where several share a pc, the last of them, as the kernel's
// __orc_find does). False when pc is below the table.
func (t *Table) Find(pc uint64) (Entry, bool) {
	i := sort.Search(t.n, func(i int) bool { return t.PC(i) > pc })
	if i == 0 {
		return Entry{}, false
	}
	return t.entry(i - 1), true
}

// Range is the pc range [Lo, Hi] the table covers (Hi is its last pc).
func (t *Table) Range() (lo, hi uint64) {
	if t.n == 0 {
		return 0, 0
	}
	return t.PC(0), t.PC(t.n - 1)
}
