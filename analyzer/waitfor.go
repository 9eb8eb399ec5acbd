package analyzer

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vmtriage/vmtriage/symbols/dwarffunc"
)

// Wait is what a blocked task waits on, read from its stack frames and the
// objects their local variables point at, and who can end the wait.
type Wait struct {
	Task uint64 `json:"task"`
	// Kind is the kind of wait: mutex, rwsem-read, rwsem-write,
	// completion, buffer (a buffer_head's BH_Lock), journal-locked (a
	// jbd2 transaction that is T_LOCKED), journal-updates (a commit
	// waiting for open handles), journal-commit (a commit to finish),
	// dio (direct I/O in flight), or unknown.
	Kind string `json:"kind"`
	// Object is the lock, completion, buffer, journal or dio waited on.
	Object uint64 `json:"object,omitempty"`
	// What says it for people: "i_rwsem 0x... held by ...".
	What string `json:"what"`
	// Owners are the tasks that can end the wait (a lock's owner, the
	// holders of journal handles, the journal's commit thread).
	Owners []uint64 `json:"owners,omitempty"`
	// Device is where I/O the wait depends on is queued ("dm-0").
	Device string `json:"device,omitempty"`
	// Holds is true when the condition waited for already holds (a
	// completion done, a lock free, a dio with nothing in flight, a
	// transaction with no open handle): nobody is left to wake the task,
	// a lost wakeup.
	Holds bool `json:"holds,omitempty"`
	// Frame is the function whose frame the wait was read from.
	Frame string `json:"frame,omitempty"`
}

// waitSite is a function in whose frame a task waits, and the local
// variable that names what it waits on.
type waitSite struct {
	funcs []string
	local string
	kind  string
}

// waitSites are the waits the analyzer knows, innermost function first
// (the first frame of a task's trace that is one of them decides).
var waitSites = []waitSite{
	{[]string{"dio_await_one", "dio_await_completion", "__blockdev_direct_IO", "do_blockdev_direct_IO"}, "dio", "dio"},
	{[]string{"__iomap_dio_rw", "iomap_dio_rw"}, "dio", "iomap-dio"},
	{[]string{"__mutex_lock", "__mutex_lock_common", "__mutex_lock_slowpath"}, "lock", "mutex"},
	{[]string{"rt_mutex_slowlock", "__rt_mutex_slowlock", "rt_mutex_slowlock_block", "__rt_mutex_slowlock_locked"}, "lock", "mutex"},
	{[]string{"rwsem_down_write_slowpath"}, "sem", "rwsem-write"},
	{[]string{"rwsem_down_read_slowpath"}, "sem", "rwsem-read"},
	{[]string{"__wait_for_common", "do_wait_for_common", "wait_for_common", "wait_for_common_io"}, "x", "completion"},
	{[]string{"wait_on_buffer", "__wait_on_buffer", "__lock_buffer", "lock_buffer"}, "bh", "buffer"},
	{[]string{"wait_transaction_locked"}, "journal", "journal-locked"},
	{[]string{"jbd2_journal_wait_updates", "jbd2_journal_commit_transaction", "journal_commit_transaction"}, "journal", "journal-updates"},
	{[]string{"jbd2_log_wait_commit"}, "journal", "journal-commit"},
}

// FrameLocal reads a local variable of a frame (its value: a pointer for
// the variables waits name) through the DWARF location at the frame's pc.
func (k *Kernel) FrameLocal(f Frame, name string) (uint64, error) {
	v, err := k.frameLocal(f, name)
	if err != nil {
		return 0, err
	}
	if !v.HasValue {
		return 0, fmt.Errorf("%s of %s at 0x%x is %s %s", name, f.Func, f.Addr, v.Kind, v.Reason)
	}
	return v.Value, nil
}

