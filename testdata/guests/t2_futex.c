/*
 * t2_futex: the less common futex operations, shared futexes between
 * processes and robust mutexes.
 *  - waiter counting: FUTEX_CMP_REQUEUE of a word onto itself with
 *    nr_wake 0 moves nobody and returns the number of waiters; the guest
 *    uses it to know that its waiter threads are really blocked;
 *  - FUTEX_REQUEUE: 4 waiters on A, wake 1 and requeue the rest to B (the
 *    return value is printed as Linux gives it), then A has 0 waiters and B
 *    3; FUTEX_WAKE on B wakes the 3; all 4 waits return 0;
 *  - FUTEX_CMP_REQUEUE: a wrong expected value is EAGAIN and moves nobody;
 *    wake 1 + requeue 2 returns 3 and leaves 1 on A and 2 on B; negative
 *    counts and an unaligned second address are EINVAL;
 *  - FUTEX_WAKE_OP: the word's new value and which side's waiters woke for
 *    ADD/CMP_EQ (true, then false), SET/CMP_GT, OR with OPARG_SHIFT, ANDN,
 *    XOR, a negative (sign-extended) ADD, an out-of-range shift, an unknown
 *    op or comparison (ENOSYS; the word is still written for a bad cmp);
 *  - FUTEX_WAIT_BITSET/FUTEX_WAKE_BITSET: a waker's bitset that matches no
 *    waiter wakes nobody, one that matches one waiter wakes just that one;
 *  - timeouts: absolute CLOCK_MONOTONIC and (FUTEX_CLOCK_REALTIME) realtime
 *    deadlines in the past are ETIMEDOUT at once, 20 ms in the future wait
 *    at least 20 ms; FUTEX_WAIT's relative 20 ms likewise; a bad timespec is
 *    EINVAL; FUTEX_WAIT|FUTEX_CLOCK_REALTIME as Linux treats it;
 *  - errors: bitset 0 (EINVAL), unaligned address (EINVAL), NULL or
 *    PROT_NONE word (EFAULT), unknown op and FUTEX_CLOCK_REALTIME with
 *    FUTEX_WAKE (ENOSYS);
 *  - shared futexes in a MAP_SHARED|MAP_ANONYMOUS page between a parent and
 *    a forked child: the child waits and the parent wakes (a private wake
 *    does not reach it), and the reverse; the child moves the mapping
 *    elsewhere with mremap and waits there, the parent's wake at the old
 *    address still finds it; a non-private wake on MAP_PRIVATE memory does
 *    not reach a forked child;
 *  - robust mutexes: a thread that exits holding one (while the main thread
 *    is blocked in pthread_mutex_lock) makes the lock return EOWNERDEAD;
 *    pthread_mutex_consistent then makes it usable again; unlocking it
 *    without that makes it ENOTRECOVERABLE; the same with a
 *    PTHREAD_PROCESS_SHARED robust mutex in MAP_SHARED memory and a child
 *    process that _exit()s, or is SIGKILLed, holding it.
 */
#include "guest.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

/* <linux/futex.h> is not available to musl-gcc */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define P FUTEX_PRIVATE_FLAG

#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OR 2
#define FUTEX_OP_ANDN 3
#define FUTEX_OP_XOR 4
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_NE 1
#define FUTEX_OP_CMP_LT 2
#define FUTEX_OP_CMP_LE 3
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP_CMP_GE 5
#define FUTEX_OP(op, oparg, cmp, cmparg)                                   \
	((int)((((unsigned)(op)&0xf) << 28) | (((unsigned)(cmp)&0xf) << 24) | \
	       (((unsigned)(oparg)&0xfff) << 12) | ((unsigned)(cmparg)&0xfff)))

static long fx(void *uaddr, int op, int val, const void *timeout_or_val2, void *uaddr2,
	       int val3)
{
	return syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3);
}

static const char *ename(int e)
{
	if (e == EOWNERDEAD)
		return "EOWNERDEAD";
	if (e == ENOTRECOVERABLE)
		return "ENOTRECOVERABLE";
	return errname(e);
}

/* "ret" or "-1 ERRNO" */
static const char *res(long r, int e)
{
	static char buf[4][48];
	static int i;
	char *b = buf[i++ % 4];
	if (r == -1)
		snprintf(b, 48, "-1 %s", ename(e));
	else
		snprintf(b, 48, "%ld", r);
	return b;
}

