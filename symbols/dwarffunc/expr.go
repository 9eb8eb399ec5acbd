package dwarffunc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// NumRegs is the number of x86-64 DWARF registers Regs holds: 0 rax,
// 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip.
const NumRegs = 17

// Regs is one frame's register set, indexed by DWARF register number, with
// a bit of Known per register whose value is known, and the frame's CFA.
type Regs struct {
	Val      [NumRegs]uint64 `json:"val"`
	Known    uint32          `json:"known"`
	CFA      uint64          `json:"cfa"`
	CFAKnown bool            `json:"cfa_known"`
	// Slide is added to static addresses (DW_OP_addr, DW_OP_addrx): the
	// KASLR slide for a vmlinux, 0 for a module loaded by LoadModule.
	Slide uint64 `json:"slide,omitempty"`
}

// Set records a register's value.
func (r *Regs) Set(reg int, v uint64) {
	if reg >= 0 && reg < NumRegs {
		r.Val[reg] = v
		r.Known |= 1 << reg
	}
}

// Get returns a register's value and whether it is known.
func (r *Regs) Get(reg int) (uint64, bool) {
	if reg < 0 || reg >= NumRegs || r.Known&(1<<reg) == 0 {
		return 0, false
	}
	return r.Val[reg], true
}

// MemReader reads the dump's memory (analyzer's Kernel.Mem fits).
type MemReader interface {
	Read(addr uint64, b []byte) error
}

// Location kinds of a Value.
const (
	KindRegister    = "register"      // the value is in register Reg
	KindMemory      = "memory"        // the variable lives at Addr
	KindValue       = "value"         // computed (DW_OP_stack_value, implicit_value)
	KindPieces      = "pieces"        // several pieces, see Pieces
	KindOptimized   = "optimized-out" // no location at this pc
	KindUnavailable = "unavailable"   // has a location that cannot be evaluated here
)

// Value is where a variable is at a pc, and its value when it can be read.
type Value struct {
	Name string `json:"name"`
	// Type is the variable's C type ("struct dio *"), Size its byte size
	// (-1 when unknown).
	Type string `json:"type"`
	Size int64  `json:"size"`
	Kind string `json:"kind"`
	// Value is the variable's value (its first 8 bytes, little-endian,
	// not sign-extended)
	// when HasValue; for KindMemory it was read through the MemReader.
	Value    uint64 `json:"value"`
	HasValue bool   `json:"has_value"`
	Addr     uint64 `json:"addr,omitempty"` // KindMemory
	Reg      int    `json:"reg"`            // KindRegister, else -1
	// NeedReg is the register (DWARF number) whose unknown value made the
	// location unavailable, -1 for another reason (Reason says which).
	NeedReg int     `json:"need_reg"`
	Reason  string  `json:"reason,omitempty"`
	Pieces  []Piece `json:"pieces,omitempty"`
	// Param is true for a DW_TAG_formal_parameter.
	Param bool `json:"param,omitempty"`
	// Expr is the DWARF expression evaluated (hex), for the record.
	Expr string `json:"expr,omitempty"`
}

// Piece is one DW_OP_piece of a composite location.
type Piece struct {
	Size     uint64 `json:"size"`
	Kind     string `json:"kind"` // register, memory, value, optimized-out
	Reg      int    `json:"reg,omitempty"`
	Addr     uint64 `json:"addr,omitempty"`
	Value    uint64 `json:"value,omitempty"`
	HasValue bool   `json:"has_value,omitempty"`
}

// unavailable is an evaluation that needs something the frame lacks.
type unavailable struct {
	reg    int
	reason string
}

func (u *unavailable) Error() string { return u.reason }

func needReg(n int) error {
	return &unavailable{reg: n, reason: fmt.Sprintf("needs register %d, whose value is unknown in this frame", n)}
}

func notHere(format string, args ...any) error {
	return &unavailable{reg: -1, reason: fmt.Sprintf(format, args...)}
}

// evalCtx is what an expression may refer to.
type evalCtx struct {
	regs      *Regs
	mem       MemReader
	frameBase func() (uint64, error)
	addrx     func(idx uint64) (uint64, error)
}

