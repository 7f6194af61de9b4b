/*
 * t_waitv: futex_waitv(2) — waiting on several futexes at once: the index
 * of the one woken is returned; a value mismatch gives EAGAIN; an absolute
 * CLOCK_MONOTONIC timeout in the past gives ETIMEDOUT; bad flags, a zero
 * count and more than 128 waiters give EINVAL.
 */
#include "guest.h"
#ifndef FUTEX_WAKE_PRIVATE
#define FUTEX_WAKE_PRIVATE 129
#endif
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

struct waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

#define SIZE_U32 2
#define PRIV 128

static uint32_t words[3];

static void *waker(void *arg)
{
	(void)arg;
	struct timespec d = {0, 30 * 1000 * 1000};
	nanosleep(&d, NULL);
	__atomic_store_n(&words[1], 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &words[1], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

static long waitv(struct waitv *w, unsigned n, unsigned flags, struct timespec *t)
{
	return syscall(SYS_futex_waitv, w, n, flags, t, CLOCK_MONOTONIC);
}

int main(void)
{
	struct waitv w[3];
	for (int i = 0; i < 3; i++)
		w[i] = (struct waitv){0, (uint64_t)(uintptr_t)&words[i], SIZE_U32 | PRIV, 0};

	pthread_t t;
	must(pthread_create(&t, NULL, waker, NULL) == 0, "pthread_create");
	errno = 0;
	long r = waitv(w, 3, 0, NULL);
	out("woken index: %ld %s\n", r, errname(errno));
	pthread_join(t, NULL);

	errno = 0;
	r = waitv(w, 3, 0, NULL); /* words[1] is 1 now, expected 0 */
	out("value mismatch: %ld %s\n", r, errname(errno));

	w[1].val = 1;
	struct timespec past = {0, 0};
	errno = 0;
	r = waitv(w, 3, 0, &past);
	out("timeout in the past: %ld %s\n", r, errname(errno));

	errno = 0;
	r = waitv(w, 3, 1, NULL);
	out("flags 1: %ld %s\n", r, errname(errno));
	errno = 0;
	r = waitv(w, 0, 0, NULL);
	out("no waiters: %ld %s\n", r, errname(errno));
	static struct waitv many[129];
	errno = 0;
	r = waitv(many, 129, 0, NULL);
	out("129 waiters: %ld %s\n", r, errname(errno));
	w[0].flags = 0;
	errno = 0;
	r = waitv(w, 3, 0, NULL);
	out("waiter without FUTEX2_SIZE_U32: %ld %s\n", r, errname(errno));
	return finish();
}
