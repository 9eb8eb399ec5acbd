#!/usr/bin/python3
"""The drgn oracle: what a reference tool with full DWARF says about a lab dump.

  python3 oracle_drgn.py [--config KCONFIG] DUMP VMLINUX [DEBUG_MODULE.ko ...] > drgn.json
  python3 oracle_drgn.py --waits-only DUMP VMLINUX [DEBUG_MODULE.ko ...]   (un_tasks and waits only)

oracle.py runs it inside the roots of roots.sh (inroot.sh sid|trixie python3 ...):
drgn 0.3.0 (sid) and 0.0.31 (trixie), both with libkdumpfile, read QEMU's ELF
(paging:false and paging:true) and makedumpfile's kdump files, not QEMU's flattened
kdump-zlib. It also runs with older drgn (0.0.22 reads only paging:true ELF and
makedumpfile files). The JSON on stdout is described key by key in oracle.py's
docstring (the drgn.json section). A part that fails records "<key>_error" and the
rest goes on; a failure to open the dump at all exits 1 with the error on stderr.
"""
import argparse
import json
import os
import re
import sys
import time

import drgn
from drgn import Object, cast
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_cpu

TASK_UNINTERRUPTIBLE = 2
TASK_NOLOAD = 0x400
T_STATES = ["T_RUNNING", "T_LOCKED", "T_SWITCH", "T_FLUSH", "T_COMMIT", "T_COMMIT_DFLUSH",
            "T_COMMIT_JFLUSH", "T_COMMIT_CALLBACK", "T_FINISHED"]
DIO_FUNCS = ("__blockdev_direct_IO", "dio_await_one", "dio_await_completion", "do_blockdev_direct_IO")


def h(v):
    return hex(int(v))


def s(v):
    return v.string_().decode(errors="replace")


def task_state(task):
    try:
        return int(task.__state)
    except AttributeError:  # before 5.14
        return int(task.state)


def state_letter(task):
    try:
        from drgn.helpers.linux.sched import task_state_to_char
        return task_state_to_char(task)
    except Exception as e:  # noqa: BLE001
        return f"?{e}"


def dio_fields(d):
    out = {"dio": h(d.value_()), "refcount": int(d.refcount), "waiter": h(d.waiter),
           "bio_list": h(d.bio_list), "is_async": int(d.is_async), "result": int(d.result)}
    try:
        out["size"] = int(d.size)
    except (LookupError, AttributeError):
        out["size"] = None  # struct dio has no size on 6.1+; see request_count
    try:
        out["iocb"] = h(d.iocb)
        out["iocb_ki_pos"] = int(d.iocb.ki_pos)
    except drgn.FaultError:
        pass
    return out


def read_jiffies(prog):
    try:
        return int(prog["jiffies"])
    except (KeyError, LookupError):  # x86_64: jiffies is a linker alias of jiffies_64
        return int(prog["jiffies_64"]) & 0xFFFFFFFFFFFFFFFF


def stack_frames(prog, task, extra):
    frames, detail = [], []
    dio = None
    count = None
    try:
        trace = prog.stack_trace(task)
    except Exception as e:  # noqa: BLE001
        return [f"<stack_trace failed: {e}>"], [], None, None
    user = 0
    for f in trace:
        try:
            pc = hex(f.pc)
        except Exception:  # noqa: BLE001
            pc = None
        if pc is not None and int(pc, 16) < 0xFFFF800000000000:
            # user space: keep the first frame (the syscall's return address), drop the rest,
            # which only a dump with user pages (QEMU's ELF) lets drgn unwind
            user += 1
            if user > 1:
                continue
        name = f.name or "??"
        frames.append(name + (" (inline)" if f.is_inline else ""))
        fr = {"function": name, "inline": bool(f.is_inline), "pc": pc}
        if not f.is_inline:
            try:
                fr["symbol"] = f.symbol().name  # the ELF symbol, what crash's bt names
            except (LookupError, ValueError):
                pass
        detail.append(fr)
        if name == "schedule_timeout" and "timeout_timer" not in extra:
            # the on-stack timer of schedule_timeout(): is a wakeup armed, and when?
            try:
                tm = f["timer"]
                if not tm.absent_:
                    exp = int(tm.timer.expires)
                    jif = read_jiffies(prog)
                    extra["timeout_timer"] = {"expires": exp, "jiffies": jif, "fires_in_jiffies": exp - jif,
                                              "pending": bool(tm.timer.entry.pprev.value_())}
            except (KeyError, LookupError, drgn.FaultError) as e:
                extra["timeout_timer_error"] = str(e)
        if name in DIO_FUNCS:
            for var, slot in (("dio", "dio"), ("count", "count")):
                try:
                    v = f[var]
                except (KeyError, LookupError):
                    continue
                if v.absent_:
                    continue
                if slot == "dio" and dio is None and v.value_():
                    dio = v
                elif slot == "count" and count is None:
                    count = int(v)
    if user > 1:
        extra["user_frames_dropped"] = user - 1
    return frames, detail, dio, count


