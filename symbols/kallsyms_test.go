package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// memMap is a sparse virtual memory for the decoder.
type memMap map[uint64][]byte // base -> bytes

func (m memMap) Read(va uint64, p []byte) error {
	for base, b := range m {
		if va >= base && va-base <= uint64(len(b)) && uint64(len(p)) <= uint64(len(b))-(va-base) {
			copy(p, b[va-base:])
			return nil
		}
	}
	return fmt.Errorf("%#x+%d: not mapped", va, len(p))
}

// encSym is a symbol to encode: its nm type, name and raw offset entry.
type encSym struct {
	typ  byte
	name string
	off  int32
}

// encodeKallsyms lays out kallsyms tables as scripts/kallsyms.c does, with
// a simple token table: tokens 0-255 are the single bytes, except that
// token 1 expands to "sched" and token 2 to "__" (so names compress).
func encodeKallsyms(syms []encSym, relBase uint64, withBase bool) (memMap, KallsymsTables) {
	var tokens [256]string
	for i := range tokens {
		tokens[i] = string(rune(i))
	}
	tokens[1], tokens[2] = "sched", "__"
	var table []byte
	var index []byte
	for _, tk := range tokens {
		index = binary.LittleEndian.AppendUint16(index, uint16(len(table)))
		if tk == "\x00" {
			tk = "" // token 0 is never used: an empty string
		}
		table = append(append(table, tk...), 0)
	}
	var names []byte
	for _, s := range syms {
		full := string(s.typ) + s.name
		var enc []byte
		for i := 0; i < len(full); {
			switch {
			case strings.HasPrefix(full[i:], "sched"):
				enc, i = append(enc, 1), i+5
			case strings.HasPrefix(full[i:], "__"):
				enc, i = append(enc, 2), i+2
			default:
				enc, i = append(enc, full[i]), i+1
			}
		}
		if len(enc) >= 0x80 {
			names = append(names, byte(len(enc)&0x7f)|0x80, byte(len(enc)>>7))
		} else {
			names = append(names, byte(len(enc)))
		}
		names = append(names, enc...)
	}
	var offs []byte
	for _, s := range syms {
		offs = binary.LittleEndian.AppendUint32(offs, uint32(s.off))
	}
	const base = 0xffffffff82000000
	t := KallsymsTables{NumSyms: base, Names: base + 0x1000, Offsets: base + 0x100000,
		TokenTable: base + 0x200000, TokenIndex: base + 0x300000}
	m := memMap{
		t.NumSyms:    binary.LittleEndian.AppendUint32(nil, uint32(len(syms))),
		t.Names:      names,
		t.Offsets:    offs,
		t.TokenTable: table,
		t.TokenIndex: index,
	}
	if withBase {
		t.RelativeBase = base + 0x400000
		m[t.RelativeBase] = binary.LittleEndian.AppendUint64(nil, relBase)
	}
	return m, t
}

func TestDecodeKallsyms(t *testing.T) {
	long := strings.Repeat("x", 300) // a 2-byte length (6.1+)
	const text = 0xffffffff81000000
	tests := []struct {
		name     string
		syms     []encSym
		relBase  uint64
		withBase bool
		anchor   string
		anchorAt uint64
		mode     KallsymsMode
		want     []KallsymsSymbol
	}{
		{
			name: "absolute-percpu (5.10, 6.1)",
			syms: []encSym{
				{'D', "__per_cpu_start", 0}, {'D', "current_task", 0x1fb80},
				{'T', "_text", -1}, {'T', "schedule", -0x1001}, {'t', "__schedule", -0x2001}, {'t', long, -0x3001},
			},
			relBase: text, withBase: true, mode: KallsymsAbsolutePercpu,
			want: []KallsymsSymbol{
				{"__per_cpu_start", 'D', 0}, {"current_task", 'D', 0x1fb80},
				{"_text", 'T', text}, {"schedule", 'T', text + 0x1000}, {"__schedule", 't', text + 0x2000}, {long, 't', text + 0x3000},
			},
		},
		{
			name:    "base-relative (6.15+ with a relative base)",
			syms:    []encSym{{'T', "_text", 0}, {'T', "schedule", 0x1000}, {'D', "runqueues", 0x2e00000}},
			relBase: text, withBase: true, mode: KallsymsRelative,
			want: []KallsymsSymbol{{"_text", 'T', text}, {"schedule", 'T', text + 0x1000}, {"runqueues", 'D', text + 0x2e00000}},
		},
		{
			name: "pc-relative (7.x)",
			// the offsets table is at 0xffffffff82100000: entry i is
			// relative to its own address
			syms: []encSym{{'T', "_text", -0x1100000}, {'T', "_stext", -0x1100004}, {'T', "schedule", -0x10ff008}},
			mode: KallsymsPCRelative, anchor: "_stext", anchorAt: text,
			want: []KallsymsSymbol{{"_text", 'T', text}, {"_stext", 'T', text}, {"schedule", 'T', text + 0x1000}},
		},
		{
			name: "anchored (no base, offsets from _text)",
			syms: []encSym{{'T', "_text", 0}, {'T', "_stext", 0}, {'T', "schedule", 0x1000}},
			mode: KallsymsAnchored, anchor: "_stext", anchorAt: text,
			want: []KallsymsSymbol{{"_text", 'T', text}, {"_stext", 'T', text}, {"schedule", 'T', text + 0x1000}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem, tabs := encodeKallsyms(tc.syms, tc.relBase, tc.withBase)
			tabs.Anchor, tabs.AnchorAddr = tc.anchor, tc.anchorAt
			ks, err := DecodeKallsyms(mem, tabs)
			if err != nil {
				t.Fatal(err)
			}
			if ks.Mode != tc.mode {
				t.Errorf("mode %s, want %s", ks.Mode, tc.mode)
			}
			if len(ks.Symbols) != len(tc.want) {
				t.Fatalf("%d symbols, want %d", len(ks.Symbols), len(tc.want))
			}
			for i, w := range tc.want {
				if g := ks.Symbols[i]; g != w {
					t.Errorf("symbol %d: %c %s %#x, want %c %s %#x", i, g.Type, g.Name, g.Addr, w.Type, w.Name, w.Addr)
				}
			}
		})
	}
}

