package analyzer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/symbols/orc"
)

// UnwindTables are the unwind information the unwinder looks up, by
// run-time pc. Every lookup of the unwinder goes through it and its
// results are plain values, so that a recording can save them and a
// replay serve them. The default (Kernel.UnwindTables) reads the
// vmlinux's .orc_unwind_ip/.orc_unwind and .debug_frame, and the loaded
// modules' ORC tables from the dump's memory.
type UnwindTables interface {
	// HasORC reports whether there are ORC tables at all (a kernel
	// without CONFIG_UNWINDER_ORC is unwound by its frame pointers).
	HasORC() bool
	// ORC is the ORC entry covering pc.
	ORC(pc uint64) (orc.Entry, bool)
	// CFI is the DWARF call-frame row at pc.
	CFI(pc uint64) (CFIRow, bool)
}

// CFIRuleKind says how a register of the caller is recovered.
type CFIRuleKind uint8

const (
	// CFISame: the register has the same value in the caller (also the
	// meaning of "no rule" for the callee-saved registers).
	CFISame CFIRuleKind = iota
	// CFIUndefined: the caller's value is lost.
	CFIUndefined
	// CFIOffset: saved at CFA+Offset.
	CFIOffset
	// CFIValOffset: the value is CFA+Offset.
	CFIValOffset
	// CFIRegister: the value is in register Reg.
	CFIRegister
	// CFIUnsupported: an expression rule; the value is unknown.
	CFIUnsupported
)

// CFIRule is one register's rule.
type CFIRule struct {
	Kind   CFIRuleKind `json:"kind"`
	Reg    int         `json:"reg,omitempty"`
	Offset int64       `json:"offset,omitempty"`
}

// CFIRow is the DWARF CFI row at a pc: the CFA is register CFAReg plus
// CFAOffset (CFAReg is -1 for an expression CFA, which is not supported),
// and Regs are the rules of the registers 0-16 (DWARF numbers).
type CFIRow struct {
	CFAReg    int              `json:"cfa_reg"`
	CFAOffset int64            `json:"cfa_offset"`
	Regs      [NumRegs]CFIRule `json:"regs"`
}

// orcModule is one module's ORC table.
type orcModule struct {
	name string
	tab  *orc.Table
}

// kernelTables is the default UnwindTables.
type kernelTables struct {
	slide   uint64
	vmlinux *orc.Table // nil without ORC
	modules []orcModule
	fdes    *cfiIndex // link-time addresses; nil without .debug_frame
}

func (kt *kernelTables) HasORC() bool { return kt.vmlinux != nil }

func (kt *kernelTables) ORC(pc uint64) (orc.Entry, bool) {
	if kt.vmlinux != nil {
		if lo, hi := kt.vmlinux.Range(); pc >= lo && pc <= hi {
			return kt.vmlinux.Find(pc)
		}
	}
	for _, m := range kt.modules {
		if lo, hi := m.tab.Range(); pc >= lo && pc <= hi {
			return m.tab.Find(pc)
		}
	}
	return orc.Entry{}, false
}

func (kt *kernelTables) CFI(pc uint64) (CFIRow, bool) {
	if kt.fdes == nil || pc < kt.slide {
		return CFIRow{}, false
	}
	link := pc - kt.slide
	fde, err := kt.fdes.FDEForPC(link)
	if err != nil {
		return CFIRow{}, false
	}
	fc, err := establishFrame(fde, link)
	if err != nil || fc == nil {
		return CFIRow{}, false
	}
	row := CFIRow{CFAReg: -1}
	if fc.CFA.Rule == frame.RuleCFA {
		row.CFAReg, row.CFAOffset = int(fc.CFA.Reg), fc.CFA.Offset
	}
	for i := range row.Regs {
		r, ok := fc.Regs[uint64(i)]
		if !ok {
			continue
		}
		switch r.Rule {
		case frame.RuleUndefined:
			row.Regs[i] = CFIRule{Kind: CFIUndefined}
		case frame.RuleSameVal:
			row.Regs[i] = CFIRule{Kind: CFISame}
		case frame.RuleOffset:
			row.Regs[i] = CFIRule{Kind: CFIOffset, Offset: r.Offset}
		case frame.RuleValOffset:
			row.Regs[i] = CFIRule{Kind: CFIValOffset, Offset: r.Offset}
		case frame.RuleRegister:
			row.Regs[i] = CFIRule{Kind: CFIRegister, Reg: int(r.Reg)}
		default:
			row.Regs[i] = CFIRule{Kind: CFIUnsupported}
		}
	}
	return row, true
}

