#!/usr/bin/python3
"""Boot one lab scenario under QEMU (TCG), drive it by console markers, replay
the dio race through the gdb stub (B, B-notimeout, C) and dump the guest.
Stdlib only (drgn runs in a subprocess, in the sid root when it exists).

  run_scenario.py --cache LINEDIR --lab CACHE --scenario A|B|B-notimeout|C|D
                  [--scenario B] [--mem MiB] [--formats full|lite] [--mdf-level N]

--scenario twice (A then B): one boot; A is dumped with the VM stopped, then the
VM continues and B replays the race on the same writer.
formats full: elf-paging elf-nopaging kdump-zlib-flat mdf-zlib mdf-lzo;
        lite: kdump-zlib-flat mdf-zlib, and elf-nopaging for B only.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"  # the host's python3 (stdlib only here)
LAB = None  # the lab cache (--lab): roots/ lives there

T0 = time.time()


def log(msg):
    print(f"[run {time.strftime('%H:%M:%S')} +{time.time() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    pass


class Guest:
    def __init__(self, cache, scenario, workdir, console, mem):
        self.cache = cache
        self.scenario = scenario
        self.kscen = "B" if scenario == "B-notimeout" else scenario  # B-notimeout boots scenario B
        self.dir = workdir
        self.mem = mem
        self.console = console
        self.qmp_path = os.path.join(workdir, "qmp.sock")
        self.cmd_path = os.path.join(workdir, "cmd.sock")
        self.gdb_port = free_port()
        self.proc = None
        self.pos = 0
        self.buf = ""
        self.cmdsock = None
        self.qmp = None
        self.qmp_buf = b""
        self.cmd_id = 0

    def start(self, append_extra):
        append = ("console=ttyS0,115200 loglevel=4 panic=-1 oops=panic nmi_watchdog=0 "
                  f"vmtriage.scenario={self.kscen} {append_extra}").strip()
        self.append = append
        args = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", str(self.mem), "-smp", "2",
                "-device", "vmcoreinfo", "-display", "none", "-no-reboot", "-nodefaults",
                "-kernel", os.path.join(self.cache, "vmlinuz"),
                "-initrd", os.path.join(self.cache, "initramfs.cpio"),
                "-append", append,
                "-chardev", f"file,id=con,path={self.console}", "-serial", "chardev:con",
                "-chardev", f"socket,id=cmd,path={self.cmd_path},server=on,wait=off", "-serial", "chardev:cmd",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-gdb", f"tcp:127.0.0.1:{self.gdb_port}"]
        self.qemu_args = args
        log("qemu: " + " ".join(args))
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.dir, "qemu.out"), "w"), stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(self.qmp_path) and os.path.exists(self.cmd_path):
                break
            if self.proc.poll() is not None:
                raise Fail("qemu exited: " + open(os.path.join(self.dir, "qemu.out")).read())
            time.sleep(0.1)
        self.qmp = self.connect(self.qmp_path)
        self.qmp_recv()  # greeting
        self.qmp_cmd("qmp_capabilities")
        self.cmdsock = self.connect(self.cmd_path)

    def connect(self, path):
        """QEMU binds a socket path before it listens: retry a refused connect."""
        for i in range(100):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                return s
            except (ConnectionRefusedError, FileNotFoundError):
                s.close()
                if self.proc.poll() is not None or i == 99:
                    raise
                time.sleep(0.1)

    def stop(self):
        try:
            if self.qmp:
                self.qmp_cmd("quit", timeout=10)
        except Exception:
            pass
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # --- console -------------------------------------------------------
    def read_console(self):
        with open(self.console, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        text = data.decode("utf-8", "replace")
        self.buf += text
        return text

    def wait_marker(self, pattern, timeout):
        """Wait for a console line matching pattern (regex); return the match."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        scanned = getattr(self, "scanned", 0)
        while True:
            self.read_console()
            lines = self.buf.split("\n")
            complete = lines[:-1]
            for i in range(scanned, len(complete)):
                line = complete[i].rstrip("\r")
                if "VMTRIAGE-FAIL" in line or "Kernel panic" in line:
                    self.scanned = i + 1
                    raise Fail(f"guest: {line}")
                m = rx.search(line)
                if m:
                    self.scanned = i + 1
                    return m
            scanned = len(complete)
            self.scanned = scanned
            if self.proc.poll() is not None:
                raise Fail(f"qemu exited ({self.proc.returncode}) waiting for {pattern}")
            if time.time() > deadline:
                raise TimeoutError(f"no console line matching {pattern!r} after {timeout}s")
            time.sleep(0.2)

    def guest_cmd(self, cmd, timeout=60):
        self.cmd_id += 1
        cid = self.cmd_id
        log(f"guest cmd {cid}: {cmd}")
        self.cmdsock.sendall(f"{cid} {cmd}\n".encode())
        m = self.wait_marker(rf"VMTRIAGE-DONE {cid} rc=(\d+)", timeout)
        return int(m.group(1))

    # --- QMP -----------------------------------------------------------
    def qmp_recv(self, timeout=30):
        self.qmp.settimeout(timeout)
        while b"\n" not in self.qmp_buf:
            chunk = self.qmp.recv(65536)
            if not chunk:
                raise Fail("QMP closed")
            self.qmp_buf += chunk
        line, self.qmp_buf = self.qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def qmp_cmd(self, cmd, timeout=60, **arguments):
        msg = {"execute": cmd}
        if arguments:
            msg["arguments"] = arguments
        self.qmp.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.qmp_recv(timeout)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise Fail(f"QMP {cmd}: {r['error']}")
            # events (STOP, RESUME, DUMP_COMPLETED) are ignored


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def static_symbols(cache, names):
    # Debian's boot/System.map is a placeholder ("The real System.map is in the -dbg
    # package"): take the symbols from the debug vmlinux.
    path = os.path.join(cache, "vmlinux.nm")
    if not os.path.exists(path):
        with open(path + ".tmp", "w") as f:
            subprocess.run(["nm", "-n", os.path.join(cache, "vmlinux")], stdout=f, check=True)
        os.rename(path + ".tmp", path)
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            a, n = parts[0], parts[2]
            if n in names:
                out[n] = int(a, 16)
    return out