/* Number of waiters on a word: requeue it onto itself, waking nobody. */
static long queued(int *w, int flags)
{
	return fx(w, FUTEX_CMP_REQUEUE | flags, 0, (void *)(long)INT_MAX, w,
		  __atomic_load_n(w, __ATOMIC_SEQ_CST));
}

/* Poll until *w has n waiters (at most 2 s). */
static int wait_queued(int *w, int flags, long n)
{
	for (int i = 0; i < 2000; i++) {
		if (queued(w, flags) == n)
			return 1;
		sleep_ms(1);
	}
	out("timeout waiting for %ld waiter(s)\n", n);
	guest_failures++;
	return 0;
}

/* --- waiter threads --- */
struct waiter {
	pthread_t th;
	int *word;
	int op;
	int val;
	int bitset;
	long ret;
	int err;
	int done;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	long r = fx(w->word, w->op, w->val, NULL, NULL, w->bitset);
	w->err = r == -1 ? errno : 0;
	w->ret = r;
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void start_waiter(struct waiter *w, int *word, int op, int val, int bitset)
{
	memset(w, 0, sizeof *w);
	w->word = word;
	w->op = op;
	w->val = val;
	w->bitset = bitset;
	must(pthread_create(&w->th, NULL, waiter_main, w) == 0, "pthread_create");
}

static int count_done(struct waiter *w, int n)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += __atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST);
	return c;
}

/* Poll until exactly n of the waiters are done (at most 2 s), then give
 * others a little time to (wrongly) finish too. */
static int settle(struct waiter *w, int nw, int n)
{
	for (int i = 0; i < 2000 && count_done(w, nw) < n; i++)
		sleep_ms(1);
	sleep_ms(10);
	return count_done(w, nw);
}

/* Join all, return how many waits returned 0. */
static int join_all(struct waiter *w, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].ret == 0)
			ok++;
		else
			out("waiter %d: %s\n", i, res(w[i].ret, w[i].err));
	}
	return ok;
}

static int A, B;

static void requeue(void)
{
	struct waiter w[4];
	A = B = 0;
	for (int i = 0; i < 4; i++)
		start_waiter(&w[i], &A, FUTEX_WAIT | P, 0, 0);
	wait_queued(&A, P, 4);
	out("REQUEUE setup: waiters on A %ld, on B %ld\n", queued(&A, P), queued(&B, P));
	errno = 0;
	long r = fx(&A, FUTEX_REQUEUE | P, 1, (void *)(long)INT_MAX, &B, 0);
	out("FUTEX_REQUEUE(A, wake 1, requeue all, B): %s\n", res(r, errno));
	out("  woken: %d\n", settle(w, 4, 1));
	out("  waiters on A %ld, on B %ld\n", queued(&A, P), queued(&B, P));
	r = fx(&B, FUTEX_WAKE | P, INT_MAX, NULL, NULL, 0);
	out("  FUTEX_WAKE(B, all): %ld\n", r);
	out("  woken: %d\n", settle(w, 4, 4));
	int ok = join_all(w, 4);
	out("  waits that returned 0: %d\n", ok);
	check(ok == 4, "requeue");
	errno = 0;
	r = fx(&A, FUTEX_REQUEUE | P, 1, (void *)1L, (char *)&B + 1, 0);
	out("FUTEX_REQUEUE to an unaligned address: %s\n", res(r, errno));
}