// establishFrame runs an FDE's program, turning a panic on a malformed
// program into an error.
func establishFrame(fde *frame.FrameDescriptionEntry, pc uint64) (fc *frame.FrameContext, err error) {
	defer func() {
		if p := recover(); p != nil {
			fc, err = nil, fmt.Errorf("CFI at %#x: %v", pc, p)
		}
	}()
	return fde.EstablishFrame(pc)
}

// imageTables are the parts of the tables read from a vmlinux, shared by
// every dump of that kernel (link-time addresses).
type imageTables struct {
	orcIP, orcEntries []byte
	orcIPAddr         uint64
	header            []byte // .orc_header, nil without
	fdes              *cfiIndex
	err               error // why there is no ORC
}

// kernelTablesOnce is a kernel's UnwindTables, built once (Kernel.unwind).
type kernelTablesOnce struct {
	once sync.Once
	kt   *kernelTables
	err  error
}

// imageTablesCache holds each image's ORC and CFI sections.
var imageTablesCache perImage[*imageTables]

// readImageTables reads (once per image) the vmlinux's ORC and CFI
// sections.
func readImageTables(im *symbols.Image) *imageTables {
	return imageTablesCache.get(im, func() *imageTables {
		it := &imageTables{}
		var err error
		if it.orcIP, it.orcIPAddr, err = im.Section(".orc_unwind_ip"); err != nil {
			it.err = err
		} else if it.orcEntries, _, err = im.Section(".orc_unwind"); err != nil {
			it.err = err
		}
		if h, _, err := im.Section(".orc_header"); err == nil {
			it.header = h
		}
		if data, _, err := im.Section(".debug_frame"); err == nil {
			if x, err := newCFIIndex(data); err == nil {
				it.fdes = x
			}
		}
		return it
	})
}

// errNoSections is UnwindTables' error for an image without its file (a
// replayed snapshot): Backtrace then scans the stack, as it always did.
var errNoSections = errors.New("the vmlinux has no sections (a snapshot): no unwind tables")

// UnwindTables returns the dump's default unwind tables (built once per
// Kernel): the vmlinux's ORC and CFI moved by the KASLR slide, and the
// loaded modules' ORC. Without ORC (a kernel built with frame pointers, or
// before 4.14) HasORC is false.
func (k *Kernel) UnwindTables() (UnwindTables, error) {
	im := k.Syms.Image()
	if !im.HasSections() && !im.FromDump() {
		return nil, errNoSections
	}
	o := &k.unwind
	o.once.Do(func() { o.kt, o.err = k.buildTables(im) })
	if o.err != nil {
		return nil, o.err
	}
	return o.kt, nil
}

func (k *Kernel) buildTables(im *symbols.Image) (*kernelTables, error) {
	var it *imageTables
	if im.FromDump() {
		it = k.dumpImageTables() // no vmlinux: the tables in the dump's memory
	} else {
		it = readImageTables(im)
	}
	kt := &kernelTables{slide: k.Syms.Slide(), fdes: it.fdes}
	if it.err != nil {
		return kt, nil // no ORC: frame pointers
	}
	f := k.orcFormat(it.header, it.orcEntries)
	tab, err := orc.Parse(it.orcIP, it.orcIPAddr+kt.slide, it.orcEntries, f)
	if err != nil {
		return nil, fmt.Errorf("vmlinux ORC: %w", err)
	}
	kt.vmlinux = tab
	kt.modules = k.moduleORC(f)
	return kt, nil
}

