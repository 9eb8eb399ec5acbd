#!/usr/bin/python3
"""The drgn oracle: what a reference tool with full DWARF says about a lab dump.

  /usr/bin/python3 oracle_drgn.py DUMP VMLINUX [DEBUG_MODULE.ko ...] > drgn.json

DUMP: a paging:true QEMU ELF or a makedumpfile kdump file (drgn 0.0.22 reads
neither QEMU's paging:false ELF nor flattened files). Prints JSON:
  un_tasks[]: every TASK_UNINTERRUPTIBLE task (not TASK_IDLE = UN|NOLOAD, as crash's "ID") (pid, comm, task, cpu, state, stack,
              blocked_seconds = rq->clock - sched_info.last_arrival, and the
              schedule_timeout() timer when one is armed: expires, jiffies)
              and the struct dio it waits on (from the local `dio` of the inlined
              dio_await_one / __blockdev_direct_IO frames; stack scan as fallback)
  journals[]: every jbd2 journal of a mounted ext4 (device, running/committing
              transaction, t_state, t_updates, j_task, tasks on
              j_wait_transaction_locked, handle holders)
"""
import json
import os
import sys
import time

import drgn
from drgn import Object, cast
from drgn.helpers.linux.fs import for_each_mount
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_cpu

TASK_UNINTERRUPTIBLE = 2
TASK_NOLOAD = 0x400
T_STATES = ["T_RUNNING", "T_LOCKED", "T_SWITCH", "T_FLUSH", "T_COMMIT", "T_COMMIT_DFLUSH",
            "T_COMMIT_JFLUSH", "T_COMMIT_CALLBACK", "T_FINISHED"]


def h(v):
    return hex(int(v))


def dio_fields(d):
    out = {"dio": h(d.value_()), "refcount": int(d.refcount), "waiter": h(d.waiter),
           "bio_list": h(d.bio_list), "is_async": int(d.is_async), "result": int(d.result)}
    try:
        out["size"] = int(d.size)
    except (LookupError, AttributeError):
        out["size"] = None  # struct dio has no size on 6.1; see request_count
    try:
        out["iocb"] = h(d.iocb)
        out["iocb_ki_pos"] = int(d.iocb.ki_pos)
    except drgn.FaultError:
        pass
    return out


def stack_frames(prog, task, extra):
    frames = []
    dio = None
    count = None
    try:
        trace = prog.stack_trace(task)
    except Exception as e:  # noqa: BLE001
        return [f"<stack_trace failed: {e}>"], None, None
    for f in trace:
        name = f.name or "??"
        frames.append(name + (" (inline)" if f.is_inline else ""))
        if name == "schedule_timeout" and "timeout_timer" not in extra:
            # the on-stack timer of schedule_timeout(): is a wakeup armed, and when?
            try:
                tm = f["timer"]
                if not tm.absent_:
                    exp = int(tm.timer.expires)
                    try:
                        jif = int(prog["jiffies"])
                    except KeyError:  # x86_64: jiffies is a linker alias of jiffies_64
                        jif = int(prog["jiffies_64"]) & 0xFFFFFFFFFFFFFFFF
                    extra["timeout_timer"] = {"expires": exp, "jiffies": jif, "fires_in_jiffies": exp - jif,
                                              "pending": bool(tm.timer.entry.pprev.value_())}
            except (KeyError, LookupError, drgn.FaultError) as e:
                extra["timeout_timer_error"] = str(e)
        if name in ("__blockdev_direct_IO", "dio_await_one", "dio_await_completion", "do_blockdev_direct_IO"):
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
    return frames, dio, count


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


