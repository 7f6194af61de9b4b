/*
 * t_futex_pi: priority-inheritance futexes (issue 10).
 *  - PTHREAD_PRIO_INHERIT mutexes contended by 4 threads (the counter is
 *    right), pthread_mutex_trylock's EBUSY from another thread, an
 *    errorcheck PI mutex locked twice (EDEADLK), pthread_mutex_timedlock
 *    (ETIMEDOUT), pthread_cond_wait/signal/broadcast with a PI mutex;
 *  - raw FUTEX_LOCK_PI / TRYLOCK_PI / UNLOCK_PI: the word after each (the
 *    owner's tid, FUTEX_WAITERS, FUTEX_OWNER_DIED, printed relative to the
 *    tids involved), EDEADLK on one's own lock, EPERM unlocking another's
 *    or a free one, ESRCH for a word naming no task (FUTEX_WAITERS is left
 *    set), EWOULDBLOCK for a contended trylock, the hand-over to a sleeper
 *    on unlock, timeouts (LOCK_PI: absolute CLOCK_REALTIME; LOCK_PI2:
 *    CLOCK_MONOTONIC or, with FUTEX_CLOCK_REALTIME, realtime; LOCK_PI with
 *    FUTEX_CLOCK_REALTIME is ENOSYS), bad timespecs, misaligned words, PI
 *    operations on a futex with a plain FUTEX_WAIT sleeper (EINVAL);
 *  - owner death: a thread exiting with a raw PI lock and a sleeper hands
 *    it over with FUTEX_OWNER_DIED; with no sleeper the next locker gets
 *    ESRCH; a robust PI mutex whose owner thread exits gives EOWNERDEAD
 *    (with and without a sleeper), then pthread_mutex_consistent;
 *  - requeue-PI: FUTEX_WAIT_REQUEUE_PI sleepers moved by
 *    FUTEX_CMP_REQUEUE_PI onto a free PI futex (the first takes it at
 *    once) or a held one (they get it in order on unlock), its errors
 *    (nr_wake != 1, the same address twice, a wrong expected value, a
 *    sleeper waiting for another PI futex, FUTEX_WAKE on a requeue-PI
 *    sleeper), and WAIT_REQUEUE_PI's own timeout and EAGAIN.
 * Sleepers are known to be in the kernel without sleeping: a PI locker
 * has set FUTEX_WAITERS in the word, a requeue-PI sleeper is counted by a
 * FUTEX_CMP_REQUEUE_PI, a plain one by a FUTEX_CMP_REQUEUE onto another
 * word.
 */
#include "guest.h"
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#ifndef FUTEX_LOCK_PI
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#endif
#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_TID_MASK 0x3fffffffu

/* The lock word inside a pthread_mutex_t. */
#ifdef __GLIBC__
#define MUTEX_WORD(m) ((_Atomic unsigned *)&(m)->__data.__lock)
#else
#define MUTEX_WORD(m) ((_Atomic unsigned *)((char *)(m) + 4))
#endif