static void cmp_requeue(void)
{
	struct waiter w[4];
	A = B = 0;
	for (int i = 0; i < 4; i++)
		start_waiter(&w[i], &A, FUTEX_WAIT | P, 0, 0);
	wait_queued(&A, P, 4);
	errno = 0;
	long r = fx(&A, FUTEX_CMP_REQUEUE | P, 1, (void *)(long)INT_MAX, &B, 7);
	out("FUTEX_CMP_REQUEUE, expected value wrong: %s\n", res(r, errno));
	out("  woken: %d; waiters on A %ld, on B %ld\n", settle(w, 4, 0), queued(&A, P),
	    queued(&B, P));
	errno = 0;
	r = fx(&A, FUTEX_CMP_REQUEUE | P, -1, (void *)1L, &B, 0);
	out("FUTEX_CMP_REQUEUE, nr_wake -1: %s\n", res(r, errno));
	errno = 0;
	r = fx(&A, FUTEX_CMP_REQUEUE | P, 1, (void *)-1L, &B, 0);
	out("FUTEX_CMP_REQUEUE, nr_requeue -1: %s\n", res(r, errno));
	errno = 0;
	r = fx(&A, FUTEX_CMP_REQUEUE | P, 1, (void *)2L, &B, 0);
	out("FUTEX_CMP_REQUEUE(A, wake 1, requeue 2, B): %s\n", res(r, errno));
	out("  woken: %d\n", settle(w, 4, 1));
	out("  waiters on A %ld, on B %ld\n", queued(&A, P), queued(&B, P));
	r = fx(&B, FUTEX_WAKE | P, INT_MAX, NULL, NULL, 0);
	out("  FUTEX_WAKE(B, all): %ld\n", r);
	out("  woken: %d\n", settle(w, 4, 3));
	r = fx(&A, FUTEX_WAKE | P, INT_MAX, NULL, NULL, 0);
	out("  FUTEX_WAKE(A, all): %ld\n", r);
	out("  woken: %d\n", settle(w, 4, 4));
	int ok = join_all(w, 4);
	out("  waits that returned 0: %d\n", ok);
	check(ok == 4, "cmp_requeue");
}

static void wake_op_only(const char *what, int start, int op)
{
	int before = B = start;
	errno = 0;
	long r = fx(&A, FUTEX_WAKE_OP | P, 1, (void *)1L, &B, op);
	out("FUTEX_WAKE_OP %s on %d: %s, word now %d\n", what, before, res(r, errno), B);
}

static void wake_op(void)
{
	struct waiter w[4]; /* 0, 1 on A; 2, 3 on B */
	A = B = 0;
	start_waiter(&w[0], &A, FUTEX_WAIT | P, 0, 0);
	start_waiter(&w[1], &A, FUTEX_WAIT | P, 0, 0);
	start_waiter(&w[2], &B, FUTEX_WAIT | P, 0, 0);
	start_waiter(&w[3], &B, FUTEX_WAIT | P, 0, 0);
	wait_queued(&A, P, 2);
	wait_queued(&B, P, 2);
	long r = fx(&A, FUTEX_WAKE_OP | P, 1, (void *)1L, &B,
		    FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0));
	out("FUTEX_WAKE_OP(A 1, B 1, ADD 1 if old == 0): %ld, B now %d\n", r, B);
	settle(w, 4, 2);
	out("  woken on A: %d, on B: %d\n", count_done(w, 2), count_done(w + 2, 2));
	r = fx(&A, FUTEX_WAKE_OP | P, 1, (void *)1L, &B,
	       FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0));
	out("FUTEX_WAKE_OP(A 1, B 1, ADD 1 if old == 0): %ld, B now %d\n", r, B);
	settle(w, 4, 3);
	out("  woken on A: %d, on B: %d\n", count_done(w, 2), count_done(w + 2, 2));
	r = fx(&A, FUTEX_WAKE_OP | P, 1, (void *)1L, &B,
	       FUTEX_OP(FUTEX_OP_SET, 5, FUTEX_OP_CMP_GT, 1));
	out("FUTEX_WAKE_OP(A 1, B 1, SET 5 if old > 1): %ld, B now %d\n", r, B);
	settle(w, 4, 4);
	out("  woken on A: %d, on B: %d\n", count_done(w, 2), count_done(w + 2, 2));
	int ok = join_all(w, 4);
	out("  waits that returned 0: %d\n", ok);
	check(ok == 4, "wake_op");

	/* no waiters left: just the arithmetic and the return value */
	wake_op_only("OR 1<<4, cmp NE 21", 5,
		     FUTEX_OP(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_NE, 21));
	wake_op_only("ANDN 1, cmp LE 0", 21, FUTEX_OP(FUTEX_OP_ANDN, 1, FUTEX_OP_CMP_LE, 0));
	wake_op_only("XOR 0xff, cmp GE 0", 20, FUTEX_OP(FUTEX_OP_XOR, 0xff, FUTEX_OP_CMP_GE, 0));
	wake_op_only("ADD -1 (0xfff), cmp LT -1", 235, FUTEX_OP(FUTEX_OP_ADD, 0xfff, FUTEX_OP_CMP_LT, 0xfff));
	wake_op_only("SET 0x7ff, cmp EQ 0", 234, FUTEX_OP(FUTEX_OP_SET, 0x7ff, FUTEX_OP_CMP_EQ, 0));
	wake_op_only("SET 0x800 (sign-extended)", 2047, FUTEX_OP(FUTEX_OP_SET, 0x800, FUTEX_OP_CMP_EQ, 0));
	wake_op_only("SET 1<<31", -2048, FUTEX_OP(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 31, FUTEX_OP_CMP_EQ, 0));
	wake_op_only("SET 1<<33 (shift out of range)", INT_MIN,
		     FUTEX_OP(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 33, FUTEX_OP_CMP_EQ, 0));
	wake_op_only("op 6", 2, FUTEX_OP(6, 9, FUTEX_OP_CMP_EQ, 0));
	wake_op_only("SET 3, cmp 9", 2, FUTEX_OP(FUTEX_OP_SET, 3, 9, 0));
	errno = 0;
	r = fx(&A, FUTEX_WAKE_OP | P, 1, (void *)1L, (char *)&B + 2, 0);
	out("FUTEX_WAKE_OP on an unaligned second word: %s\n", res(r, errno));
}

