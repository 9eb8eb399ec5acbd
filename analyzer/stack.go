package analyzer

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/vmtriage/vmtriage/symbols"
)

// Frame is one frame of a kernel stack, innermost first.
type Frame struct {
	Slot   uint64 // stack address holding the return address (or pt_regs.ip)
	Addr   uint64 // the frame's pc: a return address, or the exact pc of an interrupted frame
	Func   string // the ELF symbol containing PC
	Offset uint64 // Addr - the symbol's address
	Module string

	// SP is the stack pointer in the frame (at Addr); CFA is the canonical
	// frame address, the caller's stack pointer (0 for the outermost frame).
	SP, CFA uint64
	// PC is the pc to look symbols, lines and DWARF up with: Addr-1 for a
	// return address (which may lie past a noreturn call at the end of the
	// function), Addr for an interrupted frame or a running CPU's pc.
	PC uint64
	// Reliable: the frame was unwound (ORC, frame pointers); false for a
	// return address found by scanning the stack, which may be stale.
	Reliable bool
	// Inline marks a frame of an inlined function (at the same pc as the
	// frame of the function it was inlined into).
	Inline bool
	// Regs are the registers known in the frame (callee-saved registers
	// recovered with the DWARF CFI; the rest unknown in outer frames).
	Regs Regs
}

func (f Frame) String() string {
	s := fmt.Sprintf("%s+0x%x", f.Func, f.Offset)
	if f.Inline {
		s = f.Func + " (inlined)"
	}
	if f.Func == "" {
		s = fmt.Sprintf("%#x", f.Addr)
	}
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
}

// StackFeatures say where a task's kernel stack is and how big it is.
type StackFeatures struct {
	// Member is "stack" (2.6.22+, f7e4217b007d: task_struct.stack) or
	// "thread_info" (2.6.9: the stack is the thread_info's union).
	Member string
	// Size is THREAD_SIZE: the size of union thread_union when the
	// kernel's DWARF has it (2.6-4.x), else the extent of init's stack in
	// the image (__end_init_task or __end_init_stack minus init_stack:
	// 16 KiB on x86_64 since 3.15, 6538b8ea886e; 32 KiB with KASAN).
	Size     uint64
	SizeFrom string
	// Vmapped is CONFIG_VMAP_STACK (4.9+, ba14a194a434): stacks live in
	// the vmalloc area (task_struct.stack_vm_area) and are translated
	// through the page tables, not the direct map.
	Vmapped bool
	// SavedSP is the saved kernel stack pointer: "thread.sp" (2.6.25+,
	// faca62273b60 x86 unification) or "thread.rsp" (2.6.9).
	SavedSP string
}

func (k *Kernel) probeStacks(f *Features) {
	s := &f.Stacks
	const ts = "struct task_struct"
	s.Member = k.firstMember(ts, "stack", "thread_info")
	s.SavedSP = k.firstMember(ts, "thread.sp", "thread.rsp")
	s.Vmapped = k.hasMember(ts, "stack_vm_area")
	switch {
	case k.typeSize("union thread_union") >= 4096:
		s.Size, s.SizeFrom = k.typeSize("union thread_union"), "union thread_union"
	default:
		start, okS := k.Syms.Symbol(k.firstSymbol("init_stack", "__start_init_task", "init_thread_union"))
		end, okE := k.Syms.Symbol(k.firstSymbol("__end_init_stack", "__end_init_task"))
		if n := end.Addr - start.Addr; okS && okE && end.Addr > start.Addr && n >= 4096 && n&(n-1) == 0 {
			s.Size, s.SizeFrom = n, end.Name+" - "+start.Name
		} else if okS && start.Size >= 4096 && start.Size&(start.Size-1) == 0 {
			s.Size, s.SizeFrom = start.Size, start.Name
		}
	}
	if s.Size == 0 {
		// x86_64: 16 KiB once task_struct points at its stack, 8 KiB before
		s.Size, s.SizeFrom = 8192, "2.6 default"
		if s.Member == "stack" {
			s.Size, s.SizeFrom = 16384, "x86_64 default"
		}
		k.warnf("THREAD_SIZE not in the vmlinux (no union thread_union, init_stack or init_thread_union): assuming %d", s.Size)
	}
	f.set("stack.member", "%s", orNone(s.Member))
	f.set("stack.thread_size", "%d (%s)", s.Size, s.SizeFrom)
	f.set("stack.vmapped", "%t", s.Vmapped)
	f.set("stack.saved_sp", "%s", orNone(s.SavedSP))
}

func (k *Kernel) typeSize(name string) uint64 {
	t, err := k.Types.KernelLookup(name)
	if err != nil {
		return 0
	}
	return t.Size
}