// orcFormat detects the layout of struct orc_entry: a known .orc_header
// hash (6.3.10+) names it; else the kernel's own type says it (a 3-bit type
// is 6.4+, v3; a signal bit with a 2-bit type is 6.3, v2; else v1, with the
// bit positions the DWARF gives). The register numbers are #defines, in no
// DWARF: for a .orc_header of unknown hash they are guessed from the
// entries (orc.GuessRegs).
func (k *Kernel) orcFormat(header, entries []byte) orc.Format {
	if f, ok := orc.FormatFromHeader(header); ok {
		return f
	}
	guess := func(f orc.Format) orc.Format {
		if header != nil {
			f = orc.GuessRegs(entries, f)
			k.warnOncef("orc-header", "the vmlinux's .orc_header (%x) is of no known ORC version: using ORC %s", header, f.Name)
		}
		return f
	}
	t, err := k.Types.KernelLookup("struct orc_entry")
	if err != nil {
		if header != nil {
			return guess(orc.FormatV3)
		}
		return orc.FormatV1
	}
	tf, err := t.Field("type")
	if err != nil || !tf.IsBitField() {
		if header != nil {
			return guess(orc.FormatV3)
		}
		return orc.FormatV1
	}
	f := orc.FormatV1
	if tf.BitSize >= 3 {
		f = orc.FormatV3
	} else if t.HasField("signal") {
		f = orc.FormatV2
	}
	// the bit positions as the DWARF has them, counted from byte 4
	pos := func(name string) int {
		fl, err := t.Field(name)
		if err != nil || !fl.IsBitField() {
			return -1
		}
		p := int(fl.Offset*8+fl.BitOffset) - 32
		if p < 0 || p > 15 {
			return -2
		}
		return p
	}
	sp, bp, ty := pos("sp_reg"), pos("bp_reg"), pos("type")
	if sp >= 0 && bp >= 0 && ty >= 0 {
		f.SPRegBit, f.BPRegBit, f.TypeBit, f.TypeBits = sp, bp, ty, int(tf.BitSize)
		if s := pos("signal"); s >= 0 {
			f.SignalBit = s
		}
		if e := pos("end"); e >= 0 {
			f.EndBit = e
		}
	}
	return guess(f)
}

// maxModuleORC bounds a module's ORC table read from the dump.
const maxModuleORC = 1 << 22

// moduleORC reads each loaded module's ORC table (struct module's
// arch.orc_unwind_ip, arch.orc_unwind, arch.num_orcs) from the dump.
func (k *Kernel) moduleORC(f orc.Format) []orcModule {
	if !k.hasMember("struct module", "arch.num_orcs") {
		return nil
	}
	var out []orcModule
	for _, m := range k.Modules() {
		o, err := k.Object("struct module", m.Addr)
		if err != nil {
			continue
		}
		ip, err1 := o.Uint("arch.orc_unwind_ip")
		ent, err2 := o.Uint("arch.orc_unwind")
		n, err3 := o.Uint("arch.num_orcs")
		if err1 != nil || err2 != nil || err3 != nil || n == 0 || ip == 0 || ent == 0 {
			continue
		}
		if n > maxModuleORC {
			k.warnOncef("orc-mod-"+m.Name, "module %s: num_orcs %d is implausible: its frames are unwound without ORC", m.Name, n)
			continue
		}
		ipb := make([]byte, n*4)
		eb := make([]byte, n*orc.EntrySize)
		if err := k.Mem.Read(ip, ipb); err != nil {
			k.warnOncef("orc-mod-"+m.Name, "module %s: ORC table: %v", m.Name, err)
			continue
		}
		if err := k.Mem.Read(ent, eb); err != nil {
			k.warnOncef("orc-mod-"+m.Name, "module %s: ORC table: %v", m.Name, err)
			continue
		}
		tab, err := orc.Parse(ipb, ip, eb, f)
		if err != nil {
			continue
		}
		out = append(out, orcModule{name: m.Name, tab: tab})
	}
	return out
}
