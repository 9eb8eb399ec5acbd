package vmcore

import (
	"encoding/binary"
	"fmt"
)

const (
	ntPRSTATUS = 1

	// prstatusSizeX86_64 is sizeof(struct elf_prstatus) on x86_64.
	prstatusSizeX86_64 = 336
	prstatusPIDOff     = 32
	prstatusRegOff     = 112
	prstatusNRegs      = 27

	qemuCPUStateMin = 432 // up to and including cr[5]
	maxNotes        = 1 << 16
)

// noteSet accumulates what was found in ELF notes.
type noteSet struct {
	cpus       []CPUState
	qemu       []QEMUCPUState
	vmcoreinfo string
	warns      []string
}

// parseNotes walks an ELF note buffer (4-byte aligned name and desc, as the
// kernel writes them). base is the buffer's file offset, for messages.
// A malformed note stops the walk with a warning rather than an error:
// the notes are useful but not essential for reading memory.
func parseNotes(path string, buf []byte, base int64, x86 bool, ns *noteSet) {
	off := 0
	for count := 0; off+12 <= len(buf); count++ {
		if count >= maxNotes {
			ns.warns = append(ns.warns, fmt.Sprintf("%s: offset %#x: more than %d ELF notes; ignoring the rest", path, base+int64(off), maxNotes))
			return
		}
		namesz := uint64(binary.LittleEndian.Uint32(buf[off:]))
		descsz := uint64(binary.LittleEndian.Uint32(buf[off+4:]))
		typ := binary.LittleEndian.Uint32(buf[off+8:])
		if namesz == 0 && descsz == 0 && typ == 0 {
			// Zero padding at the end of a note segment.
			return
		}
		nameOff := uint64(off + 12)
		descOff := nameOff + align4(namesz)
		end := descOff + align4(descsz)
		if descOff+descsz > uint64(len(buf)) {
			ns.warns = append(ns.warns, fmt.Sprintf("%s: offset %#x: ELF note (namesz %d, descsz %d) runs past the end of the note area (%d bytes); ignoring the rest", path, base+int64(off), namesz, descsz, len(buf)))
			return
		}
		name := cString(buf[nameOff : nameOff+namesz])
		desc := buf[descOff : descOff+descsz]
		switch {
		case name == "CORE" && typ == ntPRSTATUS:
			if x86 && len(desc) < prstatusRegOff+prstatusNRegs*8 {
				ns.warns = append(ns.warns, fmt.Sprintf("%s: offset %#x: NT_PRSTATUS note %d of %d bytes is too short for the x86_64 registers (%d bytes); its registers read as zero",
					path, base+int64(off), len(ns.cpus), len(desc), prstatusRegOff+prstatusNRegs*8))
			}
			ns.cpus = append(ns.cpus, parsePrstatus(desc, x86))
		case name == "VMCOREINFO":
			if ns.vmcoreinfo == "" {
				ns.vmcoreinfo = cString(desc)
			}
		case name == "QEMU" && x86:
			if q, ok := parseQEMUCPU(desc); ok {
				ns.qemu = append(ns.qemu, q)
			} else {
				ns.warns = append(ns.warns, fmt.Sprintf("%s: offset %#x: QEMU CPU note of %d bytes is shorter than QEMUCPUState's registers (%d bytes); ignored",
					path, base+int64(off), len(desc), qemuCPUStateMin))
			}
		}
		if end > uint64(len(buf)) {
			return
		}
		off = int(end)
	}
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

func parsePrstatus(desc []byte, x86 bool) CPUState {
	var c CPUState
	if len(desc) >= prstatusPIDOff+4 {
		c.PID = int32(binary.LittleEndian.Uint32(desc[prstatusPIDOff:]))
	}
	if !x86 || len(desc) < prstatusRegOff+prstatusNRegs*8 {
		return c
	}
	var r [prstatusNRegs]uint64
	for i := range r {
		r[i] = binary.LittleEndian.Uint64(desc[prstatusRegOff+8*i:])
	}
	c.Regs = X86_64Regs{
		R15: r[0], R14: r[1], R13: r[2], R12: r[3], RBP: r[4], RBX: r[5],
		R11: r[6], R10: r[7], R9: r[8], R8: r[9], RAX: r[10], RCX: r[11],
		RDX: r[12], RSI: r[13], RDI: r[14], OrigRAX: r[15], RIP: r[16],
		CS: r[17], EFlags: r[18], RSP: r[19], SS: r[20], FSBase: r[21],
		GSBase: r[22], DS: r[23], ES: r[24], FS: r[25], GS: r[26],
	}
	return c
}

// RegsArray returns the registers in user_regs_struct order.
func (r *X86_64Regs) RegsArray() [27]uint64 {
	return [27]uint64{r.R15, r.R14, r.R13, r.R12, r.RBP, r.RBX, r.R11, r.R10,
		r.R9, r.R8, r.RAX, r.RCX, r.RDX, r.RSI, r.RDI, r.OrigRAX, r.RIP, r.CS,
		r.EFlags, r.RSP, r.SS, r.FSBase, r.GSBase, r.DS, r.ES, r.FS, r.GS}
}

func parseQEMUCPU(desc []byte) (QEMUCPUState, bool) {
	var q QEMUCPUState
	if len(desc) < qemuCPUStateMin {
		return q, false
	}
	le := binary.LittleEndian
	q.Version = le.Uint32(desc[0:])
	q.Size = le.Uint32(desc[4:])
	g := func(i int) uint64 { return le.Uint64(desc[8+8*i:]) }
	q.RAX, q.RBX, q.RCX, q.RDX = g(0), g(1), g(2), g(3)
	q.RSI, q.RDI, q.RSP, q.RBP = g(4), g(5), g(6), g(7)
	q.R8, q.R9, q.R10, q.R11 = g(8), g(9), g(10), g(11)
	q.R12, q.R13, q.R14, q.R15 = g(12), g(13), g(14), g(15)
	q.RIP, q.RFlags = g(16), g(17)
	segs := []*QEMUSegment{&q.CS, &q.DS, &q.ES, &q.FS, &q.GS, &q.SS, &q.LDT, &q.TR, &q.GDT, &q.IDT}
	for i, s := range segs {
		o := 152 + 24*i
		s.Selector = le.Uint32(desc[o:])
		s.Limit = le.Uint32(desc[o+4:])
		s.Flags = le.Uint32(desc[o+8:])
		s.Pad = le.Uint32(desc[o+12:])
		s.Base = le.Uint64(desc[o+16:])
	}
	for i := range q.CR {
		q.CR[i] = le.Uint64(desc[392+8*i:])
	}
	if len(desc) >= 440 && q.Size >= 440 {
		q.KernelGSBase = le.Uint64(desc[432:])
		q.HasKernelGSBase = true
	}
	return q, true
}