// frameLocal evaluates a local variable of a frame with the registers and
// CFA the unwinder recovered for it.
func (k *Kernel) frameLocal(f Frame, name string) (dwarffunc.Value, error) {
	code := k.code()
	if code == nil {
		return dwarffunc.Value{}, errNoCode
	}
	regs := dwarffunc.Regs{Val: f.Regs.Val, Known: f.Regs.Known, CFA: f.CFA, CFAKnown: f.CFA != 0}
	return code.Local(f.PC, f.Func, name, regs)
}

// WaitOf says what a blocked task waits on, from its frames (see
// waitSites); Kind "unknown" when no frame is a known wait.
func (k *Kernel) WaitOf(t Task, frames []Frame) Wait {
	w := Wait{Task: t.Addr, Kind: "unknown", What: "waits in " + WaitChannel(frames)}
	unread := ""
	for _, f := range frames {
		for _, s := range waitSites {
			if !slices.Contains(s.funcs, f.Func) || (unread != "" && s.kind != w.Kind) {
				continue
			}
			w.Kind, w.Frame = s.kind, f.Func
			if s.kind == "dio" {
				k.dioWait(t, frames, &w)
				return w
			}
			obj, err := k.FrameLocal(f, s.local)
			if err != nil || obj == 0 {
				// optimized out here (PREEMPT_RT's inlined
				// rt_mutex_slowlock_block): an outer frame of the same
				// wait may have it
				if unread == "" {
					unread = fmt.Sprintf("%s in %s (its %s is unknown: %v)", s.kind, f.Func, s.local, err)
				}
				continue
			}
			w.Object = obj
			switch s.kind {
			case "mutex":
				k.mutexWait(obj, &w)
			case "rwsem-read", "rwsem-write":
				k.rwsemWait(obj, &w)
			case "completion":
				k.completionWait(obj, &w)
			case "buffer":
				k.bufferWait(obj, &w)
			case "iomap-dio":
				k.iomapDioWait(obj, &w)
			case "journal-locked", "journal-updates", "journal-commit":
				k.journalWait(t, obj, &w)
			}
			return w
		}
	}
	if k.journalQueueWait(t, &w) {
		return w
	}
	if unread != "" {
		w.What = unread
	}
	return w
}

// journalQueueWait finds a task on a journal's wait queues (writers on
// j_wait_transaction_locked, the commit thread on j_wait_updates): the
// wait when no frame local names it (2.6's jbd waits in
// start_this_handle and journal_commit_transaction themselves; a stack
// that could only be scanned has no locals).
func (k *Kernel) journalQueueWait(t Task, w *Wait) bool {
	js, err := k.Journals()
	if err != nil {
		return false
	}
	for i := range js {
		j := &js[i]
		switch {
		case slices.Contains(j.WaitLocked, t.Addr):
			w.Kind = "journal-locked"
		case slices.Contains(j.WaitUpdates, t.Addr):
			w.Kind = "journal-updates"
		default:
			continue
		}
		if w.Frame == "" {
			w.Frame = "(its journal's wait queue)"
		}
		k.describeJournalWait(t, j, w)
		return true
	}
	return false
}

func (k *Kernel) dioWait(t Task, frames []Frame, w *Wait) {
	d, ok, err := k.FindDIO(t, frames)
	if err != nil || !ok {
		w.What = fmt.Sprintf("direct I/O (no struct dio found: %v)", err)
		return
	}
	w.Object = d.Addr
	if d.Refcount == 1 && d.Waiter == t.Addr {
		w.Holds = true
		w.What = fmt.Sprintf("dio 0x%x with refcount 1: its I/O completed and nobody will wake the task", d.Addr)
		return
	}
	w.What = fmt.Sprintf("dio 0x%x with %d reference(s) left: I/O in flight", d.Addr, d.Refcount-1)
	w.Device = k.inodeDevice(d.Inode)
}