def in_root(cmd):
    """cmd run with the sid root's tools (drgn 0.3.0, makedumpfile 1.7.8) when roots.sh
    built it, else on the host (python3-drgn 0.0.22, makedumpfile 1.7.2)."""
    if LAB and os.path.exists(os.path.join(LAB, "roots", "sid", "versions.json")):
        return [os.path.join(HERE, "inroot.sh"), "sid"] + cmd
    return cmd


def root_env():
    env = dict(os.environ)
    env["INROOT_BIND"] = HERE + ":ro"
    if LAB:
        env["VMTRIAGE_CACHE"] = os.path.dirname(LAB)  # inroot.sh appends /realkernel
    return env


def dwarf_offsets(cache):
    """Field offsets from the vmlinux's DWARF (drgn), cached in offsets.json."""
    path = os.path.join(cache, "offsets.json")
    if os.path.exists(path):
        return json.load(open(path))
    code = r'''
import drgn, json, sys
prog = drgn.Program()
prog.load_debug_info([sys.argv[1]], default=False, main=False)
def off(t, f): return drgn.offsetof(prog.type(t), f)
def first(t, *fs):
    for f in fs:
        try:
            return off(t, f)
        except LookupError:
            pass
    raise LookupError(f"{t}: none of {fs}")
o = {
 "task.tasks": off("struct task_struct", "tasks"),
 "task.pid": off("struct task_struct", "pid"),
 "task.stack": off("struct task_struct", "stack"),
 "task.state": first("struct task_struct", "__state", "state"),  # state until 5.13
 "task.comm": off("struct task_struct", "comm"),
 "task.signal": off("struct task_struct", "signal"),
 "task.thread_node": off("struct task_struct", "thread_node"),
 "signal.thread_head": off("struct signal_struct", "thread_head"),
 "dio.refcount": off("struct dio", "refcount"),
 "dio.waiter": off("struct dio", "waiter"),
 "dio.bio_list": off("struct dio", "bio_list"),
 "dio.is_async": off("struct dio", "is_async"),
 "dio.result": off("struct dio", "result"),
 "dio.sizeof": drgn.sizeof(prog.type("struct dio")),
 "dio.refcount.size": drgn.sizeof(prog.type("struct dio").member("refcount").type),
 "thread_size": 16384,
}
try:
    o["dio.size"] = off("struct dio", "size")  # gone in 6.1 (the request size lives in the caller)
except LookupError:
    pass
print(json.dumps(o))
'''
    # the host's drgn (0.0.22) reads a lone vmlinux; drgn 0.3.0 refuses one without a
    # program ("file does not have loadable segment containing e_phoff")
    r = subprocess.run([PY, "-c", code, os.path.join(cache, "vmlinux")], capture_output=True, text=True)
    if r.returncode:
        raise Fail("drgn offsets (host python3-drgn): " + r.stderr)
    o = json.loads(r.stdout)
    json.dump(o, open(path + ".tmp", "w"), indent=1)
    os.rename(path + ".tmp", path)
    return o