// taskStack fills a task's stack base, size and saved stack pointer.
func (k *Kernel) taskStack(o Object, t *Task) {
	f := k.Features.Stacks
	t.StackSize = f.Size
	if f.Member != "" {
		t.Stack, _ = o.Uint(f.Member)
	}
	if f.SavedSP != "" {
		t.KSP, _ = o.Uint(f.SavedSP)
	}
}

// StackWords reads a task's kernel stack from its saved stack pointer to
// the top; the first return value is the address of the first word.
func (k *Kernel) StackWords(t Task) (uint64, []uint64, error) {
	if t.Stack == 0 {
		return 0, nil, fmt.Errorf("task %d has no kernel stack", t.PID)
	}
	lo, hi := t.Stack, t.Stack+t.StackSize
	start := t.KSP
	if start < lo || start >= hi {
		k.warnOncef("stack-sp-%d", "task %d: saved stack pointer 0x%x is outside its stack 0x%x-0x%x: the stack is scanned from its base", t.PID, t.KSP, lo, hi)
		start = lo
	}
	start &^= 7
	buf := make([]byte, hi-start)
	if err := k.Mem.Read(start, buf); err != nil {
		return 0, nil, fmt.Errorf("task %d stack 0x%x-0x%x: %w", t.PID, start, hi, err)
	}
	words := make([]uint64, len(buf)/8)
	for i := range words {
		words[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return start, words, nil
}

// Backtrace is a task's kernel stack, innermost first: unwound with ORC
// (or the frame-pointer chain on kernels without ORC; see UnwindWith), the
// part that cannot be unwound completed by a scan of the stack marked
// unreliable. Without unwind tables (a replayed snapshot has no sections)
// or when the unwind fails from the start, it is the scan (ScanStack).
func (k *Kernel) Backtrace(t Task) ([]Frame, error) {
	code := k.code()
	if code == nil {
		return k.ScanStack(t)
	}
	frames, err := k.unwindWith(t, code)
	return k.withInline(frames, code), err
}

// unwindWith unwinds a task's stack with the given tables, falling back
// to the scan where unwinding cannot start or stops early.
func (k *Kernel) unwindWith(t Task, tabs UnwindTables) ([]Frame, error) {
	frames, err := k.UnwindWith(t, tabs)
	if err == nil {
		return frames, nil
	}
	if !tabs.HasORC() {
		// no ORC: the frame-pointer chain was worth a try, but a kernel
		// built without frame pointers is scanned as it always was
		return k.ScanStack(t)
	}
	if len(frames) == 0 {
		k.warnOncef(fmt.Sprintf("unwind-%d", t.PID), "task %d: cannot unwind its stack (%v): its frames are found by scanning the stack and may be stale", t.PID, err)
		return k.ScanStack(t)
	}
	k.warnOncef(fmt.Sprintf("unwind-%d", t.PID), "task %d: unwinding stopped after %s (%v): the frames above are found by scanning the stack", t.PID, frames[len(frames)-1], err)
	last := frames[len(frames)-1]
	from := last.SP
	if last.CFA > from {
		from = last.CFA
	}
	rest, err := k.scanFrom(t, from)
	if err != nil {
		return frames, nil
	}
	return append(frames, rest...), nil
}

// withInline adds, before each unwound frame, the functions DWARF says
// were inlined at its pc (innermost first), as frames of their own marked
// Inline, sharing the frame's pc, stack pointer and registers. Frames found
// by scanning are left as they are.
func (k *Kernel) withInline(frames []Frame, code Code) []Frame {
	out := make([]Frame, 0, len(frames))
	for _, f := range frames {
		if f.Reliable && !f.Inline {
			if funcs, err := code.Frames(f.PC); err == nil {
				for _, fn := range funcs {
					if !fn.Inline {
						break
					}
					in := f
					in.Func, in.Inline, in.Offset = fn.Name, true, 0
					if fn.Entry != 0 && f.Addr >= fn.Entry {
						in.Offset = f.Addr - fn.Entry
					}
					out = append(out, in)
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// ScanStack lists the return addresses on a task's stack, innermost first:
// every word from the saved stack pointer up that points inside (not at
// the start of) a function of the kernel or of a module, as crash's
// `bt -t` scan does, with the stale ones dropped where they can be told
// apart. It needs no unwind tables, so it works on any kernel; its frames
// are not Reliable.
func (k *Kernel) ScanStack(t Task) ([]Frame, error) {
	return k.scanFrom(t, 0)
}

// scanFrom scans from the stack address from (0: the saved stack pointer).
func (k *Kernel) scanFrom(t Task, from uint64) ([]Frame, error) {
	start, words, err := k.StackWords(t)
	if err != nil {
		return nil, err
	}
	var frames []Frame
	for i, w := range words {
		if start+uint64(i)*8 < from {
			continue
		}
		if !k.Layout.IsKernelAddr(w) {
			continue
		}
		s, off, ok := k.Syms.Lookup(w)
		if !ok || off == 0 || s.Kind != symbols.SymFunc {
			continue
		}
		frames = append(frames, Frame{Slot: start + uint64(i)*8, Addr: w, PC: w - 1, SP: start + uint64(i)*8 + 8, Func: s.Name, Offset: off, Module: s.Module})
		if stackBottoms[s.Name] {
			break // what lies above the entry from user space or the thread start is stale
		}
	}
	return k.dropStale(frames), nil
}

// maxStaleRun is how many stale return addresses in a row dropStale looks
// past for the caller of a frame.
const maxStaleRun = 4

// dropStale removes return addresses left on the stack by earlier, finished
// calls: where a frame's caller is known (a later candidate whose call
// instruction calls the frame's function directly), the candidates between
// the two are stale, whatever they point at. Candidates whose call cannot
// be checked (indirect calls, tail calls, unreadable text) are kept.
func (k *Kernel) dropStale(frames []Frame) []Frame {
	if len(frames) < 3 {
		return frames
	}
	out := []Frame{frames[0]}
	for i := 1; i < len(frames); {
		cur := out[len(out)-1]
		start := cur.Addr - cur.Offset
		caller := -1
		for j := i; j < len(frames) && j <= i+maxStaleRun; j++ {
			if t, ok := k.directCallTarget(frames[j].Addr); ok && t <= start && start-t <= 32 {
				caller = j // 32: call-depth-tracking thunks sit in the padding before a function
				break
			}
		}
		if caller > i {
			i = caller // frames[i:caller] are stale
		}
		out = append(out, frames[i])
		i++
	}
	return out
}

// directCallTarget decodes the call instruction before a return address:
// a direct near call (e8 rel32) gives its target; anything else (an
// indirect call, a call through a retpoline thunk) gives false.
func (k *Kernel) directCallTarget(ret uint64) (uint64, bool) {
	var b [5]byte
	if err := k.Mem.Read(ret-5, b[:]); err != nil || b[0] != 0xe8 {
		return 0, false
	}
	t := ret + uint64(int64(int32(binary.LittleEndian.Uint32(b[1:]))))
	if s, _, ok := k.Syms.Lookup(t); ok && strings.HasPrefix(s.Name, "__x86_indirect_") {
		return 0, false // a retpoline or call thunk: the real callee is unknown
	}
	return t, true
}

// stackBottoms are the outermost kernel frames: the system-call entry and
// the start of kernel threads.
var stackBottoms = map[string]bool{
	"system_call": true, "tracesys": true, "kernel_thread": true, "do_syscall_64": true,
	"entry_SYSCALL_64_after_hwframe": true, "ret_from_fork": true, "cpu_startup_entry": true,
}

// schedulerFuncs are the functions a sleeping task is always in; the wait
// channel is the first frame outside them.
var schedulerFuncs = map[string]bool{
	"schedule": true, "__schedule": true, "io_schedule": true, "io_schedule_timeout": true,
	"schedule_timeout": true, "schedule_preempt_disabled": true, "preempt_schedule": true,
	"preempt_schedule_common": true, "schedule_hrtimeout_range": true, "schedule_hrtimeout_range_clock": true,
	"__cond_resched": true, "blk_io_schedule": true, "bit_wait_io": true, "bit_wait": true,
	"__wait_on_bit": true, "out_of_line_wait_on_bit": true, "wait_for_completion": true,
	"__wait_for_common": true, "wait_for_common": true, "wait_for_common_io": true,
	"do_wait_for_common": true, "autoremove_wake_function": true,
}

// WaitChannel is the function a task sleeps in, from its backtrace: the
// first function outside the scheduler that has a frame of its own (an
// inlined function is part of its caller's frame, as crash's and ps's
// wchan count it).
func WaitChannel(frames []Frame) string {
	for _, f := range frames {
		if !f.Inline && !schedulerFuncs[f.Func] {
			return f.Func
		}
	}
	if len(frames) > 0 {
		return frames[0].Func
	}
	return ""
}

// HasFrame reports whether any frame is in one of the named functions.
func HasFrame(frames []Frame, names ...string) bool {
	for _, f := range frames {
		for _, n := range names {
			if f.Func == n {
				return true
			}
		}
	}
	return false
}
