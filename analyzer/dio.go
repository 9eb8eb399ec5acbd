package analyzer

import (
	"fmt"
	"strings"

	"github.com/vmtriage/vmtriage/symbols/dwarffunc"
)

// DIO is a direct-I/O request (struct dio of fs/direct-io.c).
type DIO struct {
	Addr     uint64
	Slot     uint64 // stack slot where the pointer to it was found (stack scan)
	From     string // how it was found: the frame local, or the stack scan
	Refcount int64
	Waiter   uint64
	BioList  uint64
	IsAsync  int64
	Result   int64
	Size     uint64
	Rw       int64
	Inode    uint64
	IOCB     uint64 // struct kiocb
}

// dioLocalFuncs are the functions whose local variable dio is the request
// a task in direct I/O waits on (fs/direct-io.c; direct_io_worker and
// __blockdev_direct_IO on 2.6, do_blockdev_direct_IO 3.x-4.x, inlined
// into __blockdev_direct_IO since), innermost first as they appear on the
// stack.
var dioLocalFuncs = map[string]bool{
	"dio_await_one": true, "dio_await_completion": true, "direct_io_worker": true,
	"do_blockdev_direct_IO": true, "__blockdev_direct_IO": true,
}

// FindDIO finds the struct dio a task in direct I/O sleeps on: the local
// variable dio of its direct-I/O frame, read at the frame's pc from the
// DWARF location (a register recovered by the unwinder, or a stack slot),
// as drgn reads frame locals. When no frame gives it (no DWARF location,
// an unknown register, a kernel without unwind tables), every word of the
// task's stack is tried instead, and the DIO says so: the object must be
// readable and point back at the task.
func (k *Kernel) FindDIO(t Task, frames []Frame) (DIO, bool, error) {
	if !k.Features.DIO.Present {
		return DIO{}, false, nil
	}
	why := "the kernel has no unwind tables or DWARF for its code"
	if k.code() != nil {
		why = "the stack could not be unwound (no ORC, no frame-pointer chain): its frames were found by scanning"
		for _, f := range frames {
			if f.Reliable {
				why = "no direct-I/O frame was unwound"
				break
			}
		}
		for _, f := range frames {
			if !f.Reliable || !dioLocalFuncs[f.Func] {
				continue
			}
			v, err := k.frameLocal(f, "dio")
			switch {
			case err != nil:
				why = fmt.Sprintf("%s: %v", f.Func, err)
				continue
			case !v.HasValue || v.Value == 0:
				why = fmt.Sprintf("%s's dio is %s at pc 0x%x %s", f.Func, v.Kind, f.Addr, v.Reason)
				continue
			}
			d, err := k.DIO(v.Value)
			if err != nil {
				why = fmt.Sprintf("%s's dio 0x%x: %v", f.Func, v.Value, err)
				continue
			}
			if d.Waiter != t.Addr {
				why = fmt.Sprintf("%s's dio 0x%x has waiter 0x%x, not the task", f.Func, v.Value, d.Waiter)
				continue
			}
			d.From = "frame local dio of " + f.Func
			if f.Inline {
				d.From += " (inlined)"
			}
			d.From += fmt.Sprintf(" at pc %#x, %s", f.Addr, v.Kind)
			if v.Kind == dwarffunc.KindRegister {
				d.From += " " + regName(v.Reg)
			} else if v.Kind == dwarffunc.KindMemory {
				d.From += fmt.Sprintf(" at %#x", v.Addr)
			}
			return d, true, nil
		}
	}
	d, ok, err := k.scanForDIO(t)
	if ok {
		d.From = fmt.Sprintf("found by scanning the stack: the pointer at %#x whose waiter is the task; no frame local: %s", d.Slot, why)
	}
	return d, ok, err
}

// scanForDIO tries every stack word that is a kernel address as a
// struct dio whose waiter is the task.
func (k *Kernel) scanForDIO(t Task) (DIO, bool, error) {
	start, words, err := k.StackWords(t)
	if err != nil {
		return DIO{}, false, err
	}
	taskSize := uint64(0)
	if tt, err := k.Types.Lookup("struct task_struct"); err == nil {
		taskSize = tt.Size
	}
	tried := map[uint64]bool{}
	for i, w := range words {
		if !k.Layout.IsKernelAddr(w) {
			continue
		}
		// pointers into the stack itself or into the task (whose self
		// pointers can sit where a dio's waiter would) are not dios
		if w%8 != 0 || tried[w] || (w >= t.Stack && w < t.Stack+t.StackSize) || (w >= t.Addr && w < t.Addr+taskSize) {
			continue
		}
		tried[w] = true
		d, err := k.DIO(w)
		if err != nil || d.Waiter != t.Addr {
			continue
		}
		d.Slot = start + uint64(i)*8
		return d, true, nil
	}
	return DIO{}, false, nil
}