def gdb_dio(guest, mode, env_extra, outdir, tag):
    """Run gdb_dio.py in a batch gdb attached to the stub; return its JSON result."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in env_extra.items()})
    env["LAB_MODE"] = mode
    resfile = os.path.join(outdir, f"gdb-{tag}.json")
    env["LAB_OUT"] = resfile
    args = ["gdb", "-batch", "-nx", "-ex", "set architecture i386:x86-64",
            "-ex", "set pagination off", "-ex", f"target remote 127.0.0.1:{guest.gdb_port}",
            "-x", os.path.join(HERE, "gdb_dio.py")]
    t = time.time()
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    with open(os.path.join(outdir, f"gdb-{tag}.log"), "w") as f:
        f.write(r.stdout + r.stderr)
    log(f"gdb {mode}: {time.time() - t:.1f}s rc={r.returncode}")
    if not os.path.exists(resfile):
        raise Fail(f"gdb {mode} produced no result: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    res = json.load(open(resfile))
    if res.get("error"):
        raise Fail(f"gdb {mode}: {res['error']}")
    return res


def phoff64_copy(src, dst):
    """Copy a QEMU ELF with its program headers moved to offset 64 (makedumpfile
    1.7.2 ignores e_phoff and reads them at 64; QEMU puts them at 0xc0 behind a
    section header table). Only for e_phnum < PN_XNUM (paging:false)."""
    import struct
    with open(src, "rb") as f:
        eh = bytearray(f.read(64))
        (phoff,) = struct.unpack_from("<Q", eh, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
        if phnum == 0xFFFF:
            raise Fail("e_phnum is PN_XNUM: cannot move the program headers")
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    shutil.copyfile(src, dst)
    struct.pack_into("<Q", eh, 0x20, 64)       # e_phoff
    struct.pack_into("<Q", eh, 0x28, 0)        # e_shoff
    struct.pack_into("<HHH", eh, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    with open(dst, "r+b") as f:
        f.write(eh)
        f.write(ph)


def run_drgn(cache, dump):
    """oracle_drgn.py on one dump; returns (json or None, error text)."""
    import glob
    mods = sorted(glob.glob(os.path.join(cache, "debug-modules", "**", "*.ko"), recursive=True))
    own = sorted(glob.glob(os.path.join(os.path.dirname(dump), "*.ko")))  # labmod.ko (F G H) that guest loaded
    mods = [m for m in mods if os.path.basename(m) not in {os.path.basename(o) for o in own}] + own
    cmd = in_root(["python3", os.path.join(HERE, "oracle_drgn.py"), dump, os.path.join(cache, "vmlinux")] + mods)
    r = subprocess.run(cmd, capture_output=True, text=True, env=root_env())
    if r.returncode:
        return None, r.stderr[-2000:]
    try:
        return json.loads(r.stdout), None
    except ValueError as e:
        return None, f"{e}: {r.stdout[-500:]} {r.stderr[-1500:]}"


def drgn_check(cache, sc, dump, meta):
    """Run oracle_drgn.py on one dump and check the scenario's expectations."""
    o, err = run_drgn(cache, dump)
    if o is None:
        return {"ok": False, "dump": os.path.basename(dump), "error": err}
    w = int(meta["guest"]["writer"])
    wt = [t for t in o["un_tasks"] if t["pid"] == w]
    seen = {"dump": os.path.basename(dump), "un_pids": [t["pid"] for t in o["un_tasks"]]}
    for t in o["un_tasks"]:
        log(f"drgn: UN pid {t['pid']} {t['comm']} task {t['task']} cpu {t['cpu']} "
            f"{' < '.join(x for x in t['stack'][3:8])}" + (f" dio {json.dumps(t['dio'])}" if "dio" in t else ""))
    for j in o.get("journals", []):
        log(f"drgn: journal {j['device']} running {json.dumps(j['j_running_transaction'])} j_task "
            f"{j['j_task']['pid'] if j['j_task'] else None} wait_transaction_locked "
            f"{[x['pid'] for x in j['wait_transaction_locked']]} handle holders "
            f"{[(x['pid'], x['comm']) for x in j['handle_holders']]}")
    ok = bool(wt)
    if sc in WAIT_SCENARIOS:
        ok, seen["waits"] = wait_check(sc, o, meta["guest"], ok)
    if ok and sc in ("A", "B", "B-notimeout", "C"):
        d = wt[0].get("dio")
        seen["dio"] = d
        ok = d is not None and d["waiter"] == wt[0]["task"]
        if ok and sc == "A":
            ok = d["refcount"] >= 2
        elif ok and sc in ("B", "B-notimeout"):
            ok = d["refcount"] == 1 and d["bio_list"] != "0x0" and d["is_async"] == 0
        elif ok and sc == "C":
            ok = d["refcount"] == 1 and d["bio_list"] == "0x0" and d["is_async"] == 1 and d["result"] < (1 << 20)
    if ok and sc == "D":
        js = o.get("journals") or []
        j = js[0] if js else None
        seen["journal"] = j
        ok = bool(j and j["j_running_transaction"] and j["j_running_transaction"]["t_state"] == "T_LOCKED"
                  and j["j_running_transaction"]["t_updates"] >= 1 and j["wait_transaction_locked"]
                  and any(x["pid"] == w for x in j["handle_holders"]))
    seen["ok"] = ok
    return seen


