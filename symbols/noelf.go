package symbols

import (
	"strings"
)

// kernelImageEnd bounds the kernel image mapping (__START_KERNEL_map plus
// KERNEL_IMAGE_SIZE with KASLR, 1 GiB): addresses from kallsyms above it
// (none on x86_64) are not moved by the slide.
const kernelImageEnd = kernelImageStart + 1<<30

// NewKallsymsImage builds an image with no ELF file from a kernel's
// decoded kallsyms (run-time addresses) and the BTF read from its memory,
// for analysing a dump without its vmlinux. slide is the dump's KASLR
// offset (VMCOREINFO's KERNELOFFSET): the image holds link-time addresses
// like one opened from a vmlinux (run-time minus slide for the kernel
// image's symbols; per-CPU symbols, which kallsyms gives absolute, stay),
// so a View with the same slide serves the run-time ones.
//
// Symbols have no size in kallsyms: each is given the distance to the next
// higher address of the table, as kallsyms_lookup_size_offset does.
// ReadData finds nothing (there is no initialised data to compare with
// the dump's), Section finds nothing (the unwind tables are in the dump's
// memory: see analyzer), and BTF returns bt. buildID is the dump's
// VMCOREINFO BUILD-ID ("" if none). Path is "".
func NewKallsymsImage(ks *Kallsyms, slide uint64, bt *BTFTypes, buildID string) *Image {
	addrs := ks.sortedAddrs(innerLabels)
	next := func(a uint64) uint64 {
		lo, hi := 0, len(addrs)
		for lo < hi {
			m := (lo + hi) / 2
			if addrs[m] <= a {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(addrs) {
			return addrs[lo]
		}
		return a
	}
	syms := make([]sym, 0, len(ks.Symbols))
	for _, k := range ks.Symbols {
		if k.Name == "" || strings.HasPrefix(k.Name, "$") {
			continue
		}
		kind := KallsymsKind(k.Type)
		s := sym{Name: k.Name, Addr: k.Addr, Kind: kind}
		s.text = k.Type == 't' || k.Type == 'T' || k.Type == 'w' || k.Type == 'W'
		s.global = k.Type >= 'A' && k.Type <= 'Z'
		if innerLabels[k.Name] {
			s.Kind = SymOther // as the ELF symtab has it: no type, no size
		} else if n := next(k.Addr); n > k.Addr && (kind == SymFunc || kind == SymObject) {
			s.Size = n - k.Addr
		}
		if k.Addr >= kernelImageStart+slide && k.Addr < kernelImageEnd {
			s.Addr -= slide
		}
		syms = append(syms, s)
	}
	im := &Image{buildID: strings.ToLower(buildID), kernel: buildTable(syms, nil), fromDump: true}
	im.btfOnce.Do(func() {
		im.btf = bt
		if bt == nil {
			im.btfErr = &notFoundError{what: "BTF (the kernel has no __start_BTF)"}
		}
	})
	return im
}

// innerLabels are the x86_64 entry code's SYM_INNER_LABELs: labels inside
// an assembler function (untyped and unsized in the ELF symtab, where the
// enclosing function's size covers them), which kallsyms lists like any
// text symbol. They neither end the enclosing function nor name the
// addresses after them, so backtraces name entry_SYSCALL_64+0xa6 as with
// the vmlinux.
var innerLabels = map[string]bool{
	"entry_SYSCALL_64_safe_stack": true, "entry_SYSCALL_64_after_hwframe": true,
	"entry_SYSRETQ_unsafe_stack": true, "entry_SYSRETQ_end": true,
	"entry_SYSENTER_compat_after_hwframe": true, "entry_SYSCALL_compat_safe_stack": true,
	"entry_SYSCALL_compat_after_hwframe": true, "entry_SYSRETL_compat_unsafe_stack": true,
	"entry_SYSRETL_compat_end": true, "swapgs_restore_regs_and_return_to_usermode": true,
	"restore_regs_and_return_to_kernel": true, "native_irq_return_iret": true,
	"asm_load_gs_index_gs_change": true, "syscall_return_via_sysret": true,
}

// SetKallsymsSize sets the size of a symbol of an image built by
// NewKallsymsImage, whose sizes are only the distances between symbols
// (for an array the analysis reads whole, once its end is known from the
// dump); false for any other image or an unknown symbol.
func (im *Image) SetKallsymsSize(name string, size uint64) bool {
	if !im.fromDump {
		return false
	}
	i, ok := im.kernel.byName(name)
	if !ok {
		return false
	}
	im.mu.Lock()
	im.kernel.byAddr[i].Size = size
	im.mu.Unlock()
	return true
}

// FromDump reports whether the image was built by NewKallsymsImage: its
// symbols are the dump's kallsyms and its types the dump's BTF.
func (im *Image) FromDump() bool { return im.fromDump }