def journals(prog, un_pids):
    out = []
    seen = set()
    for mnt in for_each_mount(prog):
        sb = mnt.mnt.mnt_sb
        if sb.s_type.name.string_() != b"ext4" or sb.value_() in seen:
            continue
        seen.add(sb.value_())
        sbi = cast("struct ext4_sb_info *", sb.s_fs_info)
        j = sbi.s_journal
        if not j:
            continue
        jd = {"sb": h(sb), "journal": h(j), "device": j.j_devname.string_().decode(),
              "s_id": sb.s_id.string_().decode(),
              "j_task": {"pid": int(j.j_task.pid), "comm": j.j_task.comm.string_().decode(), "task": h(j.j_task)}
              if j.j_task else None}
        for key in ("j_running_transaction", "j_committing_transaction"):
            t = j.member_(key)
            if t:
                st = int(t.t_state)
                jd[key] = {"transaction": h(t), "t_tid": int(t.t_tid), "t_state": T_STATES[st] if st < len(T_STATES) else st,
                           "t_state_value": st, "t_updates": int(t.t_updates.counter)}
            else:
                jd[key] = None
        waiting = []
        for wq in list_for_each_entry("struct wait_queue_entry", j.j_wait_transaction_locked.head.address_of_(), "entry"):
            tsk = cast("struct task_struct *", wq.private)
            waiting.append({"pid": int(tsk.pid), "comm": tsk.comm.string_().decode(), "task": h(tsk)})
        jd["wait_transaction_locked"] = waiting
        upd = []
        for wq in list_for_each_entry("struct wait_queue_entry", j.j_wait_updates.head.address_of_(), "entry"):
            tsk = cast("struct task_struct *", wq.private)
            upd.append({"pid": int(tsk.pid), "comm": tsk.comm.string_().decode()})
        jd["wait_updates"] = upd
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
                holders.append({"pid": int(tsk.pid), "comm": tsk.comm.string_().decode(), "handle": hex(ji),
                                "transaction": tr, "UN": int(tsk.pid) in un_pids})
        jd["handle_holders"] = holders
        out.append(jd)
    return out


def main():
    dump, vmlinux, mods = sys.argv[1], sys.argv[2], sys.argv[3:]
    t0 = time.time()
    prog = drgn.Program()
    prog.set_core_dump(dump)
    try:
        prog.load_debug_info([vmlinux] + mods, default=False, main=True)
    except drgn.MissingDebugInfoError as e:
        print(f"drgn: {e}", file=sys.stderr)
    res = {"dump": os.path.abspath(dump), "vmlinux": os.path.abspath(vmlinux),
           "release": prog["init_uts_ns"].name.release.string_().decode(), "un_tasks": []}
    for task in for_each_task(prog):
        st = int(task.__state)
        if not (st & TASK_UNINTERRUPTIBLE) or st & TASK_NOLOAD:
            continue
        extra = {}
        frames, dio, count = stack_frames(prog, task, extra)
        cpu = task_cpu(task)
        ent = {"pid": int(task.pid), "tgid": int(task.tgid), "comm": task.comm.string_().decode(),
               "task": h(task), "cpu": cpu, "state": st, "stack": frames}
        try:
            rq_clock = int(per_cpu(prog["runqueues"], cpu).clock)
            last = int(task.sched_info.last_arrival)
            ent["blocked_seconds"] = round((rq_clock - last) / 1e9, 3)
            ent["sched_info_last_arrival"] = last
            ent["rq_clock"] = rq_clock
        except (LookupError, drgn.FaultError):
            pass
        ent.update(extra)
        if dio is not None:
            ent["dio_from"] = "DWARF local `dio` of __blockdev_direct_IO (inlined dio_await_one)"
            ent["dio"] = dio_fields(dio)
        else:
            c = scan_stack_for_dio(prog, task)
            if c:
                ent["dio_from"] = "stack scan (waiter == task)"
                ent["dio"] = dio_fields(c[0])
        if count is not None and "dio" in ent:
            ent["dio"]["request_count"] = count
        res["un_tasks"].append(ent)
    res["un_tasks"].sort(key=lambda e: e["pid"])
    un_pids = {e["pid"] for e in res["un_tasks"]}
    try:
        res["journals"] = journals(prog, un_pids)
    except LookupError as e:  # no ext4 types: ext4.ko debug info not given
        res["journals_error"] = str(e)
    res["seconds"] = round(time.time() - t0, 2)
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
