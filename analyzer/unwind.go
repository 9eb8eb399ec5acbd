package analyzer

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/orc"
)

// DWARF register numbers of x86_64 (System V ABI), the index of Regs.
const (
	RegRAX = 0
	RegRDX = 1
	RegRCX = 2
	RegRBX = 3
	RegRSI = 4
	RegRDI = 5
	RegRBP = 6
	RegRSP = 7
	RegR8  = 8
	RegR9  = 9
	RegR10 = 10
	RegR11 = 11
	RegR12 = 12
	RegR13 = 13
	RegR14 = 14
	RegR15 = 15
	RegRIP = 16
	// NumRegs is the number of registers in Regs.
	NumRegs = 17
)

// calleeSaved are the registers a call preserves (besides rsp).
var calleeSaved = [...]int{RegRBX, RegRBP, RegR12, RegR13, RegR14, RegR15}

// Regs is a frame's register set, indexed by DWARF register number; a
// register is known when its bit is set in Known.
type Regs struct {
	Val   [NumRegs]uint64 `json:"val"`
	Known uint32          `json:"known"`
}

// Get returns a register's value and whether it is known.
func (r *Regs) Get(reg int) (uint64, bool) {
	if reg < 0 || reg >= NumRegs || r.Known&(1<<uint(reg)) == 0 {
		return 0, false
	}
	return r.Val[reg], true
}

// Set makes a register known with a value.
func (r *Regs) Set(reg int, v uint64) {
	if reg >= 0 && reg < NumRegs {
		r.Val[reg], r.Known = v, r.Known|1<<uint(reg)
	}
}

// Clear makes a register unknown.
func (r *Regs) Clear(reg int) {
	if reg >= 0 && reg < NumRegs {
		r.Val[reg], r.Known = 0, r.Known&^(1<<uint(reg))
	}
}

// Has reports whether a register is known.
func (r *Regs) Has(reg int) bool { _, ok := r.Get(reg); return ok }

// maxUnwindFrames bounds an unwound trace.
const maxUnwindFrames = 128

// ptRegs is the layout of struct pt_regs, from the kernel's DWARF.
type ptRegs struct {
	size uint64
	off  map[string]uint64
}

// ptRegsDWARF maps pt_regs members to DWARF registers.
var ptRegsDWARF = map[string]int{
	"ax": RegRAX, "dx": RegRDX, "cx": RegRCX, "bx": RegRBX, "si": RegRSI, "di": RegRDI,
	"bp": RegRBP, "sp": RegRSP, "r8": RegR8, "r9": RegR9, "r10": RegR10, "r11": RegR11,
	"r12": RegR12, "r13": RegR13, "r14": RegR14, "r15": RegR15, "ip": RegRIP,
}

func (k *Kernel) ptRegsLayout() (ptRegs, error) {
	t, err := k.Types.KernelLookup("struct pt_regs")
	if err != nil {
		return ptRegs{}, err
	}
	p := ptRegs{size: t.Size, off: map[string]uint64{}}
	for _, name := range []string{"ax", "dx", "cx", "bx", "si", "di", "bp", "sp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "ip", "cs", "flags", "ss"} {
		f, err := t.Field(name)
		if err != nil {
			return ptRegs{}, fmt.Errorf("struct pt_regs: %w", err)
		}
		p.off[name] = f.Offset
	}
	return p, nil
}

// unwindState is the register state while unwinding.
type unwindState struct {
	regs Regs
	// exact: the pc is where the frame was interrupted (or the first pc
	// of a running task), not a return address
	exact bool
	slot  uint64
}

func (s *unwindState) pc() uint64 { return s.regs.Val[RegRIP] }
func (s *unwindState) sp() uint64 { return s.regs.Val[RegRSP] }

// lookupPC is the pc to find a frame's function and unwind rules with: a
// return address may be just past the function's end (a call to a
// noreturn function), so the call instruction's last byte is used.
func (s *unwindState) lookupPC() uint64 {
	if s.exact {
		return s.pc()
	}
	return s.pc() - 1
}

