/*
 * kernel.h - a RHEL 4-like (2.6.9-67.0.4.ELlargesmp, x86_64) subset of the
 * kernel's data structures, enough to rebuild the two cores analysed in
 * Red Hat bug 451819.  Field names, types and (where the seed shows them)
 * offsets follow the real 2.6.9 headers; structures are trimmed to the
 * members vmtriage and crash look at.
 *
 * The generator may rewrite this file for layout tests: inside every
 * "struct NAME {" ... "};" block whose opening line does not carry
 * "noshuffle", each single-line member may be reordered and padding may be
 * inserted.  Keep one member per line.
 */
#ifndef VMTRIAGE_RHEL4_KERNEL_H
#define VMTRIAGE_RHEL4_KERNEL_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long loff_t;
typedef unsigned long sector_t;
typedef unsigned long size_t;
typedef long ssize_t;
typedef int pid_t;
typedef unsigned int mode_t;
typedef unsigned int tid_t;
typedef unsigned long long __u64;
typedef unsigned int __u32;
typedef unsigned short __u16;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#define NR_CPUS 32
#define DIO_PAGES 64
#define NR_OPEN_DEFAULT 64
#define TASK_COMM_LEN 16
#define DNAME_INLINE_LEN_MIN 36
#define MODULE_NAME_LEN (64 - sizeof(unsigned long))

struct task_struct;
struct page;
struct inode;
struct file;
struct bio;
struct kiocb;
struct super_block;
struct dentry;
struct vfsmount;
struct block_device;
struct buffer_head;
struct journal_s;
struct transaction_s;
struct module;

typedef struct {
	volatile int counter;
} atomic_t;

typedef struct {
	volatile unsigned int lock;
	unsigned int magic;
} spinlock_t;

typedef struct {
	volatile unsigned int lock;
	unsigned int magic;
} rwlock_t;

struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

struct hlist_node {
	struct hlist_node *next;
	struct hlist_node **pprev;
};

struct timespec {
	long tv_sec;
	long tv_nsec;
};

typedef struct {
	unsigned long bits[1];
} cpumask_t;

/* ---- wait queues ---- */
typedef struct __wait_queue wait_queue_t;
typedef int (*wait_queue_func_t)(wait_queue_t *wait, unsigned mode, int sync, void *key);

struct __wait_queue {
	unsigned int flags;
	struct task_struct *task;
	wait_queue_func_t func;
	struct list_head task_list;
};

struct __wait_queue_head {
	spinlock_t lock;
	struct list_head task_list;
};
typedef struct __wait_queue_head wait_queue_head_t;

/* ---- utsname ---- */
struct new_utsname {
	char sysname[65];
	char nodename[65];
	char release[65];
	char version[65];
	char machine[65];
	char domainname[65];
};

/* ---- per-CPU data area (x86_64 PDA) ---- */
struct x8664_pda {
	struct task_struct *pcurrent;
	unsigned long data_offset;
	unsigned long kernelstack;
	unsigned long oldrsp;
	unsigned long debugstack;
	int irqcount;
	int cpunumber;
	char *irqstackptr;
	unsigned int __softirq_pending;
	unsigned int __nmi_count;
	int mmu_state;
	struct mm_struct *active_mm;
	unsigned int apic_timer_irqs;
};

/* ---- scheduler ---- */
typedef struct prio_array {
	unsigned int nr_active;
	unsigned long bitmap[3];
	struct list_head queue[140];
} prio_array_t;

struct runqueue {
	spinlock_t lock;
	unsigned long nr_running;
	unsigned long cpu_load;
	unsigned long long nr_switches;
	unsigned long expired_timestamp;
	unsigned long nr_uninterruptible;
	unsigned long long timestamp_last_tick;
	struct task_struct *curr;
	struct task_struct *idle;
	struct mm_struct *prev_mm;
	prio_array_t *active;
	prio_array_t *expired;
	int best_expired_prio;
	atomic_t nr_iowait;
	int cpu;
};

/* ---- processes ---- */
struct thread_info {
	struct task_struct *task;
	struct exec_domain *exec_domain;
	__u32 flags;
	__u32 status;
	__u32 cpu;
	int preempt_count;
	unsigned long addr_limit;
	struct restart_block *restart_block;
};

struct thread_struct {
	unsigned long rsp0;
	unsigned long rsp;
	unsigned long userrsp;
	unsigned long fs;
	unsigned long gs;
	unsigned short es;
	unsigned short ds;
	unsigned short fsindex;
	unsigned short gsindex;
	unsigned long debugreg0;
	unsigned long cr2;
	unsigned long trap_no;
	unsigned long error_code;
};