static void bitset(void)
{
	struct waiter w[2];
	A = 0;
	start_waiter(&w[0], &A, FUTEX_WAIT_BITSET | P, 0, 0x1);
	start_waiter(&w[1], &A, FUTEX_WAIT_BITSET | P, 0, 0x2);
	wait_queued(&A, P, 2);
	long r = fx(&A, FUTEX_WAKE_BITSET | P, INT_MAX, NULL, NULL, 0x4);
	out("FUTEX_WAKE_BITSET 0x4 (waiters 0x1, 0x2): %ld\n", r);
	settle(w, 2, 0);
	out("  woken: 0x1 %s, 0x2 %s\n", w[0].done ? "yes" : "no", w[1].done ? "yes" : "no");
	r = fx(&A, FUTEX_WAKE_BITSET | P, INT_MAX, NULL, NULL, 0x6);
	out("FUTEX_WAKE_BITSET 0x6: %ld\n", r);
	settle(w, 2, 1);
	out("  woken: 0x1 %s, 0x2 %s\n", w[0].done ? "yes" : "no", w[1].done ? "yes" : "no");
	r = fx(&A, FUTEX_WAKE | P, INT_MAX, NULL, NULL, 0);
	out("FUTEX_WAKE (any bitset): %ld\n", r);
	settle(w, 2, 2);
	out("  woken: 0x1 %s, 0x2 %s\n", w[0].done ? "yes" : "no", w[1].done ? "yes" : "no");
	int ok = join_all(w, 2);
	check(ok == 2, "bitset");
	errno = 0;
	r = fx(&A, FUTEX_WAIT_BITSET | P, 0, NULL, NULL, 0);
	out("FUTEX_WAIT_BITSET bitset 0: %s\n", res(r, errno));
	errno = 0;
	r = fx(&A, FUTEX_WAKE_BITSET | P, 1, NULL, NULL, 0);
	out("FUTEX_WAKE_BITSET bitset 0: %s\n", res(r, errno));
}

static long ns_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000000L + (t1.tv_nsec - t0->tv_nsec);
}

/* CLOCK_MONOTONIC just before the last shifted() read its clock: the time
 * an absolute deadline is counted from. (Counting from a later reading
 * would demand more than the deadline does: in the sandbox clock_gettime
 * traps, and two readings can be far apart.) */
static struct timespec shift_base;

static struct timespec shifted(clockid_t clk, long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &shift_base);
	clock_gettime(clk, &t);
	long ns = t.tv_nsec + ms * 1000000L;
	t.tv_sec += ns / 1000000000L;
	ns %= 1000000000L;
	if (ns < 0) {
		ns += 1000000000L;
		t.tv_sec--;
	}
	t.tv_nsec = ns;
	return t;
}

/* A futex wait with timeout ts. An absolute ts (FUTEX_WAIT_BITSET) comes
 * from shifted() and its wait is timed from shift_base; a relative one from
 * just before the call. Compared to the nanosecond: Linux never ends a wait
 * early. */
