package analyzer

import (
	"fmt"
	"math/bits"
	"sort"
)

// Task states of task_struct.state (2.6) / __state (5.14+).
const (
	TaskRunning         = 0
	TaskInterruptible   = 1
	TaskUninterruptible = 2
)

// Task is one task (thread) of the dumped kernel.
type Task struct {
	Addr        uint64 // task_struct
	PID         int
	PPID        int
	Comm        string
	State       uint64
	CPU         int
	Stack       uint64 // base of the kernel stack (thread_info on 2.6.9)
	StackSize   uint64
	KSP         uint64 // saved kernel stack pointer
	LastRan     uint64 // run-queue clock (ns) when it last ran
	JournalInfo uint64
	Files       uint64
	Idle        bool // a CPU's idle task
}

// StateName is crash's two-letter state: RU, IN, UN, ST, TR, ZO, DE, ID.
func (t Task) StateName() string {
	switch {
	case t.State == TaskRunning:
		return "RU"
	case t.State&TaskUninterruptible != 0 && t.State&0x400 != 0: // TASK_NOLOAD: TASK_IDLE
		return "ID"
	case t.State&TaskUninterruptible != 0:
		return "UN"
	case t.State&TaskInterruptible != 0:
		return "IN"
	case t.State&4 != 0:
		return "ST"
	case t.State&8 != 0:
		return "TR"
	case t.State&16 != 0:
		return "ZO"
	case t.State&32 != 0:
		return "DE"
	}
	return fmt.Sprintf("%#x", t.State)
}