struct mm_struct {
	unsigned long start_code;
	unsigned long end_code;
	unsigned long total_vm;
	unsigned long rss;
	atomic_t mm_users;
	atomic_t mm_count;
};

struct fs_struct {
	atomic_t count;
	rwlock_t lock;
	int umask;
	struct dentry *root;
	struct dentry *pwd;
	struct vfsmount *rootmnt;
	struct vfsmount *pwdmnt;
};

struct namespace {
	atomic_t count;
	struct vfsmount *root;
	struct list_head list;
};

struct task_struct {
	volatile long state;
	struct thread_info *thread_info;
	atomic_t usage;
	unsigned long flags;
	unsigned long ptrace;
	int lock_depth;
	int prio;
	int static_prio;
	struct list_head run_list;
	prio_array_t *array;
	unsigned long sleep_avg;
	long interactive_credit;
	unsigned long long timestamp;
	unsigned long long last_ran;
	int activated;
	unsigned long policy;
	cpumask_t cpus_allowed;
	unsigned int time_slice;
	unsigned int first_time_slice;
	struct list_head tasks;
	struct list_head ptrace_children;
	struct list_head ptrace_list;
	struct mm_struct *mm;
	struct mm_struct *active_mm;
	int exit_code;
	int exit_signal;
	int pdeath_signal;
	unsigned long personality;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *parent;
	struct list_head children;
	struct list_head sibling;
	struct task_struct *group_leader;
	unsigned long rt_priority;
	unsigned long start_time;
	unsigned long nvcsw;
	unsigned long nivcsw;
	unsigned int uid;
	unsigned int euid;
	unsigned int gid;
	unsigned int egid;
	char comm[TASK_COMM_LEN];
	int link_count;
	int total_link_count;
	struct thread_struct thread;
	struct fs_struct *fs;
	struct files_struct *files;
	struct namespace *namespace;
	struct signal_struct *signal;
	struct sighand_struct *sighand;
	void *security;
	void *journal_info;
	struct backing_dev_info *backing_dev_info;
	struct io_context *io_context;
	unsigned long ptrace_message;
	int oomkilladj;
};

/* ---- VFS ---- */
struct qstr {
	unsigned int hash;
	unsigned int len;
	const unsigned char *name;
};

struct dentry {
	atomic_t d_count;
	unsigned int d_flags;
	struct inode *d_inode;
	struct list_head d_lru;
	struct list_head d_child;
	struct list_head d_subdirs;
	struct list_head d_alias;
	unsigned long d_time;
	struct dentry_operations *d_op;
	struct super_block *d_sb;
	void *d_fsdata;
	struct hlist_node d_hash;
	int d_mounted;
	struct qstr d_name;
	struct dentry *d_parent;
	unsigned char d_iname[DNAME_INLINE_LEN_MIN];
};

struct inode {
	struct hlist_node i_hash;
	struct list_head i_list;
	struct list_head i_dentry;
	unsigned long i_ino;
	atomic_t i_count;
	unsigned int i_nlink;
	loff_t i_size;
	unsigned int i_blkbits;
	unsigned long i_blksize;
	unsigned short i_mode;
	struct super_block *i_sb;
	struct address_space *i_mapping;
};

struct vfsmount {
	struct list_head mnt_hash;
	struct vfsmount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
	struct list_head mnt_mounts;
	struct list_head mnt_child;
	atomic_t mnt_count;
	int mnt_flags;
	int mnt_expiry_mark;
	char *mnt_devname;
	struct list_head mnt_list;
	struct namespace *mnt_namespace;
};

struct file_system_type {
	const char *name;
	int fs_flags;
	struct module *owner;
	struct file_system_type *next;
	struct list_head fs_supers;
};

struct super_block {
	struct list_head s_list;
	unsigned long s_dev;
	unsigned long s_blocksize;
	unsigned char s_blocksize_bits;
	unsigned char s_dirt;
	unsigned long long s_maxbytes;
	struct file_system_type *s_type;
	unsigned long s_flags;
	unsigned long s_magic;
	struct dentry *s_root;
	struct block_device *s_bdev;
	char s_id[32];
	void *s_fs_info;
};

struct file {
	struct list_head f_list;
	struct dentry *f_dentry;
	struct vfsmount *f_vfsmnt;
	struct file_operations *f_op;
	atomic_t f_count;
	unsigned int f_flags;
	mode_t f_mode;
	int f_error;
	loff_t f_pos;
	unsigned int f_uid;
	unsigned int f_gid;
	void *private_data;
	struct address_space *f_mapping;
};

typedef struct {
	unsigned long fds_bits[16];
} fd_set;

