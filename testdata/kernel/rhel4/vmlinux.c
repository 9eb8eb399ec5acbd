/*
 * vmlinux.c - the global variables of the synthetic RHEL 4 kernel.  Only
 * their addresses, sizes and types matter: the fixture generator fills
 * their contents in each dump's memory image.  Built by
 * `go run ./testdata/gen -rebuild-vmlinux` (see testdata/gen).
 */
#include "kernel.h"

#define __percpu __attribute__((section(".data.percpu")))
#define __page_aligned __attribute__((section(".data.page_aligned"), aligned(4096)))

const char linux_banner[] =
	"Linux version 2.6.9-67.0.4.ELlargesmp (brewbuilder@hs20-bc1-6.build.redhat.com) "
	"(gcc version 3.4.6 20060404 (Red Hat 3.4.6-9)) #1 SMP Fri Jan 18 05:10:01 EST 2008\n";

union thread_union {
	struct thread_info thread_info;
	unsigned long stack[8192 / sizeof(long)];
};

union thread_union init_thread_union __attribute__((aligned(8192))) = { { 0 } };
struct task_struct init_task = { 0 };
struct new_utsname system_utsname = { "Linux" };
struct x8664_pda cpu_pda[NR_CPUS] = { { 0 } };
cpumask_t cpu_online_map = { { 1 } };
struct runqueue per_cpu__runqueues __percpu = { { 0 } };
unsigned long long jiffies_64 = 1;
unsigned long avenrun[3] = { 1 };
struct timespec xtime = { 1 };
unsigned int cpu_khz = 1;
unsigned long num_physpages = 1;
char *log_buf = 0;
int log_buf_len = 1;
unsigned long log_end = 1;
struct list_head modules = { 0 };
struct list_head super_blocks = { 0 };
struct list_head cache_chain = { 0 };
struct file_system_type *file_systems = 0;
unsigned long init_level4_pgt[512] __page_aligned = { 0 };
