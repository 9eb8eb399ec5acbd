package analyzer

import (
	"fmt"
	"sort"
)

// Task states of task_struct.state (2.6) / __state (5.14+): the low bits
// have kept their values on every kernel line.
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
	State       uint64 // __state or state, with exit_state or-ed in
	CPU         int
	Stack       uint64 // base of the kernel stack (thread_info on 2.6.9)
	StackSize   uint64
	KSP         uint64 // saved kernel stack pointer
	LastRan     uint64 // run-queue clock (ns) when it last ran
	JournalInfo uint64
	Files       uint64
	Idle        bool // a CPU's idle task

	stateName string
}

// StateName is crash's two-letter state (RU, IN, UN, ST, TR, ZO, DE, PA,
// ID, ...), from the kernel's own task_state_array.
func (t Task) StateName() string {
	if t.stateName == "" {
		return fmt.Sprintf("%#x", t.State)
	}
	return t.stateName
}

// TaskFeatures say how task_struct is read on this kernel.
type TaskFeatures struct {
	// State is "__state" (5.14+, 2f064a59a11f "sched: Change
	// task_struct::state") or "state".
	State string
	// ExitState is "exit_state" (2.6.9+): zombie and dead tasks.
	ExitState string
	// Letters are the kernel's own task_state_array (fs/proc/array.c)
	// as crash's two-letter names: Letters[0] is TASK_RUNNING, Letters[i]
	// the state bit 1<<(i-1). The array grew over the lines: "t (tracing
	// stop)" 2.6.25, "P (parked)" 3.9, "I (idle)" 4.14 (06eb61844d84).
	Letters []string
	// LettersFrom says where Letters came from.
	LettersFrom string
	// Extra are the states the array leaves out since 4.14 (06eb61844d84
	// made it end in "I (idle)", TASK_REPORT_IDLE, and dropped the
	// internal ones), at their values of 4.14 on: TASK_DEAD 0x80,
	// TASK_WAKEKILL 0x100, TASK_WAKING 0x200, TASK_NEW 0x800; crash shows
	// them as DE, WK, WA and NE.
	Extra map[uint64]string
	// IdleBits is TASK_IDLE (TASK_UNINTERRUPTIBLE | TASK_NOLOAD, 4.2+,
	// 80ed87c8a9ca), reported as "ID" rather than "UN"; 0 when unknown.
	IdleBits uint64
	// PreemptRT is true on a PREEMPT_RT kernel (the -rt flavours).
	PreemptRT bool
	// RTLockWait is TASK_RTLOCK_WAIT (5.15 PREEMPT_RT, 5f220be21418):
	// a task blocked on a sleeping spinlock, which /proc shows as D.
	RTLockWait uint64
	// ThreadList is how the threads of a group are linked:
	// "signal.thread_head" (3.14+, 0c740d0afc3b, through thread_node),
	// "thread_group" (2.6.x) or "" (2.6.9: threads only on the pid hash).
	ThreadList string
	// CPU is where a task's CPU is: "cpu" (4.9-5.15 with
	// THREAD_INFO_IN_TASK, c65eacbe290b), "thread_info.cpu" (5.16+,
	// bcf9033e5449 "sched: move CPU field back into thread_info if
	// THREAD_INFO_IN_TASK=y") or "" (2.6: struct thread_info at the base
	// of the stack).
	CPU string
	// LastRan is when the task last ran, in run-queue clock ns:
	// "sched_info.last_arrival" (2.6.x+, CONFIG_SCHED_INFO) or "last_ran"
	// (2.6.9).
	LastRan string
	// Parent is "real_parent" (2.6.x+) or "parent".
	Parent string
}

// crashState maps /proc's state letters to crash's two-letter names.
var crashState = map[byte]string{
	'R': "RU", 'S': "IN", 'D': "UN", 'T': "ST", 't': "TR", 'X': "DE", 'Z': "ZO",
	'P': "PA", 'I': "ID", 'W': "WA", 'K': "WK", 'x': "DE", 'N': "NE",
}

