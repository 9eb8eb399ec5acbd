#!/usr/bin/python3
"""Oracle outputs for one lab scenario: what the reference tools say about its dumps.

  oracle.py --cache LINEDIR --scenario S [--jobs N]
  oracle.py --cache LINEDIR --scenario S --recompare   (no tool run: parse and compare again)
  oracle.py --cache LINEDIR --scenario S --waits-only  (drgn.json's waits only, see below)

LINEDIR is one kernel line's directory ($CACHE/lines/<line>/, or the old $CACHE):
  LINEDIR/vmlinux                  the debug vmlinux        LINEDIR/config   (optional)
  LINEDIR/debug-modules/**/*.ko    debug modules (drgn; crash `mod -s jbd2`)
  LINEDIR/dumps/S/<format>.vmcore  format in elf-nopaging elf-paging kdump-zlib-flat
                                   mdf-zlib mdf-lzo (whichever exist)
The tools run in the roots of roots.sh through inroot.sh (the lab cache is mounted at
the same path inside; LINEDIR is bound too when it lies outside the cache):
  primary:         sid    drgn 0.3.0 (libkdumpfile), crash 9.0.2
  second opinions: trixie drgn 0.0.31 (libkdumpfile), crash 8.0.6
The sid root must exist (exit 1 otherwise); a missing trixie root, or a trixie tool
that cannot read a format, is recorded, never a failure. drgn reads every format but
kdump-zlib-flat (QEMU's flattened file): it is not run on that one. crash runs on every
format; when it stops on module data (crash 9.0.2 on 7.2: "invalid structure member
offset: module_num_gpl_syms") it is run again with --no_modules (then `mod -s` fails and
bt cannot name module functions), and LINEDIR/.oracle-crash-flags.json remembers that for
the line's next scenarios. A crash that stops on "invalid structure member offset/size"
(crash 8.0.6 on 7.2: kmem_cache_s_num) cannot read the kernel in any format: its other
formats, here and in the line's next scenarios, are not run (their run says "not run: ...").
Previous outputs of the scenario are deleted first; drgn.json is renamed into place
last (lab.sh takes its presence as "oracle done"). Exit 0 when drgn 0.3.0 read one
format, 1 otherwise. `jobs` tool runs at a time (default 2, env ORACLE_JOBS).
--waits-only runs nothing but `oracle_drgn.py --waits-only` (sid's drgn 0.3.0: the UN tasks
and their waits, about a second) on the dump drgn.json names, checks its UN tasks are
drgn.json's, and replaces drgn.json's waits (or waits_error) with its answer, adding
waits_refreshed; drgn.json is rewritten atomically, nothing else is touched (lab.sh step
oracle-waits does it for every scenario of the lines asked for).

Files written in LINEDIR/dumps/S/:

drgn.json -- oracle_drgn.py under sid's drgn 0.3.0 on the PRIMARY format: the first
  of elf-paging, elf-nopaging, mdf-zlib, mdf-lzo that exists and drgn opens.
  dump, vmlinux (paths), release, drgn_version, drgn_with_libkdumpfile, seconds,
  debug_info_warnings[] (only when some debug info was missing)
  un_tasks[]: tasks in TASK_UNINTERRUPTIBLE (__state & 2) without TASK_NOLOAD
      (TASK_IDLE is not UN, as in crash's "ID"), sorted by pid:
    pid, tgid, comm, task ("0x..." task_struct), cpu, state (int __state),
    stack[]: "function" or "function (inline)", innermost first (drgn stack_trace());
      one "<stack_trace failed: ...>" entry when drgn cannot unwind; of the user-space
      frames only the first (the syscall's return address, named "0x7f...") is kept,
      user_frames_dropped: N tells how many more drgn unwound (ELF dumps hold user pages),
    stack_frames[]: {function, inline (bool), pc ("0x..."), symbol (the ELF symbol at pc,
      for non-inline frames: what crash's bt names; absent when drgn has none)},
    blocked_seconds: (runqueues[cpu].clock - sched_info.last_arrival) / 1e9, rounded to
      ms: what vmtriage computes; with sched_info_last_arrival and rq_clock (ns),
    blocked_seconds_drgn_helper: drgn's task_since_last_arrival_ns / 1e9 (0.3.0),
    timeout_timer: {expires, jiffies, fires_in_jiffies, pending} when the task sits in
      schedule_timeout with its on-stack timer (absent otherwise; timeout_timer_error),
    dio (absent when none): {dio, refcount, waiter, bio_list, is_async, result, size
      (null: no such member since 6.1), iocb, iocb_ki_pos, request_count (the `count`
      local, when present)} -- addresses "0x..." strings, the rest integers,
    dio_from: "DWARF local `dio` of ..." or "stack scan (waiter == task)".
  waits[] (waits_error): for each UN task, in un_tasks' order, what it waits on, followed by
      hand (the frames and locals vmtriage's analyzer/waitfor.go reads, and what it calls
      the object of each kind):
    pid, comm, kind ("dio", "iomap-dio", "mutex", "rwsem-read", "rwsem-write", "completion",
      "buffer", "journal-locked", "journal-updates", "journal-commit", or "unknown" when no
      frame is one of these and the task is on no journal wait queue), function (the
      innermost frame that is one of: dio_await_one/dio_await_completion/
      [do_|__]blockdev_direct_IO, __iomap_dio_rw, __mutex_lock, rt_mutex_slowlock...,
      rwsem_down_{read,write}_slowpath, rwbase_*, __wait_for_common/do_wait_for_common,
      [__]wait_on_buffer/[__]lock_buffer, wait_transaction_locked, jbd2_journal_wait_updates/
      jbd2_journal_commit_transaction, jbd2_log_wait_commit; "(its journal's wait queue)"
      when only the queue says it), inline (bool), local (dio, lock, sem, rwb, x, bh,
      journal; the dio's frame is the first dio function whose local `dio` is set), object
      ("0x...": see each kind), type (the local's C type), skipped[] (wait frames whose local
      is optimized out at that pc: the next one out was read), error,
    owners[] ("0x..." tasks that can end the wait), owner_pids[] (theirs; null for an
      address that is no task), holds (bool: what the task waits for already holds, so
      nobody is left to wake it: a lost wakeup; absent when unknown),
    dio: object = the struct dio; dio_from ("frame local" or "stack scan (waiter == task)":
      the first stack word whose dio->waiter is the task), refcount, waiter; holds =
      refcount 1 and waiter the task; device (the inode's s_id) when it does not; no owners;
    mutex: object = the lock; owner_word (owner.counter; PREEMPT_RT's rt_mutex_base: owner),
      owner (word & ~7), owner_pid and owner_comm (the task at that address; owner_pid null
      when owner is 0); holds = owner 0; on PREEMPT_RT when the rt_mutex is an i_rwsem's:
      rtmutex_of_i_rwsem, inode, i_ino;
    rwsem-*: owner_word, owner, owner_pid, owner_comm, count ("0x..."), reader_owned (owner
      bit 0: the owner is the last reader), PREEMPT_RT: readers; i_rwsem true, inode, i_ino
      when the rw_semaphore is an inode's i_rwsem (its sb's root dentry points back); holds =
      count has no writer bit and no reader (PREEMPT_RT: rtmutex owner 0), no owner then;
    completion: done, holds = done > 0, no owners;  iomap-dio: ref, submit_waiter, size,
      device (the iocb's file's s_id), holds = submit_waiter 0, no owners;
    buffer: object = the buffer_head; b_state ("0x..."), b_blocknr, device (the block
      device's name, "dm-0"), holds = BH_Lock clear; no owners;
    journal-*: journal, j_running_transaction, t_state and t_updates (of the running
      transaction, else the committing one), queues[] (which of the journal's
      j_wait_transaction_locked, j_wait_updates the task is on);
      journal-locked (a writer in start_this_handle): object = the running transaction,
        owners = the journal's commit thread j_task, holds = t_state neither T_LOCKED nor
        T_SWITCH;
      journal-updates (the commit thread waiting for t_updates): object = the running
        transaction, owners = the other tasks whose journal_info is a handle_t with
        h_transaction == it (by pid), holds = t_updates 0;
      journal-commit (jbd2_log_wait_commit): object = the journal, owners = j_task,
        j_commit_sequence, tid (the frame's local), holds = tid_geq(j_commit_sequence, tid).
  waits_refreshed (only after oracle.py --waits-only): {drgn_version, format, seconds (wall),
      cpu_seconds, drgn_seconds, date}.
  journals[] (journals_error instead when ext4/jbd2 types are missing): for every
      mounted ext4 with a journal: sb, journal, device (j_devname), s_id,
    j_task {pid, comm, task} or null, j_running_transaction / j_committing_transaction:
      {transaction, t_tid, t_state ("T_LOCKED"...), t_state_value, t_updates} or null,
    wait_transaction_locked[] {pid, comm, task}, wait_updates[] {pid, comm},
    handle_holders[] {pid, comm, handle, transaction, UN (bool)}.
  tasks[] (tasks_error): every task on the task list plus each online CPU's idle task
      (crash lists those too), sorted by (pid, cpu):
    pid, tgid, ppid (real_parent->pid), cpu, task, state (letter of drgn's
    task_state_to_char: R S D T t X Z P I ...), state_value (int), exit_state, comm,
    kthread (PF_KTHREAD), idle (pid 0).
  mounts[] (mounts_error): {device, mount_point, fs_type, mount, sb} of the init mount
      namespace, as drgn's for_each_mount/mount_src/mount_dst/mount_fstype give them.
  dmesg_tail[] (dmesg_tail_error): the last 20 lines of the kernel log ("[    1.234] ...").
  hz, hz_from ("tick_nsec" = round(1e9/tick_nsec), or the config file's name),
  hung_task_timeout_secs (sysctl_hung_task_timeout_secs; null + ..._error if absent),
  page_size, totalram_pages, memory_bytes (= totalram_pages * page_size), jiffies, nodename,
  dio_layout {size, offsets {refcount, bio_list, waiter, is_async, result}} (dio_layout_error),
  modules[] (modules_error): {name, module, base (first address region: the text), size}.

drgn-<format>.json -- the same from drgn 0.3.0 on each other format drgn reads (cross-check:
  mdf files may lack pages). On failure: {"error": "...", "rc": N, "format": ...}.
drgn-trixie.json -- the same from trixie's drgn 0.0.31 on the primary format, or
  {"error", "rc", "format"}. (0.0.31 cannot unwind 7.2 stacks: "<stack_trace failed: ...>".)

crash.cmd -- the crash input, one command per line as `CMD > NN.out` (NN = 00, 01, ...:
  each output to its own file in the run's scratch directory, crash's cwd), then quit:
  sys; ps; bt PID for each drgn UN task; for each drgn dio: struct dio ADDR,
  rd ADDR+offsetof(refcount) 3, struct task_struct.pid,comm WAITER; for journals: mod -s jbd2
  KO, struct journal_s.j_devname,j_running_transaction,j_committing_transaction,j_task J,
  struct transaction_s.t_tid,t_state,t_updates T (running transaction).
crash-no_modules.cmd -- the same for a crash run with --no_modules, when there are journals:
  `gdb add-symbol-file JBD2_KO BASE` (BASE: jbd2's text address from drgn.json's modules)
  in place of `mod -s`, so that the journal types are known.
crash-<format>.txt -- crash 9.0.2's answers: a first line "# crash -s [--no_modules] VMLINUX
  DUMP -i crash.cmd" (or crash-no_modules.cmd), then for each command that produced output a line "@@@vmtriage CMD"
  and its output as crash printed it (`struct dio {` ... `  refcount = 2,` ...), then
  "# console:" (what crash printed on stdout itself: its errors and warnings) and
  "# stderr:" (crash's stderr).
crash-<format>.json -- that output parsed:
  tool ("crash 9.0.2"), root ("sid"), format, rc, seconds, cpu_seconds, peak_rss_kb, no_modules (bool),
  first_attempt {rc, seconds, peak_rss_kb, error} (the failed run, when --no_modules was needed),
  loaded (bool: `sys` printed a KERNEL line), console[] (its last 40 non-empty lines),
  stderr[] (last 20),
  sys {KEY: value} (KERNEL, DUMPFILE, CPUS, DATE, UPTIME, LOAD AVERAGE, TASKS, NODENAME,
    RELEASE, VERSION, MACHINE, MEMORY, PANIC as crash prints them),
  ps[] {pid, ppid, cpu, task ("0x..."), state (crash's: RU IN UN ID ZO ...), letter (the
    same as a /proc letter: R S D I Z ...), comm (without [ ]), kthread ([comm]), active (">")},
  bt {PID: {functions[] (frame #0 first), pcs[] ("0x..." each frame's address), task, cpu,
    command}},
  dio {ADDR: {member: value string}} (the top-level members of `struct dio ADDR`, as crash
    prints them, "0x..." or decimal; a nested struct is left out, a { counter = N } one is N,
    a char array is its string up to the first \\000),
  rd {ADDR: ["0x..." words]}, waiters {ADDR: {pid (int), comm}},
  journal {ADDR: {j_devname, j_running_transaction, ...}}, transaction {ADDR: {...}},
  mod_s_jbd2 (bool: jbd2's debug info loaded, by mod -s or gdb add-symbol-file), errors[] (lines of the command outputs that say crash refused),
  error (only when not loaded: the line that says why, e.g. "crash: invalid structure member
  offset: kmem_cache_s_num"), skipped (instead of all the above but tool/root/format/loaded,
  when the run was not made: "not run: ...").
crash-trixie-<format>.txt / .json -- the same from trixie's crash 8.0.6.

oracle.json -- scenario, line_dir, primary_format, formats[], seconds (wall), versions
  {sid, trixie} (the roots' versions.json), runs[] {tool ("drgn-0.3.0" ...), root, format,
  out, rc, seconds (wall), cpu_seconds (user+sys), peak_rss_kb (ru_maxrss of the tool), error}, drgn {format: run},
  crash {format: run} (sid; the old keys), drgn_trixie, crash_trixie {format: run},
  compare {NAME: {...}} where NAME is crash-<format>, crash-trixie-<format>,
  drgn-<format>, drgn-trixie: the answer checked against drgn.json, with
  disagreements[] (strings; empty = agrees); disagreements {NAME: [...]} repeats the
  non-empty ones. A crash answer is checked task by task (matched by task address: pid,
  ppid but for idle tasks, which crash always gives PPID 0, cpu, state letter, comm; tasks
  only one side lists), the UN pids, each UN task's bt against drgn's non-inline kernel
  frames by return address, each dio's refcount/waiter/bio_list/is_async/result, each
  journal's running transaction with its t_state/t_updates, RELEASE, and TASKS against
  len(tasks); its compare entry also has loaded, tasks {drgn, crash} (counts), un {drgn,
  crash} (UN pids), task_field_diffs (count) and sys_memory. A drgn answer is checked for
  the same UN tasks (pid, comm), kernel stacks, dios, journals, (pid, task, state) of
  every task, hz, hung_task_timeout_secs, memory_bytes, release and mounts.
  Known, expected ones: a task in TASK_WAKING (0x200) is 'R' for drgn (the kernel's
  task_state_index, as /proc) and WA for crash; crash 9.0.2 --no_modules (7.2) names no
  module function in bt.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INROOT = os.path.join(HERE, "inroot.sh")
FORMATS = ["elf-nopaging", "elf-paging", "kdump-zlib-flat", "mdf-zlib", "mdf-lzo"]
DRGN_ORDER = ["elf-paging", "elf-nopaging", "mdf-zlib", "mdf-lzo"]  # primary = first that works
NOT_FOR_DRGN = {"kdump-zlib-flat": "drgn reads no flattened makedumpfile/QEMU kdump files"}
MARK = "@@@vmtriage "
CRASH_LETTER = {"RU": "R", "IN": "S", "UN": "D", "ST": "T", "TR": "t", "ZO": "Z", "DE": "X",
                "ID": "I", "PA": "P", "WA": "W", "WK": "K", "NE": "N", "SW": "W"}
TIMEOUT = 300


def cache_dir():
    return os.path.realpath(os.path.join(os.environ.get("VMTRIAGE_CACHE") or
                                         os.path.expanduser("~/.cache/vmtriage"), "realkernel"))


class Runner:
    def __init__(self, linedir):
        self.env = dict(os.environ)
        binds = [HERE + ":ro"]
        ld = os.path.realpath(linedir)
        if not (ld + "/").startswith(cache_dir() + "/"):
            binds.append(ld)
        self.env["INROOT_BIND"] = " ".join(binds)
        self.roots = {}
        self.cpu = {}  # out_path -> user+sys CPU seconds of the run
        for r in ("sid", "trixie"):
            p = os.path.join(cache_dir(), "roots", r, "versions.json")
            self.roots[r] = json.load(open(p)) if os.path.exists(p) else None

    def run(self, root, cmd, out_path, cwd=None):
        """cmd inside root; stdout to out_path. Returns (rc, seconds, peak_rss_kb, stderr)."""
        full = [INROOT, root] + cmd
        t = time.time()
        with open(out_path, "w") as fo, tempfile.TemporaryFile(mode="w+") as fe:
            p = subprocess.Popen(full, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=self.env, cwd=cwd)
            timer = threading.Timer(TIMEOUT, p.kill)
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            p.returncode = rc = os.waitstatus_to_exitcode(status)
            fe.seek(0)
            err = fe.read()
        self.cpu[out_path] = round(ru.ru_utime + ru.ru_stime, 2)
        return rc, round(time.time() - t, 2), ru.ru_maxrss, err


def drgn_job(R, root, fmt, dump, out, vmlinux, mods, config):
    cmd = ["python3", os.path.join(HERE, "oracle_drgn.py")]
    if config:
        cmd += ["--config", config]
    rc, dt, rss, err = R.run(root, cmd + [dump, vmlinux] + mods, out)
    ver = (R.roots.get(root) or {}).get("drgn", "?")
    run = {"tool": f"drgn-{ver}", "root": root, "format": fmt, "out": os.path.basename(out),
           "rc": rc, "seconds": dt, "cpu_seconds": R.cpu.get(out), "peak_rss_kb": rss}
    if rc != 0:
        lines = [l for l in err.strip().splitlines() if l.strip()]
        run["error"] = lines[-1] if lines else f"exit {rc}"
        with open(out, "w") as f:
            json.dump({"error": run["error"], "rc": rc, "format": fmt, "stderr_tail": err[-3000:]}, f, indent=1)
    return run


MODULE_FAIL = re.compile(r"module|kernel module", re.I)


def crash_job(R, root, fmt, dump, vmlinux, cmdsets, d, state):
    """crash on one format. crash.cmd sends each command's output to its own file
    (`CMD > NN.out`, relative to crash's cwd, a scratch directory of this run):
    crash's `echo` is unbuffered and lands mid-output, so markers cannot be printed by
    crash itself. The .txt is assembled from those files, each under "@@@vmtriage CMD"."""
    ver = (R.roots.get(root) or {}).get("crash", "?")
    stem = "crash-" + ("" if root == "sid" else root + "-") + fmt
    txt, js = os.path.join(d, stem + ".txt"), os.path.join(d, stem + ".json")
    scratch = os.path.join(d, "." + stem + ".out")
    first = None
    no_mod = state.get(root, False)
    if state.get(root + "-unreadable"):
        why = "not run: " + state[root + "-unreadable"]
        with open(txt, "w") as f:
            f.write(f"# {why}\n")
        with open(js, "w") as f:
            json.dump({"tool": f"crash {ver}", "root": root, "format": fmt, "loaded": False, "skipped": why}, f, indent=1)
        return {"tool": f"crash-{ver}", "root": root, "format": fmt, "out": os.path.basename(txt),
                "json": os.path.basename(js), "rc": None, "seconds": 0, "cpu_seconds": 0, "peak_rss_kb": None,
                "no_modules": no_mod, "error": why}
    while True:
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        flags = ["--no_modules"] if no_mod else []
        cmdfile, cmds = cmdsets[bool(no_mod)]
        cmd = ["crash", "-s"] + flags + [vmlinux, dump, "-i", cmdfile]
        console = os.path.join(scratch, "console")
        rc, dt, rss, err = R.run(root, cmd, console, cwd=scratch)
        cpu = R.cpu.get(console)
        parts = ["# " + " ".join(cmd)]
        for i, c in enumerate(cmds):
            o = os.path.join(scratch, f"{i:02d}.out")
            if os.path.exists(o):
                parts += [MARK + c, open(o, errors="replace").read().rstrip("\n")]
        parts += ["# console:", open(console, errors="replace").read().rstrip("\n"), "# stderr:", err[-20000:]]
        text = "\n".join(parts) + "\n"
        with open(txt, "w") as f:
            f.write(text)
        loaded = re.search(r"^\s+KERNEL: ", text, re.M) is not None
        if loaded or no_mod or not MODULE_FAIL.search(err + text[-3000:]):
            break
        first = {"rc": rc, "seconds": dt, "cpu_seconds": cpu, "peak_rss_kb": rss, "error": crash_error(err, text)}
        no_mod = state[root] = True
        state["save"](root, first["error"])
    shutil.rmtree(scratch, ignore_errors=True)
    parsed = parse_crash(text)
    parsed.update({"tool": f"crash {ver}", "root": root, "format": fmt, "rc": rc, "seconds": dt,
                   "cpu_seconds": cpu, "peak_rss_kb": rss, "no_modules": no_mod, "loaded": loaded})
    if first:
        parsed["first_attempt"] = first
    if not loaded:
        parsed["error"] = crash_error(err, text) or f"exit {rc}"
    with open(js, "w") as f:
        json.dump(parsed, f, indent=1)
    run = {"tool": f"crash-{ver}", "root": root, "format": fmt, "out": os.path.basename(txt), "json": os.path.basename(js),
           "rc": rc, "seconds": dt, "cpu_seconds": cpu, "peak_rss_kb": rss, "no_modules": no_mod}
    if first:
        run["seconds_first_attempt"] = first["seconds"]
    if not loaded:
        run["error"] = crash_error(err, text) or f"exit {rc}"
        if STRUCTURAL.search(run["error"]):  # this crash cannot read this kernel, whatever the format
            state["unreadable"](root, f"{run['error']} (crash {ver}, {state['scenario']} {fmt})")
    return run


STRUCTURAL = re.compile(r"invalid structure (member offset|size)")


def crash_error(err, text):
    """The line that says why crash stopped: its first "crash: ..." line, else the last."""
    lines = [l.strip() for l in (err + "\n" + text.split("# console:")[-1]).splitlines()
             if l.strip() and not l.startswith("#")]
    for l in lines:
        if l.startswith("crash: ") or l.startswith("crash-"):
            return l
    return lines[-1] if lines else ""


# ---------------------------------------------------------------- crash output parsing

PS_RE = re.compile(r"^(>?)\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+([A-Z]{2})\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(.*?)\s*$")
BT_HEAD = re.compile(r'^PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\d+)\s+COMMAND:\s*"(.*)"')
BT_FRAME = re.compile(r"^\s*#(\d+)\s+\[[0-9a-f]+\]\s+(\S+)\s+at\s+([0-9a-f]+)")
MEMBER = re.compile(r"^  (\w+) = (.*?),?$")
ERR_RE = re.compile(r"^(crash|\w+): (invalid|cannot|no |unknown|not |.*(error|failed|invalid))|^(gdb: )?No symbol|"
                    r"^invalid |^struct: |^mod: |^rd: |^bt: ", re.I)


def sections(text):
    """-> (console lines, stderr lines, [(CMD, output lines)])."""
    out, cur, tail, where = [], None, {"console": [], "stderr": []}, None
    for line in text.splitlines():
        if line.startswith("# console:") or line.startswith("# stderr:"):
            where = line[2:-1]
            continue
        if where:
            if line.strip():
                tail[where].append(line)
        elif line.startswith(MARK):
            cur = [line[len(MARK):].strip(), []]
            out.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return tail["console"], tail["stderr"], out


def members(lines):
    """Top-level `  name = value,` lines of a crash struct print. A nested struct is left
    out, except an atomic_t/atomic_long_t-like one ({ counter = N }), kept as N."""
    m, nested = {}, None
    for l in lines:
        if nested is not None:
            if re.match(r"^  [}\]]", l):
                if len(nested[1]) == 1:
                    m.setdefault(nested[0], nested[1][0])
                nested = None
            else:
                c = re.match(r"^\s+counter = (.*?),?$", l)
                if c:
                    nested[1].append(c.group(1))
                elif l.strip():
                    nested[1].append(None)
                    nested[1].append(None)
            continue
        mm = MEMBER.match(l)
        if not mm or mm.group(1) in m:
            continue
        if mm.group(2) in ("{", "{{"):
            nested = (mm.group(1), [])
        else:
            v = mm.group(2).rstrip(",")
            if v.startswith('"'):  # char arrays: "dm-0-8\000\000..." -> dm-0-8
                v = v.strip('"').split("\\000")[0]
            m[mm.group(1)] = v
    return m


def parse_crash(text):
    console, stderr, secs = sections(text)
    res = {"console": console[-40:], "stderr": stderr[-20:], "sys": {}, "ps": [], "bt": {}, "dio": {}, "rd": {}, "waiters": {},
           "journal": {}, "transaction": {}, "mod_s_jbd2": False, "errors": []}
    for cmd, lines in secs:
        words = cmd.split()
        res["errors"] += [f"{cmd}: {l.strip()}" for l in lines if ERR_RE.search(l.strip())]
        if cmd == "sys":
            for l in lines:
                if ":" in l:
                    k, v = l.split(":", 1)
                    if k.strip().isupper() or k.strip() == "LOAD AVERAGE":
                        res["sys"][k.strip()] = v.strip()
        elif cmd == "ps":
            for l in lines:
                m = PS_RE.match(l)
                if not m:
                    continue
                comm = m.group(10)
                kt = comm.startswith("[") and comm.endswith("]")
                res["ps"].append({"pid": int(m.group(2)), "ppid": int(m.group(3)), "cpu": int(m.group(4)),
                                  "task": "0x" + m.group(5).lstrip("0"), "state": m.group(6),
                                  "letter": CRASH_LETTER.get(m.group(6), "?"), "comm": comm[1:-1] if kt else comm,
                                  "kthread": kt, "active": m.group(1) == ">"})
        elif words[0] == "bt" and len(words) == 2:
            ent = {"functions": [], "pcs": []}
            for l in lines:
                m = BT_HEAD.match(l.strip())
                if m:
                    ent.update({"pid": int(m.group(1)), "task": "0x" + m.group(2).lstrip("0"),
                                "cpu": int(m.group(3)), "command": m.group(4)})
                m = BT_FRAME.match(l)
                if m:
                    ent["functions"].append(m.group(2))
                    ent["pcs"].append("0x" + m.group(3).lstrip("0"))
            res["bt"][words[1]] = ent
        elif words[:2] == ["struct", "dio"] and len(words) == 3:
            res["dio"][words[2]] = members(lines)
        elif words[0] == "rd":
            ws = []
            for l in lines:
                if re.match(r"^[0-9a-f]+:\s", l):
                    ws += [w for w in l.split(":", 1)[1].split() if re.fullmatch(r"[0-9a-f]{16}", w)]
            res["rd"][words[1]] = ["0x" + (w.lstrip("0") or "0") for w in ws]
        elif words[0] == "struct" and words[1].startswith("task_struct."):
            m = members(lines)
            res["waiters"][words[2]] = {"pid": num(m.get("pid")), "comm": m.get("comm")}
        elif words[:2] == ["mod", "-s"] or words[:2] == ["gdb", "add-symbol-file"]:
            res["mod_s_jbd2"] = any(re.search(r"jbd2", l) for l in lines) and not any(
                ERR_RE.search(l.strip()) for l in lines)
        elif words[0] == "struct" and words[1].startswith("journal_s."):
            res["journal"][words[2]] = members(lines)
        elif words[0] == "struct" and words[1].startswith("transaction_s."):
            res["transaction"][words[2]] = members(lines)
    return res


# ---------------------------------------------------------------- comparisons with drgn.json

def num(v):
    if v is None:
        return None
    if isinstance(v, int):
        return v
    v = str(v).strip().strip(",")
    try:
        return int(v, 0)
    except ValueError:
        m = re.match(r"^(-?\d+)", v)
        return int(m.group(1)) if m else v


def compare_crash(oracle, c):
    dis = []
    out = {"loaded": c.get("loaded"), "disagreements": dis}
    if not c.get("loaded"):
        dis.append(f'crash did not load the dump: {c.get("skipped") or c.get("error")}')
        return out
    if oracle.get("tasks"):
        dt = {t["task"]: t for t in oracle["tasks"]}
        ct = {t["task"]: t for t in c["ps"]}
        out["tasks"] = {"drgn": len(dt), "crash": len(ct)}
        miss = [f'{dt[a]["pid"]} {dt[a]["comm"]}' for a in dt if a not in ct]
        extra = [f'{ct[a]["pid"]} {ct[a]["comm"]}' for a in ct if a not in dt]
        if miss:
            dis.append(f"{len(miss)} drgn tasks not in crash ps: {', '.join(miss[:15])}")
        if extra:
            dis.append(f"{len(extra)} crash ps tasks not in drgn: {', '.join(extra[:15])}")
        diffs = []
        for a in dt.keys() & ct.keys():
            x, y = dt[a], ct[a]
            for k, ck in (("pid", "pid"), ("ppid", "ppid"), ("cpu", "cpu"), ("state", "letter"), ("comm", "comm")):
                if k == "ppid" and x["pid"] == 0:
                    continue  # crash prints PPID 0 for every idle task; swapper/N's real_parent is init
                if x.get(k) != y.get(ck):
                    diffs.append(f'pid {x["pid"]} {k}: drgn {x.get(k)!r} crash {y.get(ck)!r}'
                                 + (f' ({y["state"]})' if k == "state" else ""))
        out["task_field_diffs"] = len(diffs)
        if diffs:
            dis.append(f"{len(diffs)} task fields differ: " + "; ".join(sorted(diffs)[:15]))
    un_d = sorted(t["pid"] for t in oracle["un_tasks"])
    un_c = sorted(t["pid"] for t in c["ps"] if t["state"] == "UN")
    out["un"] = {"drgn": un_d, "crash": un_c}
    if un_d != un_c:
        dis.append(f"UN tasks: drgn {un_d} crash {un_c}")
    for t in oracle["un_tasks"]:
        bt = c["bt"].get(str(t["pid"]))
        if bt is None:
            continue
        # drgn's non-inline kernel frames against crash's frames, by return address (the
        # names may differ: aliases such as __x64_sys_sync/__ia32_sys_sync, or crash's
        # entry_SYSCALL_64_after_hwframe label inside entry_SYSCALL_64)
        dfr = [f for f in t.get("stack_frames", [])
               if not f["inline"] and f["pc"] and int(f["pc"], 16) >= 0xFFFF800000000000]
        if not bt["functions"]:
            dis.append(f'pid {t["pid"]}: crash bt shows no frames')
        elif dfr and [int(f["pc"], 16) for f in dfr] != [int(x, 16) for x in bt.get("pcs", [])]:
            dis.append(f'pid {t["pid"]} stack: drgn {[f.get("symbol", f["function"]) for f in dfr]} '
                       f'crash {bt["functions"]}')
        if "dio" in t:
            cd = c["dio"].get(t["dio"]["dio"])
            if not cd:
                dis.append(f'dio {t["dio"]["dio"]}: crash printed no struct dio')
                continue
            for k in ("refcount", "waiter", "bio_list", "is_async", "result"):
                if num(cd.get(k)) != num(t["dio"][k]):
                    dis.append(f'dio {t["dio"]["dio"]} {k}: drgn {t["dio"][k]} crash {cd.get(k)}')
    for j in oracle.get("journals", []):
        cj = c["journal"].get(j["journal"])
        if not cj:
            dis.append(f'journal {j["journal"]}: crash printed nothing (mod -s jbd2: {c["mod_s_jbd2"]})')
            continue
        rt = j.get("j_running_transaction")
        if num(cj.get("j_running_transaction")) != num(rt["transaction"] if rt else 0):
            dis.append(f'journal {j["journal"]} running transaction: drgn {rt and rt["transaction"]} crash {cj.get("j_running_transaction")}')
        if rt:
            ct = c["transaction"].get(rt["transaction"], {})
            if ct.get("t_state") != rt["t_state"] or num(ct.get("t_updates")) != rt["t_updates"]:
                dis.append(f'transaction {rt["transaction"]}: drgn {rt["t_state"]} t_updates {rt["t_updates"]}, crash {ct}')
    sysd = c.get("sys", {})
    if oracle.get("release") and sysd.get("RELEASE") and sysd["RELEASE"] != oracle["release"]:
        dis.append(f'release: drgn {oracle["release"]} crash {sysd["RELEASE"]}')
    if oracle.get("tasks") and sysd.get("TASKS") and num(sysd["TASKS"]) != len(oracle["tasks"]):
        dis.append(f'sys TASKS {sysd["TASKS"]}, drgn {len(oracle["tasks"])} tasks (with idle)')
    out["sys_memory"] = sysd.get("MEMORY")
    return out


def kstack(st):
    """A drgn stack up to its first user-space frame."""
    for i, f in enumerate(st):
        if f.startswith("0x"):
            return st[:i]
    return st


def compare_drgn(oracle, o):
    dis = []
    out = {"disagreements": dis}
    if "error" in o:
        dis.append(f'drgn failed: {o["error"]}')
        return out
    a = sorted((t["pid"], t["comm"]) for t in oracle["un_tasks"])
    b = sorted((t["pid"], t["comm"]) for t in o["un_tasks"])
    if a != b:
        dis.append(f"UN tasks: primary {a} this {b}")
    bo = {t["pid"]: t for t in o["un_tasks"]}
    for t in oracle["un_tasks"]:
        u = bo.get(t["pid"])
        if not u:
            continue
        if kstack(t["stack"]) != kstack(u["stack"]):
            dis.append(f'pid {t["pid"]} stack: primary {t["stack"]} this {u["stack"]}')
        if ("dio" in t) != ("dio" in u):
            dis.append(f'pid {t["pid"]} dio: primary {t.get("dio")} this {u.get("dio")}')
        elif "dio" in t:
            for k in ("dio", "refcount", "waiter", "bio_list", "is_async", "result"):
                if t["dio"][k] != u["dio"][k]:
                    dis.append(f'pid {t["pid"]} dio {k}: primary {t["dio"][k]} this {u["dio"][k]}')
    ja = [(j["journal"], json.dumps(j.get("j_running_transaction"), sort_keys=True),
           sorted(x["pid"] for x in j["wait_transaction_locked"]), sorted(x["pid"] for x in j["handle_holders"]))
          for j in oracle.get("journals", [])]
    jb = [(j["journal"], json.dumps(j.get("j_running_transaction"), sort_keys=True),
           sorted(x["pid"] for x in j["wait_transaction_locked"]), sorted(x["pid"] for x in j["handle_holders"]))
          for j in o.get("journals", [])]
    if ja != jb and "journals_error" not in o:
        dis.append(f"journals: primary {ja} this {jb}")
    for k in ("journals_error", "tasks_error", "mounts_error", "dmesg_tail_error"):
        if k in o and k not in oracle:
            dis.append(f"{k}: {o[k]}")
    if oracle.get("tasks") and o.get("tasks"):
        ta = {(t["pid"], t["task"], t["state"]) for t in oracle["tasks"]}
        tb = {(t["pid"], t["task"], t["state"]) for t in o["tasks"]}
        if ta != tb:
            dis.append(f"tasks (pid, task, state): {len(ta - tb)} only in primary {sorted(ta - tb)[:10]}, "
                       f"{len(tb - ta)} only here {sorted(tb - ta)[:10]}")
    for k in ("hz", "hung_task_timeout_secs", "memory_bytes", "release"):
        if oracle.get(k) != o.get(k):
            dis.append(f"{k}: primary {oracle.get(k)} this {o.get(k)}")
    if oracle.get("mounts") and o.get("mounts"):
        ma = [(m["device"], m["mount_point"], m["fs_type"]) for m in oracle["mounts"]]
        mb = [(m["device"], m["mount_point"], m["fs_type"]) for m in o["mounts"]]
        if ma != mb:
            dis.append(f"mounts: primary {ma} this {mb}")
    return out


# ---------------------------------------------------------------- main

def crash_commands(oracle, mods, no_modules=False):
    cmds = ["sys", "ps"]
    cmds += [f"bt {t['pid']}" for t in oracle["un_tasks"]]
    refoff = (oracle.get("dio_layout") or {}).get("offsets", {}).get("refcount")
    for t in oracle["un_tasks"]:
        if "dio" in t:
            addr = int(t["dio"]["dio"], 16)
            cmds.append(f"struct dio {addr:#x}")
            if refoff is not None:
                cmds.append(f"rd {addr + refoff:#x} 3")
            cmds.append(f"struct task_struct.pid,comm {t['dio']['waiter']}")
    jbd2 = [m for m in mods if m.endswith("/jbd2.ko")]
    if oracle.get("journals"):
        base = {m["name"]: m["base"] for m in oracle.get("modules", [])}.get("jbd2")
        if jbd2 and not no_modules:
            cmds.append(f"mod -s jbd2 {jbd2[0]}")
        elif jbd2 and base:  # no module list: the .ko's types through gdb, at jbd2's real base
            cmds.append(f"gdb add-symbol-file {jbd2[0]} {base}")
        for j in oracle["journals"]:
            cmds.append(f"struct journal_s.j_devname,j_running_transaction,j_committing_transaction,j_task {j['journal']}")
            rt = j.get("j_running_transaction")
            if rt:
                cmds.append(f"struct transaction_s.t_tid,t_state,t_updates {rt['transaction']}")
    return cmds


def recompare(d):
    res = json.load(open(os.path.join(d, "oracle.json")))
    oracle = json.load(open(os.path.join(d, "drgn.json")))
    res["compare"] = {}
    for run in res["runs"]:
        if run["tool"].startswith("crash") and "json" in run:
            js = os.path.join(d, run["json"])
            old = json.load(open(js))
            if "skipped" not in old:
                c = parse_crash(open(os.path.join(d, run["out"])).read())
                c.update({k: old[k] for k in ("tool", "root", "format", "rc", "seconds", "cpu_seconds", "peak_rss_kb",
                                               "no_modules", "loaded", "first_attempt", "error") if k in old})
                if not c.get("loaded"):
                    c["error"] = crash_error("", open(os.path.join(d, run["out"])).read()) or run.get("error")
                with open(js, "w") as f:
                    json.dump(c, f, indent=1)
                old = c
            res["compare"][run["json"][:-5]] = compare_crash(oracle, old)
        elif run["tool"].startswith("drgn") and run["out"] != "drgn.json":
            res["compare"][run["out"][:-5]] = compare_drgn(oracle, json.load(open(os.path.join(d, run["out"]))))
    res["disagreements"] = {k: v["disagreements"] for k, v in sorted(res["compare"].items()) if v["disagreements"]}
    with open(os.path.join(d, "oracle.json"), "w") as fo:
        json.dump(res, fo, indent=1)
    for k, v in res["disagreements"].items():
        print(f"disagree {k}: " + " | ".join(v), file=sys.stderr)


def waits_only(R, d, sc, vmlinux, mods):
    """--waits-only: oracle_drgn.py --waits-only (sid's drgn 0.3.0) on the dump drgn.json
    names; its waits (or waits_error) replace drgn.json's, which is rewritten atomically.
    The UN tasks must be drgn.json's (the same dump). Exit 0 when merged, 1 otherwise."""
    path = os.path.join(d, "drgn.json")
    try:
        oracle = json.load(open(path))
    except (OSError, ValueError) as e:
        sys.exit(f"oracle: --waits-only needs the scenario's drgn.json ({e}): run oracle.py without it first")
    fmt = os.path.basename(oracle["dump"])[:-len(".vmcore")]
    dump = os.path.join(d, fmt + ".vmcore")
    out = os.path.join(d, "drgn-waits.json.partial")
    rc, dt, _, err = R.run("sid", ["python3", os.path.join(HERE, "oracle_drgn.py"), "--waits-only", dump, vmlinux] + mods, out)
    try:
        new = json.load(open(out)) if rc == 0 else None
    except ValueError as e:
        new, err = None, f"{err}\n{out}: {e}"
    os.remove(out)
    if new is None:
        lines = [l for l in err.strip().splitlines() if l.strip()]
        sys.exit(f"oracle: drgn --waits-only on {dump}: exit {rc}: {lines[-1] if lines else ''}")
    was = [(t["pid"], t["task"]) for t in oracle["un_tasks"]]
    now = [(t["pid"], t["task"]) for t in new["un_tasks"]]
    if was != now:
        sys.exit(f"oracle: {dump}: UN tasks {now}, drgn.json has {was}: not the dump drgn.json was made from")
    oracle.pop("waits", None)
    oracle.pop("waits_error", None)
    if "waits" in new:
        oracle["waits"] = new["waits"]
    else:
        oracle["waits_error"] = new.get("waits_error", "no waits in oracle_drgn.py's output")
    oracle["waits_refreshed"] = {"drgn_version": new["drgn_version"], "format": fmt, "seconds": dt,
                                 "cpu_seconds": R.cpu.get(out), "drgn_seconds": new.get("seconds"),
                                 "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with open(path + ".tmp", "w") as fo:
        json.dump(oracle, fo, indent=1)
        fo.write("\n")
    os.replace(path + ".tmp", path)
    kinds = [f'{w["pid"]}:{w["kind"]}' for w in oracle.get("waits", [])]
    print(f"oracle {sc} --waits-only ({fmt}): {dt} s wall, {R.cpu.get(out)} s CPU: {' '.join(kinds) or oracle.get('waits_error')}",
          file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True, help="the kernel line's directory (vmlinux, debug-modules/, dumps/)")
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("ORACLE_JOBS", "2")))
    ap.add_argument("--recompare", action="store_true",
                    help="run no tool: parse the crash-*.txt again and redo oracle.json's comparisons")
    ap.add_argument("--waits-only", action="store_true",
                    help="run only oracle_drgn.py --waits-only on drgn.json's dump and merge its waits into drgn.json")
    a = ap.parse_args()
    t_start = time.time()
    line, sc = os.path.realpath(a.cache), a.scenario
    d = os.path.join(line, "dumps", sc)
    if a.recompare:
        return recompare(d)
    vmlinux = os.path.join(line, "vmlinux")
    config = os.path.join(line, "config") if os.path.exists(os.path.join(line, "config")) else None
    mods = sorted(glob.glob(os.path.join(line, "debug-modules", "**", "*.ko"), recursive=True))
    # the lab module the scenario loaded (labmod.ko) in place of the line's current build of it
    own = sorted(glob.glob(os.path.join(d, "*.ko")))
    mods = [m for m in mods if os.path.basename(m) not in {os.path.basename(o) for o in own}] + own
    formats = [f for f in FORMATS if os.path.exists(os.path.join(d, f + ".vmcore"))]
    if not formats:
        sys.exit(f"oracle: no dumps in {d}")
    if not os.path.exists(vmlinux):
        sys.exit(f"oracle: no {vmlinux}")
    R = Runner(line)
    if not R.roots["sid"]:
        sys.exit("oracle: no sid root: run testdata/realkernel/roots.sh sid trixie")
    if a.waits_only:
        return waits_only(R, d, sc, vmlinux, mods)
    for pat in ("drgn*.json", "drgn.json.partial", "crash*.txt", "crash*.json", "crash*.cmd", "oracle.json"):
        for f in glob.glob(os.path.join(d, pat)):
            os.remove(f)
    for f in glob.glob(os.path.join(d, ".crash-*.out")):
        shutil.rmtree(f, ignore_errors=True)
    dump = lambda f: os.path.join(d, f + ".vmcore")  # noqa: E731
    res = {"scenario": sc, "line_dir": line, "formats": formats,
           "versions": {k: v for k, v in R.roots.items()}, "runs": [],
           "drgn": {}, "crash": {}, "drgn_trixie": None, "crash_trixie": {}, "compare": {}}

    # 1. the primary drgn answer (its dio and journal addresses feed crash)
    primary, oracle = None, None
    for f in [f for f in DRGN_ORDER if f in formats]:
        out = os.path.join(d, "drgn.json.partial")  # drgn.json appears last: lab.sh takes it as "done"
        run = drgn_job(R, "sid", f, dump(f), out, vmlinux, mods, config)
        run["out"] = "drgn.json"
        res["runs"].append(run)
        res["drgn"][f] = run
        print(f"drgn {run['tool']} {f}: rc={run['rc']} {run['seconds']}s {run['peak_rss_kb']} KB {run.get('error', '')}",
              file=sys.stderr)
        if run["rc"] == 0:
            primary, oracle = f, json.load(open(out))
            break
        os.replace(out, os.path.join(d, f"drgn-{f}.json"))
        run["out"] = f"drgn-{f}.json"
    res["primary_format"] = primary
    if oracle is None:
        with open(os.path.join(d, "oracle.json"), "w") as fo:
            json.dump(res, fo, indent=1)
        sys.exit("oracle: drgn 0.3.0 read none of " + " ".join(formats))

    cmdsets = {}
    for nm, name in ((False, "crash.cmd"), (True, "crash-no_modules.cmd")):
        cmds = crash_commands(oracle, mods, nm)
        if nm and cmds == cmdsets[False][1]:
            cmdsets[True] = cmdsets[False]
            continue
        cmdfile = os.path.join(d, name)
        with open(cmdfile, "w") as fo:
            fo.write("".join(f"{c} > {i:02d}.out\n" for i, c in enumerate(cmds)) + "quit\n")
        cmdsets[nm] = (cmdfile, cmds)

    # 2. everything else, `jobs` at a time, slowest first. Whether a crash needs
    # --no_modules is remembered per line (LINEDIR/.oracle-crash-flags.json), so only the
    # first scenario of a line pays for the failed attempt.
    flagfile = os.path.join(line, ".oracle-crash-flags.json")
    try:
        known = json.load(open(flagfile))
    except (OSError, ValueError):
        known = {}
    key = lambda root: f"{root} crash {(R.roots.get(root) or {}).get('crash')} {oracle['release']}"  # noqa: E731
    state = {r: True for r in ("sid", "trixie") if known.get(key(r), {}).get("no_modules")}
    state.update({r + "-unreadable": known[key(r)]["unreadable"] for r in ("sid", "trixie")
                  if known.get(key(r), {}).get("unreadable")})
    lock = threading.Lock()

    def remember(root, **kv):
        with lock:
            known.setdefault(key(root), {}).update(kv)
            with open(flagfile + ".tmp", "w") as fo:
                json.dump(known, fo, indent=1)
            os.replace(flagfile + ".tmp", flagfile)

    def unreadable(root, why):
        state[root + "-unreadable"] = why
        remember(root, unreadable=why)
    state["save"] = lambda root, why: remember(root, no_modules=True, why=why)
    state["unreadable"] = unreadable
    state["scenario"] = sc
    jobs = []
    for f in formats:  # sid and trixie interleaved: a second sid crash starts after the first learnt its flags
        jobs.append(("crash", "sid", f))
        if R.roots["trixie"]:
            jobs.append(("crash", "trixie", f))
    if R.roots["trixie"]:
        jobs.append(("drgn", "trixie", primary))
    for f in formats:
        if f != primary and f in DRGN_ORDER and f not in res["drgn"]:
            jobs.append(("drgn", "sid", f))
    for f in formats:
        if f in NOT_FOR_DRGN:
            res["drgn"][f] = {"skipped": NOT_FOR_DRGN[f]}

    def do(job):
        kind, root, f = job
        if kind == "crash":
            return job, crash_job(R, root, f, dump(f), vmlinux, cmdsets, d, state)
        out = os.path.join(d, "drgn-trixie.json" if root == "trixie" else f"drgn-{f}.json")
        return job, drgn_job(R, root, f, dump(f), out, vmlinux, mods, config)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for (kind, root, f), run in ex.map(do, jobs):
            res["runs"].append(run)
            print(f"{run['tool']} ({root}) {f}: rc={run['rc']} {run['seconds']}s {run['peak_rss_kb']} KB"
                  f"{' --no_modules' if run.get('no_modules') else ''} {run.get('error', '')}", file=sys.stderr)
            if kind == "crash":
                (res["crash"] if root == "sid" else res["crash_trixie"])[f] = run
                c = json.load(open(os.path.join(d, run["json"])))
                name = run["json"][:-5]
                res["compare"][name] = compare_crash(oracle, c)
            else:
                if root == "trixie":
                    res["drgn_trixie"] = run
                    name = "drgn-trixie"
                else:
                    res["drgn"][f] = run
                    name = f"drgn-{f}"
                res["compare"][name] = compare_drgn(oracle, json.load(open(os.path.join(d, run["out"]))))
    if not R.roots["trixie"]:
        res["drgn_trixie"] = {"error": "no trixie root (roots.sh trixie)"}
    res["disagreements"] = {k: v["disagreements"] for k, v in sorted(res["compare"].items()) if v["disagreements"]}
    res["seconds"] = round(time.time() - t_start, 1)
    with open(os.path.join(d, "oracle.json"), "w") as fo:
        json.dump(res, fo, indent=1)
    os.replace(os.path.join(d, "drgn.json.partial"), os.path.join(d, "drgn.json"))
    for t in oracle["un_tasks"]:
        print(f"UN pid {t['pid']} {t['comm']} task {t['task']} cpu {t['cpu']} blocked {t.get('blocked_seconds')} s dio "
              f"{json.dumps(t.get('dio'))}", file=sys.stderr)
    for j in oracle.get("journals", []):
        print(f"journal {j['device']} running {json.dumps(j['j_running_transaction'])} j_task {j['j_task']} "
              f"locked-waiters {[w['pid'] for w in j['wait_transaction_locked']]} "
              f"holders {[x['pid'] for x in j['handle_holders']]}", file=sys.stderr)
    for k, v in res["disagreements"].items():
        print(f"disagree {k}: " + " | ".join(v), file=sys.stderr)
    print(f"oracle {sc}: {res['seconds']} s, primary {primary}", file=sys.stderr)


if __name__ == "__main__":
    main()
