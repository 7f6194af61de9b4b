/*
 * t_timerfd: timerfd_create, timerfd_settime, timerfd_gettime.
 *  - clocks: REALTIME, MONOTONIC, BOOTTIME (and the alarm ones, or EPERM
 *    without CAP_WAKE_ALARM); others and unknown flags EINVAL;
 *  - an unarmed timer reads EAGAIN (non-blocking) and is not readable;
 *    short buffers are EINVAL, writes EINVAL;
 *  - one-shot relative and absolute timers, a blocking read returns 1;
 *    an absolute time in the past with an interval counts every interval
 *    passed; intervals count expiries between reads;
 *  - settime returns the old setting, re-arming drops unread expiries,
 *    a zero value disarms; bad flags, bad nanoseconds, a descriptor of
 *    another kind are EINVAL;
 *  - poll, select and epoll wake at expiry.
 */
#include "guest.h"

#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static long rd(int fd, uint64_t *v)
{
	*v = 0;
	return read(fd, v, 8);
}

static void rdp(const char *what, int fd)
{
	uint64_t v;
	long r = rd(fd, &v);
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld count %llu\n", what, r, (unsigned long long)v);
}

static int pollin(int fd)
{
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	int r = poll(&p, 1, 0);
	return r > 0 ? p.revents : r;
}