def wait_check(sc, o, guest, ok):
    """The wait-for scenarios' state, from oracle_drgn.py's waits (drgn following the frames'
    locals by hand): returns (ok, the waits of the staged tasks, for the log and mdf check)."""
    ws = {w["pid"]: w for w in o.get("waits", [])}
    for w in o.get("waits", []):
        log(f"drgn wait: pid {w['pid']} {w['comm']} {w['kind']} {w.get('function')} {w.get('local')}="
            f"{w.get('object')} owner {w.get('owner_pid')} done {w.get('done')} inode {w.get('inode')} {w.get('error', '')}")
    pid = lambda k: int(guest.get(k) or 0)  # noqa: E731
    # labmod prints addresses with %px (no 0x), drgn as "0x..."
    addr = lambda v: int(v, 16) if v else None  # noqa: E731
    if "waits_error" in o:
        return False, {"error": o["waits_error"]}
    if sc == "E":
        writer = pid("writer")
        waiters = [int(x) for x in (guest.get("waiters") or "").split(",") if x]
        got = [ws.get(p) for p in waiters]
        objs = {w.get("object") for w in got if w}
        ok = ok and len(waiters) >= 2 and all(
            w and w["kind"] in ("rwsem-read", "rwsem-write", "mutex") and w.get("owner_pid") == writer and w.get("inode")
            for w in got) and len({w.get("inode") for w in got}) == 1
        return ok, {"writer": writer, "waiters": {p: ws.get(p) for p in waiters}, "objects": sorted(o for o in objs if o)}
    if sc == "F":
        a, b = pid("a"), pid("b")
        wa, wb = ws.get(a), ws.get(b)
        ok = ok and bool(wa and wb) and wa["kind"] == wb["kind"] == "mutex" and \
            wa.get("owner_pid") == b and wb.get("owner_pid") == a and \
            addr(wa.get("object")) == addr(guest.get("m2")) and addr(wb.get("object")) == addr(guest.get("m1"))
        return ok, {a: wa, b: wb}
    w = ws.get(pid("waiter"))
    if sc in ("G", "G-legit"):
        ok = ok and bool(w) and w["kind"] == "completion" and addr(w.get("object")) == addr(guest.get("done")) and \
            w.get("done") == (1 if sc == "G" else 0)
    else:  # H: the owner word cleared; H-legit: lab_owner holds the mutex
        ok = ok and bool(w) and w["kind"] == "mutex" and addr(w.get("object")) == addr(guest.get("m1")) and \
            w.get("owner_pid") == (None if sc == "H" else pid("owner"))
    return ok, {pid("waiter"): w}