def scan_stack_for_dio(prog, task):
    """Fallback: stack words D with D->waiter == task (what vmtriage does)."""
    stack = task.stack.value_()
    size = 16384
    data = prog.read(stack, size)
    tt = prog.type("struct dio *")
    seen = []
    for i in range(0, size, 8):
        v = int.from_bytes(data[i:i + 8], "little")
        if v < 0xFFFF800000000000 or stack <= v < stack + size or v in seen:
            continue
        try:
            d = Object(prog, tt, value=v)
            if d.waiter.value_() == task.value_() and 0 < int(d.refcount) < 64:
                seen.append(v)
        except drgn.FaultError:
            continue
    return [Object(prog, tt, value=v) for v in seen]


def mounts_of(prog):
    from drgn.helpers.linux.fs import for_each_mount, mount_dst, mount_fstype, mount_src
    out = []
    for mnt in for_each_mount(prog):
        out.append({"device": mount_src(mnt).decode(errors="replace"),
                    "mount_point": mount_dst(mnt).decode(errors="replace"),
                    "fs_type": mount_fstype(mnt).decode(errors="replace"),
                    "mount": h(mnt), "sb": h(mnt.mnt.mnt_sb)})
    return out


def mounted_journals(prog):
    """(super_block, journal_t) of every mounted ext4 with a journal, each super block once."""
    from drgn.helpers.linux.fs import for_each_mount
    seen = set()
    for mnt in for_each_mount(prog):
        sb = mnt.mnt.mnt_sb
        if sb.s_type.name.string_() != b"ext4" or sb.value_() in seen:
            continue
        seen.add(sb.value_())
        j = cast("struct ext4_sb_info *", sb.s_fs_info).s_journal
        if j:
            yield sb, j


def wait_queue_tasks(wq_head):
    """The tasks (task_struct *) on a wait_queue_head_t, in queue order."""
    return [cast("struct task_struct *", wq.private)
            for wq in list_for_each_entry("struct wait_queue_entry", wq_head.head.address_of_(), "entry")]


def journals(prog, un_pids):
    out = []
    for sb, j in mounted_journals(prog):
        jd = {"sb": h(sb), "journal": h(j), "device": s(j.j_devname), "s_id": s(sb.s_id),
              "j_task": {"pid": int(j.j_task.pid), "comm": s(j.j_task.comm), "task": h(j.j_task)}
              if j.j_task else None}
        for key in ("j_running_transaction", "j_committing_transaction"):
            t = j.member_(key)
            if t:
                st = int(t.t_state)
                jd[key] = {"transaction": h(t), "t_tid": int(t.t_tid),
                           "t_state": T_STATES[st] if st < len(T_STATES) else st,
                           "t_state_value": st, "t_updates": int(t.t_updates.counter)}
            else:
                jd[key] = None
        jd["wait_transaction_locked"] = [{"pid": int(tsk.pid), "comm": s(tsk.comm), "task": h(tsk)}
                                         for tsk in wait_queue_tasks(j.j_wait_transaction_locked)]
        jd["wait_updates"] = [{"pid": int(tsk.pid), "comm": s(tsk.comm)} for tsk in wait_queue_tasks(j.j_wait_updates)]
        # handle holders: tasks whose journal_info is a handle on this journal's transactions
        holders = []
        trans = {jd[k]["transaction"] for k in ("j_running_transaction", "j_committing_transaction") if jd[k]}
        for tsk in for_each_task(prog):
            ji = tsk.journal_info.value_()
            if not ji:
                continue
            try:
                hd = Object(prog, "handle_t *", value=ji)
                tr = h(hd.h_transaction)
            except drgn.FaultError:
                continue
            if tr in trans:
                holders.append({"pid": int(tsk.pid), "comm": s(tsk.comm), "handle": hex(ji),
                                "transaction": tr, "UN": int(tsk.pid) in un_pids})
        jd["handle_holders"] = holders
        out.append(jd)
    return out