// result of one expression.
type location struct {
	kind   string
	reg    int
	addr   uint64
	value  uint64
	bytes  []byte // implicit value
	pieces []Piece
}

const maxSteps = 10000

// eval runs a DWARF location expression.
func eval(expr []byte, c *evalCtx) (loc location, err error) {
	if len(expr) == 0 {
		return location{kind: KindOptimized}, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dwarffunc: truncated DWARF expression: %v", p)
		}
	}()
	b := &cursor{b: expr}
	var stack []uint64
	push := func(v uint64) { stack = append(stack, v) }
	pop := func() uint64 {
		if len(stack) == 0 {
			panic("stack underflow")
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v
	}
	// the pending location of the current piece
	cur := location{kind: ""}
	var pieces []Piece
	reg := func(n int) (uint64, error) {
		v, ok := c.regs.Get(n)
		if !ok {
			return 0, needReg(n)
		}
		return v, nil
	}
	read := func(addr uint64, size int) (uint64, error) {
		if c.mem == nil {
			return 0, notHere("needs memory at 0x%x and no memory reader was given", addr)
		}
		if size <= 0 || size > 8 {
			return 0, fmt.Errorf("dwarffunc: deref of %d bytes", size)
		}
		buf := make([]byte, 8)
		if err := c.mem.Read(addr, buf[:size]); err != nil {
			return 0, notHere("reading 0x%x: %v", addr, err)
		}
		return binary.LittleEndian.Uint64(buf), nil
	}
	for steps := 0; b.off < len(b.b); steps++ {
		if steps > maxSteps {
			return location{}, errors.New("dwarffunc: DWARF expression does not terminate")
		}
		op := b.u8()
		switch {
		case op >= 0x30 && op <= 0x4f: // DW_OP_lit*
			push(uint64(op - 0x30))
		case op >= 0x50 && op <= 0x6f: // DW_OP_reg*
			cur = location{kind: KindRegister, reg: int(op - 0x50)}
		case op >= 0x70 && op <= 0x8f: // DW_OP_breg*
			off := b.sleb()
			v, err := reg(int(op - 0x70))
			if err != nil {
				return location{}, err
			}
			push(v + uint64(off))
		default:
			switch op {
			case 0x03: // addr
				push(b.u64() + c.regs.Slide)
			case 0x06: // deref
				v, err := read(pop(), 8)
				if err != nil {
					return location{}, err
				}
				push(v)
			case 0x94: // deref_size
				n := int(b.u8())
				v, err := read(pop(), n)
				if err != nil {
					return location{}, err
				}
				push(v)
			case 0x08:
				push(uint64(b.u8()))
			case 0x09:
				push(uint64(int64(int8(b.u8()))))
			case 0x0a:
				push(uint64(b.u16()))
			case 0x0b:
				push(uint64(int64(int16(b.u16()))))
			case 0x0c:
				push(uint64(b.u32()))
			case 0x0d:
				push(uint64(int64(int32(b.u32()))))
			case 0x0e:
				push(b.u64())
			case 0x0f:
				push(b.u64())
			case 0x10:
				push(b.uleb())
			case 0x11:
				push(uint64(b.sleb()))
			case 0x12: // dup
				v := pop()
				push(v)
				push(v)
			case 0x13: // drop
				pop()
			case 0x14: // over
				if len(stack) < 2 {
					panic("stack underflow")
				}
				push(stack[len(stack)-2])
			case 0x15: // pick
				i := int(b.u8())
				if i >= len(stack) {
					panic("stack underflow")
				}
				push(stack[len(stack)-1-i])
			case 0x16: // swap
				a, bb := pop(), pop()
				push(a)
				push(bb)
			case 0x17: // rot
				a, bb, cc := pop(), pop(), pop()
				push(a)
				push(cc)
				push(bb)
			case 0x19: // abs
				v := int64(pop())
				if v < 0 {
					v = -v
				}
				push(uint64(v))
			case 0x1f: // neg
				push(uint64(-int64(pop())))
			case 0x20: // not
				push(^pop())
			case 0x23: // plus_uconst
				push(pop() + b.uleb())
			case 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27,
				0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e:
				y, x := pop(), pop()
				v, err := binop(op, x, y)
				if err != nil {
					return location{}, err
				}
				push(v)
			case 0x2f: // skip
				n := int(int16(b.u16()))
				if err := b.jump(n); err != nil {
					return location{}, err
				}
			case 0x28: // bra
				n := int(int16(b.u16()))
				if pop() != 0 {
					if err := b.jump(n); err != nil {
						return location{}, err
					}
				}
			case 0x90: // regx
				cur = location{kind: KindRegister, reg: int(b.uleb())}
			case 0x92: // bregx
				n := int(b.uleb())
				off := b.sleb()
				v, err := reg(n)
				if err != nil {
					return location{}, err
				}
				push(v + uint64(off))
			case 0x91: // fbreg
				off := b.sleb()
				if c.frameBase == nil {
					return location{}, notHere("DW_OP_fbreg outside a function")
				}
				fb, err := c.frameBase()
				if err != nil {
					return location{}, err
				}
				push(fb + uint64(off))
			case 0x9c: // call_frame_cfa
				if !c.regs.CFAKnown {
					return location{}, notHere("needs the frame's CFA, which is unknown")
				}
				push(c.regs.CFA)
			case 0x96: // nop
			case 0x9f: // stack_value
				cur = location{kind: KindValue, value: pop()}
			case 0x9e: // implicit_value
				n := b.uleb()
				cur = location{kind: KindValue, bytes: b.bytes(int(n))}
			case 0xa3, 0xf3: // entry_value, GNU_entry_value
				n := b.uleb()
				sub := b.bytes(int(n))
				if len(sub) >= 1 && sub[0] >= 0x50 && sub[0] <= 0x6f {
					return location{}, notHere("needs the entry value of register %d (DW_OP_entry_value), which is not recovered", sub[0]-0x50)
				}
				return location{}, notHere("needs an entry value (DW_OP_entry_value), which is not recovered")
			case 0xa0, 0xf2: // implicit_pointer
				return location{}, notHere("is an implicit pointer (DW_OP_implicit_pointer): it points to an optimized-out object")
			case 0xa1, 0xfb: // addrx, GNU_addr_index
				idx := b.uleb()
				if c.addrx == nil {
					return location{}, notHere("DW_OP_addrx without .debug_addr")
				}
				v, err := c.addrx(idx)
				if err != nil {
					return location{}, err
				}
				push(v + c.regs.Slide)
			case 0xa2, 0xfc: // constx
				idx := b.uleb()
				if c.addrx == nil {
					return location{}, notHere("DW_OP_constx without .debug_addr")
				}
				v, err := c.addrx(idx)
				if err != nil {
					return location{}, err
				}
				push(v)
			case 0xa4, 0xf4: // const_type: type, size, bytes
				b.uleb()
				n := int(b.u8())
				bs := b.bytes(n)
				var buf [8]byte
				copy(buf[:], bs)
				push(binary.LittleEndian.Uint64(buf[:]))
			case 0xa5, 0xf5: // regval_type: reg, type
				n := int(b.uleb())
				b.uleb()
				v, err := reg(n)
				if err != nil {
					return location{}, err
				}
				push(v)
			case 0xa6, 0xf6: // deref_type: size, type
				n := int(b.u8())
				b.uleb()
				v, err := read(pop(), n)
				if err != nil {
					return location{}, err
				}
				push(v)
			case 0xa8, 0xf7, 0xa9, 0xf9: // convert, reinterpret: the bits stay
				b.uleb()
			case 0x93: // piece
				n := b.uleb()
				if cur.kind == "" {
					if len(stack) > 0 {
						cur = location{kind: KindMemory, addr: pop()}
					} else {
						cur = location{kind: KindOptimized}
					}
				}
				pieces = append(pieces, pieceOf(cur, n))
				cur = location{}
				stack = stack[:0]
			case 0x9d: // bit_piece
				return location{}, notHere("DW_OP_bit_piece is not supported")
			default:
				return location{}, notHere("DWARF operation 0x%02x is not supported", op)
			}
		}
	}
	if pieces != nil {
		return location{kind: KindPieces, pieces: pieces}, nil
	}
	if cur.kind != "" {
		return cur, nil
	}
	if len(stack) == 0 {
		return location{kind: KindOptimized}, nil
	}
	return location{kind: KindMemory, addr: stack[len(stack)-1]}, nil
}