// regNames are the x86_64 registers by DWARF number.
var regNames = [...]string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}

func regName(n int) string {
	if n >= 0 && n < len(regNames) {
		return regNames[n]
	}
	return fmt.Sprintf("register %d", n)
}

// DIOFeatures say how direct-I/O requests and AIO control blocks are laid
// out on this kernel.
type DIOFeatures struct {
	// Present is true when the kernel has fs/direct-io.c's struct dio
	// (every line up to 7.x; iomap's direct I/O has none).
	Present bool
	// Refcount is "refcount.counter" (2.6.9: an atomic_t) or "refcount"
	// (2.6.20+, 5eb6c7a2ab41 "dio: lock refcount operations": an unsigned
	// long under bio_lock).
	Refcount string
	// KiocbOpcode is true when struct kiocb carries the AIO opcode, buffer
	// and length itself (ki_opcode, ki_buf, ki_nbytes: 2.6; later kernels
	// keep the request in struct aio_kiocb).
	KiocbOpcode bool
	// UserData is where the request's user data is: "ki_user_data" in
	// struct kiocb (2.6), "aio_kiocb.ki_user_data" (4.1+: the kiocb is the
	// rw member of struct aio_kiocb) or "aio_kiocb.ki_res.data" (5.x+:
	// a struct io_event ki_res).
	UserData string
}

func (k *Kernel) probeDIO(f *Features) {
	d := &f.DIO
	d.Present = k.hasType("struct dio")
	if d.Present {
		d.Refcount = k.firstMember("struct dio", "refcount.counter", "refcount")
	}
	d.KiocbOpcode = k.hasMember("struct kiocb", "ki_opcode")
	switch {
	case k.hasMember("struct kiocb", "ki_user_data"):
		d.UserData = "ki_user_data"
	case k.hasMember("struct aio_kiocb", "ki_user_data"):
		d.UserData = "aio_kiocb.ki_user_data"
	case k.hasMember("struct aio_kiocb", "ki_res.data"):
		d.UserData = "aio_kiocb.ki_res.data"
	}
	f.set("dio.refcount", "%s", orNone(d.Refcount))
	f.set("aio.user_data", "%s", orNone(d.UserData))
}

// DIO reads a struct dio.
func (k *Kernel) DIO(addr uint64) (DIO, error) {
	o, err := k.Object("struct dio", addr)
	if err != nil {
		return DIO{}, err
	}
	d := DIO{Addr: addr}
	if d.Refcount, err = o.Int(k.Features.DIO.Refcount); err != nil {
		return d, err
	}
	if d.Waiter, err = o.Uint("waiter"); err != nil {
		return d, err
	}
	d.BioList, _ = o.Uint("bio_list")
	d.IsAsync, _ = o.Int("is_async")
	d.Result, _ = o.Int("result")
	d.Size, _ = o.Uint("size")
	d.Rw, _ = o.Int("rw")
	d.Inode, _ = o.Uint("inode")
	d.IOCB, _ = o.Uint("iocb")
	return d, nil
}

// IOCB describes the AIO request being submitted.
type IOCB struct {
	Kiocb    uint64 // struct kiocb in the kernel
	UserCopy uint64 // the copy of the user's struct iocb on the kernel stack, if found
	Opcode   uint64
	OpName   string
	FD       int
	Buf      uint64
	NBytes   uint64
	Offset   int64
	UserData uint64
	File     uint64
}

// opcode names of include/linux/aio_abi.h.
var iocbOps = map[uint64]string{0: "PREAD", 1: "PWRITE", 2: "FSYNC", 3: "FDSYNC", 5: "POLL", 6: "NOOP", 7: "PREADV", 8: "PWRITEV"}