static long long ms_since(struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000LL + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static int arm(int fd, int flags, long vs, long vns, long is, long ins)
{
	struct itimerspec its = {{is, ins}, {vs, vns}};
	return timerfd_settime(fd, flags, &its, NULL);
}

int main(void)
{
	static const int clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
				     CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM};
	static const int bad[] = {2, 3, 4, 5, 6, 10, 11, 12, -1};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int fd = timerfd_create(bad[i], 0);
		out("clock %d: %d %s\n", bad[i], fd, fd < 0 ? errname(errno) : "");
	}
	report("bad flags", timerfd_create(CLOCK_MONOTONIC, 1));

	/* Each clock: a one-shot relative timer. */
	for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		int fd = timerfd_create(clocks[i], TFD_NONBLOCK);
		if (fd < 0 && errno == EPERM && clocks[i] >= CLOCK_REALTIME_ALARM) {
			out("clock %d: created or EPERM\n", clocks[i]);
			continue;
		}
		must(fd >= 0, "timerfd_create");
		if (clocks[i] >= CLOCK_REALTIME_ALARM)
			out("clock %d: created or EPERM\n", clocks[i]);
		uint64_t v;
		long r = rd(fd, &v);
		out("clock %d unarmed: %ld %s poll %#x\n", clocks[i], r, r < 0 ? errname(errno) : "",
		    pollin(fd));
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		must(arm(fd, 0, 0, 20000000, 0, 0) == 0, "settime");
		struct pollfd p = {fd, POLLIN, 0};
		r = poll(&p, 1, 5000);
		long long el = ms_since(&t0);
		r = rd(fd, &v);
		out("clock %d: poll %#x read %ld count %llu waited>=19ms %d\n", clocks[i], p.revents, r,
		    (unsigned long long)v, el >= 19);
		struct itimerspec cur;
		timerfd_gettime(fd, &cur);
		out("after: %ld.%09ld %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec,
		    (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
		close(fd);
	}

	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	must(fd >= 0, "timerfd_create");
	out("F_GETFD %d F_GETFL %#o\n", fcntl(fd, F_GETFD), fcntl(fd, F_GETFL));
	char small[4];
	report("read 4 bytes", read(fd, small, 4));
	uint64_t one = 1;
	report("write", write(fd, &one, 8));

	/* A blocking read of an absolute timer. */
	struct timespec now, t0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	t0 = now;
	now.tv_nsec += 30000000;
	if (now.tv_nsec >= 1000000000) {
		now.tv_nsec -= 1000000000;
		now.tv_sec++;
	}
	report("abs arm", arm(fd, TFD_TIMER_ABSTIME, now.tv_sec, now.tv_nsec, 0, 0));
	rdp("blocking read", fd);
	out("waited>=29ms %d\n", ms_since(&t0) >= 29);

	/* In the past with an interval: every interval passed counts. */
	int rt = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	clock_gettime(CLOCK_REALTIME, &now);
	/* 3.5 s ago: expiries 3.5, 2.5, 1.5 and 0.5 s ago. */
	long psec = now.tv_sec - 4, pnsec = now.tv_nsec + 500000000;
	if (pnsec >= 1000000000) {
		pnsec -= 1000000000;
		psec++;
	}
	report("past arm", arm(rt, TFD_TIMER_ABSTIME, psec, pnsec, 1, 0));
	out("past poll %#x\n", pollin(rt));
	rdp("past read", rt);
	rdp("past read again", rt);
	struct itimerspec cur;
	timerfd_gettime(rt, &cur);
	out("past gettime: value<=1s %d interval %ld.%09ld\n",
	    cur.it_value.tv_sec == 0 || (cur.it_value.tv_sec == 1 && cur.it_value.tv_nsec == 0),
	    (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);

	/* Re-arming drops unread expiries and returns the old setting. */
	report("past arm 2", arm(rt, TFD_TIMER_ABSTIME, now.tv_sec - 2, now.tv_nsec, 0, 0));
	out("armed in the past poll %#x\n", pollin(rt));
	struct itimerspec its = {{3, 0}, {10, 0}}, old;
	report("re-arm", timerfd_settime(rt, 0, &its, &old));
	out("old: %ld.%09ld %ld.%09ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec,
	    (long)old.it_interval.tv_sec, old.it_interval.tv_nsec);
	rdp("after re-arm", rt);
	struct itimerspec zero = {{0, 0}, {0, 0}};
	report("disarm", timerfd_settime(rt, 0, &zero, &old));
	out("old: value 9..10s %d interval %ld.%09ld\n",
	    old.it_value.tv_sec == 9 || (old.it_value.tv_sec == 10 && old.it_value.tv_nsec == 0),
	    (long)old.it_interval.tv_sec, old.it_interval.tv_nsec);
	timerfd_gettime(rt, &cur);
	out("disarmed: %ld.%09ld %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec,
	    (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);

	/* Intervals. */
	report("interval arm", arm(fd, 0, 0, 10000000, 0, 10000000));
	struct timespec nap = {0, 55000000};
	nanosleep(&nap, NULL);
	uint64_t v;
	long r = rd(fd, &v);
	out("interval read %ld count>=5 %d\n", r, v >= 5);
	r = rd(fd, &v);
	out("interval read again %ld count>=1 %d\n", r, v >= 1);
	timerfd_gettime(fd, &cur);
	out("interval gettime: value<=10ms %d interval %ld.%09ld\n",
	    cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 10000000,
	    (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
	arm(fd, 0, 0, 0, 0, 0);

	/* Errors. */
	report("bad settime flags", arm(fd, 4, 1, 0, 0, 0));
	report("bad nsec", arm(fd, 0, 0, 1000000000, 0, 0));
	report("negative", arm(fd, 0, -1, 0, 0, 0));
	report("bad interval nsec", arm(fd, 0, 1, 0, 0, -1));
	int e = eventfd(0, 0);
	report("settime on eventfd", arm(e, 0, 1, 0, 0, 0));
	report("gettime on eventfd", timerfd_gettime(e, &cur));
	report("settime on bad fd", arm(999, 0, 1, 0, 0, 0));
	report("cancel on set", arm(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 0, 0, 0, 0));

	/* select and epoll wake at expiry. */
	arm(fd, 0, 0, 20000000, 0, 0);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	r = select(fd + 1, &rs, NULL, NULL, NULL);
	out("select %ld %d\n", r, FD_ISSET(fd, &rs));
	rdp("read", fd);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
	struct epoll_event got[2];
	report("epoll unarmed", epoll_wait(ep, got, 2, 0));
	arm(fd, 0, 0, 20000000, 0, 0);
	r = epoll_wait(ep, got, 2, 5000);
	out("epoll %ld events %#x data %llu\n", r, r > 0 ? got[0].events : 0,
	    r > 0 ? (unsigned long long)got[0].data.u64 : 0ULL);
	rdp("read", fd);
	return 0;
}