# Where a blocked task waits, innermost frame first: (functions, local, kind). The same
# frames and locals vmtriage's analyzer/waitfor.go reads, followed here by hand with drgn.
WAIT_SITES = [
    (DIO_FUNCS, "dio", "dio"),
    (("__mutex_lock", "__mutex_lock_common", "__mutex_lock_slowpath"), "lock", "mutex"),
    (("rt_mutex_slowlock", "__rt_mutex_slowlock", "rt_mutex_slowlock_block", "__rt_mutex_slowlock_locked"),
     "lock", "mutex"),
    (("rwsem_down_write_slowpath",), "sem", "rwsem-write"),
    (("rwsem_down_read_slowpath",), "sem", "rwsem-read"),
    (("rwbase_write_lock",), "rwb", "rwsem-write"),
    (("__rwbase_read_lock", "rwbase_read_lock"), "rwb", "rwsem-read"),
    (("__wait_for_common", "do_wait_for_common", "wait_for_common", "wait_for_common_io"), "x", "completion"),
    (("__iomap_dio_rw", "iomap_dio_rw"), "dio", "iomap-dio"),
    (("wait_on_buffer", "__wait_on_buffer", "__lock_buffer", "lock_buffer"), "bh", "buffer"),
    (("wait_transaction_locked",), "journal", "journal-locked"),
    # 5.10 waits for t_updates inline in jbd2_journal_commit_transaction, 6.1+ in
    # jbd2_journal_wait_updates (its caller)
    (("jbd2_journal_wait_updates", "jbd2_journal_commit_transaction", "journal_commit_transaction"),
     "journal", "journal-updates"),
    (("jbd2_log_wait_commit",), "journal", "journal-commit"),
]
JOURNAL_QUEUES = (("j_wait_transaction_locked", "journal-locked"), ("j_wait_updates", "journal-updates"))


def inode_of_rwsem(prog, sem):
    """The inode whose i_rwsem sem is (its super_block's root dentry points back), or None."""
    from drgn import container_of
    try:
        ino = container_of(sem, "struct inode", "i_rwsem")
        sb = ino.i_sb
        if sb and sb.s_root and sb.s_root.d_sb.value_() == sb.value_():
            return ino
    except (LookupError, drgn.FaultError):
        pass
    return None


def tid_geq(x, y):
    """jbd2's tid_geq: x is y or later (tid_t wraps at 2^32)."""
    return ((int(x) - int(y)) & 0xFFFFFFFF) < 0x80000000


def bdev_name(bdev):
    """A block device's name ("dm-0", "sda1"), as the kernel prints it."""
    from drgn.helpers.linux.block import disk_name, part_name
    try:
        return part_name(bdev).decode(errors="replace")  # 5.11+: a partition is a block_device
    except (AttributeError, LookupError):
        pass
    try:
        return part_name(bdev.bd_part).decode(errors="replace")  # 5.10: its hd_struct
    except (AttributeError, LookupError):
        return disk_name(bdev.bd_disk).decode(errors="replace")