// Kiocb reads the kernel's AIO control block and, when it can, the copy of
// the user's iocb that sys_io_submit left on the task's stack (the seed's
// method), which gives the file descriptor.
func (k *Kernel) Kiocb(t Task, addr uint64) (IOCB, error) {
	io := IOCB{Kiocb: addr, FD: -1}
	o, err := k.Object("struct kiocb", addr)
	if err != nil {
		return io, err
	}
	f := k.Features.DIO
	io.File, _ = o.Uint("ki_filp")
	switch f.UserData {
	case "ki_user_data":
		io.UserData, _ = o.Uint("ki_user_data")
	case "aio_kiocb.ki_user_data", "aio_kiocb.ki_res.data":
		// an AIO request's kiocb is the rw member of struct aio_kiocb; a
		// synchronous one (no ki_complete) lives on the stack alone
		if done, _ := o.Uint("ki_complete"); done != 0 {
			if a, err := k.containerOf(addr, "struct aio_kiocb", "rw"); err == nil {
				if aio, err := k.Object("struct aio_kiocb", a); err == nil {
					io.UserData, _ = aio.Uint(strings.TrimPrefix(f.UserData, "aio_kiocb."))
				}
			}
		} else {
			io.OpName = "sync"
		}
	}
	if f.KiocbOpcode {
		io.Opcode, _ = o.Uint("ki_opcode")
		io.NBytes, _ = o.Uint("ki_nbytes")
		io.Buf, _ = o.Uint("ki_buf")
	}
	io.Offset, _ = o.Int("ki_pos")
	if io.OpName == "" && f.KiocbOpcode {
		io.OpName = iocbOps[io.Opcode]
	}
	if io.File != 0 {
		if files, err := k.Files(t); err == nil {
			for _, of := range files {
				if of.File == io.File {
					io.FD = of.FD
					break
				}
			}
		}
	}
	if copyAddr, ok := k.findUserIOCB(t, io.UserData, io.FD, io.Offset); ok {
		u, err := k.Object("struct iocb", copyAddr)
		if err == nil {
			io.UserCopy = copyAddr
			fd, _ := u.Uint("aio_fildes")
			io.FD = int(fd)
			io.Opcode, _ = u.Uint("aio_lio_opcode")
			io.OpName = iocbOps[io.Opcode]
			io.Buf, _ = u.Uint("aio_buf")
			io.NBytes, _ = u.Uint("aio_nbytes")
			io.Offset, _ = u.Int("aio_offset")
		}
	}
	return io, nil
}

// findUserIOCB finds the copy of the user's struct iocb that io_submit
// left on the task's stack: the one whose aio_data is the request's user
// data or, when that is 0 (fio sets none), whose descriptor and offset are
// the request's. A candidate must look like a request: a known opcode, a
// buffer and a length.
func (k *Kernel) findUserIOCB(t Task, userData uint64, wantFD int, pos int64) (uint64, bool) {
	if userData == 0 && wantFD < 0 {
		return 0, false
	}
	ty, err := k.Types.Lookup("struct iocb")
	if err != nil {
		return 0, false
	}
	off, err := ty.Offset("aio_data")
	if err != nil {
		return 0, false
	}
	start, words, err := k.StackWords(t)
	if err != nil {
		return 0, false
	}
	for i, w := range words {
		if userData != 0 && w != userData {
			continue
		}
		a := start + uint64(i)*8 - off
		if a < start || a+ty.Size > t.Stack+t.StackSize {
			continue
		}
		u, err := k.Object("struct iocb", a)
		if err != nil {
			continue
		}
		op, _ := u.Uint("aio_lio_opcode")
		fd, _ := u.Uint("aio_fildes")
		buf, _ := u.Uint("aio_buf")
		n, _ := u.Uint("aio_nbytes")
		at, _ := u.Int("aio_offset")
		if userData == 0 && (int(fd) != wantFD || at != pos) {
			continue
		}
		if _, known := iocbOps[op]; known && fd < 1<<20 && buf != 0 && n != 0 {
			return a, true
		}
	}
	return 0, false
}

// String renders the request like the seed: "PWRITE fd 22 buf 0x... nbytes 0x100000 offset 0xb00200".
func (io IOCB) String() string {
	return fmt.Sprintf("%s fd %d buf 0x%x nbytes 0x%x offset 0x%x", io.OpName, io.FD, io.Buf, io.NBytes, io.Offset)
}