// iomapDioWait: a synchronous iomap direct I/O (fs/iomap/direct-io.c,
// 4.10+) sleeps until its last bio's completion clears dio->submit.waiter;
// dio->ref counts the bios still in flight plus the submitter's own.
func (k *Kernel) iomapDioWait(addr uint64, w *Wait) {
	d, err := k.Object("struct iomap_dio", addr)
	if err != nil {
		w.What = fmt.Sprintf("iomap dio 0x%x (unreadable: %v)", addr, err)
		return
	}
	ref, _ := d.First("ref.counter", "ref")
	waiter, _ := d.Uint("submit.waiter")
	file := ""
	if of, ok := k.iocbFile(d); ok {
		w.Device = k.inodeDevice(of.Inode)
		file = of.Path
	}
	if waiter == 0 {
		w.Holds = true
		w.What = fmt.Sprintf("iomap dio 0x%x whose submit.waiter is cleared (ref %d): its I/O completed and nobody will wake the task", addr, ref)
		return
	}
	// the submitter dropped its own reference before sleeping: ref is the bios in flight
	w.What = fmt.Sprintf("iomap dio 0x%x with %d bio(s) in flight", addr, ref)
	if file != "" {
		w.What += " for " + file
	}
	if w.Device != "" {
		w.What += ", queued on " + w.Device
	}
}

// iocbFile is the file a direct I/O's iocb writes (its ki_filp).
func (k *Kernel) iocbFile(dio Object) (OpenFile, bool) {
	iocb, err := dio.Uint("iocb")
	if err != nil || iocb == 0 {
		return OpenFile{}, false
	}
	io, err := k.Object("struct kiocb", iocb)
	if err != nil {
		return OpenFile{}, false
	}
	f, err := io.Uint("ki_filp")
	if err != nil {
		return OpenFile{}, false
	}
	of, err := k.File(f)
	return of, err == nil
}

// lockOwner reads a mutex's or rw_semaphore's owner word: a task pointer
// in the high bits, flags in the low 3 (4.10+, 3ca0ff571b09 "locking/mutex:
// Rework mutex::owner"; rwsem since 5.3, 94a9717b3c40), or an rt_mutex's
// owner with its has-waiters bit (PREEMPT_RT's mutex and rwsem).
func (k *Kernel) lockOwner(o Object, paths ...string) (owner, flags uint64, ok bool) {
	for _, p := range paths {
		v, err := o.Uint(p)
		if err == nil {
			return v &^ 7, v & 7, true
		}
	}
	return 0, 0, false
}

func (k *Kernel) mutexWait(addr uint64, w *Wait) {
	// PREEMPT_RT's rw_semaphore is an rt_mutex too (rwbase.rtmutex): a
	// task waiting for an inode's i_rwsem sleeps on that rt_mutex
	if st, err := k.Types.Lookup("struct rw_semaphore"); err == nil {
		if off, err := st.Offset("rwbase.rtmutex"); err == nil && addr > off {
			if _, ok := k.inodeOfRwsem(addr - off); ok {
				w.Kind, w.Object = "rwsem-write", addr-off
				k.rwsemWait(addr-off, w)
				return
			}
		}
	}
	m, err := k.Object("struct mutex", addr)
	if err != nil {
		// PREEMPT_RT's rt_mutex_slowlock takes a struct rt_mutex_base
		if m, err = k.Object("struct rt_mutex_base", addr); err != nil {
			w.What = fmt.Sprintf("mutex 0x%x (unreadable: %v)", addr, err)
			return
		}
	}
	owner, _, ok := k.lockOwner(m, "owner.counter", "owner", "rtmutex.owner")
	if !ok {
		w.What = fmt.Sprintf("mutex 0x%x", addr)
		return
	}
	k.ownedBy(fmt.Sprintf("mutex 0x%x", addr), owner, w)
}

