package analyzer

import (
	"fmt"
	"sort"
)

// Features are the differences between kernel lines that the analyzer
// depends on, each detected once when the dump is opened from the
// vmlinux's own types and symbols (a member or a type exists or not),
// never from the release string. Each probe lives in the file of its
// concept (tasks.go, stack.go, waitqueue.go, mounts.go, journal.go,
// printk.go, modules.go, slab.go, time.go, pid.go, percpu.go, dio.go) with the
// kernel version and commit that made the difference.
type Features struct {
	Tasks     TaskFeatures
	Stacks    StackFeatures
	PerCPU    PerCPUFeatures
	WaitQueue WaitQueueFeatures
	Mounts    MountFeatures
	Files     FileFeatures
	Journal   JournalFeatures
	Printk    PrintkFeatures
	Modules   ModuleFeatures
	Slab      SlabFeatures
	Time      TimeFeatures
	Pids      PidFeatures
	DIO       DIOFeatures

	list map[string]string
}

// Map is the detected features as name -> value, for the report's
// kernel.features.
func (f Features) Map() map[string]string {
	out := make(map[string]string, len(f.list))
	for k, v := range f.list {
		out[k] = v
	}
	return out
}

// Names lists the feature names in order.
func (f Features) Names() []string {
	var out []string
	for k := range f.list {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (f *Features) set(name, format string, args ...any) {
	if f.list == nil {
		f.list = map[string]string{}
	}
	f.list[name] = fmt.Sprintf(format, args...)
}

// detectFeatures runs every concept's probe (the modules' first, before
// their symbols are read). Probes read types and
// symbols, and a few words of memory (HZ, the hung-task timeout, the
// state letters); a probe that cannot decide records why and leaves the
// concept's accessors to report errors.
func (k *Kernel) detectFeatures(f *Features) {
	k.probePerCPU(f)
	k.probeTasks(f)
	k.probeStacks(f)
	k.probeWaitQueues(f)
	k.probeMounts(f)
	k.probeFiles(f)
	k.probeJournals(f)
	k.probePrintk(f)
	k.probeSlab(f)
	k.probePids(f)
	k.probeDIO(f)
	k.probeTime(f)
	f.set("memory.layout", "page_offset 0x%x vmalloc 0x%x vmemmap 0x%x levels %d", k.Layout.PageOffset, k.Layout.VmallocBase, k.Layout.VmemmapBase, k.Layout.Levels)
	f.set("memory.page_size", "%d", k.Layout.PageSize)
	f.set("memory.kaslr_offset", "0x%x", k.Layout.Slide)
}

// hasType reports whether the vmlinux has the named type. Probes look in
// the vmlinux only: a miss must not open every module's debug info.
func (k *Kernel) hasType(name string) bool {
	_, err := k.Types.KernelLookup(name)
	return err == nil
}

// hasMember reports whether a vmlinux type has a member (path may be nested).
func (k *Kernel) hasMember(typeName, path string) bool {
	t, err := k.Types.KernelLookup(typeName)
	return err == nil && t.HasField(path)
}

// hasSymbol reports whether the vmlinux has the symbol.
func (k *Kernel) hasSymbol(name string) bool {
	_, ok := k.Syms.Symbol(name)
	return ok
}

// firstMember is the first of the member names the type has, "" if none.
func (k *Kernel) firstMember(typeName string, paths ...string) string {
	t, err := k.Types.KernelLookup(typeName)
	if err != nil {
		return ""
	}
	for _, p := range paths {
		if t.HasField(p) {
			return p
		}
	}
	return ""
}

// firstType is the first of the type names the kernel has, "" if none.
func (k *Kernel) firstType(names ...string) string {
	for _, n := range names {
		if k.hasType(n) {
			return n
		}
	}
	return ""
}

// firstSymbol is the first of the symbol names the vmlinux has, "" if none.
func (k *Kernel) firstSymbol(names ...string) string {
	for _, n := range names {
		if k.hasSymbol(n) {
			return n
		}
	}
	return ""
}