static void timed(const char *what, int op, const struct timespec *ts, long min_ms)
{
	int word = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((op & 127) == FUTEX_WAIT_BITSET)
		t0 = shift_base;
	errno = 0;
	long r = fx(&word, op, 0, ts, NULL, -1);
	int e = errno;
	long el = ns_since(&t0);
	if (min_ms)
		out("%s: %s, waited at least %ld ms: %s\n", what, res(r, e), min_ms,
		    el >= min_ms * 1000000L ? "yes" : "no");
	else
		out("%s: %s, at once: %s\n", what, res(r, e),
		    el < 500 * 1000000L ? "yes" : "no");
}

static void timeouts(void)
{
	struct timespec ts = shifted(CLOCK_MONOTONIC, -1000);
	timed("FUTEX_WAIT_BITSET, CLOCK_MONOTONIC deadline 1 s ago", FUTEX_WAIT_BITSET | P, &ts, 0);
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	timed("FUTEX_WAIT_BITSET, CLOCK_MONOTONIC deadline 0", FUTEX_WAIT_BITSET | P, &ts, 0);
	ts = shifted(CLOCK_REALTIME, -1000);
	timed("FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, deadline 1 s ago",
	      FUTEX_WAIT_BITSET | P | FUTEX_CLOCK_REALTIME, &ts, 0);
	ts = shifted(CLOCK_MONOTONIC, 1000);
	timed("FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, monotonic now + 1 s",
	      FUTEX_WAIT_BITSET | P | FUTEX_CLOCK_REALTIME, &ts, 0);
	ts = shifted(CLOCK_MONOTONIC, 20);
	timed("FUTEX_WAIT_BITSET, CLOCK_MONOTONIC deadline in 20 ms", FUTEX_WAIT_BITSET | P, &ts, 20);
	ts = shifted(CLOCK_REALTIME, 20);
	timed("FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, deadline in 20 ms",
	      FUTEX_WAIT_BITSET | P | FUTEX_CLOCK_REALTIME, &ts, 20);
	ts.tv_sec = 0;
	ts.tv_nsec = 20 * 1000 * 1000;
	timed("FUTEX_WAIT, relative 20 ms", FUTEX_WAIT | P, &ts, 20);
	timed("FUTEX_WAIT (shared), relative 20 ms", FUTEX_WAIT, &ts, 20);
	ts.tv_nsec = 10 * 1000 * 1000;
	timed("FUTEX_WAIT|FUTEX_CLOCK_REALTIME, relative 10 ms", FUTEX_WAIT | P | FUTEX_CLOCK_REALTIME,
	      &ts, 0);
	ts.tv_nsec = 1000000000L;
	timed("FUTEX_WAIT, tv_nsec 1e9", FUTEX_WAIT | P, &ts, 0);
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	timed("FUTEX_WAIT, tv_sec -1", FUTEX_WAIT | P, &ts, 0);
	timed("FUTEX_WAIT_BITSET, tv_sec -1", FUTEX_WAIT_BITSET | P, &ts, 0);
}

static void errors(void)
{
	static int words[4];
	char *base = (char *)words;
	errno = 0;
	long r = fx(base + 1, FUTEX_WAIT | P, 0, NULL, NULL, 0);
	out("FUTEX_WAIT at an unaligned address: %s\n", res(r, errno));
	errno = 0;
	r = fx(base + 2, FUTEX_WAKE | P, 1, NULL, NULL, 0);
	out("FUTEX_WAKE at an unaligned address: %s\n", res(r, errno));
	errno = 0;
	r = fx(base + 3, FUTEX_WAKE, 1, NULL, NULL, 0);
	out("FUTEX_WAKE (shared) at an unaligned address: %s\n", res(r, errno));
	errno = 0;
	r = fx(NULL, FUTEX_WAIT | P, 0, NULL, NULL, 0);
	out("FUTEX_WAIT at NULL: %s\n", res(r, errno));
	void *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(none != MAP_FAILED, "mmap");
	errno = 0;
	r = fx(none, FUTEX_WAIT | P, 0, NULL, NULL, 0);
	out("FUTEX_WAIT on a PROT_NONE page: %s\n", res(r, errno));
	errno = 0;
	r = fx(none, FUTEX_CMP_REQUEUE | P, 0, NULL, words, 0);
	out("FUTEX_CMP_REQUEUE from a PROT_NONE page: %s\n", res(r, errno));
	errno = 0;
	r = fx(words, FUTEX_WAKE_OP | P, 1, NULL, none, 0);
	out("FUTEX_WAKE_OP on a PROT_NONE second word: %s\n", res(r, errno));
	munmap(none, 4096);
	errno = 0;
	r = fx(words, 99, 0, NULL, NULL, 0);
	out("futex op 99: %s\n", res(r, errno));
	errno = 0;
	r = fx(words, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0);
	out("FUTEX_WAKE|FUTEX_CLOCK_REALTIME: %s\n", res(r, errno));
	errno = 0;
	r = fx(words, FUTEX_REQUEUE | FUTEX_CLOCK_REALTIME, 1, NULL, words + 1, 0);
	out("FUTEX_REQUEUE|FUTEX_CLOCK_REALTIME: %s\n", res(r, errno));
}