func (k *Kernel) rwsemWait(addr uint64, w *Wait) {
	s, err := k.Object("struct rw_semaphore", addr)
	if err != nil {
		w.What = fmt.Sprintf("rw_semaphore 0x%x (unreadable: %v)", addr, err)
		return
	}
	name := fmt.Sprintf("rw_semaphore 0x%x", addr)
	if ino, ok := k.inodeOfRwsem(addr); ok {
		name = fmt.Sprintf("i_rwsem 0x%x of inode 0x%x", addr, ino)
		if p := k.InodePath(ino); p != "" {
			name = fmt.Sprintf("i_rwsem 0x%x of %s (inode 0x%x)", addr, p, ino)
		}
	}
	if s.Has("rwbase.rtmutex.owner") { // PREEMPT_RT: a writer owns the rt_mutex
		owner, _, _ := k.lockOwner(s, "rwbase.rtmutex.owner")
		k.ownedBy(name, owner, w)
		return
	}
	owner, flags, ok := k.lockOwner(s, "owner.counter", "owner")
	count, _ := s.First("count.counter", "count")
	if !ok {
		w.What = name
		return
	}
	const writerLocked, readerShift = 1, 8 // RWSEM_WRITER_LOCKED, RWSEM_READER_SHIFT (5.3+)
	switch {
	case count&writerLocked == 0 && count>>readerShift == 0:
		w.Holds = true
		w.What = fmt.Sprintf("%s, which is free (count 0x%x): nobody holds it and nobody will wake the task", name, count)
	case flags&1 != 0: // RWSEM_READER_OWNED: owner is the last reader, not all of them
		w.What = fmt.Sprintf("%s held by %d reader(s) (the last one task 0x%x)", name, count>>readerShift, owner)
		if owner != 0 {
			w.Owners = []uint64{owner}
		}
	default:
		k.ownedBy(name, owner, w)
	}
}

// ownedBy fills a wait on a lock (named with its address) with its owner.
func (k *Kernel) ownedBy(lock string, owner uint64, w *Wait) {
	if owner == 0 {
		w.Holds = true
		w.What = lock + ", which has no owner: nobody will wake the task"
		return
	}
	w.Owners = []uint64{owner}
	w.What = fmt.Sprintf("%s held by task 0x%x", lock, owner)
}

// inodeOfRwsem tells whether an rw_semaphore is an inode's i_rwsem (4.7+,
// 9902af79c01a; i_mutex before), by the inode's own pointers around it.
func (k *Kernel) inodeOfRwsem(sem uint64) (uint64, bool) {
	it, err := k.Types.Lookup("struct inode")
	if err != nil {
		return 0, false
	}
	off, err := it.Offset("i_rwsem")
	if err != nil || sem < off {
		return 0, false
	}
	ino, err := k.Object("struct inode", sem-off)
	if err != nil {
		return 0, false
	}
	// an inode's super_block has a root dentry on that super_block
	sbA, err := ino.Uint("i_sb")
	if err != nil || !k.Layout.IsKernelAddr(sbA) {
		return 0, false
	}
	sb, err := k.Object("struct super_block", sbA)
	if err != nil {
		return 0, false
	}
	root, err := sb.Uint("s_root")
	if err != nil || !k.Layout.IsKernelAddr(root) {
		return 0, false
	}
	d, err := k.Object("struct dentry", root)
	if err != nil {
		return 0, false
	}
	if dsb, err := d.Uint("d_sb"); err != nil || dsb != sbA {
		return 0, false
	}
	return ino.Addr, true
}

func (k *Kernel) completionWait(addr uint64, w *Wait) {
	c, err := k.Object("struct completion", addr)
	if err != nil {
		w.What = fmt.Sprintf("completion 0x%x (unreadable: %v)", addr, err)
		return
	}
	done, _ := c.Uint("done")
	if done > 0 {
		w.Holds = true
		w.What = fmt.Sprintf("completion 0x%x that is already done (%d): nobody will wake the task", addr, done)
		return
	}
	w.What = fmt.Sprintf("completion 0x%x, not done yet", addr)
}