struct files_struct {
	atomic_t count;
	spinlock_t file_lock;
	int max_fds;
	int max_fdset;
	int next_fd;
	struct file **fd;
	fd_set *close_on_exec;
	fd_set *open_fds;
	fd_set close_on_exec_init;
	fd_set open_fds_init;
	struct file *fd_array[NR_OPEN_DEFAULT];
};

/* ---- block layer ---- */
struct buffer_head {
	unsigned long b_state;
	struct buffer_head *b_this_page;
	struct page *b_page;
	atomic_t b_count;
	u32 b_size;
	sector_t b_blocknr;
	char *b_data;
	struct block_device *b_bdev;
	void *b_end_io;
	void *b_private;
	struct list_head b_assoc_buffers;
};

struct bio {
	sector_t bi_sector;
	struct bio *bi_next;
	struct block_device *bi_bdev;
	unsigned long bi_flags;
	unsigned long bi_rw;
	unsigned short bi_vcnt;
	unsigned short bi_idx;
	unsigned int bi_size;
	void *bi_end_io;
	atomic_t bi_cnt;
	void *bi_private;
};

/* ---- mm/slab.c (the SLAB allocator of 2.6.9) ---- */
typedef unsigned int kmem_bufctl_t;
#define BUFCTL_END 0xffffffffU

struct array_cache {
	unsigned int avail;
	unsigned int limit;
	unsigned int batchcount;
	unsigned int touched;
};

struct kmem_list3 {
	struct list_head slabs_partial;
	struct list_head slabs_full;
	struct list_head slabs_free;
	unsigned long free_objects;
	int free_touched;
	unsigned long next_reap;
	struct array_cache *shared;
};

struct kmem_cache_s {
	struct array_cache *array[NR_CPUS];
	unsigned int batchcount;
	unsigned int limit;
	struct kmem_list3 lists;
	unsigned int objsize;
	unsigned int flags;
	unsigned int num;
	unsigned int free_limit;
	spinlock_t spinlock;
	unsigned int gfporder;
	unsigned int gfpflags;
	size_t colour;
	unsigned int colour_off;
	unsigned int colour_next;
	struct kmem_cache_s *slabp_cache;
	unsigned int slab_size;
	unsigned int dflags;
	void *ctor;
	void *dtor;
	const char *name;
	struct list_head next;
};
typedef struct kmem_cache_s kmem_cache_t;

struct slab {
	struct list_head list;
	unsigned long colouroff;
	void *s_mem;
	unsigned int inuse;
	kmem_bufctl_t free;
};

/* ---- AIO ---- */
enum {
	IOCB_CMD_PREAD = 0,
	IOCB_CMD_PWRITE = 1,
	IOCB_CMD_FSYNC = 2,
	IOCB_CMD_FDSYNC = 3,
	IOCB_CMD_NOOP = 6,
};

struct iocb { /* noshuffle: user ABI */
	__u64 aio_data;
	__u32 aio_key;
	__u32 aio_reserved1;
	__u16 aio_lio_opcode;
	__s16 aio_reqprio;
	__u32 aio_fildes;
	__u64 aio_buf;
	__u64 aio_nbytes;
	__s64 aio_offset;
	__u64 aio_reserved2;
	__u64 aio_reserved3;
};

struct kiocb {
	struct list_head ki_run_list;
	long ki_flags;
	int ki_users;
	unsigned ki_key;
	struct file *ki_filp;
	struct kioctx *ki_ctx;
	void *ki_cancel;
	void *ki_retry;
	void *ki_dtor;
	struct list_head ki_list;
	union {
		void *user;
		struct task_struct *tsk;
	} ki_obj;
	__u64 ki_user_data;
	loff_t ki_pos;
	unsigned short ki_opcode;
	size_t ki_nbytes;
	char *ki_buf;
	size_t ki_left;
	long ki_retried;
	long ki_kicked;
	long ki_queued;
};

/* ---- fs/direct-io.c ---- */
typedef int (get_blocks_t)(struct inode *inode, sector_t iblock, unsigned long max_blocks, struct buffer_head *bh_result, int create);
typedef void (dio_iodone_t)(struct inode *inode, loff_t offset, ssize_t bytes, void *private);

enum {
	DIO_LOCKING = 1,
	DIO_NO_LOCKING = 2,
	DIO_OWN_LOCKING = 3,
};

