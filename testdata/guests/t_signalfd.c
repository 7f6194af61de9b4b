/*
 * t_signalfd: signalfd and signalfd4.
 *  - reading takes pending signals in the mask as 128-byte
 *    signalfd_siginfo records (signo, code, pid, uid, status, int, ptr),
 *    lowest first, as many as fit; fewer than 128 bytes is EINVAL; none
 *    pending is EAGAIN (SFD_NONBLOCK);
 *  - SIGCHLD from an exited child; kill, tgkill (raise), sigqueue;
 *  - signalfd on an existing signalfd replaces its mask (same fd back);
 *    on another kind of file EINVAL, on a closed fd EBADF; bad flags and
 *    sizes EINVAL; SIGKILL in the mask is dropped (fdinfo);
 *  - a blocking read and epoll_wait wake when another process signals.
 */
#include "guest.h"

#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static void show_ssi(const struct signalfd_siginfo *s, pid_t from)
{
	if ((int)s->ssi_signo >= SIGRTMIN)
		out("  SIGRTMIN+%d", (int)s->ssi_signo - SIGRTMIN);
	else
		out("  signo %u", s->ssi_signo);
	out(" code %d pid-match %d uid-match %d status %d int %d ptr %llu errno %d\n",
	    s->ssi_code, (pid_t)s->ssi_pid == from, s->ssi_uid == getuid(),
	    s->ssi_status, s->ssi_int, (unsigned long long)s->ssi_ptr, s->ssi_errno);
}

static void rd(const char *what, int fd, pid_t from)
{
	struct signalfd_siginfo s[3];
	memset(s, 0, sizeof s);
	long r = read(fd, s, sizeof s);
	if (r < 0) {
		out("%s: -1 %s\n", what, errname(errno));
		return;
	}
	out("%s: %ld\n", what, r);
	for (long i = 0; i * (long)sizeof s[0] < r; i++)
		show_ssi(&s[i], from);
}

static int pollin(int fd)
{
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	int r = poll(&p, 1, 0);
	return r > 0 ? p.revents : r;
}

int main(void)
{
	out("sizeof signalfd_siginfo %zu\n", sizeof(struct signalfd_siginfo));
	sigset_t block, m;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pid_t me = getpid();

	/* SIGCHLD from an exited child. */
	pid_t c = fork();
	if (c == 0)
		_exit(3);
	waitpid(c, NULL, 0);
	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	int s = signalfd(-1, &m, SFD_NONBLOCK);
	must(s >= 0, "signalfd");
	out("F_GETFD %d F_GETFL %#o\n", fcntl(s, F_GETFD), fcntl(s, F_GETFL));
	out("poll %#x\n", pollin(s));
	rd("sigchld", s, c);
	rd("empty", s, 0);
	out("poll %#x\n", pollin(s));

	/* The mask is replaced on the same descriptor. */
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGKILL);
	report("update", signalfd(s, &m, 0) == s);
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", s);
	FILE *f = fopen(path, "r");
	must(f != NULL, "fdinfo");
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "sigmask", 7))
			out("fdinfo %s", line);
	fclose(f);

	raise(SIGUSR1);
	out("poll after raise %#x\n", pollin(s));
	char small[64];
	report("read 64", read(s, small, sizeof small));
	rd("raise", s, me);
	kill(me, SIGUSR2);
	rd("kill", s, me);
	union sigval v = {.sival_int = 42};
	sigqueue(me, SIGUSR1, v);
	rd("sigqueue", s, me);
	kill(me, SIGUSR2);
	kill(me, SIGUSR1);
	rd("two", s, me);

	/* Not in the mask: stays pending. */
	raise(SIGRTMIN);
	rd("rtmin not in mask", s, me);
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN);
	report("update rt", signalfd(s, &m, 0) == s);
	rd("rtmin", s, me);

	/* Errors. */
	int e = eventfd(0, 0);
	report("on eventfd", signalfd(e, &m, 0));
	report("on closed fd", signalfd(999, &m, 0));
	report("bad flags", syscall(SYS_signalfd4, -1, &m, 8, 1));
	report("bad size", syscall(SYS_signalfd4, -1, &m, 4, 0));
	report("old signalfd", syscall(SYS_signalfd, -1, &m, 8) >= 0);

	/* A blocking read wakes when another process signals. */
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	int b = signalfd(-1, &m, SFD_CLOEXEC);
	must(b >= 0, "signalfd blocking");
	out("F_GETFD %d F_GETFL %#o\n", fcntl(b, F_GETFD), fcntl(b, F_GETFL));
	c = fork();
	if (c == 0) {
		usleep(50000);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	rd("blocking", b, c);
	waitpid(c, NULL, 0);

	/* epoll. */
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 5};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll_ctl");
	signalfd(s, &m, 0);
	struct epoll_event got[2];
	report("epoll empty", epoll_wait(ep, got, 2, 0));
	c = fork();
	if (c == 0) {
		usleep(50000);
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	long r = epoll_wait(ep, got, 2, 5000);
	out("epoll %ld events %#x data %llu\n", r, r > 0 ? got[0].events : 0,
	    r > 0 ? (unsigned long long)got[0].data.u64 : 0ULL);
	rd("after epoll", s, c);
	waitpid(c, NULL, 0);
	return 0;
}