func (k *Kernel) bufferWait(addr uint64, w *Wait) {
	bh, err := k.Object("struct buffer_head", addr)
	if err != nil {
		w.What = fmt.Sprintf("buffer_head 0x%x (unreadable: %v)", addr, err)
		return
	}
	state, _ := bh.Uint("b_state")
	block, _ := bh.Uint("b_blocknr")
	lockBit, err := k.Types.Constant("BH_Lock")
	if err != nil {
		lockBit = 2 // enum bh_state_bits: BH_Uptodate, BH_Dirty, BH_Lock
	}
	bdev, _ := bh.Uint("b_bdev")
	w.Device = k.bdevName(bdev)
	if state&(1<<uint(lockBit)) == 0 {
		w.Holds = true
		w.What = fmt.Sprintf("buffer_head 0x%x (block %d of %s) whose BH_Lock is clear: nobody will wake the task", addr, block, w.Device)
		return
	}
	w.What = fmt.Sprintf("buffer_head 0x%x (block %d of %s) locked for I/O: the I/O is queued on %s", addr, block, w.Device, w.Device)
}

// journalWait is describeJournalWait for the journal a frame local names.
func (k *Kernel) journalWait(t Task, journal uint64, w *Wait) {
	js, err := k.Journals()
	if err != nil {
		w.What = fmt.Sprintf("journal 0x%x (%v)", journal, err)
		return
	}
	for i := range js {
		if js[i].Addr == journal {
			k.describeJournalWait(t, &js[i], w)
			return
		}
	}
	w.What = fmt.Sprintf("journal 0x%x (not a mounted file system's)", journal)
}

// describeJournalWait fills a journal wait of w.Kind on j: the
// transaction, who can end it, whether it already holds.
func (k *Kernel) describeJournalWait(t Task, j *Journal, w *Wait) {
	where := fmt.Sprintf("the journal of %s (%s)", j.Mount, j.Device)
	switch w.Kind {
	case "journal-locked":
		w.Object = j.Transaction
		if j.CommitTask != 0 {
			w.Owners = []uint64{j.CommitTask}
		}
		w.What = fmt.Sprintf("transaction 0x%x of %s, %s: the commit thread unlocks it", j.Transaction, where, j.TState)
		if j.TState != "T_LOCKED" && j.TState != "T_SWITCH" {
			w.Holds = true
			w.What = fmt.Sprintf("transaction 0x%x of %s, which is %s, no longer locked: nobody will wake the task", j.Transaction, where, j.TState)
		}
	case "journal-updates":
		w.Object = j.Transaction
		holders := k.handleHolders(j.Transaction, t.Addr)
		w.Owners = holders
		w.What = fmt.Sprintf("%d open handle(s) on transaction 0x%x of %s", j.TUpdates, j.Transaction, where)
		if j.TUpdates == 0 {
			w.Holds = true
			w.What = fmt.Sprintf("transaction 0x%x of %s with no open handle (t_updates 0): nobody will wake the commit thread", j.Transaction, where)
		}
	case "journal-commit":
		if j.CommitTask != 0 {
			w.Owners = []uint64{j.CommitTask}
		}
		w.What = fmt.Sprintf("a commit of %s by its commit thread", where)
	}
}

// handleHolders are the tasks whose open journal handle is on a
// transaction.
func (k *Kernel) handleHolders(transaction, except uint64) []uint64 {
	tasks, err := k.Tasks()
	if err != nil {
		return nil
	}
	var out []uint64
	for _, t := range tasks {
		if t.Addr == except || t.JournalInfo == 0 {
			continue
		}
		if _, tr, err := k.HandleTransaction(t); err == nil && tr == transaction {
			out = append(out, t.Addr)
		}
	}
	return out
}

// bdevName names a block device: its disk's name ("dm-0", "sda") and
// partition number.
func (k *Kernel) bdevName(bdev uint64) string {
	if bdev == 0 {
		return "?"
	}
	b, err := k.Object("struct block_device", bdev)
	if err != nil {
		return fmt.Sprintf("block_device 0x%x", bdev)
	}
	disk, err := b.Uint("bd_disk")
	if err != nil || disk == 0 {
		return fmt.Sprintf("block_device 0x%x", bdev)
	}
	g, err := k.Object("struct gendisk", disk)
	if err != nil {
		return fmt.Sprintf("block_device 0x%x", bdev)
	}
	name, _ := g.Chars("disk_name")
	if p, err := b.First("bd_partno", "__bd_flags.counter"); err == nil && b.Has("bd_partno") && p != 0 {
		name += fmt.Sprint(p)
	}
	if name == "" {
		return fmt.Sprintf("block_device 0x%x", bdev)
	}
	return name
}