// Unwind unwinds a task's kernel stack with the default tables.
func (k *Kernel) Unwind(t Task) ([]Frame, error) {
	tabs, err := k.UnwindTables()
	if err != nil {
		return nil, err
	}
	return k.UnwindWith(t, tabs)
}

// UnwindWith unwinds a task's kernel stack, innermost first: with ORC
// when the tables have it (crossing pt_regs frames, stopping at the entry
// from user space), else along the frame-pointer chain. Callee-saved
// registers of outer frames come from the DWARF CFI. On an error after
// some frames, those frames are returned with the error.
func (k *Kernel) UnwindWith(t Task, tabs UnwindTables) ([]Frame, error) {
	st, err := k.initialState(t)
	if err != nil {
		return nil, err
	}
	if !tabs.HasORC() {
		return k.unwindFP(t, st, tabs)
	}
	pt, err := k.ptRegsLayout()
	if err != nil {
		return nil, err
	}
	var frames []Frame
	for len(frames) < maxUnwindFrames {
		f := k.frameOf(st)
		next, done, err := k.orcStep(t, &st, tabs, pt, &f)
		frames = append(frames, f)
		if err != nil {
			return frames, err
		}
		if done {
			return frames, nil
		}
		st = next
	}
	return frames, fmt.Errorf("more than %d frames", maxUnwindFrames)
}

// frameOf describes the frame of a state (without its CFA yet).
func (k *Kernel) frameOf(st unwindState) Frame {
	f := Frame{Slot: st.slot, Addr: st.pc(), PC: st.lookupPC(), SP: st.sp(), Regs: st.regs, Reliable: true}
	if s, _, ok := k.Syms.LookupFunc(f.PC); ok {
		f.Func, f.Offset, f.Module = s.Name, f.Addr-s.Addr, s.Module
	}
	return f
}

// errNoInitialFrame: the task's first frame cannot be found from its
// saved state.
var errNoInitialFrame = errors.New("no initial frame")

