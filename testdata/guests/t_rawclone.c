/*
 * t_rawclone: threads made directly with the clone syscall, without libc:
 * CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|
 * CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, each thread on its
 * own mmap'd stack (a small asm trampoline calls a C function there and ends
 * the thread with SYS_exit, never returning into libc).
 *  - CLONE_PARENT_SETTID stores the new tid, equal to clone's return value;
 *  - the thread's gettid() is that tid, differs from getpid(), and its
 *    getpid() is the process's;
 *  - CLONE_SETTLS: %fs:0 and arch_prctl(ARCH_GET_FS) in the thread give the
 *    (fake) thread control block passed in;
 *  - CLONE_CHILD_CLEARTID: the tid word is cleared and futex-woken when the
 *    thread exits; the parent waits with FUTEX_WAIT until it reads 0;
 *  - a thread's SYS_exit ends only that thread: the process lives on, no
 *    exit signal is sent (not even when SIGCHLD is in the CSIGNAL bits, which
 *    CLONE_THREAD ignores) and threads are not waitable children (ECHILD);
 *  - four threads at once, each doing 100000 atomic increments;
 *  - a thread blocked in FUTEX_WAIT is woken by FUTEX_WAKE from main;
 *  - plain futex results: FUTEX_WAIT on a changed value (EAGAIN), with a
 *    timeout (ETIMEDOUT), FUTEX_WAKE with no waiters (0).
 * Threads only use inline-asm system calls (no libc, no errno, no TLS).
 */
#include "guest.h"

#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

/* <linux/futex.h> is not available to musl-gcc */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)

#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003
#endif

#define STACK_SIZE (64 * 1024)


static inline long rsys0(long n)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
	return r;
}

static inline long rsys2(long n, long a, long b)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return r;
}

static inline long rsys4(long n, long a, long b, long c, long d)
{
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

#define THREAD_FLAGS                                                          \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |   \
	 CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

struct thr {
	int ptid;          /* CLONE_PARENT_SETTID target */
	int ctid;          /* CLONE_CHILD_CLEARTID target */
	int tid_seen;      /* gettid() in the thread */
	int pid_seen;      /* getpid() in the thread */
	unsigned long fs0; /* %fs:0 in the thread */
	unsigned long fsbase;
	int gate; /* futex the thread waits on, if asked */
	int wait_gate;
	long incr;
	unsigned long tcb[16]; /* fake thread control block: tcb[0] = &tcb */
	void *stack;
};

static long atomic_total;
static volatile sig_atomic_t chld_count;

static void on_chld(int sig)
{
	(void)sig;
	chld_count++;
}

static int thread_main(void *arg)
{
	struct thr *t = arg;
	t->tid_seen = (int)rsys0(SYS_gettid);
	t->pid_seen = (int)rsys0(SYS_getpid);
	unsigned long fs0;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs0));
	t->fs0 = fs0;
	unsigned long base = 0;
	rsys2(SYS_arch_prctl, ARCH_GET_FS, (long)&base);
	t->fsbase = base;
	if (t->wait_gate) {
		while (__atomic_load_n(&t->gate, __ATOMIC_SEQ_CST) == 0)
			rsys4(SYS_futex, (long)&t->gate, FUTEX_WAIT, 0, 0);
	}
	for (long i = 0; i < t->incr; i++)
		__atomic_fetch_add(&atomic_total, 1, __ATOMIC_RELAXED);
	return 77;
}

static long start(struct thr *t, unsigned long extra_flags, int *ptid, int *ctid)
{
	t->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	must(t->stack != MAP_FAILED, "mmap stack");
	t->tcb[0] = (unsigned long)t->tcb;
	long r = guest_raw_thread(THREAD_FLAGS | extra_flags, (char *)t->stack + STACK_SIZE,
				  ptid, ctid, (unsigned long)t->tcb, thread_main, t);
	if (r < 0) {
		out("FATAL: clone: %s\n", errname((int)-r));
		_exit(99);
	}
	return r;
}

/* Wait until the kernel clears *word (CLONE_CHILD_CLEARTID). */
static void join(struct thr *t, int *word)
{
	int v;
	while ((v = __atomic_load_n(word, __ATOMIC_SEQ_CST)) != 0) {
		long r = syscall(SYS_futex, word, FUTEX_WAIT, v, NULL, NULL, 0);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			out("FATAL: futex wait: %s\n", errname(errno));
			_exit(99);
		}
	}
	munmap(t->stack, STACK_SIZE);
}