// InodePath is a path of an inode: its first dentry alias seen through a
// mount of its super_block; "" when it has none.
func (k *Kernel) InodePath(inode uint64) string {
	ino, err := k.Object("struct inode", inode)
	if err != nil {
		return ""
	}
	first, err := ino.Uint("i_dentry.first")
	if err != nil || first == 0 {
		return ""
	}
	dentry, err := k.containerOf(first, "struct dentry", "d_u.d_alias")
	if err != nil {
		if dentry, err = k.containerOf(first, "struct dentry", "d_alias"); err != nil {
			return ""
		}
	}
	sb, _ := ino.Uint("i_sb")
	mounts, err := k.Mounts()
	if err != nil {
		return ""
	}
	for _, m := range mounts {
		if m.SuperBlock == sb {
			if p, err := k.dentryPath(dentry, m.VFSMount); err == nil { // VFSMount is mountAt's address
				return p
			}
		}
	}
	return ""
}

// inodeDevice names the block device an inode's file system is on.
func (k *Kernel) inodeDevice(inode uint64) string {
	if inode == 0 {
		return ""
	}
	ino, err := k.Object("struct inode", inode)
	if err != nil {
		return ""
	}
	sbA, _ := ino.Uint("i_sb")
	sb, err := k.Object("struct super_block", sbA)
	if err != nil {
		return ""
	}
	id, _ := sb.Chars("s_id")
	return id
}

// WaitGraph is who waits for whom among blocked tasks: each task's wait,
// followed from owner to owner to a root (a task not blocked on another,
// a device, or a condition that already holds), and the cycles found on
// the way (deadlocks).
type WaitGraph struct {
	Waits map[uint64]Wait `json:"waits"`
	// Root is, for each waiting task, the end of its chain: a task, or 0
	// when the chain ends in the task's own wait (a device, a lost
	// wakeup, an unknown wait).
	Root map[uint64]uint64 `json:"root"`
	// Cycles are sets of tasks each waiting for the next (deadlocks).
	Cycles  [][]uint64 `json:"cycles,omitempty"`
	inCycle map[uint64]bool
}

// InCycle reports whether a task is one of a cycle's (a deadlock's).
func (g WaitGraph) InCycle(t uint64) bool { return g.inCycle[t] }

// BuildWaitGraph follows each wait's first owner to the end of its chain.
func BuildWaitGraph(waits map[uint64]Wait) WaitGraph {
	inCycle := map[uint64]bool{}
	g := WaitGraph{Waits: waits, Root: map[uint64]uint64{}, inCycle: inCycle}
	for t := range waits {
		seen := map[uint64]int{}
		var path []uint64
		cur := t
		for {
			if i, ok := seen[cur]; ok {
				cyc := append([]uint64(nil), path[i:]...)
				if !inCycle[cyc[0]] {
					for _, c := range cyc {
						inCycle[c] = true
					}
					sort.Slice(cyc, func(a, b int) bool { return cyc[a] < cyc[b] })
					g.Cycles = append(g.Cycles, cyc)
				}
				g.Root[t] = cur
				break
			}
			seen[cur] = len(path)
			path = append(path, cur)
			w, ok := waits[cur]
			if !ok || len(w.Owners) == 0 {
				g.Root[t] = cur
				break
			}
			cur = w.Owners[0]
		}
	}
	sort.Slice(g.Cycles, func(a, b int) bool { return g.Cycles[a][0] < g.Cycles[b][0] })
	return g
}

// Describe is a wait for people, its owners named by the tasks given.
func (w Wait) Describe(name func(uint64) string) string {
	s := w.What
	for _, o := range w.Owners {
		s = strings.ReplaceAll(s, fmt.Sprintf("task 0x%x", o), name(o))
	}
	return s
}
