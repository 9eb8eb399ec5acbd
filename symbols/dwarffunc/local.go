package dwarffunc

import (
	"debug/dwarf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrNoVariable is returned (wrapped) when the function has no variable or
// parameter of that name.
var ErrNoVariable = errors.New("dwarffunc: no such variable")

// Local finds the variable or parameter name of the function fn of pc's
// chain (the innermost instance of that name, inlined or not; "" for the
// innermost function) and evaluates its location at pc against the
// frame's registers, CFA and memory. A variable without a location at pc
// is a Value of KindOptimized; one whose location needs an unknown
// register, the CFA, memory or an entry value is KindUnavailable with the
// reason. Errors are for a pc without function, a function not in the
// chain, a name not declared, and malformed DWARF.
func (f *Funcs) Local(pc uint64, fn, name string, regs Regs, mem MemReader) (v Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = Value{}, fmt.Errorf("dwarffunc: malformed DWARF for %s in %s at 0x%x: %v", name, fn, pc, p)
		}
	}()
	ch, err := f.chainAt(pc)
	if err != nil {
		return Value{}, err
	}
	var s *scope
	for i := len(ch.scopes) - 1; i >= 0; i-- {
		if fn == "" || f.name(ch.scopes[i].entry) == fn {
			s = ch.scopes[i]
			break
		}
	}
	if s == nil {
		return Value{}, fmt.Errorf("dwarffunc: %s is not in the functions at 0x%x", fn, pc)
	}
	if fn == "" {
		fn = f.name(s.entry)
	}
	var ve *dwarf.Entry
	for b := len(s.blocks) - 1; b >= 0 && ve == nil; b-- {
		for _, e := range s.blocks[b] {
			if f.name(e) == name {
				ve = e
				break
			}
		}
	}
	if ve == nil {
		// declared in the abstract instance but without a concrete one here
		if decl := f.abstractVar(s.entry, name); decl != nil {
			v := f.describe(decl, name)
			v.Kind = KindOptimized
			v.Reason = "no concrete instance in this frame"
			return v, nil
		}
		return Value{}, fmt.Errorf("%w: %s in %s at 0x%x", ErrNoVariable, name, fn, pc)
	}
	v = f.describe(ve, name)
	ctx := &evalCtx{regs: &regs, mem: mem, addrx: func(i uint64) (uint64, error) { return f.addrx(ch.cu, i) }}
	ctx.frameBase = func() (uint64, error) { return f.frameBase(ch, pc, ctx) }
	if cv := ve.AttrField(dwarf.AttrConstValue); cv != nil {
		v.Kind = KindValue
		switch x := cv.Val.(type) {
		case int64:
			v.Value, v.HasValue = uint64(x), true
		case []byte:
			var buf [8]byte
			copy(buf[:], x)
			v.Value, v.HasValue = binary.LittleEndian.Uint64(buf[:]), true
		}
		return v, nil
	}
	expr, ok, err := f.locExpr(ch.cu, ve, pc)
	if err != nil {
		return v, err
	}
	if !ok {
		v.Kind = KindOptimized
		return v, nil
	}
	v.Expr = hex.EncodeToString(expr)
	loc, err := eval(expr, ctx)
	if err != nil {
		var u *unavailable
		if errors.As(err, &u) {
			v.Kind, v.NeedReg, v.Reason = KindUnavailable, u.reg, u.reason
			return v, nil
		}
		return v, err
	}
	f.fill(&v, loc, &regs, mem)
	return v, nil
}

// describe fills a Value's name and type from a variable entry.
func (f *Funcs) describe(e *dwarf.Entry, name string) Value {
	v := Value{Name: name, Type: "?", Size: -1, Reg: -1, NeedReg: -1}
	v.Param = e.Tag == dwarf.TagFormalParameter
	te := e
	for range 4 {
		if ref, ok := te.Val(dwarf.AttrType).(dwarf.Offset); ok {
			t := f.typeOf(ref)
			v.Type, v.Size = t.name, t.size
			break
		}
		if te = f.origin(te); te == nil {
			break
		}
	}
	return v
}

// abstractVar looks for a variable or parameter name among the children
// (and nested blocks) of an instance's abstract origin.
func (f *Funcs) abstractVar(inst *dwarf.Entry, name string) *dwarf.Entry {
	o := f.origin(inst)
	if o == nil || !o.Children {
		return nil
	}
	r, err := f.readerAt(o.Offset)
	if err != nil {
		return nil
	}
	if _, err := r.Next(); err != nil {
		return nil
	}
	depth := 1
	for depth > 0 {
		e, err := r.Next()
		if err != nil || e == nil {
			return nil
		}
		switch {
		case e.Tag == 0:
			depth--
		case e.Tag == dwarf.TagVariable || e.Tag == dwarf.TagFormalParameter:
			if n, _ := e.Val(dwarf.AttrName).(string); n == name {
				return e
			}
			r.SkipChildren()
		case e.Tag == dwarf.TagLexDwarfBlock && e.Children:
			depth++
		default:
			r.SkipChildren()
		}
	}
	return nil
}

