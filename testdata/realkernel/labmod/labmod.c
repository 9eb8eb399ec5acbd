// SPDX-License-Identifier: GPL-2.0
/*
 * labmod: stages lock and completion hangs for vmtriage's real-kernel lab
 * (testdata/realkernel/README.md, scenarios F, G, G-legit, H, H-legit).
 *
 *   insmod labmod.ko mode=abba|lost-completion|completion|lost-mutex|mutex
 *
 * abba             two kthreads take lab_m1 and lab_m2 in opposite order, with
 *                  an msleep between: both sleep in __mutex_lock for good (F)
 * lost-completion  a kthread sleeps in wait_for_completion(&lab_done); the module
 *                  then sets lab_done.done = 1 under the completion's lock without
 *                  waking it: complete() minus swake_up_locked(), the lost wakeup
 *                  replayed deterministically (G)
 * completion       the same wait, the completion never completed: done 0 (G-legit)
 * lost-mutex       lab_owner takes lab_m1 and sleeps (TASK_INTERRUPTIBLE), lab_waiter
 *                  sleeps in mutex_lock(&lab_m1); the module then clears the mutex's
 *                  owner word (non-RT: mutex.owner; PREEMPT_RT: rtmutex.owner)
 *                  without waking the waiter: an unlock that lost its wakeup (H)
 * mutex            the same, the owner still holding the mutex (H-legit)
 *
 * module_init returns once the state is staged (each waiter seen in
 * TASK_UNINTERRUPTIBLE, then 300 ms more for it to be switched out) and logs
 *   labmod: READY mode=... waiter=PID owner=PID a=PID b=PID object=ADDR
 * The module cannot be unloaded (no module_exit): its kthreads never return.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 14, 0)
#define task_state_of(t) READ_ONCE((t)->state)
#else
#define task_state_of(t) READ_ONCE((t)->__state)
#endif

static char *mode = "abba";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "abba | lost-completion | completion | lost-mutex | mutex");

static DEFINE_MUTEX(lab_m1);
static DEFINE_MUTEX(lab_m2);
static struct completion lab_done;
static struct task_struct *lab_a, *lab_b, *lab_waiter, *lab_owner;

static void sleep_forever(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule();
	}
}

static int abba_a(void *unused)
{
	mutex_lock(&lab_m1);
	msleep(500);
	mutex_lock(&lab_m2); /* lab_abba_b holds it and waits for lab_m1 */
	pr_err("labmod: lab_abba_a got both mutexes: no deadlock\n");
	sleep_forever();
	return 0;
}

static int abba_b(void *unused)
{
	mutex_lock(&lab_m2);
	msleep(500);
	mutex_lock(&lab_m1);
	pr_err("labmod: lab_abba_b got both mutexes: no deadlock\n");
	sleep_forever();
	return 0;
}

static int completion_waiter(void *unused)
{
	wait_for_completion(&lab_done);
	pr_err("labmod: lab_waiter woken\n");
	sleep_forever();
	return 0;
}

static int mutex_owner(void *unused)
{
	mutex_lock(&lab_m1);
	sleep_forever(); /* holds lab_m1, sleeping (S) */
	return 0;
}

static int mutex_waiter(void *unused)
{
	mutex_lock(&lab_m1);
	pr_err("labmod: lab_waiter got lab_m1\n");
	sleep_forever();
	return 0;
}

/* wait until t sleeps uninterruptibly (up to 20 s), then 300 ms more */
static int wait_blocked(struct task_struct *t)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (task_state_of(t) == TASK_UNINTERRUPTIBLE) {
			msleep(300);
			return 0;
		}
		msleep(100);
	}
	pr_err("labmod: %s (pid %d) never blocked (state 0x%x)\n", t->comm, t->pid, (unsigned int)task_state_of(t));
	return -ETIMEDOUT;
}

static struct task_struct *start(int (*fn)(void *), const char *name)
{
	struct task_struct *t = kthread_run(fn, NULL, "%s", name);

	if (IS_ERR(t))
		pr_err("labmod: kthread_run %s: %ld\n", name, PTR_ERR(t));
	return IS_ERR(t) ? NULL : t;
}

static int pid_of(struct task_struct *t)
{
	return t ? t->pid : 0;
}

static int __init labmod_init(void)
{
	void *object = NULL;
	int err = 0;

	init_completion(&lab_done);
	if (!strcmp(mode, "abba")) {
		lab_a = start(abba_a, "lab_abba_a");
		lab_b = start(abba_b, "lab_abba_b");
		if (!lab_a || !lab_b)
			return -ENOMEM;
		err = wait_blocked(lab_a) ?: wait_blocked(lab_b);
		object = &lab_m1;
	} else if (!strcmp(mode, "lost-completion") || !strcmp(mode, "completion")) {
		lab_waiter = start(completion_waiter, "lab_waiter");
		if (!lab_waiter)
			return -ENOMEM;
		err = wait_blocked(lab_waiter);
		if (!err && !strcmp(mode, "lost-completion")) {
			unsigned long flags;

			/* complete() without swake_up_locked(): the wakeup is lost */
			raw_spin_lock_irqsave(&lab_done.wait.lock, flags);
			WRITE_ONCE(lab_done.done, 1);
			raw_spin_unlock_irqrestore(&lab_done.wait.lock, flags);
		}
		object = &lab_done;
	} else if (!strcmp(mode, "lost-mutex") || !strcmp(mode, "mutex")) {
		lab_owner = start(mutex_owner, "lab_owner");
		if (!lab_owner)
			return -ENOMEM;
		msleep(300); /* lab_owner takes lab_m1 first */
		lab_waiter = start(mutex_waiter, "lab_waiter");
		if (!lab_waiter)
			return -ENOMEM;
		err = wait_blocked(lab_waiter);
		if (!err && !strcmp(mode, "lost-mutex")) {
			/* an unlock that lost its wakeup: no owner, the waiter still queued */
#ifdef CONFIG_PREEMPT_RT
			WRITE_ONCE(lab_m1.rtmutex.owner, NULL);
#else
			atomic_long_set(&lab_m1.owner, 0);
#endif
		}
		object = &lab_m1;
	} else {
		pr_err("labmod: unknown mode '%s'\n", mode);
		return -EINVAL;
	}
	if (err)
		return err;
	pr_info("labmod: READY mode=%s waiter=%d owner=%d a=%d b=%d object=%px m1=%px m2=%px done=%px\n",
		mode, pid_of(lab_waiter), pid_of(lab_owner), pid_of(lab_a), pid_of(lab_b), object,
		&lab_m1, &lab_m2, &lab_done);
	return 0;
}
module_init(labmod_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmtriage lab: ABBA deadlock, lost completion and mutex wakeups");