def dio_wait(prog, w, task, frames):
    """A dio wait: the `dio` local of the first DIO_FUNCS frame that has one (frames: the
    trace from the first DIO_FUNCS frame out), else the stack scan (waiter == task)."""
    d = None
    for f in frames:
        if f.name not in DIO_FUNCS:
            continue
        try:
            v = f["dio"]
        except (KeyError, LookupError):
            continue
        if not v.absent_ and v.value_():
            d = v
            w.update({"function": f.name, "inline": bool(f.is_inline), "dio_from": "frame local"})
            break
        w.setdefault("skipped", []).append(f"{f.name}: local dio {'absent' if v.absent_ else 'NULL'} at {hex(f.pc)}")
    if d is None:
        c = scan_stack_for_dio(prog, task)
        if not c:
            w["error"] = "no dio local and none on the stack"
            return
        d = c[0]
        w["dio_from"] = "stack scan (waiter == task)"
    w["object"] = h(d.value_())
    w["type"] = str(d.type_)
    w["refcount"], w["waiter"] = int(d.refcount), h(d.waiter)
    # refcount 1 is the submitter's own reference: every bio ended; dio_bio_end_io's
    # wakeup goes to waiter, so a waiter that is the task and nothing in flight: lost
    w["holds"] = w["refcount"] == 1 and d.waiter.value_() == task.value_()
    w["owners"], w["owner_pids"] = [], []  # the bios' completions end it, no task
    if not w["holds"]:
        w["device"] = s(d.inode.i_sb.s_id)


def journal_wait(prog, w, task, j, by_addr, tid=None):
    """A jbd2 wait on journal j, with what vmtriage's journalWait calls its object: the
    running transaction (journal-locked, journal-updates) or the journal (journal-commit).
    Its state and t_updates are the running transaction's, else the committing one's."""
    kind = w["kind"]
    run = j.j_running_transaction
    tr = run if run else j.j_committing_transaction
    w["journal"] = h(j)
    w["j_running_transaction"] = h(run)
    if tr:
        st = int(tr.t_state)
        w["t_state"] = T_STATES[st] if st < len(T_STATES) else st
        w["t_updates"] = int(tr.t_updates.counter)
    w["queues"] = [name for name, _ in JOURNAL_QUEUES
                   if task.value_() in {t.value_() for t in wait_queue_tasks(j.member_(name))}]
    owners = [j.j_task.value_()] if j.j_task else []
    if kind == "journal-locked":
        # start_this_handle sleeps on j_wait_transaction_locked while the running
        # transaction is T_LOCKED (T_SWITCH: 6.5+'s fast-commit switch); the commit thread
        # wakes the queue once it moves the transaction on
        w["object"] = h(run)
        w["holds"] = w.get("t_state") not in ("T_LOCKED", "T_SWITCH")
    elif kind == "journal-updates":
        # the commit thread waits on j_wait_updates for t_updates to drop to 0; each
        # open handle (a task's journal_info with h_transaction == the transaction)
        # ends with jbd2_journal_stop, which wakes it
        w["object"] = h(run)
        owners = []
        if run:
            for tsk in sorted(for_each_task(prog), key=lambda t: int(t.pid)):
                ji = tsk.journal_info.value_()
                if not ji or tsk.value_() == task.value_():
                    continue
                try:
                    if Object(prog, "handle_t *", value=ji).h_transaction.value_() == run.value_():
                        owners.append(tsk.value_())
                except drgn.FaultError:
                    continue
        w["holds"] = w.get("t_updates") == 0
    elif kind == "journal-commit":
        # jbd2_log_wait_commit: wait_event(j_wait_done_commit, !tid_gt(tid, j_commit_sequence))
        w["object"] = h(j)
        w["j_commit_sequence"] = int(j.j_commit_sequence)
        if tid is not None:  # the frame's `tid` local
            w["tid"] = tid
            w["holds"] = tid_geq(j.j_commit_sequence, tid)
    w["owners"] = [hex(o) for o in owners]
    w["owner_pids"] = [by_addr.get(o, (None,))[0] for o in owners]


def owned_by(w, owner, by_addr):
    """A lock's owner word read: owner, owner_pid/owner_comm (null when 0), owners[],
    owner_pids[], and holds (nobody owns it: nobody will wake the task)."""
    w["owner"] = hex(owner)
    if owner:
        pid, comm = by_addr.get(owner, (None, None))
        w["owner_pid"], w["owner_comm"] = pid, comm
        w["owners"], w["owner_pids"] = [hex(owner)], [pid]
    else:
        w["owner_pid"] = None
        w["owners"], w["owner_pids"] = [], []
    w["holds"] = owner == 0


