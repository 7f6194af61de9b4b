/*
 * t2_timeouts.c - no timed wait may end before its timeout.
 *
 * Linux never ends a timed sleep early: after an absolute deadline on clock
 * C times out, C reads at least the deadline; after a relative timeout of
 * d, at least d has passed on CLOCK_MONOTONIC since the call began. This
 * loops many short waits of pseudo-random length (1 us .. 0.5 ms, a fixed
 * seed) of every kind of timed wait and checks each one exactly, to the
 * nanosecond, against the guest's own clock_gettime:
 *
 *   futex FUTEX_WAIT (relative), FUTEX_WAIT_BITSET on CLOCK_MONOTONIC and
 *   with FUTEX_CLOCK_REALTIME (absolute), futex_waitv on both clocks
 *   (absolute), nanosleep, clock_nanosleep relative and TIMER_ABSTIME on
 *   CLOCK_MONOTONIC, CLOCK_REALTIME and CLOCK_BOOTTIME, ppoll,
 *   epoll_pwait2 (timespec), poll and epoll_wait (milliseconds),
 *   rt_sigtimedwait.
 *
 * It prints one line; on a failure it also prints which kind ended early
 * (never by how much: that depends on the host).
 */
#include "guest.h"

#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>

#define ROUNDS 200

/* Musl's headers lack <linux/futex.h>. */
#define FUTEX_WAIT 0
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static uint64_t seed = 0x2545F4914F6CDD1DULL;

static long rnd_ns(long lo, long hi)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return lo + (long)(seed % (uint64_t)(hi - lo + 1));
}

static struct timespec now(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t;
}

static struct timespec add_ns(struct timespec t, long ns)
{
	long n = t.tv_nsec + ns;
	t.tv_sec += n / 1000000000L;
	t.tv_nsec = n % 1000000000L;
	return t;
}

static struct timespec rel(long ns)
{
	struct timespec t = { ns / 1000000000L, ns % 1000000000L };
	return t;
}

/* a >= b */
static int not_before(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec >= b.tv_nsec);
}

static long fx(int *uaddr, int op, int val, const struct timespec *ts, int val3)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, val3);
}

struct waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

enum kind {
	K_FUTEX_WAIT,
	K_BITSET_MONO,
	K_BITSET_REAL,
	K_WAITV_MONO,
	K_WAITV_REAL,
	K_NANOSLEEP,
	K_CNS_REL,
	K_CNS_ABS_MONO,
	K_CNS_ABS_REAL,
	K_CNS_ABS_BOOT,
	K_PPOLL,
	K_EPOLL_PWAIT2,
	K_POLL_MS,
	K_EPOLL_MS,
	K_SIGTIMEDWAIT,
	K_COUNT
};

static const char *names[K_COUNT] = {
	"FUTEX_WAIT relative",
	"FUTEX_WAIT_BITSET CLOCK_MONOTONIC deadline",
	"FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME deadline",
	"futex_waitv CLOCK_MONOTONIC deadline",
	"futex_waitv CLOCK_REALTIME deadline",
	"nanosleep",
	"clock_nanosleep relative",
	"clock_nanosleep TIMER_ABSTIME CLOCK_MONOTONIC",
	"clock_nanosleep TIMER_ABSTIME CLOCK_REALTIME",
	"clock_nanosleep TIMER_ABSTIME CLOCK_BOOTTIME",
	"ppoll",
	"epoll_pwait2",
	"poll (ms)",
	"epoll_wait (ms)",
	"rt_sigtimedwait",
};

static int pfd[2], ep;

/* One wait of kind k for about ns nanoseconds; returns 1 if it lasted at
 * least its timeout, 0 if it ended early, -1 if it did not time out. */