static void one_thread(const char *label, unsigned long extra_flags)
{
	static struct thr t;
	memset(&t, 0, sizeof t);
	t.ctid = 1; /* cleared by the kernel when the thread exits */
	int before = chld_count;
	long tid = start(&t, extra_flags, &t.ptid, &t.ctid);
	out("%s: CLONE_PARENT_SETTID value: %s\n", label, t.ptid == tid ? "match" : "MISMATCH");
	check(t.ptid == tid, "parent settid");
	join(&t, &t.ctid);
	out("%s: tid word cleared at exit: yes\n", label);
	out("%s: thread's gettid: %s; != getpid: %s; thread's getpid: %s\n", label,
	    t.tid_seen == tid ? "match" : "MISMATCH", t.tid_seen != getpid() ? "yes" : "NO",
	    t.pid_seen == getpid() ? "same" : "DIFFERENT");
	check(t.tid_seen == tid && t.tid_seen != getpid() && t.pid_seen == getpid(), "ids");
	int tls_ok = t.fs0 == (unsigned long)t.tcb && t.fsbase == (unsigned long)t.tcb;
	out("%s: CLONE_SETTLS (%%fs:0 and ARCH_GET_FS): %s\n", label, tls_ok ? "match" : "MISMATCH");
	check(tls_ok, "settls");
	sleep_ms(20); /* a stray exit signal would arrive meanwhile */
	out("%s: process still alive after the thread's exit; exit signals: %d\n", label,
	    (int)(chld_count - before));
	check(chld_count == before, "no exit signal");
	int st;
	errno = 0;
	pid_t w = waitpid(-1, &st, __WALL | WNOHANG);
	out("%s: waitpid(-1, __WALL|WNOHANG): %d %s\n", label, (int)w, errname(errno));
	check(w == -1 && errno == ECHILD, "threads are not children");
}

static void four_threads(void)
{
	static struct thr t[4];
	long tids[4];
	atomic_total = 0;
	for (int i = 0; i < 4; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].incr = 100000;
		/* glibc style: one word for both PARENT_SETTID and CHILD_CLEARTID */
		tids[i] = start(&t[i], 0, &t[i].ctid, &t[i].ctid);
	}
	for (int i = 0; i < 4; i++)
		join(&t[i], &t[i].ctid);
	int distinct = 1;
	for (int i = 0; i < 4; i++) {
		if (t[i].tid_seen != tids[i] || tids[i] == getpid())
			distinct = 0;
		for (int j = 0; j < i; j++)
			if (tids[i] == tids[j])
				distinct = 0;
	}
	out("four threads: total %ld, tids %s\n", atomic_total, distinct ? "distinct" : "NOT distinct");
	check(atomic_total == 400000 && distinct, "four threads");
}

static void futex_gate(void)
{
	static struct thr t;
	memset(&t, 0, sizeof t);
	t.wait_gate = 1;
	t.incr = 1;
	atomic_total = 0;
	start(&t, 0, &t.ctid, &t.ctid);
	sleep_ms(20); /* let it block (it works either way) */
	check(atomic_total == 0, "thread waits for the gate");
	__atomic_store_n(&t.gate, 1, __ATOMIC_SEQ_CST);
	long r = syscall(SYS_futex, &t.gate, FUTEX_WAKE, 1, NULL, NULL, 0);
	check(r == 0 || r == 1, "futex wake");
	join(&t, &t.ctid);
	out("futex gate: thread released, total %ld\n", atomic_total);
	check(atomic_total == 1, "gate");
}

static void futex_basics(void)
{
	int word = 5;
	errno = 0;
	long r = syscall(SYS_futex, &word, FUTEX_WAIT, 6, NULL, NULL, 0);
	out("FUTEX_WAIT, value differs: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 6, NULL, NULL, 0);
	out("FUTEX_WAIT_PRIVATE, value differs: %ld %s\n", r, errname(errno));
	struct timespec ts = {0, 10 * 1000 * 1000};
	errno = 0;
	r = syscall(SYS_futex, &word, FUTEX_WAIT, 5, &ts, NULL, 0);
	out("FUTEX_WAIT 10 ms timeout: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_futex, &word, FUTEX_WAKE, 1, NULL, NULL, 0);
	out("FUTEX_WAKE, no waiters: %ld\n", r);
	errno = 0;
	r = syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	out("FUTEX_WAKE_PRIVATE, no waiters: %ld\n", r);
}

int main(void)
{
	on_signal(SIGCHLD, on_chld, SA_RESTART);
	one_thread("exit signal 0", 0);
	one_thread("SIGCHLD in CSIGNAL", SIGCHLD);
	four_threads();
	futex_gate();
	futex_basics();
	out("main: done\n");
	return finish();
}