struct dio {
	struct bio *bio;
	struct inode *inode;
	int rw;
	loff_t i_size;
	int lock_type;
	unsigned blkbits;
	unsigned blkfactor;
	unsigned start_zero_done;
	int pages_in_io;
	size_t size;
	sector_t block_in_file;
	unsigned blocks_available;
	sector_t final_block_in_request;
	unsigned first_block_in_page;
	int boundary;
	int reap_counter;
	get_blocks_t *get_blocks;
	dio_iodone_t *end_io;
	sector_t final_block_in_bio;
	sector_t next_block_for_io;
	struct buffer_head map_bh;
	struct page *cur_page;
	unsigned cur_page_offset;
	unsigned cur_page_len;
	sector_t cur_page_block;
	int curr_page;
	int total_pages;
	unsigned long curr_user_address;
	struct page *pages[DIO_PAGES];
	unsigned head;
	unsigned tail;
	int page_errors;
	atomic_t refcount;
	spinlock_t bio_lock;
	struct bio *bio_list;
	struct task_struct *waiter;
	struct kiocb *iocb;
	int is_async;
	int io_error;
	ssize_t result;
};

/* ---- jbd ---- */
enum transaction_state {
	T_RUNNING,
	T_LOCKED,
	T_RUNDOWN,
	T_FLUSH,
	T_COMMIT,
	T_FINISHED,
};

typedef struct transaction_s transaction_t;
typedef struct journal_s journal_t;
typedef struct handle_s handle_t;

struct handle_s {
	transaction_t *h_transaction;
	int h_buffer_credits;
	int h_ref;
	int h_err;
	unsigned int h_sync: 1;
	unsigned int h_jdata: 1;
	unsigned int h_aborted: 1;
};

struct transaction_s {
	journal_t *t_journal;
	tid_t t_tid;
	enum transaction_state t_state;
	unsigned long t_log_start;
	int t_nr_buffers;
	struct journal_head *t_reserved_list;
	struct journal_head *t_buffers;
	struct journal_head *t_forget;
	struct journal_head *t_checkpoint_list;
	struct journal_head *t_iobuf_list;
	struct journal_head *t_shadow_list;
	struct journal_head *t_log_list;
	spinlock_t t_handle_lock;
	int t_updates;
	int t_outstanding_credits;
	transaction_t *t_cpnext;
	transaction_t *t_cpprev;
	unsigned long t_expires;
	int t_handle_count;
};

struct journal_s {
	unsigned long j_flags;
	int j_errno;
	struct buffer_head *j_sb_buffer;
	struct journal_superblock_s *j_superblock;
	int j_format_version;
	spinlock_t j_state_lock;
	int j_barrier_count;
	struct semaphore *j_barrier;
	transaction_t *j_running_transaction;
	transaction_t *j_committing_transaction;
	transaction_t *j_checkpoint_transactions;
	wait_queue_head_t j_wait_transaction_locked;
	wait_queue_head_t j_wait_logspace;
	wait_queue_head_t j_wait_done_commit;
	wait_queue_head_t j_wait_checkpoint;
	wait_queue_head_t j_wait_commit;
	wait_queue_head_t j_wait_updates;
	unsigned long j_head;
	unsigned long j_tail;
	unsigned long j_free;
	unsigned long j_first;
	unsigned long j_last;
	struct block_device *j_dev;
	int j_blocksize;
	unsigned int j_blk_offset;
	struct block_device *j_fs_dev;
	unsigned int j_maxlen;
	struct inode *j_inode;
	tid_t j_tail_sequence;
	tid_t j_transaction_sequence;
	tid_t j_commit_sequence;
	tid_t j_commit_request;
	struct task_struct *j_task;
	int j_max_transaction_buffers;
	unsigned long j_commit_interval;
	void *j_private;
};

/* ---- ext3 ---- */
struct ext3_sb_info {
	unsigned long s_frag_size;
	unsigned long s_frags_per_block;
	unsigned long s_inodes_per_block;
	unsigned long s_blocks_per_group;
	unsigned long s_inodes_per_group;
	unsigned long s_groups_count;
	unsigned long s_mount_opt;
	struct inode *s_journal_inode;
	struct journal_s *s_journal;
	unsigned long s_commit_interval;
	struct block_device *journal_bdev;
};

/* ---- modules ---- */
typedef struct elf64_sym { /* noshuffle: ELF ABI */
	u32 st_name;
	unsigned char st_info;
	unsigned char st_other;
	u16 st_shndx;
	u64 st_value;
	u64 st_size;
} Elf64_Sym;

enum module_state {
	MODULE_STATE_LIVE,
	MODULE_STATE_COMING,
	MODULE_STATE_GOING,
};

struct module {
	enum module_state state;
	struct list_head list;
	char name[MODULE_NAME_LEN];
	void *module_init;
	void *module_core;
	unsigned long init_size;
	unsigned long core_size;
	unsigned long init_text_size;
	unsigned long core_text_size;
	Elf64_Sym *symtab;
	unsigned long num_symtab;
	char *strtab;
};

#endif