static int one(enum kind k, long ns)
{
	int word = 0;
	clockid_t c = CLOCK_MONOTONIC;
	struct timespec start, deadline, ts;
	long r;
	switch (k) {
	case K_BITSET_REAL:
	case K_WAITV_REAL:
	case K_CNS_ABS_REAL:
		c = CLOCK_REALTIME;
		break;
	case K_CNS_ABS_BOOT:
		c = CLOCK_BOOTTIME;
		break;
	default:
		break;
	}
	if (k == K_POLL_MS || k == K_EPOLL_MS)
		ns = (ns / 1000000 + 1) * 1000000;
	start = now(c);
	deadline = add_ns(start, ns);
	ts = rel(ns);
	switch (k) {
	case K_FUTEX_WAIT:
		r = fx(&word, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, &ts, 0);
		break;
	case K_BITSET_MONO:
		r = fx(&word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &deadline, -1);
		break;
	case K_BITSET_REAL:
		r = fx(&word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME, 0,
		       &deadline, -1);
		break;
	case K_WAITV_MONO:
	case K_WAITV_REAL: {
		struct waitv w = { 0, (uintptr_t)&word, 2 | 128, 0 };
		r = syscall(SYS_futex_waitv, &w, 1, 0, &deadline, c);
		break;
	}
	case K_NANOSLEEP:
		r = nanosleep(&ts, NULL) ? -1 : 0;
		break;
	case K_CNS_REL:
		r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
		break;
	case K_CNS_ABS_MONO:
	case K_CNS_ABS_REAL:
	case K_CNS_ABS_BOOT:
		r = syscall(SYS_clock_nanosleep, c, TIMER_ABSTIME, &deadline, NULL);
		break;
	case K_PPOLL: {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		r = syscall(SYS_ppoll, &p, 1, &ts, NULL, 8);
		break;
	}
	case K_EPOLL_PWAIT2: {
		struct epoll_event ev;
		r = syscall(SYS_epoll_pwait2, ep, &ev, 1, &ts, NULL, 8);
		break;
	}
	case K_POLL_MS: {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		r = poll(&p, 1, (int)(ns / 1000000));
		break;
	}
	case K_EPOLL_MS: {
		struct epoll_event ev;
		r = epoll_wait(ep, &ev, 1, (int)(ns / 1000000));
		break;
	}
	case K_SIGTIMEDWAIT: {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		r = syscall(SYS_rt_sigtimedwait, &s, NULL, &ts, 8);
		break;
	}
	default:
		return -1;
	}
	int e = errno;
	struct timespec end = now(c);
	/* Each must have timed out: -1 ETIMEDOUT/EAGAIN, or 0 (sleeps, polls). */
	int timed_out;
	switch (k) {
	case K_FUTEX_WAIT:
	case K_BITSET_MONO:
	case K_BITSET_REAL:
	case K_WAITV_MONO:
	case K_WAITV_REAL:
		timed_out = r == -1 && e == ETIMEDOUT;
		break;
	case K_SIGTIMEDWAIT:
		timed_out = r == -1 && e == EAGAIN;
		break;
	default:
		timed_out = r == 0;
		break;
	}
	if (!timed_out)
		return -1;
	return not_before(end, deadline);
}

int main(void)
{
	if (pipe(pfd))
		return 2;
	ep = epoll_create1(0);
	struct epoll_event ev = { EPOLLIN, { 0 } };
	epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, NULL);

	int early[K_COUNT] = { 0 }, other[K_COUNT] = { 0 };
	int rounds = ROUNDS;
	const char *env = getenv("TIMEOUT_ROUNDS");
	if (env)
		rounds = atoi(env);
	for (int i = 0; i < rounds; i++)
		for (int k = 0; k < K_COUNT; k++) {
			long ns = rnd_ns(1000, 500000);
			if (k == K_POLL_MS || k == K_EPOLL_MS) {
				/* Millisecond timeouts are slow: a tenth as many. */
				if (i % 10)
					continue;
				ns = 0;
			}
			int r = one((enum kind)k, ns);
			if (r == 0)
				early[k]++;
			else if (r < 0)
				other[k]++;
		}
	int ok = 1;
	for (int k = 0; k < K_COUNT; k++) {
		if (early[k]) {
			out("%s: ended before its timeout\n", names[k]);
			ok = 0;
		}
		if (other[k]) {
			out("%s: did not time out\n", names[k]);
			ok = 0;
		}
	}
	out("all waits lasted at least their timeout: %s\n", ok ? "yes" : "no");
	return ok ? 0 : 1;
}