def waits(prog, un_tasks):
    """For each UN task: the first frame (innermost first) that is a WAIT_SITES function,
    the object its local points to, who can end the wait (owners, owner_pids) and whether
    what it waits for already holds (holds), read by hand:
    dio: refcount, waiter (holds: refcount 1 and waiter the task);
    mutex: owner.counter & ~7 (PREEMPT_RT's rt_mutex_base: owner & ~1 ... & ~7);
    rw_semaphore: owner.counter & ~7 and count (PREEMPT_RT: rwbase.rtmutex.owner);
    completion: done; iomap dio: ref, submit.waiter; buffer_head: b_state's BH_Lock;
    jbd2: the journal's running transaction, its state and t_updates, j_task, the tasks
    whose journal_info handle is on it, j_commit_sequence and the `tid` waited for.
    A task no frame says (or whose every wait frame lost its local) that sits on a
    journal's j_wait_transaction_locked or j_wait_updates queue waits there."""
    by_addr = {}
    for tsk in for_each_task(prog):
        by_addr[tsk.value_()] = (int(tsk.pid), s(tsk.comm))
    out = []
    for ent in un_tasks:
        task = Object(prog, "struct task_struct *", value=int(ent["task"], 16))
        w = {"pid": ent["pid"], "comm": ent["comm"], "kind": "unknown"}
        try:
            trace = list(prog.stack_trace(task))
        except Exception as e:  # noqa: BLE001
            w["error"] = f"stack_trace: {e}"
            out.append(w)
            continue
        for i, f in enumerate(trace):
            site = next((x for x in WAIT_SITES if f.name in x[0]), None)
            if site is None:
                continue
            funcs, local, kind = site
            w.update({"kind": kind, "function": f.name, "inline": bool(f.is_inline), "local": local})
            if kind == "dio":
                try:
                    dio_wait(prog, w, task, trace[i:])
                except (LookupError, AttributeError, drgn.FaultError) as e:
                    w["error"] = f"{type(e).__name__}: {e}"
                break
            # a frame whose local the compiler dropped at this pc: the next wait frame out
            # (PREEMPT_RT 6.1: rt_mutex_slowlock_block's lock, then __rt_mutex_slowlock_locked's)
            try:
                v = f[local]
                err = "absent (optimized out)" if v.absent_ else None
            except (KeyError, LookupError) as e:
                err = f"not found: {e}"
            if err:
                w.setdefault("skipped", []).append(f"{f.name}: local {local} {err} at {hex(f.pc)}")
                w["error"] = "every wait frame's local is unreadable"
                continue
            w.pop("error", None)
            w["object"] = h(v.value_())
            w["type"] = str(v.type_)
            o = v[0]
            try:
                if kind == "mutex":
                    tn = str(o.type_)
                    if "rt_mutex_base" in tn:
                        word = o.owner.value_()
                    elif o.type_.has_member("owner"):
                        word = o.owner.counter.value_()
                    else:  # PREEMPT_RT struct mutex
                        word = o.rtmutex.owner.value_()
                    word &= (1 << 64) - 1  # atomic_long_t: a signed long
                    w["owner_word"] = hex(word)
                    owned_by(w, word & ~7, by_addr)
                    if "rt_mutex_base" in tn and prog.type("struct rw_semaphore").has_member("rwbase"):
                        # PREEMPT_RT: the rt_mutex of an rw_semaphore (down_write -> rwbase_write_lock)?
                        from drgn import container_of
                        ino = inode_of_rwsem(prog, container_of(v, "struct rw_semaphore", "rwbase.rtmutex"))
                        if ino is not None:
                            w["rtmutex_of_i_rwsem"] = h(ino.i_rwsem.address_of_())
                            w["inode"], w["i_ino"] = h(ino.value_()), int(ino.i_ino)
                elif kind in ("rwsem-read", "rwsem-write"):
                    count = None
                    if "rwbase_rt" in str(o.type_):
                        word = o.rtmutex.owner.value_()
                        w["readers"] = int(o.readers.counter)
                    elif o.type_.has_member("rwbase"):
                        word = o.rwbase.rtmutex.owner.value_()
                        w["readers"] = int(o.rwbase.readers.counter)
                    else:
                        word = o.owner.counter.value_()
                        count = o.count.counter.value_() & 0xFFFFFFFFFFFFFFFF
                        w["count"] = hex(count)
                        w["reader_owned"] = bool(word & 1)
                    word &= (1 << 64) - 1
                    w["owner_word"] = hex(word)
                    owned_by(w, word & ~7, by_addr)
                    if count is not None:
                        # RWSEM_WRITER_LOCKED (bit 0) and the readers (count >> RWSEM_READER_SHIFT 8)
                        # say whether anyone holds it; a reader-owned one's owner is only its last reader
                        w["holds"] = count & 1 == 0 and count >> 8 == 0
                        if w["holds"]:
                            w["owners"], w["owner_pids"] = [], []
                    # PREEMPT_RT: rw_semaphore starts with its rwbase_rt: the same address
                    ino = inode_of_rwsem(prog, Object(prog, "struct rw_semaphore *", value=v.value_()))
                    if ino is not None:
                        w["inode"] = h(ino.value_())
                        w["i_ino"] = int(ino.i_ino)
                        w["i_rwsem"] = True
                elif kind == "completion":
                    w["done"] = int(o.done)
                    w["holds"] = w["done"] > 0
                    w["owners"], w["owner_pids"] = [], []
                elif kind == "iomap-dio":
                    w["ref"] = int(o.ref.counter)
                    w["submit_waiter"] = h(o.submit.waiter)
                    w["size"] = int(o.size)
                    w["holds"] = not o.submit.waiter
                    w["owners"], w["owner_pids"] = [], []
                    try:
                        w["device"] = s(o.iocb.ki_filp.f_inode.i_sb.s_id)
                    except (LookupError, AttributeError, drgn.FaultError):
                        pass
                elif kind == "buffer":
                    try:
                        bit = int(prog["BH_Lock"])
                    except (KeyError, LookupError):
                        bit = 2  # enum bh_state_bits: BH_Uptodate, BH_Dirty, BH_Lock
                    w["b_state"] = hex(int(o.b_state))
                    w["b_blocknr"] = int(o.b_blocknr)
                    w["device"] = bdev_name(o.b_bdev)
                    # __wait_on_buffer sleeps until end_buffer_*_sync's unlock_buffer
                    # clears BH_Lock (and wakes the bit's waiters)
                    w["holds"] = not (int(o.b_state) >> bit) & 1
                    w["owners"], w["owner_pids"] = [], []
                elif kind.startswith("journal-"):
                    tid = None
                    if kind == "journal-commit":
                        try:
                            tid = None if f["tid"].absent_ else int(f["tid"])
                        except (KeyError, LookupError):
                            pass
                    journal_wait(prog, w, task, v, by_addr, tid)
            except (LookupError, AttributeError, drgn.FaultError) as e:
                w["error"] = f"{type(e).__name__}: {e}"
            break
        if w["kind"] == "unknown" or w.get("error") == "every wait frame's local is unreadable":
            # no frame names it: the journal wait queue it sits on (vmtriage's journalQueueWait)
            try:
                for _, j in mounted_journals(prog):
                    q = next((k for name, k in JOURNAL_QUEUES
                              if task.value_() in {t.value_() for t in wait_queue_tasks(j.member_(name))}), None)
                    if q:
                        w.pop("error", None)
                        w.update({"kind": q, "function": "(its journal's wait queue)", "inline": False, "local": None})
                        journal_wait(prog, w, task, j, by_addr)
                        break
            except (LookupError, AttributeError, drgn.FaultError) as e:
                w["queue_error"] = f"{type(e).__name__}: {e}"
        out.append(w)
    return out