// frameBase evaluates the DW_AT_frame_base of the chain's subprogram.
func (f *Funcs) frameBase(ch *chain, pc uint64, ctx *evalCtx) (uint64, error) {
	sub := ch.scopes[0].entry
	expr, ok, err := f.locExprAttr(ch.cu, sub, dwarf.AttrFrameBase, pc)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, notHere("the function's frame base has no location at this pc")
	}
	inner := *ctx
	inner.frameBase = nil
	loc, err := eval(expr, &inner)
	if err != nil {
		return 0, err
	}
	switch loc.kind {
	case KindMemory:
		return loc.addr, nil
	case KindRegister:
		v, ok := ctx.regs.Get(loc.reg)
		if !ok {
			return 0, needReg(loc.reg)
		}
		return v, nil
	case KindValue:
		return loc.value, nil
	}
	return 0, notHere("the function's frame base is %s", loc.kind)
}

// fill turns an evaluated location into the Value's kind and value.
func (f *Funcs) fill(v *Value, loc location, regs *Regs, mem MemReader) {
	size := v.Size
	if size < 0 || size > 8 {
		size = 8
	}
	switch loc.kind {
	case KindOptimized:
		v.Kind = KindOptimized
	case KindRegister:
		v.Reg = loc.reg
		x, ok := regs.Get(loc.reg)
		if !ok {
			v.Kind, v.NeedReg = KindUnavailable, loc.reg
			v.Reason = fmt.Sprintf("is in register %d, whose value is unknown in this frame", loc.reg)
			return
		}
		v.Kind, v.Value, v.HasValue = KindRegister, truncate(x, size), true
	case KindMemory:
		v.Kind, v.Addr = KindMemory, loc.addr
		if mem != nil && size > 0 {
			buf := make([]byte, 8)
			if err := mem.Read(loc.addr, buf[:size]); err == nil {
				v.Value, v.HasValue = binary.LittleEndian.Uint64(buf), true
			} else {
				v.Reason = fmt.Sprintf("reading 0x%x: %v", loc.addr, err)
			}
		}
	case KindValue:
		v.Kind, v.HasValue = KindValue, true
		v.Value = truncate(loc.value, size)
		if loc.bytes != nil {
			var buf [8]byte
			copy(buf[:], loc.bytes)
			v.Value = binary.LittleEndian.Uint64(buf[:])
		}
	case KindPieces:
		v.Kind = KindPieces
		var buf [8]byte
		off := uint64(0)
		whole := true
		for i := range loc.pieces {
			p := &loc.pieces[i]
			switch p.Kind {
			case KindRegister:
				if x, ok := regs.Get(p.Reg); ok {
					p.Value, p.HasValue = x, true
				}
			case KindMemory:
				if mem != nil && p.Size <= 8 {
					b := make([]byte, 8)
					if mem.Read(p.Addr, b[:p.Size]) == nil {
						p.Value, p.HasValue = binary.LittleEndian.Uint64(b), true
					}
				}
			}
			if !p.HasValue || off+p.Size > 8 {
				whole = false
			} else {
				var pb [8]byte
				binary.LittleEndian.PutUint64(pb[:], p.Value)
				copy(buf[off:off+p.Size], pb[:p.Size])
			}
			off += p.Size
		}
		v.Pieces = loc.pieces
		if whole {
			v.Value, v.HasValue = truncate(binary.LittleEndian.Uint64(buf[:]), size), true
		} else if len(loc.pieces) > 0 && loc.pieces[0].HasValue && loc.pieces[0].Size >= uint64(size) {
			// the part the caller usually wants (a pointer) is whole
			v.Value, v.HasValue = truncate(loc.pieces[0].Value, size), true
		}
	}
}

func truncate(x uint64, size int64) uint64 {
	if size > 0 && size < 8 {
		return x & (1<<(8*uint(size)) - 1)
	}
	return x
}

// locExpr returns the DW_AT_location expression of e valid at pc; ok is
// false when there is none (no attribute, or no list entry covers pc).
func (f *Funcs) locExpr(c *cuInfo, e *dwarf.Entry, pc uint64) ([]byte, bool, error) {
	return f.locExprAttr(c, e, dwarf.AttrLocation, pc)
}

