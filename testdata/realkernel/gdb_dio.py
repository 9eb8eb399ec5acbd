# gdb -batch script (run by run_scenario.py, no symbol file loaded: KASLR makes
# the vmlinux's addresses wrong; offsets come from its DWARF through drgn).
#   LAB_MODE=clear   : find the writer's struct dio (stack word D with D->waiter == task,
#                      D->refcount >= 2), set D->waiter = 0
#   LAB_MODE=restore : if D->refcount == 1, set D->waiter = task
# Writes a JSON result to LAB_OUT.
import json
import os
import struct

import gdb

O = json.loads(os.environ["LAB_OFFSETS"])
MODE = os.environ["LAB_MODE"]
OUT = os.environ["LAB_OUT"]
INF = gdb.selected_inferior()
KERN_MIN = 0xFFFF800000000000


def rd(addr, n=8):
    return bytes(INF.read_memory(addr, n))


def u64(addr):
    return struct.unpack("<Q", rd(addr))[0]


def u32(addr):
    return struct.unpack("<I", rd(addr, 4))[0]


def s32(addr):
    return struct.unpack("<i", rd(addr, 4))[0]


def wr64(addr, v):
    INF.write_memory(addr, struct.pack("<Q", v))


def refcount(d):
    return u64(d + O["dio.refcount"]) if O["dio.refcount.size"] == 8 else u32(d + O["dio.refcount"])


def dio_fields(d):
    return {"dio": hex(d), "refcount": refcount(d), "waiter": hex(u64(d + O["dio.waiter"])),
            "bio_list": hex(u64(d + O["dio.bio_list"])), "is_async": u32(d + O["dio.is_async"]) & 0xff,
            "result": struct.unpack("<q", rd(d + O["dio.result"]))[0],
            "size": struct.unpack("<q", rd(d + O["dio.size"]))[0] if "dio.size" in O else None}


def threads(init_task):
    """Every thread: walk init_task.tasks, then each leader's signal->thread_head."""
    t = init_task
    seen = 0
    while True:
        sig = u64(t + O["task.signal"])
        head = sig + O["signal.thread_head"]
        n = u64(head)
        k = 0
        while n != head and k < 10000:
            yield n - O["task.thread_node"]
            n = u64(n)
            k += 1
        t = u64(t + O["task.tasks"]) - O["task.tasks"]
        seen += 1
        if t == init_task or seen > 100000:
            return


def find_task(init_task, pid):
    for t in threads(init_task):
        if s32(t + O["task.pid"]) == pid:
            return t
    raise RuntimeError(f"pid {pid} not found in the task list")


def main():
    res = {"mode": MODE}
    pid = int(os.environ["LAB_PID"])
    task = find_task(int(os.environ["LAB_INIT_TASK"]), pid)
    res["pid"] = pid
    res["task"] = hex(task)
    res["comm"] = rd(task + O["task.comm"], 16).split(b"\0")[0].decode()
    res["state"] = u32(task + O["task.state"])
    if MODE == "clear":
        stack = u64(task + O["task.stack"])
        res["stack"] = hex(stack)
        data = rd(stack, O["thread_size"])
        cands = []
        for i in range(0, len(data), 8):
            v = struct.unpack_from("<Q", data, i)[0]
            if v < KERN_MIN or v > 0xFFFFFFFFFFFFF000 or v in cands:
                continue
            if stack <= v < stack + O["thread_size"] or task <= v < task + 0x4000:
                continue  # pointers into the stack or the task itself
            try:
                if u64(v + O["dio.waiter"]) != task:
                    continue
                rc = refcount(v)
            except (gdb.MemoryError, OverflowError):
                continue
            if 1 <= rc <= 64:
                cands.append(v)
        res["candidates"] = [dio_fields(c) for c in cands]
        live = [c for c in cands if refcount(c) >= 2]
        if len(live) != 1:
            raise RuntimeError(f"expected one dio with waiter == task and refcount >= 2, got {res['candidates']}")
        d = live[0]
        res.update(dio_fields(d))
        wr64(d + O["dio.waiter"], 0)
        res["waiter_now"] = hex(u64(d + O["dio.waiter"]))
    else:
        d = int(os.environ["LAB_DIO"], 16)
        res.update(dio_fields(d))
        if refcount(d) == 1 and u64(d + O["dio.waiter"]) == 0:
            wr64(d + O["dio.waiter"], task)
            res["restored"] = True
            res["after"] = dio_fields(d)
        else:
            res["restored"] = False
    return res


try:
    r = main()
except Exception as e:  # reported to the driver, which fails the scenario
    import traceback
    r = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
with open(OUT, "w") as f:
    json.dump(r, f, indent=1)
print(json.dumps(r))
gdb.execute("detach")
