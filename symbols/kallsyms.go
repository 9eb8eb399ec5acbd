package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// VirtReader reads kernel virtual memory (*addrspace.Space has it).
type VirtReader interface {
	Read(va uint64, p []byte) error
}

// KallsymsTables are the run-time addresses of the kernel's kallsyms
// tables, as VMCOREINFO names them on 6.0+ (SYMBOL(kallsyms_names), ...;
// 5.19's "kallsyms: expose kallsyms tables in vmcoreinfo" was merged for
// 6.0) or as found by scanning the image (FindKallsyms).
//
// The tables, as scripts/kallsyms.c writes them:
//
//   - kallsyms_num_syms: a 32-bit count;
//   - kallsyms_names: per symbol, its length in tokens (one byte; from
//     6.1 a length of 128 or more takes two bytes, the low 7 bits first
//     with bit 7 of the first byte set), then that many token numbers;
//   - kallsyms_token_table: 256 NUL-terminated strings, the expansion of
//     each token; kallsyms_token_index: 256 16-bit offsets into it;
//   - kallsyms_offsets: a 32-bit value per symbol, decoded by Mode.
//
// The first character of a decoded name is the symbol's type (nm's).
type KallsymsTables struct {
	NumSyms, Names, TokenTable, TokenIndex, Offsets uint64
	// RelativeBase is the address of kallsyms_relative_base, 0 when the
	// kernel has none (7.x: the offsets are relative to _text; see Mode).
	RelativeBase uint64
	// Mode says how an offset becomes an address; KallsymsAuto picks it.
	Mode KallsymsMode
	// Anchor is a symbol whose run-time address AnchorAddr is known
	// (VMCOREINFO's SYMBOL(_stext)): a table without a relative base
	// (KallsymsAnchored) is placed by it.
	Anchor     string
	AnchorAddr uint64
}

// KallsymsMode is how kallsyms_offsets encode addresses.
type KallsymsMode int

// Address encodings of kallsyms_offsets.
const (
	// KallsymsAuto: with a relative base, KallsymsAbsolutePercpu when
	// most offsets are negative (the kernel text is), else
	// KallsymsRelative; without one, KallsymsPCRelative unless that
	// misplaces the anchor and KallsymsAnchored does not.
	KallsymsAuto KallsymsMode = iota
	// KallsymsAbsolutePercpu (CONFIG_KALLSYMS_ABSOLUTE_PERCPU, x86_64 SMP
	// until 6.15): an offset >= 0 is an absolute address (the per-CPU
	// symbols, linked at 0), a negative one is relative_base - 1 - offset.
	KallsymsAbsolutePercpu
	// KallsymsRelative: relative_base + (u32)offset.
	KallsymsRelative
	// KallsymsPCRelative (7.x, no kallsyms_relative_base): each offset
	// is relative to its own place, &kallsyms_offsets[i] + (s32)offset,
	// as the kernel's other position-independent tables.
	KallsymsPCRelative
	// KallsymsAnchored: base + (u32)offset, the base found from a symbol
	// of known address (KallsymsTables.Anchor).
	KallsymsAnchored
)

// String names the mode.
func (m KallsymsMode) String() string {
	switch m {
	case KallsymsAbsolutePercpu:
		return "absolute-percpu"
	case KallsymsRelative:
		return "base-relative"
	case KallsymsPCRelative:
		return "pc-relative"
	case KallsymsAnchored:
		return "anchored"
	}
	return "auto"
}

// KallsymsSymbol is one decoded kallsyms entry.
type KallsymsSymbol struct {
	Name string
	Type byte // nm's type character: T t D d B b R r A ...
	Addr uint64
}

// Kallsyms is a decoded kallsyms table.
type Kallsyms struct {
	Symbols []KallsymsSymbol // in table order (by address)
	Mode    KallsymsMode     // the address encoding used
}

// Bounds on what a table may claim, so corrupt memory cannot exhaust ours.
const (
	maxKallsyms      = 1 << 22
	maxKallsymsNames = 64 << 20
	kallsymsChunk    = 64 << 10
	maxToken         = 512 // KSYM_NAME_LEN
)

// ErrNoKallsyms is wrapped by DecodeKallsyms' errors when the tables are
// missing or do not decode.
var ErrNoKallsyms = errors.New("no usable kallsyms tables")