// defaultLetters are 2.6.9's states, for kernels whose task_state_array
// is not in the dump's symbols: TASK_STOPPED 4, TASK_TRACED 8,
// EXIT_ZOMBIE 16, EXIT_DEAD 32.
var defaultLetters = []string{"RU", "IN", "UN", "ST", "TR", "ZO", "DE"}

func (k *Kernel) probeTasks(f *Features) {
	t := &f.Tasks
	const ts = "struct task_struct"
	t.State = k.firstMember(ts, "__state", "state")
	t.ExitState = k.firstMember(ts, "exit_state")
	switch {
	case k.hasMember(ts, "thread_node") && k.hasMember("struct signal_struct", "thread_head"):
		t.ThreadList = "signal.thread_head"
	case k.hasMember(ts, "thread_group"):
		t.ThreadList = "thread_group"
	}
	t.CPU = k.firstMember(ts, "cpu", "thread_info.cpu")
	t.LastRan = k.firstMember(ts, "sched_info.last_arrival", "last_ran")
	t.Parent = k.firstMember(ts, "real_parent", "parent")
	t.Letters, t.LettersFrom = k.stateLetters()
	f.set("task.state_letters", "%s (%s)", joinLetters(t.Letters), t.LettersFrom)
	if n := len(t.Letters); n > 1 && t.Letters[n-1] == "ID" && t.LettersFrom != "built-in" {
		t.Letters = t.Letters[:n-1] // "I" is TASK_REPORT_IDLE, not a state bit
		t.Extra = map[uint64]string{0x80: "DE", 0x100: "WK", 0x200: "WA", 0x800: "NE"}
		if t.IdleBits == 0 {
			t.IdleBits = TaskUninterruptible | 0x400 // TASK_NOLOAD is a #define, not in DWARF
		}
	}
	if v, err := k.Types.Constant("TASK_NOLOAD"); err == nil {
		t.IdleBits = TaskUninterruptible | uint64(v)
	}
	// PREEMPT_RT: spinlocks sleep (rt_spin_lock); from 5.15 a task
	// blocked on one is in TASK_RTLOCK_WAIT with its state kept in
	// saved_state
	t.PreemptRT = k.hasSymbol("rt_spin_lock")
	if t.PreemptRT && k.hasMember(ts, "saved_state") && k.hasSymbol("rtlock_slowlock_locked") {
		t.RTLockWait = 0x1000
	}
	f.set("sched.preempt_rt", "%t", t.PreemptRT)
	f.set("task.rtlock_wait", "%#x", t.RTLockWait)
	f.set("task.state", "%s", orNone(t.State))
	f.set("task.thread_list", "%s", orNone(t.ThreadList))
	f.set("task.cpu", "%s", orNone(t.CPU))
	f.set("task.last_ran", "%s", orNone(t.LastRan))
}

