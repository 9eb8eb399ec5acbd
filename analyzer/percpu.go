package analyzer

import (
	"fmt"
	"math/bits"
)

// PerCPUFeatures say how per-CPU data and the run queues are found.
type PerCPUFeatures struct {
	// Offsets is "__per_cpu_offset" (2.6.10+: the generic per-CPU
	// offsets array) or "cpu_pda" (2.6.9 x86_64: x8664_pda.data_offset).
	Offsets string
	// OnlineMask is "__cpu_online_mask" (4.5+, when the cpu_*_bits
	// bitmaps became exported struct cpumasks) or "cpu_online_map" (2.6).
	OnlineMask string
	// RunQueue is "struct rq" (2.6.23+, CFS) or "struct runqueue" (2.6.9).
	RunQueue string
	// RunQueueClock is "clock" (2.6.23+) or "timestamp_last_tick" (2.6.9).
	RunQueueClock string
}

func (k *Kernel) probePerCPU(f *Features) {
	p := &f.PerCPU
	p.Offsets = k.firstSymbol("__per_cpu_offset", "cpu_pda")
	p.OnlineMask = k.firstSymbol("__cpu_online_mask", "cpu_online_map")
	p.RunQueue = k.firstType("struct rq", "struct runqueue")
	if p.RunQueue != "" {
		p.RunQueueClock = k.firstMember(p.RunQueue, "clock", "timestamp_last_tick")
	}
	f.set("percpu.offsets", "%s", orNone(p.Offsets))
	f.set("percpu.online_mask", "%s", orNone(p.OnlineMask))
	f.set("sched.runqueue", "%s.%s", orNone(p.RunQueue), orNone(p.RunQueueClock))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// CPUs lists the online CPUs.
func (k *Kernel) CPUs() []int {
	name := k.Features.PerCPU.OnlineMask
	if name == "" {
		return []int{0}
	}
	sym, _ := k.Syms.Symbol(name)
	a, nwords := sym.Addr, int(sym.Size/8)
	if nwords == 0 || nwords > 128 {
		nwords = 1
	}
	var cpus []int
	for w := 0; w < nwords; w++ {
		v, err := k.U64(a + uint64(w)*8)
		if err != nil {
			k.warnf("online CPU mask %s word %d at 0x%x: %v", name, w, a+uint64(w)*8, err)
			break
		}
		for v != 0 {
			b := bits.TrailingZeros64(v)
			cpus = append(cpus, w*64+b)
			v &^= 1 << b
		}
	}
	if len(cpus) == 0 {
		return []int{0}
	}
	return cpus
}

// PerCPU returns the address of a per-CPU variable's copy for cpu.
func (k *Kernel) PerCPU(name string, cpu int) (uint64, error) {
	var sym uint64
	var err error
	for _, n := range []string{"per_cpu__" + name, name} { // per_cpu__ prefix until 2.6.34 (dd17c8f72993)
		if sym, err = k.Addr(n); err == nil {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	switch k.Features.PerCPU.Offsets {
	case "cpu_pda":
		pda, _ := k.Addr("cpu_pda")
		t, err := k.Types.Lookup("struct x8664_pda")
		if err != nil {
			return 0, err
		}
		p, err := k.Object("struct x8664_pda", pda+uint64(cpu)*t.Size)
		if err != nil {
			return 0, err
		}
		off, err := p.Uint("data_offset")
		if err != nil {
			return 0, err
		}
		return sym + off, nil
	case "__per_cpu_offset":
		offs, _ := k.Addr("__per_cpu_offset")
		off, err := k.U64(offs + uint64(cpu)*8)
		if err != nil {
			return 0, err
		}
		return sym + off, nil
	}
	return 0, fmt.Errorf("no per-CPU offsets (cpu_pda or __per_cpu_offset) in %s", k.Syms.Path())
}

// RunQueue reads a CPU's run queue.
func (k *Kernel) RunQueue(cpu int) (Object, error) {
	if k.Features.PerCPU.RunQueue == "" {
		return Object{}, fmt.Errorf("no run queue type (struct rq or struct runqueue) in %s", k.Syms.Path())
	}
	a, err := k.PerCPU("runqueues", cpu)
	if err != nil {
		return Object{}, err
	}
	return k.Object(k.Features.PerCPU.RunQueue, a)
}

// RunQueueClock is the CPU's run-queue clock in ns.
func (k *Kernel) RunQueueClock(cpu int) (uint64, error) {
	rq, err := k.RunQueue(cpu)
	if err != nil {
		return 0, err
	}
	if k.Features.PerCPU.RunQueueClock == "" {
		return 0, fmt.Errorf("%s has no clock member", rq.Type)
	}
	return rq.Uint(k.Features.PerCPU.RunQueueClock)
}