// initialState is a task's registers where its kernel stack is to be
// unwound from: the CPU's registers in the dump's notes for a task running
// at the time of the dump, else the struct inactive_task_frame (4.9+,
// 0100301bfdf5 "sched/x86: Rewrite the switch_to() code") at its saved
// stack pointer, pushed by __switch_to_asm: its ret_addr is the first pc
// and the callee-saved registers are known there.
func (k *Kernel) initialState(t Task) (unwindState, error) {
	var st unwindState
	if st, ok := k.runningState(t); ok {
		return st, nil
	}
	if t.KSP == 0 {
		return st, fmt.Errorf("task %d: %w: no saved stack pointer", t.PID, errNoInitialFrame)
	}
	itf, err := k.Types.KernelLookup("struct inactive_task_frame")
	if err != nil {
		return k.initialStateOld(t)
	}
	buf := make([]byte, itf.Size)
	if err := k.Mem.Read(t.KSP, buf); err != nil {
		return st, fmt.Errorf("task %d: inactive_task_frame at %#x: %w", t.PID, t.KSP, err)
	}
	word := func(name string) (uint64, uint64, bool) {
		f, err := itf.Field(name)
		if err != nil || f.Offset+8 > uint64(len(buf)) {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(buf[f.Offset:]), f.Offset, true
	}
	ret, off, ok := word("ret_addr")
	if !ok {
		return st, fmt.Errorf("task %d: struct inactive_task_frame has no ret_addr", t.PID)
	}
	st.regs.Set(RegRIP, ret)
	st.slot = t.KSP + off
	st.regs.Set(RegRSP, t.KSP+itf.Size)
	for name, reg := range map[string]int{"bx": RegRBX, "bp": RegRBP, "r12": RegR12, "r13": RegR13, "r14": RegR14, "r15": RegR15} {
		if v, _, ok := word(name); ok {
			st.regs.Set(reg, v)
		}
	}
	return st, nil
}

// initialStateOld is the first frame before inactive_task_frame (2.6-4.8):
// switch_to pushed the flags and rbp at the saved stack pointer; the pc is
// unknown, so only the frame-pointer chain can be followed from it.
func (k *Kernel) initialStateOld(t Task) (unwindState, error) {
	var st unwindState
	bp, err := k.Mem.U64(t.KSP)
	if err != nil {
		return st, fmt.Errorf("task %d: saved frame at %#x: %w", t.PID, t.KSP, err)
	}
	st.regs.Set(RegRBP, bp)
	st.regs.Set(RegRSP, t.KSP)
	return st, nil
}

// runningState is the registers of a task that was running on a CPU when
// the dump was taken (its run queue's curr), from that CPU's NT_PRSTATUS
// note. The note's pid is not trusted: QEMU's dumps put the CPU number
// there.
func (k *Kernel) runningState(t Task) (unwindState, bool) {
	var st unwindState
	cpus := k.Dump.CPUs()
	if t.CPU < 0 || t.CPU >= len(cpus) {
		return st, false
	}
	c := cpus[t.CPU]
	if c.Regs.RIP == 0 || c.Regs.RSP == 0 {
		return st, false
	}
	rq, err := k.RunQueue(t.CPU)
	if err != nil {
		return st, false
	}
	if curr, err := rq.Uint("curr"); err != nil || curr != t.Addr {
		return st, false
	}
	r := c.Regs
	for reg, v := range map[int]uint64{RegRAX: r.RAX, RegRDX: r.RDX, RegRCX: r.RCX, RegRBX: r.RBX, RegRSI: r.RSI,
		RegRDI: r.RDI, RegRBP: r.RBP, RegRSP: r.RSP, RegR8: r.R8, RegR9: r.R9, RegR10: r.R10, RegR11: r.R11,
		RegR12: r.R12, RegR13: r.R13, RegR14: r.R14, RegR15: r.R15, RegRIP: r.RIP} {
		st.regs.Set(reg, v)
	}
	st.exact = true
	if r.CS&3 != 0 || !k.Layout.IsKernelAddr(r.RIP) {
		return st, false // in user mode: the saved kernel state is what is left
	}
	return st, true
}

// orcFPEntry is the kernel's orc_fp_entry: a frame-pointer frame, for a
// pc without ORC.
var orcFPEntry = orc.Entry{SPReg: orc.RegBP, SPOffset: 16, BPReg: orc.RegPrevSP, BPOffset: -16, Type: orc.TypeCall}

// orcStep computes the caller of the frame in st with ORC (as the
// kernel's unwind_next_frame does), filling f's CFA; done is true at the
// end of the kernel stack.
func (k *Kernel) orcStep(t Task, stp *unwindState, tabs UnwindTables, pt ptRegs, f *Frame) (next unwindState, done bool, err error) {
	st := *stp
	lpc := st.lookupPC()
	if !k.Layout.IsKernelAddr(st.pc()) {
		return next, true, nil
	}
	e, ok := tabs.ORC(lpc)
	if !ok {
		e = orcFPEntry
		f.Reliable = false
	}
	switch e.Type {
	case orc.TypeEndOfStack:
		return next, true, nil
	case orc.TypeCall, orc.TypeRegs, orc.TypeRegsPartial:
	default:
		return next, false, fmt.Errorf("no ORC information at %s (%#x)", k.Syms.Describe(st.pc()), st.pc())
	}
	sp, bp := st.sp(), st.regs.Val[RegRBP]
	regAt := func(reg int) (uint64, error) {
		v, ok := st.regs.Get(reg)
		if !ok {
			return 0, fmt.Errorf("ORC at %#x needs an unknown register %d", st.pc(), reg)
		}
		return v, nil
	}
	var cfa uint64
	switch e.SPReg {
	case orc.RegSP:
		cfa = sp + uint64(int64(e.SPOffset))
	case orc.RegBP:
		if !st.regs.Has(RegRBP) {
			return next, false, fmt.Errorf("ORC at %#x needs rbp, unknown", st.pc())
		}
		cfa = bp + uint64(int64(e.SPOffset))
	case orc.RegSPIndirect:
		v, err := k.Mem.U64(sp)
		if err != nil {
			return next, false, err
		}
		cfa = v + uint64(int64(e.SPOffset))
	case orc.RegBPIndirect:
		v, err := k.Mem.U64(bp + uint64(int64(e.SPOffset)))
		if err != nil {
			return next, false, err
		}
		cfa = v
	case orc.RegR10, orc.RegR13, orc.RegDI, orc.RegDX:
		reg := map[orc.Reg]int{orc.RegR10: RegR10, orc.RegR13: RegR13, orc.RegDI: RegRDI, orc.RegDX: RegRDX}[e.SPReg]
		v, err := regAt(reg)
		if err != nil {
			return next, false, err
		}
		cfa = v + uint64(int64(e.SPOffset))
	default:
		return next, false, fmt.Errorf("ORC at %#x: unknown sp_reg %v", st.pc(), e.SPReg)
	}
	next.regs = Regs{}
	fullRegs := false
	switch e.Type {
	case orc.TypeCall:
		if (e.SPReg == orc.RegSP || e.SPReg == orc.RegBP) && cfa <= sp {
			return next, false, fmt.Errorf("stack pointer goes down from %#x to %#x at %s", sp, cfa, k.Syms.Describe(st.pc()))
		}
		ret, err := k.Mem.U64(cfa - 8)
		if err != nil {
			return next, false, err
		}
		f.CFA = cfa
		next.slot = cfa - 8
		next.regs.Set(RegRIP, ret)
		next.regs.Set(RegRSP, cfa)
		next.exact = e.Signal
		k.calleeSaved(st, &next, tabs, cfa, lpc)
	case orc.TypeRegs, orc.TypeRegsPartial:
		base := cfa
		if e.Type == orc.TypeRegsPartial {
			base = cfa - pt.off["ip"] // the iret frame is at the end of pt_regs
		}
		buf := make([]byte, pt.size)
		if err := k.Mem.Read(base, buf); err != nil {
			return next, false, fmt.Errorf("pt_regs at %#x: %w", base, err)
		}
		rd := func(name string) uint64 { return binary.LittleEndian.Uint64(buf[pt.off[name]:]) }
		f.CFA = base + pt.size
		if rd("cs")&3 != 0 {
			return next, true, nil // from user mode: the end of the kernel stack
		}
		next.slot = base + pt.off["ip"]
		next.exact = true
		if e.Type == orc.TypeRegs {
			fullRegs = true
			for name, reg := range ptRegsDWARF {
				next.regs.Set(reg, rd(name))
			}
		} else {
			next.regs.Set(RegRIP, rd("ip"))
			next.regs.Set(RegRSP, rd("sp"))
			for _, reg := range calleeSaved {
				if v, ok := st.regs.Get(reg); ok {
					next.regs.Set(reg, v)
				}
			}
		}
	}
	// the caller's rbp, as ORC says
	switch e.BPReg {
	case orc.RegUndefined:
		if !fullRegs {
			if v, ok := st.regs.Get(RegRBP); ok && !next.regs.Has(RegRBP) {
				next.regs.Set(RegRBP, v)
			}
		}
	case orc.RegPrevSP:
		v, err := k.Mem.U64(cfa + uint64(int64(e.BPOffset)))
		if err != nil {
			return next, false, err
		}
		next.regs.Set(RegRBP, v)
	case orc.RegBP:
		v, err := k.Mem.U64(bp + uint64(int64(e.BPOffset)))
		if err != nil {
			return next, false, err
		}
		next.regs.Set(RegRBP, v)
	default:
		return next, false, fmt.Errorf("ORC at %#x: unknown bp_reg %v", st.pc(), e.BPReg)
	}
	if !fullRegs && !next.regs.Has(RegRBP) {
		next.regs.Clear(RegRBP)
	}
	if next.pc() == 0 || !k.Layout.IsKernelAddr(next.pc()) {
		return next, true, nil
	}
	if next.sp() == 0 {
		return next, false, fmt.Errorf("null stack pointer after %s", k.Syms.Describe(st.pc()))
	}
	return next, false, nil
}

// calleeSaved recovers the caller's rbx and r12-r15 (and rbp where ORC
// left it unknown) with the DWARF CFI at lpc, when the CFI's CFA agrees
// with ORC's; otherwise they are unknown.
func (k *Kernel) calleeSaved(st unwindState, next *unwindState, tabs UnwindTables, cfa, lpc uint64) {
	row, ok := tabs.CFI(lpc)
	if !ok || row.CFAReg < 0 {
		return
	}
	base, ok := st.regs.Get(row.CFAReg)
	if !ok || base+uint64(row.CFAOffset) != cfa {
		return
	}
	for _, reg := range calleeSaved {
		r := row.Regs[reg]
		switch r.Kind {
		case CFISame:
			if v, ok := st.regs.Get(reg); ok && (reg != RegRBP || !next.regs.Has(RegRBP)) {
				next.regs.Set(reg, v)
			}
		case CFIOffset:
			if v, err := k.Mem.U64(cfa + uint64(r.Offset)); err == nil {
				next.regs.Set(reg, v)
			}
		case CFIValOffset:
			next.regs.Set(reg, cfa+uint64(r.Offset))
		case CFIRegister:
			if v, ok := st.regs.Get(r.Reg); ok {
				next.regs.Set(reg, v)
			}
		}
	}
}

// unwindFP follows the frame-pointer chain (a kernel without ORC): each
// frame's rbp points at the caller's saved rbp, with the return address
// above it. The chain is accepted only if every link stays inside the
// task's stack, goes up, and holds a kernel text address.
func (k *Kernel) unwindFP(t Task, st unwindState, tabs UnwindTables) ([]Frame, error) {
	if t.Stack == 0 {
		return nil, fmt.Errorf("task %d has no kernel stack", t.PID)
	}
	lo, hi := t.Stack, t.Stack+t.StackSize
	var frames []Frame
	if st.regs.Has(RegRIP) {
		frames = append(frames, k.frameOf(st))
	}
	bp, _ := st.regs.Get(RegRBP)
	prev := st.sp()
	for len(frames) < maxUnwindFrames {
		if bp == 0 {
			break
		}
		if bp < lo || bp+16 > hi || bp < prev || bp&7 != 0 {
			return nil, fmt.Errorf("frame pointer %#x is not a frame on the stack %#x-%#x", bp, lo, hi)
		}
		var b [16]byte
		if err := k.Mem.Read(bp, b[:]); err != nil {
			return nil, err
		}
		next, ret := binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])
		if !k.Layout.IsKernelAddr(ret) {
			break // the top: the entry from user space saved a user rbp
		}
		s, _, ok := k.Syms.Lookup(ret - 1)
		if !ok || s.Kind != symbols.SymFunc {
			return nil, fmt.Errorf("return address %#x at %#x is not in a function", ret, bp+8)
		}
		var ns unwindState
		ns.slot = bp + 8
		ns.regs.Set(RegRIP, ret)
		ns.regs.Set(RegRSP, bp+16)
		ns.regs.Set(RegRBP, next)
		if len(frames) > 0 {
			frames[len(frames)-1].CFA = bp + 16
		}
		frames = append(frames, k.frameOf(ns))
		if stackBottoms[frames[len(frames)-1].Func] {
			return frames, nil
		}
		prev, bp = bp+16, next
	}
	if len(frames) < 2 {
		return nil, fmt.Errorf("the frame-pointer chain has %d frames", len(frames))
	}
	return frames, nil
}