def online_cpus(prog):
    try:
        from drgn.helpers.linux.cpumask import for_each_online_cpu
        return list(for_each_online_cpu(prog))
    except Exception:  # noqa: BLE001
        return [0]


def task_entry(prog, task, idle=False):
    st = task_state(task)
    try:
        cpu = task_cpu(task)
    except Exception:  # noqa: BLE001
        cpu = None
    try:
        ppid = int(task.real_parent.pid)
    except (AttributeError, drgn.FaultError):
        ppid = None
    return {"pid": int(task.pid), "tgid": int(task.tgid), "ppid": ppid, "cpu": cpu, "task": h(task),
            "state": state_letter(task), "state_value": st, "exit_state": int(task.exit_state),
            "comm": s(task.comm), "kthread": bool(int(task.flags) & 0x00200000), "idle": idle}


def all_tasks(prog):
    out, seen = [], set()
    for task in for_each_task(prog):
        seen.add(task.value_())
        out.append(task_entry(prog, task))
    # the other CPUs' idle tasks (swapper/N) are not on the task list; crash lists them
    for cpu in online_cpus(prog):
        try:
            t = per_cpu(prog["runqueues"], cpu).idle
        except (KeyError, LookupError, drgn.FaultError):
            continue
        if t.value_() not in seen:
            seen.add(t.value_())
            out.append(task_entry(prog, t, idle=True))
    for e in out:
        if e["pid"] == 0:
            e["idle"] = True
    out.sort(key=lambda e: (e["pid"], e["cpu"] if e["cpu"] is not None else -1))
    return out