func pieceOf(l location, size uint64) Piece {
	p := Piece{Size: size, Kind: l.kind, Reg: l.reg, Addr: l.addr}
	if l.kind == KindValue {
		p.HasValue = true
		p.Value = l.value
		if l.bytes != nil {
			var buf [8]byte
			copy(buf[:], l.bytes)
			p.Value = binary.LittleEndian.Uint64(buf[:])
		}
	}
	return p
}

func binop(op byte, x, y uint64) (uint64, error) {
	b2i := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	switch op {
	case 0x1a:
		return x & y, nil
	case 0x1b:
		if y == 0 {
			return 0, notHere("division by zero in a DWARF expression")
		}
		return uint64(int64(x) / int64(y)), nil
	case 0x1c:
		return x - y, nil
	case 0x1d:
		if y == 0 {
			return 0, notHere("modulo by zero in a DWARF expression")
		}
		return x % y, nil
	case 0x1e:
		return x * y, nil
	case 0x21:
		return x | y, nil
	case 0x22:
		return x + y, nil
	case 0x24:
		return x << (y & 63), nil
	case 0x25:
		return x >> (y & 63), nil
	case 0x26:
		return uint64(int64(x) >> (y & 63)), nil
	case 0x27:
		return x ^ y, nil
	case 0x29:
		return b2i(x == y), nil
	case 0x2a:
		return b2i(int64(x) >= int64(y)), nil
	case 0x2b:
		return b2i(int64(x) > int64(y)), nil
	case 0x2c:
		return b2i(int64(x) <= int64(y)), nil
	case 0x2d:
		return b2i(int64(x) < int64(y)), nil
	case 0x2e:
		return b2i(x != y), nil
	}
	return 0, fmt.Errorf("dwarffunc: bad binary op 0x%x", op)
}