func (f *Funcs) locExprAttr(c *cuInfo, e *dwarf.Entry, attr dwarf.Attr, pc uint64) ([]byte, bool, error) {
	fld := e.AttrField(attr)
	if fld == nil {
		return nil, false, nil
	}
	switch x := fld.Val.(type) {
	case []byte:
		return x, true, nil
	case int64:
		if fld.Class == dwarf.ClassLocListPtr {
			return f.findLoc(c, uint64(x), pc)
		}
	case uint64:
		if fld.Class == dwarf.ClassLocList { // DW_FORM_loclistx
			off, err := f.loclistx(c, x)
			if err != nil {
				return nil, false, err
			}
			return f.findLoc(c, off, pc)
		}
	}
	return nil, false, fmt.Errorf("dwarffunc: %v of entry 0x%x has class %v", attr, e.Offset, fld.Class)
}

// addrx reads entry idx of the unit's .debug_addr table.
func (f *Funcs) addrx(c *cuInfo, idx uint64) (uint64, error) {
	off := c.addrBase + idx*8
	if c.addrBase == 0 || off+8 > uint64(len(f.sec.Addr)) || off < c.addrBase {
		return 0, fmt.Errorf("dwarffunc: .debug_addr index %d out of range", idx)
	}
	return f.order.Uint64(f.sec.Addr[off:]), nil
}

// loclistx resolves a DW_FORM_loclistx index through the offsets table.
func (f *Funcs) loclistx(c *cuInfo, idx uint64) (uint64, error) {
	if !c.hasLocB {
		return 0, errors.New("dwarffunc: DW_FORM_loclistx without DW_AT_loclists_base")
	}
	p := c.locBase + idx*4
	if p+4 > uint64(len(f.sec.LocLists)) || p < c.locBase {
		return 0, fmt.Errorf("dwarffunc: loclistx %d out of range", idx)
	}
	return c.locBase + uint64(f.order.Uint32(f.sec.LocLists[p:])), nil
}

// findLoc finds the expression of the list at off valid at pc.
func (f *Funcs) findLoc(c *cuInfo, off, pc uint64) (expr []byte, ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			expr, ok, err = nil, false, fmt.Errorf("dwarffunc: truncated location list at 0x%x", off)
		}
	}()
	base := c.lowPC
	if c.version < 5 {
		sec := f.sec.Loc
		if sec == nil {
			return nil, false, errors.New("dwarffunc: location list without .debug_loc")
		}
		if off >= uint64(len(sec)) {
			return nil, false, fmt.Errorf("dwarffunc: location list offset 0x%x beyond .debug_loc", off)
		}
		b := &cursor{b: sec, off: int(off)}
		for {
			lo, hi := b.u64(), b.u64()
			if lo == 0 && hi == 0 {
				return nil, false, nil
			}
			if lo == ^uint64(0) {
				base = hi
				continue
			}
			n := int(b.u16())
			ex := b.bytes(n)
			if lo+base <= pc && pc < hi+base {
				return ex, true, nil
			}
		}
	}
	sec := f.sec.LocLists
	if sec == nil {
		return nil, false, errors.New("dwarffunc: location list without .debug_loclists")
	}
	if off >= uint64(len(sec)) {
		return nil, false, fmt.Errorf("dwarffunc: location list offset 0x%x beyond .debug_loclists", off)
	}
	b := &cursor{b: sec, off: int(off)}
	var deflt []byte
	for {
		kind := b.u8()
		var lo, hi uint64
		switch kind {
		case 0x00: // end_of_list
			return deflt, deflt != nil, nil
		case 0x01: // base_addressx
			if base, err = f.addrx(c, b.uleb()); err != nil {
				return nil, false, err
			}
			continue
		case 0x02: // startx_endx
			if lo, err = f.addrx(c, b.uleb()); err != nil {
				return nil, false, err
			}
			if hi, err = f.addrx(c, b.uleb()); err != nil {
				return nil, false, err
			}
		case 0x03: // startx_length
			if lo, err = f.addrx(c, b.uleb()); err != nil {
				return nil, false, err
			}
			hi = lo + b.uleb()
		case 0x04: // offset_pair
			lo = base + b.uleb()
			hi = base + b.uleb()
		case 0x05: // default_location
			deflt = b.bytes(int(b.uleb()))
			continue
		case 0x06: // base_address
			base = b.u64()
			continue
		case 0x07: // start_end
			lo, hi = b.u64(), b.u64()
		case 0x08: // start_length
			lo = b.u64()
			hi = lo + b.uleb()
		default:
			return nil, false, fmt.Errorf("dwarffunc: unknown DW_LLE 0x%x at 0x%x", kind, b.off-1)
		}
		ex := b.bytes(int(b.uleb()))
		if lo <= pc && pc < hi {
			return ex, true, nil
		}
	}
}