def hz_of(prog, kconfig):
    """CONFIG_HZ: from tick_nsec (= NSEC_PER_SEC/HZ rounded), else the config file."""
    try:
        tn = int(prog["tick_nsec"])
        if tn:
            return round(1e9 / tn), "tick_nsec"
    except (KeyError, LookupError, drgn.FaultError):
        pass
    if kconfig and os.path.exists(kconfig):
        m = re.search(r"^CONFIG_HZ=(\d+)$", open(kconfig).read(), re.M)
        if m:
            return int(m.group(1)), os.path.basename(kconfig)
    return None, None


def system(prog, kconfig):
    out = {}
    try:
        out["hz"], out["hz_from"] = hz_of(prog, kconfig)
    except Exception as e:  # noqa: BLE001
        out["hz_error"] = str(e)
    try:
        out["hung_task_timeout_secs"] = int(prog["sysctl_hung_task_timeout_secs"])
    except (KeyError, LookupError, drgn.FaultError) as e:
        out["hung_task_timeout_secs"] = None
        out["hung_task_timeout_secs_error"] = str(e)
    try:
        try:
            ps = int(prog["PAGE_SIZE"])
        except (KeyError, LookupError):
            ps = 4096
        try:
            pages = int(prog["_totalram_pages"].counter)
        except (KeyError, LookupError, AttributeError):
            pages = int(prog["totalram_pages"])
        out["page_size"] = ps
        out["totalram_pages"] = pages
        out["memory_bytes"] = pages * ps
    except Exception as e:  # noqa: BLE001
        out["memory_error"] = str(e)
    try:
        out["jiffies"] = read_jiffies(prog)
    except Exception as e:  # noqa: BLE001
        out["jiffies_error"] = str(e)
    try:
        out["nodename"] = s(prog["init_uts_ns"].name.nodename)
    except Exception:  # noqa: BLE001
        pass
    return out


def modules_of(prog):
    from drgn.helpers.linux.module import for_each_module, module_address_regions
    out = []
    for m in for_each_module(prog):
        regions = module_address_regions(m)
        out.append({"name": s(m.name), "module": h(m), "base": hex(regions[0][0]) if regions else None,
                    "size": regions[0][1] if regions else None})
    return sorted(out, key=lambda e: e["name"])


