/*
 * t_pthreads: POSIX threads on top of clone(CLONE_THREAD|...), futexes and
 * set_tid_address, as both glibc and musl use them.
 *  - 8 threads each add 1 to a shared counter 100000 times under a mutex:
 *    the total is exactly 800000;
 *  - pthread_join hands back each thread's return value;
 *  - while all threads are alive (a barrier holds them), every thread has its
 *    own gettid() and pthread_self(), all distinct from each other and from
 *    the main thread ("distinct"), and the same getpid() as the main thread;
 *    the main thread's gettid() is its getpid();
 *  - __thread variables: each thread's copy has its own address and keeps
 *    the value that thread stored; the main thread's copy is untouched;
 *  - a condition-variable ping-pong between the main thread and a worker
 *    (1000 round trips, strictly alternating);
 *  - a detached thread and a thread created after others have exited.
 * Output never contains tids or addresses, only the results of comparisons.
 */
#include "guest.h"

#include <pthread.h>
#include <stdint.h>

#define NTHREADS 8
#define NINCR 100000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static pthread_barrier_t barrier;

static __thread int tls_value = -1;
static __thread char tls_array[64];

struct info {
	int index;
	pid_t tid;
	pid_t pid;
	pthread_t self;
	int *tls_addr;
	int tls_ok;
};

static struct info infos[NTHREADS];

static pid_t my_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *worker(void *arg)
{
	struct info *in = arg;
	tls_value = in->index * 7;
	memset(tls_array, in->index, sizeof tls_array);
	in->tid = my_gettid();
	in->pid = getpid();
	in->self = pthread_self();
	in->tls_addr = &tls_value;
	/* everybody alive at the same time, so tids cannot be reused */
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < NINCR; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	pthread_barrier_wait(&barrier);
	int ok = tls_value == in->index * 7;
	for (size_t i = 0; i < sizeof tls_array; i++)
		ok &= tls_array[i] == (char)in->index;
	in->tls_ok = ok;
	return (void *)(intptr_t)(1000 + in->index);
}

static void counter_and_identity(void)
{
	pthread_t th[NTHREADS];
	must(pthread_barrier_init(&barrier, NULL, NTHREADS + 1) == 0, "barrier");
	tls_value = 12345;
	for (int i = 0; i < NTHREADS; i++) {
		infos[i].index = i;
		int e = pthread_create(&th[i], NULL, worker, &infos[i]);
		must(e == 0, "pthread_create");
	}
	pthread_barrier_wait(&barrier); /* all threads have recorded their ids */
	pthread_barrier_wait(&barrier); /* all threads have counted */
	int retvals_ok = 1;
	for (int i = 0; i < NTHREADS; i++) {
		void *ret = NULL;
		int e = pthread_join(th[i], &ret);
		check(e == 0, "pthread_join");
		if ((intptr_t)ret != 1000 + i)
			retvals_ok = 0;
	}
	out("counter: %ld\n", counter);
	check(counter == (long)NTHREADS * NINCR, "counter");
	out("pthread_join return values: %s\n", retvals_ok ? "match" : "MISMATCH");
	check(retvals_ok, "join values");

	pid_t pid = getpid(), main_tid = my_gettid();
	out("main thread: gettid == getpid: %s\n", main_tid == pid ? "yes" : "no");
	check(main_tid == pid, "main gettid");
	int tids_distinct = 1, selfs_distinct = 1, pids_same = 1, tls_distinct = 1;
	int tls_ok = 1;
	for (int i = 0; i < NTHREADS; i++) {
		if (infos[i].tid == main_tid || infos[i].tid <= 0)
			tids_distinct = 0;
		if (pthread_equal(infos[i].self, pthread_self()))
			selfs_distinct = 0;
		if (infos[i].pid != pid)
			pids_same = 0;
		if (infos[i].tls_addr == &tls_value)
			tls_distinct = 0;
		if (!infos[i].tls_ok)
			tls_ok = 0;
		for (int j = 0; j < i; j++) {
			if (infos[i].tid == infos[j].tid)
				tids_distinct = 0;
			if (pthread_equal(infos[i].self, infos[j].self))
				selfs_distinct = 0;
			if (infos[i].tls_addr == infos[j].tls_addr)
				tls_distinct = 0;
		}
	}
	out("gettid per thread: %s\n", tids_distinct ? "distinct" : "NOT distinct");
	out("pthread_self per thread: %s\n", selfs_distinct ? "distinct" : "NOT distinct");
	out("getpid in every thread: %s\n", pids_same ? "same" : "DIFFERENT");
	out("__thread addresses: %s\n", tls_distinct ? "distinct" : "NOT distinct");
	out("__thread values kept per thread: %s\n", tls_ok ? "yes" : "no");
	out("main thread's __thread value untouched: %s\n", tls_value == 12345 ? "yes" : "no");
	check(tids_distinct && selfs_distinct && pids_same && tls_distinct && tls_ok,
	      "thread identity");
	check(tls_value == 12345, "main tls");
	pthread_barrier_destroy(&barrier);
}

