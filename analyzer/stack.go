package analyzer

import (
	"encoding/binary"
	"fmt"

	"github.com/vmtriage/vmtriage/symbols"
)

// Frame is a return address found on a kernel stack.
type Frame struct {
	Slot   uint64 // stack address holding the return address
	Addr   uint64 // the return address
	Func   string
	Offset uint64
	Module string
}

func (f Frame) String() string {
	s := fmt.Sprintf("%s+0x%x", f.Func, f.Offset)
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
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

// Backtrace lists the return addresses on a task's stack, innermost first:
// every word from the saved stack pointer up that points inside (not at
// the start of) a function of the kernel or of a module, as crash's
// `bt -t` scan does. It needs no unwind tables, so it works on any kernel.
func (k *Kernel) Backtrace(t Task) ([]Frame, error) {
	start, words, err := k.StackWords(t)
	if err != nil {
		return nil, err
	}
	var frames []Frame
	for i, w := range words {
		if w < 0xffff800000000000 {
			continue
		}
		s, off, ok := k.Syms.Lookup(w)
		if !ok || off == 0 || s.Kind != symbols.SymFunc {
			continue
		}
		frames = append(frames, Frame{Slot: start + uint64(i)*8, Addr: w, Func: s.Name, Offset: off, Module: s.Module})
		if stackBottoms[s.Name] {
			break // what lies above the entry from user space or the thread start is stale
		}
	}
	return frames, nil
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

// WaitChannel is the function a task sleeps in, from its backtrace.
func WaitChannel(frames []Frame) string {
	for _, f := range frames {
		if !schedulerFuncs[f.Func] {
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