def dmesg_tail(prog, n=20):
    from drgn.helpers.linux.printk import get_dmesg
    return get_dmesg(prog).decode(errors="replace").splitlines()[-n:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", help="the kernel's config file (for CONFIG_HZ when tick_nsec is missing)")
    ap.add_argument("--waits-only", action="store_true",
                    help="only un_tasks (pid, tgid, comm, task) and waits: oracle.py --waits-only refreshes drgn.json's waits")
    ap.add_argument("dump")
    ap.add_argument("vmlinux")
    ap.add_argument("modules", nargs="*")
    a = ap.parse_args()
    t0 = time.time()
    prog = drgn.Program()
    try:
        prog.set_core_dump(a.dump)
    except Exception as e:  # noqa: BLE001
        print(f"drgn: set_core_dump: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    warnings = []
    try:
        prog.load_debug_info([a.vmlinux] + a.modules, default=False, main=True)
    except drgn.MissingDebugInfoError as e:
        warnings.append(str(e)[:2000])
        print(f"drgn: {e}", file=sys.stderr)
    res = {"dump": os.path.abspath(a.dump), "vmlinux": os.path.abspath(a.vmlinux),
           "drgn_version": drgn.__version__,
           "drgn_with_libkdumpfile": bool(getattr(drgn, "_with_libkdumpfile", False)),
           "release": s(prog["init_uts_ns"].name.release), "un_tasks": []}
    if warnings:
        res["debug_info_warnings"] = warnings
    if a.waits_only:
        res["waits_only"] = True
        for task in for_each_task(prog):
            st = task_state(task)
            if st & TASK_UNINTERRUPTIBLE and not st & TASK_NOLOAD:
                res["un_tasks"].append({"pid": int(task.pid), "tgid": int(task.tgid), "comm": s(task.comm), "task": h(task)})
        res["un_tasks"].sort(key=lambda e: e["pid"])
        try:
            res["waits"] = waits(prog, res["un_tasks"])
        except Exception as e:  # noqa: BLE001
            res["waits_error"] = f"{type(e).__name__}: {e}"
        res["seconds"] = round(time.time() - t0, 2)
        json.dump(res, sys.stdout, indent=1)
        print()
        return
    since_arrival = None
    try:
        from drgn.helpers.linux.sched import task_since_last_arrival_ns as since_arrival
    except ImportError:
        pass
    for task in for_each_task(prog):
        st = task_state(task)
        if not (st & TASK_UNINTERRUPTIBLE) or st & TASK_NOLOAD:
            continue
        extra = {}
        frames, detail, dio, count = stack_frames(prog, task, extra)
        cpu = task_cpu(task)
        ent = {"pid": int(task.pid), "tgid": int(task.tgid), "comm": s(task.comm),
               "task": h(task), "cpu": cpu, "state": st, "stack": frames, "stack_frames": detail}
        try:
            rq_clock = int(per_cpu(prog["runqueues"], cpu).clock)
            last = int(task.sched_info.last_arrival)
            ent["blocked_seconds"] = round((rq_clock - last) / 1e9, 3)
            ent["sched_info_last_arrival"] = last
            ent["rq_clock"] = rq_clock
        except (LookupError, drgn.FaultError, AttributeError):
            pass
        if since_arrival is not None:
            try:
                ent["blocked_seconds_drgn_helper"] = round(int(since_arrival(task)) / 1e9, 3)
            except Exception as e:  # noqa: BLE001
                ent["blocked_seconds_drgn_helper_error"] = str(e)
        ent.update(extra)
        if dio is not None:
            ent["dio_from"] = "DWARF local `dio` of __blockdev_direct_IO (inlined dio_await_one)"
            ent["dio"] = dio_fields(dio)
        else:
            try:
                c = scan_stack_for_dio(prog, task)
            except (LookupError, drgn.FaultError):
                c = []
            if c:
                ent["dio_from"] = "stack scan (waiter == task)"
                ent["dio"] = dio_fields(c[0])
        if count is not None and "dio" in ent:
            ent["dio"]["request_count"] = count
        res["un_tasks"].append(ent)
    res["un_tasks"].sort(key=lambda e: e["pid"])
    un_pids = {e["pid"] for e in res["un_tasks"]}
    try:
        from drgn import offsetof, sizeof
        off = {m: offsetof(prog.type("struct dio"), m) for m in ("refcount", "bio_list", "waiter", "is_async", "result")}
        res["dio_layout"] = {"size": sizeof(prog.type("struct dio")), "offsets": off}
    except (LookupError, ImportError) as e:
        res["dio_layout_error"] = str(e)
    for key, fn in (("waits", lambda: waits(prog, res["un_tasks"])),
                    ("journals", lambda: journals(prog, un_pids)), ("tasks", lambda: all_tasks(prog)),
                    ("mounts", lambda: mounts_of(prog)), ("dmesg_tail", lambda: dmesg_tail(prog)),
                    ("modules", lambda: modules_of(prog))):
        try:
            res[key] = fn()
        except Exception as e:  # noqa: BLE001 (no ext4 types, a helper missing in this drgn, a fault)
            res[key + "_error"] = f"{type(e).__name__}: {e}"
    res.update(system(prog, a.config))  # hz, hung_task_timeout_secs, memory_bytes, ... (top level)
    res["seconds"] = round(time.time() - t0, 2)
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