/* --- shared futexes between processes --- */
static void shared_between_processes(void)
{
	int *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	must(page != MAP_FAILED, "mmap shared");
	int *w = page + 10;
	int st;

	/* child waits, parent wakes */
	*w = 0;
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		errno = 0;
		long r = fx(w, FUTEX_WAIT, 0, NULL, NULL, 0);
		out("child: FUTEX_WAIT returned %s, word %d\n", res(r, errno), *w);
		_exit(0);
	}
	wait_queued(w, 0, 1);
	long r = fx(w, FUTEX_WAKE | P, 1, NULL, NULL, 0);
	out("parent: FUTEX_WAKE_PRIVATE on the shared word: %ld\n", r);
	out("parent: waiters on the shared word %ld\n", queued(w, 0));
	*w = 1;
	r = fx(w, FUTEX_WAKE, 1, NULL, NULL, 0);
	st = wait_for(c); /* print after the child did */
	out("parent: FUTEX_WAKE: %ld; child %s\n", r, describe_status(st));

	/* parent waits, child wakes */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		wait_queued(w, 0, 1);
		*w = 2;
		long n = fx(w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		out("child: FUTEX_WAKE woke %ld\n", n);
		_exit(0);
	}
	errno = 0;
	r = fx(w, FUTEX_WAIT, 1, NULL, NULL, 0);
	int e = errno;
	st = wait_for(c);
	out("parent: FUTEX_WAIT returned %s, word %d; child %s\n", res(r, e), *w,
	    describe_status(st));

	/* the child moves the mapping; the key is the memory, not the address */
	char *reserve = mmap(NULL, 8 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(reserve != MAP_FAILED, "mmap reserve");
	*w = 0;
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int *moved = mremap(page, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, reserve + 4096);
		if (moved == MAP_FAILED) {
			out("child: mremap: %s\n", errname(errno));
			_exit(1);
		}
		errno = 0;
		long rr = fx(moved + 10, FUTEX_WAIT, 0, NULL, NULL, 0);
		out("child: FUTEX_WAIT at the moved address returned %s, word %d\n",
		    res(rr, errno), moved[10]);
		_exit(0);
	}
	wait_queued(w, 0, 1);
	*w = 3;
	r = fx(w, FUTEX_WAKE, 1, NULL, NULL, 0);
	st = wait_for(c);
	out("parent: FUTEX_WAKE at the original address: %ld; child %s\n", r, describe_status(st));
	munmap(reserve, 8 * 4096);

	/* MAP_PRIVATE memory: each process has its own futex */
	static int priv_word;
	priv_word = 0;
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		errno = 0;
		long rr = fx(&priv_word, FUTEX_WAIT, 0, &ts, NULL, 0);
		out("child: FUTEX_WAIT on MAP_PRIVATE memory: %s\n", res(rr, errno));
		_exit(0);
	}
	sleep_ms(50);
	r = fx(&priv_word, FUTEX_WAKE, 1, NULL, NULL, 0);
	st = wait_for(c);
	out("parent: FUTEX_WAKE on its own copy of the word: %ld; child %s\n", r,
	    describe_status(st));
	munmap(page, 4096);
}

/* --- robust mutexes --- */
static pthread_mutex_t *rm;
static int holder_locked;

static void init_robust(pthread_mutex_t *m, int pshared)
{
	pthread_mutexattr_t a;
	must(pthread_mutexattr_init(&a) == 0, "mutexattr");
	must(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0, "setrobust");
	if (pshared)
		must(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0, "setpshared");
	must(pthread_mutex_init(m, &a) == 0, "mutex_init");
	pthread_mutexattr_destroy(&a);
}

