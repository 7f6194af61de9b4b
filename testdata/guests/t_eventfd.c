/*
 * t_eventfd: eventfd and eventfd2.
 *  - a read takes the whole count (EFD_SEMAPHORE: 1), a read of a zero
 *    count is EAGAIN when non-blocking; reads and writes of fewer than 8
 *    bytes are EINVAL, a longer buffer reads 8; writing ~0 is EINVAL;
 *  - the count stops at 0xfffffffffffffffe: a write past it is EAGAIN
 *    (non-blocking) or waits for a reader (blocking, woken from another
 *    process); a blocked reader is woken by a writer;
 *  - poll, select and epoll see POLLIN with a count and POLLOUT while one
 *    more fits; epoll_wait wakes when another process writes;
 *  - a signal with a handler interrupts a blocked read (EINTR);
 *  - flags: unknown ones EINVAL, EFD_CLOEXEC and EFD_NONBLOCK show in
 *    F_GETFD and F_GETFL; /proc/self/fd and fdinfo describe it.
 */
#include "guest.h"

#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static void rd(const char *what, int fd)
{
	uint64_t v = 0;
	long r = read(fd, &v, 8);
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld value %llu\n", what, r, (unsigned long long)v);
}

static long wr(int fd, uint64_t v)
{
	return write(fd, &v, 8);
}

static void pollbits(const char *what, int fd)
{
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	int r = poll(&p, 1, 0);
	out("%s: poll %d revents %#x\n", what, r, p.revents);
}

static void on_alrm(int s)
{
	(void)s;
}

int main(void)
{
	/* Counting. */
	int e = eventfd(3, EFD_NONBLOCK);
	must(e >= 0, "eventfd");
	pollbits("init 3", e);
	report("write 4", wr(e, 4));
	rd("read", e);
	rd("read empty", e);
	pollbits("empty", e);

	/* Buffer sizes. */
	char small[4] = {0};
	report("read 4 bytes", read(e, small, 4));
	report("write 4 bytes", write(e, small, 4));
	report("write ~0", wr(e, UINT64_MAX));
	report("write 0", wr(e, 0));
	pollbits("after write 0", e);
	wr(e, 9);
	uint64_t big[2] = {0, 77};
	long r = read(e, big, 16);
	out("read 16: %ld value %llu next %llu\n", r, (unsigned long long)big[0],
	    (unsigned long long)big[1]);

	/* The top. */
	report("write max", wr(e, UINT64_MAX - 1));
	pollbits("at max", e);
	report("write 1 more", wr(e, 1));
	rd("read max", e);
	report("write max again", wr(e, UINT64_MAX - 2));
	report("write 1", wr(e, 1));
	report("write 1 more", wr(e, 1));
	rd("read", e);
	close(e);

	/* Semaphore. */
	int s = syscall(SYS_eventfd2, 2, EFD_SEMAPHORE | EFD_NONBLOCK);
	must(s >= 0, "eventfd2");
	rd("sem read", s);
	rd("sem read", s);
	rd("sem read", s);
	report("sem write 5", wr(s, 5));
	rd("sem read", s);
	close(s);

	/* Flags. */
	report("bad flags", syscall(SYS_eventfd2, 0, 2));
	report("bad flags O_RDWR", syscall(SYS_eventfd2, 0, O_RDWR));
	int c = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	must(c >= 0, "eventfd cloexec");
	out("F_GETFD %d F_GETFL %#o\n", fcntl(c, F_GETFD), fcntl(c, F_GETFL));
	int o = syscall(SYS_eventfd, 7);
	must(o >= 0, "old eventfd");
	out("old F_GETFD %d F_GETFL %#o\n", fcntl(o, F_GETFD), fcntl(o, F_GETFL));
	char path[64], link[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", o);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n >= 0) {
		link[n] = 0;
		out("link %s\n", link);
	}
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", o);
	FILE *f = fopen(path, "r");
	must(f != NULL, "fdinfo");
	char line[128];
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "eventfd-count", 13) || !strncmp(line, "eventfd-sem", 11) ||
		    !strncmp(line, "flags", 5))
			out("fdinfo %s", line);
	fclose(f);
	close(c);

	/* select. */
	fd_set rs, ws;
	struct timeval tv = {0, 0};
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_SET(o, &rs);
	FD_SET(o, &ws);
	r = select(o + 1, &rs, &ws, NULL, &tv);
	out("select %ld r %d w %d\n", r, FD_ISSET(o, &rs), FD_ISSET(o, &ws));
	rd("drain", o);
	FD_ZERO(&rs);
	FD_SET(o, &rs);
	tv.tv_usec = 0;
	r = select(o + 1, &rs, NULL, NULL, &tv);
	out("select empty %ld r %d\n", r, FD_ISSET(o, &rs));

	/* A blocked reader is woken by a writer in another process. */
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50000);
		wr(o, 42);
		_exit(0);
	}
	rd("blocking read", o);
	waitpid(pid, NULL, 0);

	/* A blocked writer is woken by a reader. */
	report("fill", wr(o, UINT64_MAX - 1));
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		uint64_t v;
		if (read(o, &v, 8) != 8)
			_exit(1);
		_exit(v == UINT64_MAX - 1 ? 0 : 2);
	}
	report("blocking write", wr(o, 5));
	int st;
	waitpid(pid, &st, 0);
	out("reader status %d\n", WEXITSTATUS(st));
	rd("after", o);

	/* epoll wakes when another process writes. */
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 99};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, o, &ev) == 0, "epoll_ctl");
	struct epoll_event got[2];
	report("epoll empty", epoll_wait(ep, got, 2, 0));
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		wr(o, 1);
		_exit(0);
	}
	r = epoll_wait(ep, got, 2, 5000);
	out("epoll %ld events %#x data %llu\n", r, r > 0 ? got[0].events : 0,
	    r > 0 ? (unsigned long long)got[0].data.u64 : 0ULL);
	waitpid(pid, NULL, 0);
	rd("read", o);

	/* A signal interrupts a blocked read. */
	struct sigaction sa = {0};
	sa.sa_handler = on_alrm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	rd("interrupted read", o);
	close(o);
	close(ep);
	return 0;
}