static long futex(_Atomic unsigned *uaddr, int op, unsigned val, const void *timeout,
		  _Atomic unsigned *uaddr2, unsigned val3)
{
	return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

/* nr_requeue travels in the timeout register. */
static long cmp_requeue_pi(_Atomic unsigned *c, long nr_wake, long nr_requeue, _Atomic unsigned *m,
			   unsigned cmpval)
{
	return syscall(SYS_futex, c, FUTEX_CMP_REQUEUE_PI, nr_wake, nr_requeue, m, cmpval);
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static const char *res(long r)
{
	if (r == -1 && errno == EDEADLK)
		return "EDEADLK";
	if (r == -1 && errno == EOWNERDEAD)
		return "EOWNERDEAD";
	return r == -1 ? errname(errno) : (r == 0 ? "0" : "positive");
}

/* The word, with tids shown as names. */
static const char *word(unsigned w, pid_t a, const char *an, pid_t b, const char *bn)
{
	static char buf[128];
	unsigned tid = w & FUTEX_TID_MASK;
	const char *who = tid == 0 ? "0" : tid == (unsigned)a ? an : tid == (unsigned)b ? bn : "other";
	snprintf(buf, sizeof buf, "%s%s%s", who, w & FUTEX_WAITERS ? "|WAITERS" : "",
		 w & FUTEX_OWNER_DIED ? "|OWNER_DIED" : "");
	return buf;
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits until the word has FUTEX_WAITERS (a PI sleeper is in the kernel). */
static void wait_waiters(_Atomic unsigned *w)
{
	for (int i = 0; i < 20000 && !(atomic_load(w) & FUTEX_WAITERS); i++)
		msleep(1);
	must(atomic_load(w) & FUTEX_WAITERS, "a PI sleeper never set FUTEX_WAITERS");
}

static struct timespec in_ms(clockid_t clock, long ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- pthread PI mutexes ---- */

static pthread_mutex_t pm;
static long counter;

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3000; i++) {
		pthread_mutex_lock(&pm);
		long c = counter;
		if (i % 100 == 0)
			sched_yield();
		counter = c + 1;
		pthread_mutex_unlock(&pm);
	}
	return NULL;
}

static void *try_other(void *arg)
{
	int e = pthread_mutex_trylock((pthread_mutex_t *)arg);
	if (e == 0)
		pthread_mutex_unlock((pthread_mutex_t *)arg);
	return (void *)(long)e;
}

static void *timed_other(void *arg)
{
	struct timespec ts = in_ms(CLOCK_REALTIME, 50);
	return (void *)(long)pthread_mutex_timedlock((pthread_mutex_t *)arg, &ts);
}

static pthread_cond_t cv;
static int ready, turn;

static void *cond_waiter(void *arg)
{
	long id = (long)arg;
	pthread_mutex_lock(&pm);
	ready++;
	while (turn != (int)id && turn != 99)
		pthread_cond_wait(&cv, &pm);
	counter += id;
	pthread_mutex_unlock(&pm);
	return NULL;
}

static void pthread_pi(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	must(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT) == 0, "setprotocol");
	must(pthread_mutex_init(&pm, &a) == 0, "mutex_init");
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		must(pthread_create(&th[i], NULL, adder, NULL) == 0, "pthread_create");
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	out("pi mutex: 4 threads x 3000 -> %ld, word after: %s\n", counter,
	    word(atomic_load(MUTEX_WORD(&pm)), 0, "", 0, ""));

	pthread_mutex_lock(&pm);
	out("locked: word is %s\n", word(atomic_load(MUTEX_WORD(&pm)), gettid_(), "me", 0, ""));
	void *r;
	pthread_create(&th[0], NULL, try_other, &pm);
	pthread_join(th[0], &r);
	out("trylock from another thread: %s\n", errname((int)(long)r));
	pthread_create(&th[0], NULL, timed_other, &pm);
	pthread_join(th[0], &r);
	out("timedlock from another thread: %s\n", errname((int)(long)r));
	pthread_mutex_unlock(&pm);
	out("unlocked: word is %s\n", word(atomic_load(MUTEX_WORD(&pm)), gettid_(), "me", 0, ""));
	pthread_create(&th[0], NULL, try_other, &pm);
	pthread_join(th[0], &r);
	out("trylock of a free one: %s\n", errname((int)(long)r));

	pthread_mutex_t em;
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	must(pthread_mutex_init(&em, &a) == 0, "errorcheck init");
	int e1 = pthread_mutex_lock(&em);
	int e2 = pthread_mutex_lock(&em);
	int e3 = pthread_mutex_unlock(&em);
	int e4 = pthread_mutex_unlock(&em);
	out("errorcheck PI: lock %s, again %s, unlock %s, unlock again %s\n", errname(e1),
	    e2 == EDEADLK ? "EDEADLK" : errname(e2), errname(e3), errname(e4));

	/* Condition variables with a PI mutex: three waiters, signalled one
	 * at a time by turn, then a broadcast. */
	pthread_cond_init(&cv, NULL);
	counter = 0;
	for (long i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, cond_waiter, (void *)(i + 1));
	for (;;) {
		pthread_mutex_lock(&pm);
		int n = ready;
		pthread_mutex_unlock(&pm);
		if (n == 3)
			break;
		msleep(1);
	}
	pthread_mutex_lock(&pm);
	turn = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&pm);
	pthread_join(th[1], NULL);
	pthread_mutex_lock(&pm);
	out("cond with a PI mutex: turn 2 ran, counter %ld\n", counter);
	turn = 99;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&pm);
	pthread_join(th[0], NULL);
	pthread_join(th[2], NULL);
	out("cond broadcast: counter %ld\n", counter);
}