FULL = ["elf-paging", "elf-nopaging", "kdump-zlib-flat", "mdf-zlib", "mdf-lzo"]
# the wait-for scenarios keep mdf-zlib only, on every line: what they test (frames, locals,
# lock owners) does not depend on the format, which A-D cover; it keeps their oracles short
WAIT_SCENARIOS = ["E", "F", "G", "G-legit", "H", "H-legit"]
LABMOD_SCENARIOS = ["F", "G", "G-legit", "H", "H-legit"]


def formats_for(profile, sc):
    if sc in WAIT_SCENARIOS:
        return ["mdf-zlib"]
    if profile == "full":
        return list(FULL)
    return ["kdump-zlib-flat", "mdf-zlib"] + (["elf-nopaging"] if sc == "B" else [])


def makedumpfile(cache, outdir, name, flag, level, elf_nopaging, meta):
    """makedumpfile from the paging:false ELF: the sid root's 1.7.8 if there (the host's
    1.7.2 reads program headers at 64, so it gets a copy with them moved there)."""
    vmlinux = os.path.join(cache, "vmlinux")
    out = os.path.join(outdir, name + ".vmcore")
    tries = []
    tmp = os.path.join(outdir, "tmp-phoff64.elf")
    for src, x in (("elf-nopaging", False), ("elf-nopaging-phoff64", False), ("elf-nopaging-phoff64", True)):
        if os.path.exists(out):
            os.unlink(out)
        srcpath = elf_nopaging
        if src == "elf-nopaging-phoff64":
            srcpath = tmp
            if not os.path.exists(srcpath):
                phoff64_copy(elf_nopaging, srcpath)
        cmd = in_root(["makedumpfile", flag, "-d", str(level)] + (["-x", vmlinux] if x else []) + [srcpath, out])
        t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, env=root_env())
        dt = round(time.time() - t, 1)
        msg = (r.stdout + r.stderr).strip().splitlines()
        tries.append({"cmd": " ".join(cmd), "rc": r.returncode, "seconds": dt, "output_tail": msg[-4:]})
        if r.returncode == 0 and os.path.exists(out) and os.path.getsize(out) > 0:
            meta["formats"][name] = {"path": out, "bytes": os.path.getsize(out), "seconds": dt,
                                     "how": " ".join(cmd[:-2]) + f" {src}.vmcore", "dump_level": level, "tries": tries}
            log(f"{name}: ok from {src}{' -x vmlinux' if x else ''} -d {level} ({dt}s)")
            break
        log(f"{name}: failed from {src}{' -x' if x else ''}: {msg[-1:]}")
    else:
        meta["formats"][name] = {"error": "makedumpfile failed every way", "tries": tries}
    if os.path.exists(tmp):
        os.unlink(tmp)
    return name in meta["formats"] and "error" not in meta["formats"][name]