// chunkReader reads a table sequentially in chunks.
type chunkReader struct {
	mem  VirtReader
	base uint64 // address of buf[0]
	buf  []byte
}

func (c *chunkReader) byteAt(va uint64) (byte, error) {
	if va < c.base || va >= c.base+uint64(len(c.buf)) {
		n := uint64(kallsymsChunk) - va%kallsymsChunk
		if cap(c.buf) < kallsymsChunk {
			c.buf = make([]byte, kallsymsChunk)
		}
		c.buf = c.buf[:n]
		if err := c.mem.Read(va, c.buf); err != nil {
			// the chunk may run into memory the dump lacks: the
			// page, else the byte alone
			c.buf = c.buf[:4096-va%4096]
			if err := c.mem.Read(va, c.buf); err != nil {
				c.buf = c.buf[:1]
				if err := c.mem.Read(va, c.buf); err != nil {
					c.buf = c.buf[:0]
					return 0, err
				}
			}
		}
		c.base = va
	}
	return c.buf[va-c.base], nil
}

// DecodeKallsyms decodes the kernel's kallsyms tables from memory.
func DecodeKallsyms(mem VirtReader, t KallsymsTables) (*Kallsyms, error) {
	if t.NumSyms == 0 || t.Names == 0 || t.TokenTable == 0 || t.TokenIndex == 0 || t.Offsets == 0 {
		return nil, fmt.Errorf("%w: a table address is missing (%+v)", ErrNoKallsyms, t)
	}
	var b4 [4]byte
	if err := mem.Read(t.NumSyms, b4[:]); err != nil {
		return nil, fmt.Errorf("%w: kallsyms_num_syms: %v", ErrNoKallsyms, err)
	}
	n := binary.LittleEndian.Uint32(b4[:])
	if n == 0 || n > maxKallsyms {
		return nil, fmt.Errorf("%w: kallsyms_num_syms is %d", ErrNoKallsyms, n)
	}
	tokens, err := readTokens(mem, t.TokenTable, t.TokenIndex)
	if err != nil {
		return nil, err
	}
	offs := make([]byte, 4*int(n))
	if err := mem.Read(t.Offsets, offs); err != nil {
		return nil, fmt.Errorf("%w: kallsyms_offsets: %v", ErrNoKallsyms, err)
	}
	var base uint64
	if t.RelativeBase != 0 {
		var b8 [8]byte
		if err := mem.Read(t.RelativeBase, b8[:]); err != nil {
			return nil, fmt.Errorf("%w: kallsyms_relative_base: %v", ErrNoKallsyms, err)
		}
		base = binary.LittleEndian.Uint64(b8[:])
	}
	names, types, err := decodeNames(mem, t.Names, int(n), tokens)
	if err != nil {
		return nil, err
	}
	mode := t.Mode
	if mode == KallsymsAuto {
		switch {
		case t.RelativeBase == 0:
			mode = KallsymsPCRelative
			for i, nm := range names {
				if nm == t.Anchor && t.Anchor != "" {
					raw := binary.LittleEndian.Uint32(offs[4*i:])
					if t.Offsets+4*uint64(i)+uint64(int64(int32(raw))) != t.AnchorAddr {
						mode = KallsymsAnchored
					}
					break
				}
			}
		default:
			neg := 0
			for i := 0; i < int(n); i++ {
				if int32(binary.LittleEndian.Uint32(offs[4*i:])) < 0 {
					neg++
				}
			}
			mode = KallsymsRelative
			if neg > int(n)/2 {
				mode = KallsymsAbsolutePercpu
			}
		}
	}
	if mode == KallsymsAnchored {
		found := false
		for i, nm := range names {
			if nm == t.Anchor && t.Anchor != "" {
				base = t.AnchorAddr - uint64(binary.LittleEndian.Uint32(offs[4*i:]))
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: a table without kallsyms_relative_base is placed by a symbol of known address, and %q is not in it", ErrNoKallsyms, t.Anchor)
		}
	}
	ks := &Kallsyms{Mode: mode, Symbols: make([]KallsymsSymbol, n)}
	for i := range ks.Symbols {
		raw := binary.LittleEndian.Uint32(offs[4*i:])
		var addr uint64
		switch mode {
		case KallsymsAbsolutePercpu:
			if int32(raw) >= 0 {
				addr = uint64(raw)
			} else {
				addr = base - 1 - uint64(int64(int32(raw)))
			}
		case KallsymsRelative, KallsymsAnchored:
			addr = base + uint64(raw)
		case KallsymsPCRelative:
			addr = t.Offsets + 4*uint64(i) + uint64(int64(int32(raw)))
		default:
			return nil, fmt.Errorf("%w: unknown address mode %d", ErrNoKallsyms, mode)
		}
		ks.Symbols[i] = KallsymsSymbol{Name: names[i], Type: types[i], Addr: addr}
	}
	return ks, nil
}

// readTokens reads the 256 token expansions.
func readTokens(mem VirtReader, table, index uint64) ([256]string, error) {
	var tokens [256]string
	idx := make([]byte, 512)
	if err := mem.Read(index, idx); err != nil {
		return tokens, fmt.Errorf("%w: kallsyms_token_index: %v", ErrNoKallsyms, err)
	}
	cr := &chunkReader{mem: mem}
	for i := range tokens {
		off := uint64(binary.LittleEndian.Uint16(idx[2*i:]))
		var tok []byte
		for {
			c, err := cr.byteAt(table + off + uint64(len(tok)))
			if err != nil {
				return tokens, fmt.Errorf("%w: kallsyms_token_table: %v", ErrNoKallsyms, err)
			}
			if c == 0 {
				break
			}
			if len(tok) >= maxToken {
				return tokens, fmt.Errorf("%w: token %d at %d is not terminated", ErrNoKallsyms, i, off)
			}
			tok = append(tok, c)
		}
		tokens[i] = string(tok)
	}
	return tokens, nil
}

// decodeNames expands n compressed names.
func decodeNames(mem VirtReader, names uint64, n int, tokens [256]string) ([]string, []byte, error) {
	cr := &chunkReader{mem: mem}
	out := make([]string, n)
	types := make([]byte, n)
	pos := names
	var sb []byte
	for i := 0; i < n; i++ {
		if pos-names > maxKallsymsNames {
			return nil, nil, fmt.Errorf("%w: kallsyms_names runs past %d bytes", ErrNoKallsyms, maxKallsymsNames)
		}
		b, err := cr.byteAt(pos)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: kallsyms_names entry %d: %v", ErrNoKallsyms, i, err)
		}
		pos++
		l := int(b)
		if b&0x80 != 0 {
			b2, err := cr.byteAt(pos)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: kallsyms_names entry %d: %v", ErrNoKallsyms, i, err)
			}
			pos++
			l = int(b&0x7f) | int(b2)<<7
		}
		if l == 0 {
			return nil, nil, fmt.Errorf("%w: kallsyms_names entry %d is empty", ErrNoKallsyms, i)
		}
		sb = sb[:0]
		for j := 0; j < l; j++ {
			tb, err := cr.byteAt(pos)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: kallsyms_names entry %d: %v", ErrNoKallsyms, i, err)
			}
			pos++
			sb = append(sb, tokens[tb]...)
		}
		if len(sb) < 2 {
			return nil, nil, fmt.Errorf("%w: kallsyms_names entry %d decodes to %q", ErrNoKallsyms, i, sb)
		}
		types[i] = sb[0]
		out[i] = string(sb[1:])
	}
	return out, types, nil
}

// KallsymsKind is the SymbolKind of an nm type character.
func KallsymsKind(typ byte) SymbolKind {
	switch typ {
	case 't', 'T', 'w', 'W': // weak symbols of the kernel are functions, as a rule
		return SymFunc
	case 'd', 'D', 'b', 'B', 'r', 'R', 'v', 'V', 'g', 'G', 's', 'S':
		return SymObject
	}
	return SymOther
}

// sortedAddrs returns the distinct addresses of the symbols not in skip,
// sorted.
func (ks *Kallsyms) sortedAddrs(skip map[string]bool) []uint64 {
	addrs := make([]uint64, 0, len(ks.Symbols))
	for _, s := range ks.Symbols {
		if !skip[s.Name] {
			addrs = append(addrs, s.Addr)
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	out := addrs[:0]
	for i, a := range addrs {
		if i == 0 || a != addrs[i-1] {
			out = append(out, a)
		}
	}
	return out
}
