package rules_test

import (
	"path/filepath"
	"testing"

	"github.com/vmtriage/vmtriage/testdata/linesgen"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
)

// lineFeatures are the kernel-line differences each line must be detected
// with (a feature absent from a line's row is not checked there).
var lineFeatures = map[string]map[string]string{
	"2.6.9": {"task.state": "state", "task.thread_list": "none", "task.cpu": "none", "stack.member": "thread_info",
		"stack.vmapped": "false", "stack.saved_sp": "thread.rsp", "percpu.offsets": "cpu_pda", "percpu.online_mask": "cpu_online_map",
		"sched.runqueue": "struct runqueue.timestamp_last_tick", "mount.namespace": "namespace", "mount.type": "struct vfsmount",
		"mount.table": "list", "file.path": "f_dentry", "waitqueue.head": "task_list", "waitqueue.entry": "wait_queue_t.task_list/task",
		"printk.buffer": "log_buf", "module.memory": "module_core", "module.kallsyms": "false", "slab.allocator": "SLAB",
		"slab.chain": "cache_chain", "journal.ext3": "struct ext3_sb_info", "journal.layer": "jbd", "time.timekeeper": "none",
		"time.hz": "1000 (jiffies and CPU 0's run-queue clock)", "time.hung_task_timeout_secs": "-1", "pid.numbers": "none",
		"dio.refcount": "refcount.counter", "aio.user_data": "ki_user_data"},
	"5.10-amd64": {"task.state": "state", "task.cpu": "cpu", "task.thread_list": "signal.thread_head", "stack.vmapped": "true",
		"stack.thread_size": "16384 (__end_init_task - init_stack)", "mount.table": "list", "module.memory": "core_layout",
		"module.kallsyms": "true", "printk.buffer": "prb", "slab.allocator": "SLUB", "slab.page": "struct page",
		"time.timekeeper": "tk_core", "pid.numbers": "[1]", "journal.layer": "jbd2", "journal.ext3": "struct ext4_sb_info",
		"dio.refcount": "refcount", "aio.user_data": "aio_kiocb.ki_res.data", "sched.preempt_rt": "false"},
	"5.10-rt-amd64": {"task.state": "state", "task.cpu": "cpu", "stack.vmapped": "true", "mount.table": "list",
		"module.memory": "core_layout", "printk.buffer": "prb", "slab.allocator": "SLUB", "sched.preempt_rt": "true",
		"task.rtlock_wait": "0x0", "journal.layer": "jbd2"},
	"6.1-amd64": {"task.state": "__state", "task.cpu": "thread_info.cpu", "stack.vmapped": "true", "mount.table": "list", "pid.numbers": "flexible",
		"module.memory": "core_layout", "printk.buffer": "prb", "slab.allocator": "SLUB", "slab.page": "struct slab",
		"time.timekeeper": "tk_core", "journal.layer": "jbd2"},
	"6.1-rt-amd64": {"task.state": "__state", "task.cpu": "thread_info.cpu", "mount.table": "list", "module.memory": "core_layout",
		"slab.page": "struct slab", "sched.preempt_rt": "true", "task.rtlock_wait": "0x1000", "journal.layer": "jbd2"},
	"6.12-amd64": {"task.state": "__state", "task.cpu": "thread_info.cpu", "stack.vmapped": "true",
		"stack.thread_size": "16384 (__end_init_stack - init_stack)", "mount.table": "mounts", "module.memory": "mem",
		"printk.buffer": "prb", "slab.allocator": "SLUB", "slab.page": "struct slab", "time.timekeeper": "tk_core",
		"pid.numbers": "flexible", "journal.layer": "jbd2", "time.hz": "250 (jiffies and the timekeeper's uptime)",
		"task.state_letters": "RU IN UN ST TR DE ZO PA ID (task_state_array)"},
	"6.12-rt-amd64": {"task.state": "__state", "mount.table": "mounts", "module.memory": "mem", "time.timekeeper": "tk_core",
		"sched.preempt_rt": "true", "task.rtlock_wait": "0x1000", "journal.layer": "jbd2"},
	"7.2-rt-amd64": {"task.state": "__state", "mount.table": "mounts", "module.memory": "mem", "time.timekeeper": "timekeeper_data",
		"sched.preempt_rt": "true", "task.rtlock_wait": "0x1000", "journal.layer": "jbd2"},
	"7.2-amd64": {"task.state": "__state", "task.cpu": "thread_info.cpu", "stack.vmapped": "true", "mount.table": "mounts",
		"module.memory": "mem", "printk.buffer": "prb", "slab.allocator": "SLUB", "slab.page": "struct slab",
		"time.timekeeper": "timekeeper_data", "pid.numbers": "flexible", "journal.layer": "jbd2"},
}

// TestKernelLineFeatures checks the detected features of every kernel
// line: the seed cores for 2.6.9, the recorded lab dumps for the others.
func TestKernelLineFeatures(t *testing.T) {
	got := map[string]map[string]string{}
	cores := seedgen.Cores(t)
	got["2.6.9"] = analyze(t, filepath.Join(cores, "rhel4-1822328.elf"), filepath.Join(cores, seedgen.VmlinuxName)).Kernel.Features
	for _, line := range lineDirs(t) {
		// journal features come from the modules loaded: D has ext4/jbd2
		got[line] = map[string]string{}
		for _, sc := range []string{"B", "D"} {
			r, err := linesgen.Replay(filepath.Join(linesDir, line), sc)
			if err != nil {
				t.Errorf("%s %s: %v", line, sc, err)
				continue
			}
			for k, v := range r.Kernel.Features {
				if got[line][k] == "" || got[line][k] == "none" {
					got[line][k] = v
				}
			}
		}
	}
	for line, want := range lineFeatures {
		have, ok := got[line]
		if !ok {
			t.Errorf("%s: no fixture in %s", line, linesDir)
			continue
		}
		for name, v := range want {
			if have[name] != v {
				t.Errorf("%s: feature %s = %q, want %q", line, name, have[name], v)
			}
		}
	}
}