func joinLetters(l []string) string {
	s := ""
	for i, x := range l {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}

// maxStates bounds task_state_array.
const maxStates = 32

// stateLetters reads the kernel's task_state_array: pointers to strings
// such as "D (disk sleep)", one per state bit.
func (k *Kernel) stateLetters() ([]string, string) {
	sym, ok := k.Syms.Symbol("task_state_array")
	if !ok || sym.Size == 0 || sym.Size%8 != 0 || sym.Size/8 > maxStates {
		return defaultLetters, "built-in"
	}
	var out []string
	for i := uint64(0); i < sym.Size/8; i++ {
		p, err := k.U64(sym.Addr + i*8)
		if err != nil {
			k.warnf("task_state_array[%d] at 0x%x: %v (using the 2.6.9 states)", i, sym.Addr+i*8, err)
			return defaultLetters, "built-in"
		}
		s, err := k.CString(p, 32)
		if err != nil || s == "" {
			k.warnf("task_state_array[%d] string at 0x%x: %v (using the 2.6.9 states)", i, p, err)
			return defaultLetters, "built-in"
		}
		name, ok := crashState[s[0]]
		if !ok {
			name = s[:1]
		}
		out = append(out, name)
	}
	return out, "task_state_array"
}

// stateName is crash's two-letter name of a task state, by the kernel's
// own state table: the highest reported bit wins, as in the kernel's
// task_state_index().
func (k *Kernel) stateName(state uint64) string {
	f := k.Features.Tasks
	if f.IdleBits != 0 && state&f.IdleBits == f.IdleBits {
		return "ID"
	}
	if f.RTLockWait != 0 && state&f.RTLockWait != 0 {
		return "UN"
	}
	letters := f.Letters
	if len(letters) == 0 {
		letters = defaultLetters
	}
	if state == TaskRunning {
		return letters[0]
	}
	for b := len(letters) - 2; b >= 0; b-- {
		if state&(1<<b) != 0 {
			return letters[b+1]
		}
	}
	for bit := uint64(1); bit != 0 && bit <= state; bit <<= 1 {
		if name, ok := f.Extra[bit]; ok && state&bit != 0 {
			return name
		}
	}
	return fmt.Sprintf("%#x", state)
}

// Uninterruptible reports whether a task is in crash's UN state (D in ps).
func (t Task) Uninterruptible() bool { return t.stateName == "UN" }

// Tasks lists every task: the task list from init_task.tasks plus each
// CPU's idle task, sorted by PID (idle tasks first, by CPU).
func (k *Kernel) Tasks() ([]Task, error) { return k.tasks.get(k.readTasks) }

func (k *Kernel) readTasks() ([]Task, error) {
	it, err := k.initTask()
	if err != nil {
		return nil, err
	}
	head, err := it.FieldAddr("tasks")
	if err != nil {
		return nil, err
	}
	addrs := []uint64{it.Addr}
	seen := map[uint64]bool{it.Addr: true}
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
	idle := map[uint64]bool{it.Addr: true}
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
	parent := k.Features.Tasks.Parent
	for i := range tasks {
		if tasks[i].Idle || parent == "" {
			continue // the idle tasks' parent is shown as 0, as crash does (secondary CPUs' were forked by init)
		}
		if o, err := k.Object("struct task_struct", tasks[i].Addr); err == nil {
			if p, err := o.Uint(parent); err == nil {
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
// links only group leaders (see TaskFeatures.ThreadList).
func (k *Kernel) addThreads(leaders []uint64, seen map[uint64]bool) []uint64 {
	var member string
	switch k.Features.Tasks.ThreadList {
	case "signal.thread_head":
		member = "thread_node"
	case "thread_group":
		member = "thread_group"
	default:
		return leaders // 2.6.9: threads hang off the PID hash; not walked yet
	}
	out := leaders
	for _, a := range leaders {
		t, err := k.Object("struct task_struct", a)
		if err != nil {
			k.warnf("threads of task 0x%x: %v", a, err)
			continue
		}
		var head uint64
		if member == "thread_node" {
			sig, err := t.Deref("signal", "struct signal_struct")
			if err != nil {
				k.warnf("threads of task 0x%x: %v", a, err)
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
	f := k.Features.Tasks
	t := Task{Addr: addr}
	pid, err := o.Int("pid")
	if err != nil {
		return t, err
	}
	t.PID = int(pid)
	if t.Comm, err = o.Chars("comm"); err != nil {
		return t, err
	}
	if f.State == "" {
		return t, fmt.Errorf("struct task_struct has neither __state nor state")
	}
	if t.State, err = o.Uint(f.State); err != nil {
		return t, err
	}
	if f.ExitState != "" {
		es, _ := o.Uint(f.ExitState)
		t.State |= es
	}
	t.stateName = k.stateName(t.State)
	k.taskStack(o, &t)
	if f.LastRan != "" {
		t.LastRan, _ = o.Uint(f.LastRan)
	}
	t.JournalInfo, _ = o.First("journal_info")
	t.Files, _ = o.First("files")
	switch f.CPU {
	case "cpu", "thread_info.cpu":
		c, _ := o.Uint(f.CPU)
		t.CPU = int(c)
	default:
		if t.Stack != 0 {
			ti, err := k.Object("struct thread_info", t.Stack)
			if err == nil {
				c, _ := ti.Uint("cpu")
				t.CPU = int(c)
			}
		}
	}
	return t, nil
}