def dump_scenario(guest, cache, sc, outdir, meta, profile, level):
    """With the VM stopped: QMP dumps, the drgn check, makedumpfile (checked against the ELF)."""
    want = formats_for(profile, sc)
    # the paging:true ELF only where it is kept, or where only the host's drgn 0.0.22 can check
    check_on = "elf-nopaging" if in_root(["x"]) != ["x"] else "elf-paging"
    dumps = [("elf-paging", {"paging": True}),
             ("elf-nopaging", {"paging": False}),
             ("kdump-zlib-flat", {"paging": False, "format": "kdump-zlib"})]
    for name, a in dumps:
        if name not in want and name != check_on and not (name == "elf-nopaging" and ("mdf-zlib" in want)):
            continue
        path = os.path.join(outdir, name + ".vmcore")
        t = time.time()
        guest.qmp_cmd("dump-guest-memory", timeout=900, protocol="file:" + path, **a)
        dt = round(time.time() - t, 1)
        meta["formats"][name] = {"path": path, "bytes": os.path.getsize(path), "seconds": dt,
                                 "how": "QMP dump-guest-memory " + json.dumps(a)}
        log(f"dump {name}: {os.path.getsize(path) >> 20} MiB in {dt}s")
        if name == check_on:
            t = time.time()
            meta["drgn_check"] = drgn_check(cache, sc, path, meta)
            meta["timings"]["drgn_check_s"] = round(time.time() - t, 1)
            if not meta["drgn_check"]["ok"]:
                log("drgn check FAILED: " + json.dumps(meta["drgn_check"])[:3000])
    nopaging = os.path.join(outdir, "elf-nopaging.vmcore")
    for name, flag in (("mdf-zlib", "-c"), ("mdf-lzo", "-l")):
        if name not in want:
            continue
        t = time.time()
        lv = level
        while makedumpfile(cache, outdir, name, flag, lv, nopaging, meta):
            # the makedumpfile file must show what the ELF shows (6.10+ page types fool
            # makedumpfile's filters into dropping live slab pages)
            if name != "mdf-zlib" or not meta.get("drgn_check", {}).get("ok"):
                break
            c = drgn_check(cache, sc, os.path.join(outdir, name + ".vmcore"), meta)
            same = c.get("ok") and c.get("un_pids") == meta["drgn_check"].get("un_pids") and \
                c.get("dio") == meta["drgn_check"].get("dio") and c.get("waits") == meta["drgn_check"].get("waits")
            meta.setdefault("mdf_checks", []).append({"dump_level": lv, "same_as_elf": bool(same),
                                                      "check": c})
            if same or lv == 1:
                if not same:
                    log(f"{name} -d 1 still differs from the ELF: {json.dumps(c)[:2000]}")
                break
            log(f"{name} -d {lv} differs from the ELF ({c.get('error') or c.get('un_pids')}): again with -d 1")
            lv = 1
        if name == "mdf-zlib" and lv != level:
            # mdf-lzo gets the level that worked
            level = lv
        meta["timings"][name + "_s"] = round(time.time() - t, 1)
    for name in ("elf-paging", "elf-nopaging"):
        if name not in want and name in meta["formats"]:
            os.unlink(meta["formats"][name]["path"])
            meta["formats"][name]["deleted"] = "used to make/check the kept formats, not kept (lab lines file)"
    meta["formats_kept"] = [f for f in FULL if f in want and os.path.exists(os.path.join(outdir, f + ".vmcore"))]