/* Condition variable ping-pong: turn 0 = main's move, 1 = worker's. */
static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn, rounds_seen, out_of_order;
#define ROUNDS 1000

static void *ponger(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cv_lock);
	for (int i = 0; i < ROUNDS; i++) {
		while (turn != 1)
			pthread_cond_wait(&cv, &cv_lock);
		if (rounds_seen != i)
			out_of_order++;
		rounds_seen++;
		turn = 0;
		pthread_cond_signal(&cv);
	}
	pthread_mutex_unlock(&cv_lock);
	return (void *)7;
}

static void condvar(void)
{
	pthread_t t;
	must(pthread_create(&t, NULL, ponger, NULL) == 0, "pthread_create");
	pthread_mutex_lock(&cv_lock);
	for (int i = 0; i < ROUNDS; i++) {
		turn = 1;
		pthread_cond_signal(&cv);
		while (turn != 0)
			pthread_cond_wait(&cv, &cv_lock);
		if (rounds_seen != i + 1)
			out_of_order++;
	}
	pthread_mutex_unlock(&cv_lock);
	void *ret = NULL;
	check(pthread_join(t, &ret) == 0, "join ponger");
	out("condvar ping-pong: %d rounds, out of order %d, ret %d\n", rounds_seen,
	    out_of_order, (int)(intptr_t)ret);
	check(rounds_seen == ROUNDS && out_of_order == 0 && ret == (void *)7, "ping-pong");
}

/* Detached thread: signals completion through a semaphore-like pipe. */
static int done_pipe[2];

static void *detached(void *arg)
{
	(void)arg;
	char b = 'd';
	if (write(done_pipe[1], &b, 1) != 1)
		_exit(98);
	return NULL;
}

static void *adder(void *arg)
{
	return (void *)((intptr_t)arg + 1);
}

static void detached_and_late(void)
{
	must(pipe(done_pipe) == 0, "pipe");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	must(pthread_create(&t, &attr, detached, NULL) == 0, "pthread_create detached");
	pthread_attr_destroy(&attr);
	char b = 0;
	ssize_t n = read(done_pipe[0], &b, 1);
	out("detached thread ran: %s\n", n == 1 && b == 'd' ? "yes" : "no");
	check(n == 1 && b == 'd', "detached");
	close(done_pipe[0]);
	close(done_pipe[1]);

	/* many short-lived threads, one after the other */
	intptr_t v = 0;
	for (int i = 0; i < 50; i++) {
		void *r;
		must(pthread_create(&t, NULL, adder, (void *)v) == 0, "pthread_create adder");
		check(pthread_join(t, &r) == 0, "join adder");
		v = (intptr_t)r;
	}
	out("50 sequential threads: %d\n", (int)v);
	check(v == 50, "sequential");
}

int main(void)
{
	counter_and_identity();
	condvar();
	detached_and_late();
	return finish();
}