func TestDecodeKallsymsErrors(t *testing.T) {
	mem, tabs := encodeKallsyms([]encSym{{'T', "a", 0}}, 0, false)
	if _, err := DecodeKallsyms(mem, KallsymsTables{}); !errors.Is(err, ErrNoKallsyms) {
		t.Errorf("no tables: %v", err)
	}
	// no relative base and no anchor: the pc-relative default is taken
	if ks, err := DecodeKallsyms(mem, tabs); err != nil || ks.Mode != KallsymsPCRelative {
		t.Errorf("no base: %v", err)
	}
	tabs.Mode = KallsymsAnchored
	if _, err := DecodeKallsyms(mem, tabs); !errors.Is(err, ErrNoKallsyms) {
		t.Errorf("anchored without an anchor: %v", err)
	}
	mem[tabs.NumSyms] = binary.LittleEndian.AppendUint32(nil, 1<<30)
	if _, err := DecodeKallsyms(mem, tabs); !errors.Is(err, ErrNoKallsyms) {
		t.Errorf("huge count: %v", err)
	}
}

func TestNewKallsymsImage(t *testing.T) {
	const slide = 0x1000000
	ks := &Kallsyms{Symbols: []KallsymsSymbol{
		{"current_task", 'D', 0x1fb80},
		{"_text", 'T', 0xffffffff82000000},
		{"entry_SYSCALL_64", 'T', 0xffffffff82000100},
		{"entry_SYSCALL_64_after_hwframe", 'T', 0xffffffff82000138},
		{"ret_from_fork", 'T', 0xffffffff82000300},
		{"linux_banner", 'D', 0xffffffff82100000},
		{"jiffies", 'D', 0xffffffff82100200},
	}}
	im := NewKallsymsImage(ks, slide, nil, "ABCD")
	if !im.FromDump() || im.HasSections() || im.BuildID() != "abcd" || im.Path() != "" {
		t.Errorf("FromDump %v HasSections %v BuildID %q Path %q", im.FromDump(), im.HasSections(), im.BuildID(), im.Path())
	}
	if s, _ := im.Symbol("entry_SYSCALL_64"); s.Addr != 0xffffffff81000100 || s.Size != 0x200 || s.Kind != SymFunc {
		t.Errorf("entry_SYSCALL_64 = %+v (the inner label does not end it)", s)
	}
	v := im.View(slide)
	if got := v.Describe(0xffffffff82000200); got != "entry_SYSCALL_64+0x100" {
		t.Errorf("Describe = %s", got)
	}
	if s, _ := v.Symbol("current_task"); s.Addr != 0x1fb80 {
		t.Errorf("per-CPU current_task at %#x", s.Addr)
	}
	if s, _ := v.Symbol("linux_banner"); s.Addr != 0xffffffff82100000 || s.Size != 0x200 || s.Kind != SymObject {
		t.Errorf("linux_banner = %+v", s)
	}
	if _, err := im.ReadData("linux_banner"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadData: %v", err)
	}
	if _, err := im.BTF(); !errors.Is(err, ErrNotFound) {
		t.Errorf("BTF: %v", err)
	}
	if !im.SetKallsymsSize("linux_banner", 8) {
		t.Error("SetKallsymsSize failed")
	}
	if s, _ := im.Symbol("linux_banner"); s.Size != 8 {
		t.Errorf("size %d after SetKallsymsSize", s.Size)
	}
}

func FuzzDecodeKallsyms(f *testing.F) {
	mem, _ := encodeKallsyms([]encSym{{'T', "_text", -1}, {'t', "schedule", -0x1001}}, 0xffffffff81000000, true)
	_, tabs := encodeKallsyms(nil, 0, true)
	f.Add(mem[tabs.Names], mem[tabs.Offsets], mem[tabs.TokenIndex], mem[tabs.TokenTable], uint32(2))
	f.Fuzz(func(t *testing.T, names, offs, index, table []byte, n uint32) {
		m := memMap{
			tabs.NumSyms:      binary.LittleEndian.AppendUint32(nil, n),
			tabs.Names:        names,
			tabs.Offsets:      offs,
			tabs.TokenIndex:   index,
			tabs.TokenTable:   table,
			tabs.RelativeBase: binary.LittleEndian.AppendUint64(nil, 0xffffffff81000000),
		}
		ks, err := DecodeKallsyms(m, tabs)
		if err != nil {
			if !errors.Is(err, ErrNoKallsyms) {
				t.Fatalf("error not wrapping ErrNoKallsyms: %v", err)
			}
			return
		}
		if len(ks.Symbols) != int(n) {
			t.Fatalf("%d symbols, want %d", len(ks.Symbols), n)
		}
		NewKallsymsImage(ks, 0, nil, "")
	})
}