// Tasks lists every task: the task list from init_task.tasks plus each
// CPU's idle task, sorted by PID (idle tasks first, by CPU).
func (k *Kernel) Tasks() ([]Task, error) {
	initTask, err := k.Addr("init_task")
	if err != nil {
		return nil, err
	}
	it, err := k.Object("struct task_struct", initTask)
	if err != nil {
		return nil, err
	}
	head, err := it.FieldAddr("tasks")
	if err != nil {
		return nil, err
	}
	addrs := []uint64{initTask}
	seen := map[uint64]bool{initTask: true}
	err = k.ListEach(head, func(node uint64) error {
		t, err := k.containerOf(node, "struct task_struct", "tasks")
		if err != nil {
			return err
		}
		if !seen[t] {
			seen[t] = true
			addrs = append(addrs, t)
		}
		return nil
	})
	if err != nil {
		k.warnf("task list: %v (listing the %d tasks read before it)", err, len(addrs))
	}
	addrs = k.addThreads(addrs, seen)
	idle := map[uint64]bool{initTask: true}
	for _, cpu := range k.CPUs() {
		rq, err := k.RunQueue(cpu)
		if err != nil {
			continue
		}
		if a, err := rq.Uint("idle"); err == nil && a != 0 {
			idle[a] = true
			if !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
	}
	pidOf := map[uint64]int{}
	var tasks []Task
	for _, a := range addrs {
		t, err := k.task(a)
		if err != nil {
			k.warnf("task at 0x%x: %v", a, err)
			continue
		}
		t.Idle = idle[a]
		pidOf[a] = t.PID
		tasks = append(tasks, t)
	}
	for i := range tasks {
		if o, err := k.Object("struct task_struct", tasks[i].Addr); err == nil {
			if p, err := o.First("real_parent", "parent"); err == nil {
				tasks[i].PPID = pidOf[p]
			}
		}
	}
	sort.SliceStable(tasks, func(i, j int) bool {
		if tasks[i].PID != tasks[j].PID {
			return tasks[i].PID < tasks[j].PID
		}
		return tasks[i].CPU < tasks[j].CPU
	})
	return tasks, nil
}

// addThreads adds the other threads of every thread group: the task list
// links only group leaders on current kernels (signal->thread_head through
// thread_node, or the older thread_group list).
func (k *Kernel) addThreads(leaders []uint64, seen map[uint64]bool) []uint64 {
	tt, err := k.Types.Lookup("struct task_struct")
	if err != nil {
		return leaders
	}
	var member string
	switch {
	case tt.HasField("thread_node"):
		member = "thread_node"
	case tt.HasField("thread_group"):
		member = "thread_group"
	default:
		return leaders // 2.6.9: threads hang off the PID hash; not walked yet
	}
	out := leaders
	for _, a := range leaders {
		t, err := k.Object("struct task_struct", a)
		if err != nil {
			continue
		}
		var head uint64
		if member == "thread_node" {
			sig, err := t.Deref("signal", "struct signal_struct")
			if err != nil {
				continue
			}
			if head, err = sig.FieldAddr("thread_head"); err != nil {
				continue
			}
		} else if head, err = t.FieldAddr("thread_group"); err != nil {
			continue
		}
		err = k.ListEach(head, func(node uint64) error {
			th, err := k.containerOf(node, "struct task_struct", member)
			if err != nil {
				return err
			}
			if !seen[th] {
				seen[th] = true
				out = append(out, th)
			}
			return nil
		})
		if err != nil {
			k.warnf("threads of task 0x%x: %v", a, err)
		}
	}
	return out
}

// Task reads one task_struct.
func (k *Kernel) task(addr uint64) (Task, error) {
	o, err := k.Object("struct task_struct", addr)
	if err != nil {
		return Task{}, err
	}
	t := Task{Addr: addr}
	pid, err := o.Int("pid")
	if err != nil {
		return t, err
	}
	t.PID = int(pid)
	if t.Comm, err = o.Chars("comm"); err != nil {
		return t, err
	}
	if t.State, err = o.First("__state", "state"); err != nil {
		return t, err
	}
	t.Stack, _ = o.First("stack", "thread_info")
	t.StackSize = k.threadSize()
	t.KSP, _ = o.First("thread.rsp", "thread.sp")
	t.LastRan, _ = o.First("last_ran", "sched_info.last_arrival")
	t.JournalInfo, _ = o.First("journal_info")
	t.Files, _ = o.First("files")
	if o.Has("thread_info.cpu") {
		c, _ := o.Uint("thread_info.cpu")
		t.CPU = int(c)
	} else if o.Has("cpu") {
		c, _ := o.Uint("cpu")
		t.CPU = int(c)
	} else if t.Stack != 0 {
		ti, err := k.Object("struct thread_info", t.Stack)
		if err == nil {
			c, _ := ti.Uint("cpu")
			t.CPU = int(c)
		}
	}
	return t, nil
}

// threadSize is the kernel stack size: the size of union thread_union when
// the kernel has one, else 16 KiB for kernels whose task_struct points at
// its stack (x86_64 since 3.15), else 8 KiB (2.6 x86_64).
func (k *Kernel) threadSize() uint64 {
	if t, err := k.Types.Lookup("union thread_union"); err == nil && t.Size >= 4096 {
		return t.Size
	}
	if t, err := k.Types.Lookup("struct task_struct"); err == nil && t.HasField("stack") {
		return 16384
	}
	return 8192
}

// CPUs lists the online CPUs.
func (k *Kernel) CPUs() []int {
	for _, name := range []string{"cpu_online_map", "__cpu_online_mask"} {
		sym, ok := k.Syms.Symbol(name)
		if !ok {
			continue
		}
		a, nwords := sym.Addr, int(sym.Size/8)
		if nwords == 0 || nwords > 128 {
			nwords = 1
		}
		var cpus []int
		for w := 0; w < nwords; w++ {
			v, err := k.U64(a + uint64(w)*8)
			if err != nil {
				break
			}
			for v != 0 {
				b := bits.TrailingZeros64(v)
				cpus = append(cpus, w*64+b)
				v &^= 1 << b
			}
		}
		if len(cpus) > 0 {
			return cpus
		}
	}
	return []int{0}
}

// PerCPU returns the address of a per-CPU variable's copy for cpu.
func (k *Kernel) PerCPU(name string, cpu int) (uint64, error) {
	var sym uint64
	var err error
	for _, n := range []string{"per_cpu__" + name, name} {
		if sym, err = k.Addr(n); err == nil {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	if pda, err := k.Addr("cpu_pda"); err == nil {
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
	}
	if offs, err := k.Addr("__per_cpu_offset"); err == nil {
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
	a, err := k.PerCPU("runqueues", cpu)
	if err != nil {
		return Object{}, err
	}
	for _, tn := range []string{"struct runqueue", "struct rq"} {
		if _, err := k.Types.Lookup(tn); err == nil {
			return k.Object(tn, a)
		}
	}
	return Object{}, fmt.Errorf("no run queue type in %s", k.Syms.Path())
}

// RunQueueClock is the CPU's run-queue clock in ns (timestamp_last_tick on
// 2.6.9, clock later).
func (k *Kernel) RunQueueClock(cpu int) (uint64, error) {
	rq, err := k.RunQueue(cpu)
	if err != nil {
		return 0, err
	}
	return rq.First("timestamp_last_tick", "clock")
}

// BlockedSeconds is how long a task has not run: its CPU's run-queue clock
// minus its last_ran, as in the seed's analysis.
func (k *Kernel) BlockedSeconds(t Task) (int64, error) {
	now, err := k.RunQueueClock(t.CPU)
	if err != nil {
		return 0, err
	}
	if t.LastRan == 0 || t.LastRan > now {
		return 0, fmt.Errorf("task %d: last_ran 0x%x is not before the run-queue clock 0x%x", t.PID, t.LastRan, now)
	}
	return int64((now - t.LastRan) / 1_000_000_000), nil
}