def boot(cache, first, outdir, extra, mem, meta):
    """Boot until READY (and the command loop). A boot that dies or times out before
    READY is retried (7.2 under TCG oopses early in one boot out of two)."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        work = tempfile.mkdtemp(prefix="vmtriage-lab-")
        guest = Guest(cache, first, work, os.path.join(outdir, f"console-{attempt}.log"), mem)
        t = time.time()
        try:
            guest.start(extra)
            bm = guest.wait_marker(r"VMTRIAGE-BOOT .*fw_cfg=(\d+)", 240)
            if bm.group(1) != "1":
                raise Fail("no etc/vmcoreinfo in the guest's fw_cfg: dumps would carry no VMCOREINFO")
            meta["timings"]["boot_to_init_s"] = round(time.time() - t, 1)
            ready = guest.wait_marker(r"VMTRIAGE-READY (.*)", 300)
            meta["timings"]["boot_to_ready_s"] = round(time.time() - t, 1)
            guest.wait_marker(r"VMTRIAGE-CMDLOOP", 30)
            meta["boot_attempts"] = attempt
            return guest, ready
        except (TimeoutError, Fail, OSError) as e:
            log(f"attempt {attempt}: {e}; console tail:\n{guest.buf[-3000:]}")
            meta.setdefault("failed_boots", []).append({"attempt": attempt, "error": str(e)[:500],
                                                        "console_tail": guest.buf[-1500:]})
            guest.stop()
            shutil.rmtree(work, ignore_errors=True)
            if attempt == attempts:
                raise Fail(f"boot failed {attempts} times: {e}")
        except Exception:
            guest.stop()
            log("console tail:\n" + guest.buf[-4000:])
            raise


def race(guest, writer, offsets, runtime, outdir, meta):
    env = {"LAB_OFFSETS": json.dumps(offsets), "LAB_INIT_TASK": runtime["init_task"], "LAB_PID": writer}
    t = time.time()
    found = gdb_dio(guest, "clear", env, outdir, "1-clear")
    meta["race"] = {"before": found}
    log(f"dio {found['dio']} refcount={found['refcount']} waiter={found['waiter']} -> waiter=0")
    rc = guest.guest_cmd("dmsetup resume lab && sync /mnt/. 2>/dev/null; sleep 1; "
                         f"grep State /proc/{writer}/status; cat /proc/{writer}/stack", 120)
    meta["race"]["resume_rc"] = rc
    # wait until the bio completed: refcount must be 1
    for i in range(10):
        env["LAB_DIO"] = found["dio"]
        after = gdb_dio(guest, "restore", env, outdir, f"2-restore-{i}")
        if after.get("restored"):
            break
        guest.guest_cmd("sleep 1", 30)
    else:
        raise Fail(f"refcount never dropped to 1: {after}")
    meta["race"]["after"] = after
    meta["timings"]["race_replay_s"] = round(time.time() - t, 1)
    guest.guest_cmd(f"grep State /proc/{writer}/status; cat /proc/{writer}/stack", 60)
    log(f"race replayed: {after}")


def run(args):
    global LAB
    LAB = args.lab
    cache = args.cache
    scs = args.scenario
    if len(scs) > 1 and scs != ["A", "B"]:
        raise Fail("only A then B can share a boot")
    outdirs = {sc: os.path.join(cache, "dumps", sc) for sc in scs}
    for d in outdirs.values():
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
    for sc in scs:
        if sc in LABMOD_SCENARIOS:  # the module this dump's guest loaded, for drgn, crash and vmtriage
            shutil.copyfile(os.path.join(cache, "labmod.ko"), os.path.join(outdirs[sc], "labmod.ko"))
    release = open(os.path.join(cache, "release")).read().strip()
    qemu_version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0]
    metas = {sc: {"scenario": sc, "release": release, "line": os.path.basename(cache.rstrip("/")),
                  "timings": {}, "formats": {}, "host": {"qemu": qemu_version}, "mem_mib": args.mem,
                  "formats_profile": args.formats} for sc in scs}
    if len(scs) > 1:
        for sc in scs:
            metas[sc]["shared_boot"] = scs
    extra = ""
    if scs[0] == "B-notimeout":
        extra = "vmtriage.hung=0"
    offsets = dwarf_offsets(cache)
    statics = static_symbols(cache, {"_stext", "_text", "init_task"})
    first = metas[scs[0]]
    t_start = time.time()
    guest, ready = boot(cache, scs[0], outdirs[scs[0]], extra, args.mem, first)
    try:
        ks = dict(re.findall(r"(\w+)=(0x[0-9a-f]+)", re.search(r"VMTRIAGE-KALLSYMS (.*)", guest.buf).group(1)))
        runtime = {k: int(v, 16) for k, v in ks.items()}
        kaslr = runtime["_stext"] - statics["_stext"]
        info = dict(kv.split("=", 1) for kv in ready.group(1).split() if "=" in kv)
        log(f"READY {ready.group(1)}; KASLR offset {kaslr:#x}")
        writer = int(info["writer"])
        ready_time = time.time()
        for i, sc in enumerate(scs):
            meta = metas[sc]
            for k in ("boot_to_init_s", "boot_to_ready_s"):
                if k in first["timings"]:
                    meta["timings"][k] = first["timings"][k]
            meta["qemu_args"] = guest.qemu_args
            meta["append"] = guest.append
            meta["dio_offsets"] = {k: v for k, v in offsets.items() if k.startswith("dio.")}
            meta["kaslr_offset"] = hex(kaslr)
            meta["kallsyms"] = {k: hex(v) for k, v in runtime.items()}
            meta["hung_task_timeout_secs"] = int(re.search(r"hung_task_timeout_secs=(\d+)", guest.buf).group(1))
            meta["guest"] = info
            meta["guest_ready_line"] = ready.group(0)
            if i > 0:
                guest.qmp_cmd("cont")
            if sc in ("B", "B-notimeout", "C"):
                race(guest, writer, offsets, runtime, outdirs[sc], meta)
            meta["timings"]["ready_to_dump_guest_s"] = round(time.time() - ready_time, 1)
            # all formats of a scenario from one stopped VM: identical memory in every file
            guest.qmp_cmd("stop")
            meta["vm_stopped_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            t = time.time()
            dump_scenario(guest, cache, sc, outdirs[sc], meta, args.formats, args.mdf_level)
            meta["timings"]["dumps_s"] = round(time.time() - t, 1)
        guest.read_console()
        guest.stop()
    finally:
        guest.stop()
        for sc in scs:
            with open(os.path.join(outdirs[sc], "console.log"), "w") as f:
                f.write(guest.buf)
        shutil.rmtree(guest.dir, ignore_errors=True)
    bad = []
    for sc in scs:
        meta = metas[sc]
        meta["timings"]["total_s"] = round(time.time() - t_start, 1)
        ok = meta.get("drgn_check", {}).get("ok")
        with open(os.path.join(outdirs[sc], "meta.json" if ok else "meta-failed.json"), "w") as f:
            json.dump(meta, f, indent=1)
        log(f"meta: {os.path.join(outdirs[sc], 'meta.json' if ok else 'meta-failed.json')}")
        if not ok:
            bad.append(sc)
    if bad:
        raise Fail(f"the dumps of {bad} do not show the expected state (meta-failed.json drgn_check)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="the line's directory (vmlinux, release, dumps/)")
    ap.add_argument("--lab", default=None, help="the lab cache (roots/ for drgn 0.3.0 and makedumpfile 1.7.8)")
    ap.add_argument("--scenario", required=True, action="append", choices=["A", "B", "B-notimeout", "C", "D"] + WAIT_SCENARIOS)
    ap.add_argument("--mem", type=int, default=1024, help="guest memory, MiB")
    ap.add_argument("--formats", default="full", choices=["full", "lite"])
    ap.add_argument("--mdf-level", type=int, default=31)
    args = ap.parse_args()
    try:
        run(args)
    except Fail as e:
        log(f"FAIL: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