static void *holder(void *arg)
{
	long linger = (long)arg;
	int e = pthread_mutex_lock(rm);
	if (e != 0)
		out("holder: lock %s\n", ename(e));
	__atomic_store_n(&holder_locked, 1, __ATOMIC_SEQ_CST);
	if (linger)
		sleep_ms(linger);
	return NULL; /* exits holding the mutex */
}

static void robust_threads(void)
{
	static pthread_mutex_t m;
	init_robust(&m, 0);
	rm = &m;
	pthread_t th;

	/* the main thread is (most likely) blocked in the lock when the owner dies */
	holder_locked = 0;
	must(pthread_create(&th, NULL, holder, (void *)30L) == 0, "pthread_create");
	while (!__atomic_load_n(&holder_locked, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	int e = pthread_mutex_lock(&m);
	out("robust: lock while the owner thread exits: %s\n", ename(e));
	pthread_join(th, NULL);
	e = pthread_mutex_consistent(&m);
	out("robust: pthread_mutex_consistent: %s\n", ename(e));
	e = pthread_mutex_unlock(&m);
	out("robust: unlock: %s\n", ename(e));
	e = pthread_mutex_lock(&m);
	out("robust: lock again: %s\n", ename(e));
	pthread_mutex_unlock(&m);

	/* owner already dead: trylock; unlock without consistent */
	holder_locked = 0;
	must(pthread_create(&th, NULL, holder, (void *)0L) == 0, "pthread_create");
	pthread_join(th, NULL);
	e = pthread_mutex_trylock(&m);
	out("robust: trylock after the owner exited: %s\n", ename(e));
	e = pthread_mutex_unlock(&m);
	out("robust: unlock without pthread_mutex_consistent: %s\n", ename(e));
	e = pthread_mutex_lock(&m);
	out("robust: lock afterwards: %s\n", ename(e));
	e = pthread_mutex_trylock(&m);
	out("robust: trylock afterwards: %s\n", ename(e));
}

static void robust_processes(void)
{
	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	must(m != MAP_FAILED, "mmap shared");
	init_robust(m, 1);
	int p[2];
	must(pipe(p) == 0, "pipe");

	/* child _exit()s holding it while the parent is blocked in lock */
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int e = pthread_mutex_lock(m);
		if (e != 0)
			out("child: lock %s\n", ename(e));
		char x = 'x';
		must(write(p[1], &x, 1) == 1, "write");
		sleep_ms(30);
		_exit(0);
	}
	char x;
	must(read(p[0], &x, 1) == 1, "read");
	int e = pthread_mutex_lock(m);
	out("robust pshared: lock while the owner process exits: %s\n", ename(e));
	out("robust pshared: child %s\n", describe_status(wait_for(c)));
	e = pthread_mutex_consistent(m);
	out("robust pshared: pthread_mutex_consistent: %s\n", ename(e));
	e = pthread_mutex_unlock(m);
	out("robust pshared: unlock: %s\n", ename(e));

	/* child killed by SIGKILL holding it */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int e2 = pthread_mutex_lock(m);
		if (e2 != 0)
			out("child: lock %s\n", ename(e2));
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	out("robust pshared: child %s\n", describe_status(wait_for(c)));
	e = pthread_mutex_trylock(m);
	out("robust pshared: trylock after the owner was killed: %s\n", ename(e));
	e = pthread_mutex_consistent(m);
	out("robust pshared: pthread_mutex_consistent: %s\n", ename(e));
	e = pthread_mutex_unlock(m);
	out("robust pshared: unlock: %s\n", ename(e));

	/* a child locks it normally after the parent recovered it */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int e2 = pthread_mutex_lock(m);
		out("child: lock of the recovered mutex: %s\n", ename(e2));
		pthread_mutex_unlock(m);
		_exit(0);
	}
	out("robust pshared: child %s\n", describe_status(wait_for(c)));
	close(p[0]);
	close(p[1]);
	munmap(m, 4096);
}

int main(void)
{
	no_core_dumps();
	requeue();
	cmp_requeue();
	wake_op();
	bitset();
	timeouts();
	errors();
	shared_between_processes();
	robust_threads();
	robust_processes();
	out("done\n");
	return finish();
}