/* ---- raw PI futex calls ---- */

static _Atomic unsigned w1, w2;
static pid_t main_tid, other_tid;

static void *lock_and_report(void *arg)
{
	_Atomic unsigned *w = arg;
	other_tid = gettid_();
	long r = futex(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("  sleeper: LOCK_PI %s, word %s\n", res(r), word(atomic_load(w), main_tid, "main", other_tid, "sleeper"));
	r = futex(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("  sleeper: UNLOCK_PI %s, word %s\n", res(r), word(atomic_load(w), main_tid, "main", other_tid, "sleeper"));
	return NULL;
}

static void *timeouts(void *arg)
{
	_Atomic unsigned *w = arg;
	pid_t me = gettid_();
	struct timespec t0, ts;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ts = in_ms(CLOCK_REALTIME, 50);
	long r = futex(w, FUTEX_LOCK_PI, 0, &ts, NULL, 0);
	out("  LOCK_PI realtime +50ms: %s after >=45ms: %s, word %s\n", res(r), ms_since(&t0) >= 45 ? "yes" : "no",
	    word(atomic_load(w), main_tid, "main", me, "me"));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ts = in_ms(CLOCK_MONOTONIC, 50);
	r = futex(w, FUTEX_LOCK_PI2, 0, &ts, NULL, 0);
	out("  LOCK_PI2 monotonic +50ms: %s after >=45ms: %s\n", res(r), ms_since(&t0) >= 45 ? "yes" : "no");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ts = in_ms(CLOCK_REALTIME, 50);
	r = futex(w, FUTEX_LOCK_PI2 | FUTEX_CLOCK_REALTIME, 0, &ts, NULL, 0);
	out("  LOCK_PI2|CLOCK_REALTIME +50ms: %s after >=45ms: %s\n", res(r), ms_since(&t0) >= 45 ? "yes" : "no");
	ts = in_ms(CLOCK_MONOTONIC, 0);
	ts.tv_sec -= 1;
	r = futex(w, FUTEX_LOCK_PI2 | FUTEX_PRIVATE_FLAG, 0, &ts, NULL, 0);
	out("  LOCK_PI2 in the past: %s\n", res(r));
	r = futex(w, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0);
	out("  TRYLOCK_PI of a held lock: %s, word %s\n", res(r), word(atomic_load(w), main_tid, "main", me, "me"));
	r = futex(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("  UNLOCK_PI of main's lock: %s\n", res(r));
	return NULL;
}

static void *plain_wait(void *arg)
{
	long r = futex(arg, FUTEX_WAIT, 0, NULL, NULL, 0);
	out("  plain sleeper: %s\n", res(r));
	return NULL;
}

static void raw_pi(void)
{
	main_tid = gettid_();
	pid_t me = main_tid;
	long r;
#define W(x) word(atomic_load(&(x)), me, "me", other_tid, "other")
	out("raw PI futexes:\n");
	atomic_store(&w1, 0);
	r = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("UNLOCK_PI of a free word: %s\n", res(r));
	r = futex(&w1, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0);
	out("TRYLOCK_PI of a free word: %s, word %s\n", res(r), W(w1));
	r = futex(&w1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("LOCK_PI of my own: %s\n", res(r));
	r = futex(&w1, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0);
	out("TRYLOCK_PI of my own: %s\n", res(r));
	r = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("UNLOCK_PI: %s, word %s\n", res(r), W(w1));
	atomic_store(&w1, FUTEX_OWNER_DIED);
	r = futex(&w1, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG, 0, NULL, NULL, 0);
	out("LOCK_PI of OWNER_DIED: %s, word %s\n", res(r), W(w1));
	atomic_fetch_or(&w1, FUTEX_WAITERS);
	r = futex(&w1, FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG, 0, NULL, NULL, 0);
	out("UNLOCK_PI with WAITERS but no sleeper: %s, word %s\n", res(r), W(w1));

	/* A word naming no task. */
	atomic_store(&w1, 0x3ffffff0);
	r = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("UNLOCK_PI of a bogus owner's: %s\n", res(r));
	r = futex(&w1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("LOCK_PI of a bogus owner's: %s, word %#x\n", res(r), atomic_load(&w1));
	atomic_store(&w1, 0x3ffffff0);
	r = futex(&w1, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0);
	out("TRYLOCK_PI of a bogus owner's: %s, word %#x\n", res(r), atomic_load(&w1));

	/* Argument errors. */
	atomic_store(&w1, 0);
	r = futex((_Atomic unsigned *)((char *)&w1 + 1), FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("LOCK_PI misaligned: %s\n", res(r));
	r = futex(&w1, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL, NULL, 0);
	out("LOCK_PI|CLOCK_REALTIME: %s\n", res(r));
	r = futex(&w1, FUTEX_UNLOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL, NULL, 0);
	out("UNLOCK_PI|CLOCK_REALTIME: %s\n", res(r));
	struct timespec bad = {0, 1000000000L};
	r = futex(&w1, FUTEX_LOCK_PI, 0, &bad, NULL, 0);
	out("LOCK_PI bad timespec: %s, word %s\n", res(r), W(w1));
	r = futex(&w1, FUTEX_LOCK_PI, 0, (void *)8, NULL, 0);
	out("LOCK_PI timeout at 8: %s\n", res(r));
	r = futex(NULL, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("LOCK_PI of NULL: %s\n", res(r));
	r = futex(NULL, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("UNLOCK_PI of NULL: %s\n", res(r));

	/* Hand-over: a sleeper gets the lock on unlock. */
	out("hand-over:\n");
	pthread_t th;
	atomic_store(&w1, 0);
	futex(&w1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	pthread_create(&th, NULL, lock_and_report, &w1);
	wait_waiters(&w1);
	out("  word with a sleeper: %s\n", word(atomic_load(&w1), me, "main", 0, ""));
	r = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	pthread_join(th, NULL);
	out("  main: UNLOCK_PI %s\n", res(r));
	out("  word at the end: %s\n", W(w1));

	/* Someone else's lock. */
	atomic_store(&w1, 0);
	futex(&w1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("timeouts (main holds the lock):\n");
	pthread_create(&th, NULL, timeouts, &w1);
	pthread_join(th, NULL);
	out("  word: %s\n", W(w1));
	r = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("  main: UNLOCK_PI %s, word %s\n", res(r), W(w1));

	/* A plain sleeper on the word: PI operations are EINVAL. */
	out("mixed with FUTEX_WAIT:\n");
	atomic_store(&w1, 0);
	atomic_store(&w2, 0);
	pthread_create(&th, NULL, plain_wait, &w1);
	/* Move it to w2 and back: then it is surely asleep on w1. */
	while ((r = futex(&w1, FUTEX_CMP_REQUEUE, 0, (void *)1, &w2, 0)) == 0)
		msleep(1);
	out("  requeued away: %ld, back: %ld\n", r, futex(&w2, FUTEX_CMP_REQUEUE, 0, (void *)1, &w1, 0));
	r = futex(&w1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("  LOCK_PI: %s\n", res(r));
	r = futex(&w1, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0);
	out("  TRYLOCK_PI: %s\n", res(r));
	atomic_store(&w1, (unsigned)me);
	r = futex(&w1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	out("  UNLOCK_PI of my word: %s, word %s\n", res(r), W(w1));
	atomic_store(&w1, 0);
	r = futex(&w1, FUTEX_WAKE, 1, NULL, NULL, 0);
	pthread_join(th, NULL);
	out("  FUTEX_WAKE: %ld\n", r);
#undef W
}

/* ---- owner death ---- */

static pthread_mutex_t rm;

static void *die_holding_raw(void *arg)
{
	_Atomic unsigned *w = arg;
	other_tid = gettid_();
	futex(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	if (atomic_load(&w2)) /* wait for a sleeper first */
		wait_waiters(w);
	return NULL;
}

static void *lock_raw(void *arg)
{
	_Atomic unsigned *w = arg;
	pid_t me = gettid_();
	long r = futex(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("  sleeper: LOCK_PI %s, word %s\n", res(r), word(atomic_load(w), me, "sleeper", other_tid, "dead"));
	futex(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	return NULL;
}

static void *die_holding_robust(void *arg)
{
	pthread_mutex_lock(&rm);
	if (arg)
		wait_waiters(MUTEX_WORD(&rm));
	return NULL;
}

static void *lock_robust(void *arg)
{
	(void)arg;
	int e = pthread_mutex_lock(&rm);
	/* (What the word holds now is the libc's business: glibc and musl
	 * differ.) */
	out("  sleeper: lock %s\n", e == EOWNERDEAD ? "EOWNERDEAD" : errname(e));
	if (e == EOWNERDEAD)
		out("  sleeper: consistent %s\n", errname(pthread_mutex_consistent(&rm)));
	pthread_mutex_unlock(&rm);
	return NULL;
}

static void owner_death(void)
{
	out("owner death:\n");
	pthread_t th, th2;
	/* A raw PI lock, no robust list, a sleeper: it gets OWNER_DIED. */
	atomic_store(&w1, 0);
	atomic_store(&w2, 1);
	pthread_create(&th, NULL, die_holding_raw, &w1);
	while ((atomic_load(&w1) & FUTEX_TID_MASK) == 0)
		msleep(1);
	pthread_create(&th2, NULL, lock_raw, &w1);
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	out("  word at the end: %#x\n", atomic_load(&w1));
	/* No sleeper: the word keeps the dead tid, the next locker ESRCH. */
	atomic_store(&w1, 0);
	atomic_store(&w2, 0);
	pthread_create(&th, NULL, die_holding_raw, &w1);
	pthread_join(th, NULL);
	long r = futex(&w1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	out("  LOCK_PI after the owner died alone: %s, word %s\n", res(r),
	    word(atomic_load(&w1), 0, "", other_tid, "dead"));

	/* Robust PI mutexes. */
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	must(pthread_mutex_init(&rm, &a) == 0, "robust PI init");
	pthread_create(&th, NULL, die_holding_robust, NULL);
	pthread_join(th, NULL);
	int e = pthread_mutex_lock(&rm);
	out("  robust, no sleeper: lock %s\n", e == EOWNERDEAD ? "EOWNERDEAD" : errname(e));
	int e1 = pthread_mutex_consistent(&rm);
	int e2 = pthread_mutex_unlock(&rm);
	int e3 = pthread_mutex_lock(&rm);
	int e4 = pthread_mutex_unlock(&rm);
	out("  consistent %s, unlock %s, lock %s, unlock %s\n", errname(e1), errname(e2), errname(e3),
	    errname(e4));
	pthread_create(&th, NULL, die_holding_robust, (void *)1);
	while ((atomic_load(MUTEX_WORD(&rm)) & FUTEX_TID_MASK) == 0)
		msleep(1);
	pthread_create(&th2, NULL, lock_robust, NULL);
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	e = pthread_mutex_lock(&rm);
	out("  robust, after the sleeper: lock %s\n", errname(e));
	pthread_mutex_unlock(&rm);
}

/* ---- requeue-PI ---- */

static _Atomic unsigned cw, m1, m2;

struct rq {
	_Atomic unsigned *target;
	const struct timespec *timeout;
	int op;
	const char *name;
};

static void *requeue_waiter(void *arg)
{
	struct rq *q = arg;
	pid_t me = gettid_();
	long r = syscall(SYS_futex, &cw, q->op, 0, q->timeout, q->target, 0);
	out("  %s: WAIT_REQUEUE_PI %s, target word %s\n", q->name, res(r),
	    word(atomic_load(q->target), me, "me", main_tid, "main"));
	/* Unlock without printing: the next owner prints next. */
	if (r == 0)
		check(futex(q->target, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0) == 0, "UNLOCK_PI after requeue");
	return NULL;
}

/* Requeues until one sleeper was moved or woken. */
static long requeue_one(_Atomic unsigned *target, long nr_requeue)
{
	long r;
	while ((r = cmp_requeue_pi(&cw, 1, nr_requeue, target, 0)) == 0)
		msleep(1);
	return r;
}

static void requeue_pi(void)
{
	out("requeue-PI:\n");
	main_tid = gettid_();
	long r;
	atomic_store(&cw, 0);
	r = cmp_requeue_pi(&cw, 1, 0, &m1, 0);
	out("CMP_REQUEUE_PI with no sleepers: %ld\n", r);
	r = cmp_requeue_pi(&cw, 2, 0, &m1, 0);
	out("nr_wake 2: %s\n", res(r));
	r = cmp_requeue_pi(&cw, 0, 1, &m1, 0);
	out("nr_wake 0: %s\n", res(r));
	r = cmp_requeue_pi(&cw, 1, 0, &cw, 0);
	out("same address: %s\n", res(r));
	r = cmp_requeue_pi(&cw, 1, 0, &m1, 5);
	out("wrong value: %s\n", res(r));
	r = cmp_requeue_pi(&cw, 1, -1, &m1, 0);
	out("nr_requeue -1: %s\n", res(r));
	r = futex(&cw, FUTEX_WAIT_REQUEUE_PI, 0, NULL, &cw, 0);
	out("WAIT_REQUEUE_PI same address: %s\n", res(r));
	r = futex(&cw, FUTEX_WAIT_REQUEUE_PI, 7, NULL, &m1, 0);
	out("WAIT_REQUEUE_PI wrong value: %s\n", res(r));
	struct timespec ts = in_ms(CLOCK_MONOTONIC, 30);
	r = futex(&cw, FUTEX_WAIT_REQUEUE_PI, 0, &ts, &m1, 0);
	out("WAIT_REQUEUE_PI monotonic +30ms: %s\n", res(r));
	ts = in_ms(CLOCK_REALTIME, 30);
	r = futex(&cw, FUTEX_WAIT_REQUEUE_PI | FUTEX_CLOCK_REALTIME, 0, &ts, &m1, 0);
	out("WAIT_REQUEUE_PI realtime +30ms: %s\n", res(r));

	/* A free PI futex: the sleeper takes it at once. */
	pthread_t a, b;
	struct rq qa = {&m1, NULL, FUTEX_WAIT_REQUEUE_PI, "A"}, qb = {&m1, NULL, FUTEX_WAIT_REQUEUE_PI, "B"};
	atomic_store(&m1, 0);
	pthread_create(&a, NULL, requeue_waiter, &qa);
	r = requeue_one(&m1, 0);
	pthread_join(a, NULL);
	out("free target: CMP_REQUEUE_PI %ld\n", r);
	out("  m1 after: %s\n", word(atomic_load(&m1), 0, "", 0, ""));

	/* A held one: both sleepers are requeued, then get it in order. */
	futex(&m1, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
	pthread_create(&a, NULL, requeue_waiter, &qa);
	r = requeue_one(&m1, 1);
	pthread_create(&b, NULL, requeue_waiter, &qb);
	long r2 = requeue_one(&m1, 1);
	out("held target: CMP_REQUEUE_PI %ld then %ld, m1 %s\n", r, r2,
	    word(atomic_load(&m1), main_tid, "main", 0, ""));
	r = futex(&m1, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	out("  main: UNLOCK_PI %s\n", res(r));
	out("  m1 at the end: %s\n", word(atomic_load(&m1), 0, "", 0, ""));

	/* A sleeper waiting for m1, requeued to m2: EINVAL, it stays. */
	out("another target:\n");
	atomic_store(&m1, 0);
	atomic_store(&m2, 0);
	pthread_create(&a, NULL, requeue_waiter, &qa);
	while ((r = cmp_requeue_pi(&cw, 1, 0, &m2, 0)) == 0)
		msleep(1);
	out("  CMP_REQUEUE_PI to m2: %s, m2 %s\n", res(r), word(atomic_load(&m2), 0, "", 0, ""));
	r = futex(&cw, FUTEX_WAKE, 1, NULL, NULL, 0);
	out("  FUTEX_WAKE of a requeue-PI sleeper: %s\n", res(r));
	r = syscall(SYS_futex, &cw, FUTEX_CMP_REQUEUE, 0, 1, &m2, 0);
	out("  FUTEX_CMP_REQUEUE of it: %s\n", res(r));
	r = cmp_requeue_pi(&cw, 1, 0, &m1, 0);
	pthread_join(a, NULL);
	out("  CMP_REQUEUE_PI to m1: %ld\n", r);

	/* A bogus owner on the target: ESRCH for the requeuer. */
	atomic_store(&m1, 0x3ffffff0);
	pthread_create(&a, NULL, requeue_waiter, &qa);
	while ((r = cmp_requeue_pi(&cw, 1, 0, &m1, 0)) == 0)
		msleep(1);
	out("bogus owner: CMP_REQUEUE_PI %s, m1 %#x\n", res(r), atomic_load(&m1));
	atomic_store(&m1, 0);
	r = cmp_requeue_pi(&cw, 1, 0, &m1, 0);
	pthread_join(a, NULL);
	out("  then free: %ld\n", r);
}

int main(void)
{
	pthread_pi();
	raw_pi();
	owner_death();
	requeue_pi();
	return failures() ? 1 : 0;
}