// cursor reads DWARF encodings; out-of-range reads panic (recovered by
// the callers as "truncated").
type cursor struct {
	b   []byte
	off int
}

func (c *cursor) u8() byte {
	v := c.b[c.off]
	c.off++
	return v
}

func (c *cursor) u16() uint16 {
	v := binary.LittleEndian.Uint16(c.b[c.off : c.off+2])
	c.off += 2
	return v
}

func (c *cursor) u32() uint32 {
	v := binary.LittleEndian.Uint32(c.b[c.off : c.off+4])
	c.off += 4
	return v
}

func (c *cursor) u64() uint64 {
	v := binary.LittleEndian.Uint64(c.b[c.off : c.off+8])
	c.off += 8
	return v
}

func (c *cursor) bytes(n int) []byte {
	if n < 0 || c.off+n > len(c.b) {
		panic("truncated block")
	}
	v := c.b[c.off : c.off+n]
	c.off += n
	return v
}

func (c *cursor) uleb() uint64 {
	var v uint64
	var shift uint
	for {
		x := c.u8()
		if shift < 64 {
			v |= uint64(x&0x7f) << shift
		}
		shift += 7
		if x&0x80 == 0 {
			return v
		}
	}
}

func (c *cursor) sleb() int64 {
	var v int64
	var shift uint
	for {
		x := c.u8()
		if shift < 64 {
			v |= int64(x&0x7f) << shift
		}
		shift += 7
		if x&0x80 == 0 {
			if shift < 64 && x&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

func (c *cursor) jump(n int) error {
	t := c.off + n
	if t < 0 || t > len(c.b) {
		return errors.New("dwarffunc: DWARF expression branches out of itself")
	}
	c.off = t
	return nil
}
