#!/usr/bin/python3
"""Oracle outputs for one lab scenario:
  drgn.json            oracle_drgn.py on the paging:true ELF
  drgn-mdf-zlib.json   the same on makedumpfile's zlib kdump (cross-check)
  crash-<format>.txt   crash -s vmlinux DUMP -i cmdfile, for every format:
                       sys, struct dio <addr> for each dio drgn found, rd of the
                       refcount/bio_list/waiter words, and for D the journal and
                       transaction (with `mod -s jbd2` for the module's types)
  oracle.json          timings, peak RSS, what worked

  oracle.py --cache DIR --scenario A|B|B-notimeout|C|D
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
FORMATS = ["elf-nopaging", "elf-paging", "kdump-zlib-flat", "mdf-zlib", "mdf-lzo"]


def timed(cmd, stdout):
    """Run under /usr/bin/time -v; return (rc, seconds, peak_rss_kb, stderr)."""
    t = time.time()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    dt = time.time() - t
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    return r.returncode, round(dt, 2), int(m.group(1)) if m else None, r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--scenario", required=True)
    a = ap.parse_args()
    cache, sc = a.cache, a.scenario
    d = os.path.join(cache, "dumps", sc)
    vmlinux = os.path.join(cache, "vmlinux")
    mods = sorted(glob.glob(os.path.join(cache, "debug-modules", "**", "*.ko"), recursive=True))
    res = {"scenario": sc, "drgn": {}, "crash": {}}

    for src, out in (("elf-paging", "drgn.json"), ("mdf-zlib", "drgn-mdf-zlib.json")):
        dump = os.path.join(d, src + ".vmcore")
        if not os.path.exists(dump):
            continue
        with open(os.path.join(d, out), "w") as f:
            rc, dt, rss, err = timed([PY, os.path.join(HERE, "oracle_drgn.py"), dump, vmlinux] + mods, f)
        res["drgn"][src] = {"rc": rc, "seconds": dt, "peak_rss_kb": rss, "out": out}
        if rc:
            print(f"drgn on {src} failed:\n{err[-3000:]}", file=sys.stderr)
    if res["drgn"].get("elf-paging", {}).get("rc") != 0:
        print("drgn on the paging:true ELF failed", file=sys.stderr)
        sys.exit(1)
    oracle = json.load(open(os.path.join(d, "drgn.json")))

    cmds = ["sys"]
    for t in oracle["un_tasks"]:
        if "dio" in t:
            addr = int(t["dio"]["dio"], 16)
            cmds += [f"struct dio {addr:#x}",
                     f"struct dio.refcount,bio_list,waiter,is_async,result {addr:#x}",
                     f"rd {addr + 72:#x} 3",
                     f"struct task_struct.pid,comm,__state {t['dio']['waiter']}"]
    jbd2 = [m for m in mods if m.endswith("/jbd2.ko")]
    if oracle.get("journals"):
        if jbd2:
            cmds.append(f"mod -s jbd2 {jbd2[0]}")
        for j in oracle["journals"]:
            cmds.append(f"struct journal_s.j_devname,j_running_transaction,j_committing_transaction,j_task {j['journal']}")
            rt = j.get("j_running_transaction")
            if rt:
                cmds.append(f"struct transaction_s.t_tid,t_state,t_updates {rt['transaction']}")
    cmds += ["ps -S", "quit"]
    cmdfile = os.path.join(d, "crash.cmd")
    with open(cmdfile, "w") as f:
        f.write("\n".join(cmds) + "\n")
    for fmt in FORMATS:
        dump = os.path.join(d, fmt + ".vmcore")
        if not os.path.exists(dump):
            continue
        out = os.path.join(d, f"crash-{fmt}.txt")
        with open(out, "w") as f:
            f.write(f"# crash -s {vmlinux} {dump} -i {cmdfile}\n")
            f.flush()
            rc, dt, rss, err = timed(["crash", "-s", vmlinux, dump, "-i", cmdfile], f)
        text = open(out).read()
        ok = all(f"waiter = {t['dio']['waiter']}" in text for t in oracle["un_tasks"] if "dio" in t)
        res["crash"][fmt] = {"rc": rc, "seconds": dt, "peak_rss_kb": rss, "dio_fields_match_drgn": ok,
                             "out": os.path.basename(out)}
        if not ok:
            with open(out, "a") as f:
                f.write("\n# stderr:\n" + err[-4000:])
        print(f"crash {fmt}: rc={rc} {dt}s {rss} KB match={ok}", file=sys.stderr)
    with open(os.path.join(d, "oracle.json"), "w") as f:
        json.dump(res, f, indent=1)
    for t in oracle["un_tasks"]:
        print(f"UN pid {t['pid']} {t['comm']} task {t['task']} cpu {t['cpu']} dio "
              f"{json.dumps(t.get('dio'))}", file=sys.stderr)
    for j in oracle.get("journals", []):
        print(f"journal {j['device']} running {json.dumps(j['j_running_transaction'])} j_task {j['j_task']} "
              f"locked-waiters {[w['pid'] for w in j['wait_transaction_locked']]} "
              f"holders {[x['pid'] for x in j['handle_holders']]}", file=sys.stderr)


if __name__ == "__main__":
    main()
