/*
 * Kernel-like types for the symbols package tests. The tests compile this
 * file with gcc for several DWARF versions and compare what the package
 * decodes against offsetof/sizeof printed by a program that includes it.
 */
#include <stddef.h>

struct list_head {
	struct list_head *next, *prev;
};

typedef struct {
	int counter;
} atomic_t;

struct task_struct;

struct wait_queue_head {
	int lock;
	struct list_head task_list;
};
typedef struct wait_queue_head wait_queue_head_t;

struct buffer_head {
	unsigned long b_state;
	struct buffer_head *b_this_page;
	unsigned long long b_blocknr;
	unsigned int b_size;
	char *b_data;
	void (*b_end_io)(struct buffer_head *bh, int uptodate);
	atomic_t b_count;
};

struct page {
	unsigned long flags;
	atomic_t _count;
	union {
		struct {
			unsigned long private;
			void *mapping;
		};
		struct list_head slab_list;
	};
	struct list_head lru;
};

/* Bit fields of several widths, across byte and word boundaries. */
struct dio {
	int flags;
	unsigned is_async:1;
	unsigned io_error:3;
	unsigned blkbits:7;   /* crosses a byte boundary */
	signed int delta:13;
	unsigned char small:2;
	unsigned long long wide:40; /* crosses a 32-bit boundary */
	unsigned long long wide2:30;
	short sh:5;
	int refcount;
	struct buffer_head map_bh;
	struct page *pages[64];
	int matrix[3][4];     /* 2-D */
	const char *name;
	volatile unsigned long state;
	int (*end_io)(struct dio *, long, void *);
	struct list_head list;
};

struct kiocb {
	struct list_head ki_run_list;
	long ki_flags;
	union {
		void *user;
		struct task_struct *tsk;
	} ki_obj;
	unsigned long long ki_user_data;
	char ki_pad[5];
	unsigned ki_bits:4; /* a bit field right after an array */
};

enum tstate {
	T_RUNNING,
	T_LOCKED,
	T_RUNDOWN,
	T_FLUSH,
	T_COMMIT,
	T_FINISHED,
};

enum { ANON_A = -3, ANON_B = 42, ANON_BIG = 0x7fffffff };

typedef struct transaction_s transaction_t;
typedef struct journal_s journal_t;

struct transaction_s {
	journal_t *t_journal;
	unsigned int t_tid;
	enum tstate t_state;
	enum tstate t_small_state:4; /* enum bit field */
	unsigned long t_log_start;
	transaction_t *t_cpnext, *t_cpprev;
	struct list_head t_list;
	int t_updates;
};

struct journal_s {
	unsigned long j_flags;
	transaction_t *j_running_transaction;
	transaction_t *j_committing_transaction;
	wait_queue_head_t j_wait_updates;
	int j_tail_sequence;
	struct task_struct *j_task;
};

/* Bit field straddling its type's natural unit in a packed struct. */
struct __attribute__((packed)) packed_bits {
	char c;
	unsigned int p:30;
	unsigned int q:6;
};

struct flex {
	int count;
	long items[];  /* flexible array member */
};

struct zero_len {
	int count;
	char data[0];  /* old-style zero-length array */
};

union u_mixed {
	int i;
	double d;
	char bytes[12];
	struct {
		unsigned lo:16, hi:16;
	} halves;
};

struct task_struct {
	volatile long state;
	struct list_head tasks;
	struct task_struct *parent;
	char comm[16];
	struct list_head children;
	transaction_t *journal_info;
	int pid;
};

/* Globals so that every type is emitted. */
struct dio global_dio;
struct kiocb global_kiocb;
transaction_t global_transaction;
struct journal_s global_journal;
struct packed_bits global_packed;
struct flex *global_flex;
struct zero_len *global_zero;
union u_mixed global_mixed;
struct task_struct init_task;
struct page global_page;
enum tstate global_state = T_COMMIT;
int anon_value = ANON_A;
const char linux_banner[] = "Linux version 2.6.9-vmtriage-test (gcc) #1 SMP\n";
char bss_buffer[128];
long global_counter = 7;

int types_function(struct dio *d, int x)
{
	int sum = 0;
	int i;

	for (i = 0; i < x; i++)
		sum += d->refcount + i;
	if (sum > 1000)
		sum -= d->flags;
	global_counter += sum;
	return sum;
}
