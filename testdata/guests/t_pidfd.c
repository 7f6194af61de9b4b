/*
 * t_pidfd: process file descriptors (raw syscalls: clone3, clone,
 * pidfd_open, pidfd_send_signal, pidfd_getfd, waitid(P_PIDFD)).
 *  - clone3 with CLONE_PIDFD stores a pidfd (>= 0, FD_CLOEXEC set); with
 *    CLONE_PARENT_SETTID and the same pointer for both: EINVAL, different
 *    pointers: both written; an unwritable pidfd pointer: EFAULT;
 *  - legacy clone with CLONE_PIDFD returns it through parent_tid;
 *    CLONE_PIDFD|CLONE_PARENT_SETTID there is EINVAL (one pointer);
 *  - pidfd_open: works on a child and on ourselves (FD_CLOEXEC always),
 *    PIDFD_NONBLOCK sets O_NONBLOCK; pid -1 and 0 EINVAL, a pid that cannot
 *    exist ESRCH, unknown flags EINVAL;
 *  - poll/epoll: not readable while the child runs, POLLIN/EPOLLIN once it
 *    has exited (zombie) and still after it was reaped;
 *  - waitid(P_PIDFD): reaps with the right si_pid/si_code/si_status; WNOHANG
 *    on a running child returns 0; a PIDFD_NONBLOCK pidfd without WNOHANG
 *    gives EAGAIN; a pipe fd or a closed fd EBADF, fd -1 EINVAL, our own
 *    pidfd ECHILD, an already reaped child ECHILD;
 *  - pidfd_send_signal: SIGTERM kills the child; signal 0 probes; a zombie
 *    still accepts signals (0), a reaped process is ESRCH; flags 0x100
 *    EINVAL; a pipe fd EBADF; signal 100 EINVAL; with a siginfo: si_signo
 *    mismatch EINVAL, si_code SI_USER to another process EPERM, SI_QUEUE with
 *    a value reaches the child's SA_SIGINFO handler;
 *  - pidfd_getfd: duplicates the write end of a child's pipe (FD_CLOEXEC),
 *    data written through it reaches the child; bad target fd EBADF, flags
 *    EINVAL, a pipe instead of a pidfd EBADF; after the child exited
 *    (zombie, files released) ESRCH (Linux turns the EBADF into ESRCH for
 *    a PF_EXITING task; older kernels said EBADF), after it was reaped ESRCH.
 * Output never contains pids or fd numbers.
 */
#include "guest.h"

#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <sys/epoll.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define G_PIDFD_NONBLOCK O_NONBLOCK

struct g_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls, set_tid, set_tid_size, cgroup;
};

static int pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static int pidfd_getfd(int fd, int target, unsigned flags)
{
	return (int)syscall(SYS_pidfd_getfd, fd, target, flags);
}

static int waitid_pidfd(int fd, siginfo_t *si, int options)
{
	memset(si, 0, sizeof *si);
	return (int)syscall(SYS_waitid, P_PIDFD, fd, si, options, NULL);
}

static const char *yesno(int c)
{
	return c ? "yes" : "no";
}

static int cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);
	return f >= 0 && (f & FD_CLOEXEC);
}

static void res(const char *what, long r)
{
	int e = errno;
	if (r < 0)
		out("%s: -1 %s\n", what, errname(e));
	else
		out("%s: %ld\n", what, r);
}

/* Fork a child that exits with `code` once *release is closed. */
static pid_t spawn_waiter(int code, int *release)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		char b;
		close(p[1]);
		while (read(p[0], &b, 1) != 0 && errno == EINTR) {
		}
		_exit(code);
	}
	close(p[0]);
	*release = p[1];
	return c;
}

static short poll_in(int fd, int timeout)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	int r;
	do {
		r = poll(&pfd, 1, timeout);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	return r == 0 ? 0 : (pfd.revents & POLLIN);
}

static void print_si(const char *what, const siginfo_t *si, pid_t pid)
{
	const char *code = si->si_code == CLD_EXITED   ? "CLD_EXITED"
			   : si->si_code == CLD_KILLED ? "CLD_KILLED"
			   : si->si_code == CLD_DUMPED ? "CLD_DUMPED"
						       : "other";
	char status[32];
	if (si->si_code == CLD_EXITED)
		snprintf(status, sizeof status, "%d", si->si_status);
	else
		snprintf(status, sizeof status, "%s", signame(si->si_status));
	out("%s: si_pid %s, si_code %s, si_status %s\n", what,
	    si->si_pid == pid ? "match" : "MISMATCH", code, status);
	check(si->si_pid == pid, "si_pid");
}

static void clone3_pidfd(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	int pidfd = -1;
	struct g_clone_args a;
	memset(&a, 0, sizeof a);
	a.flags = CLONE_PIDFD;
	a.pidfd = (uint64_t)(uintptr_t)&pidfd;
	a.exit_signal = SIGCHLD;
	long c = syscall(SYS_clone3, &a, sizeof a);
	if (c == 0) {
		char b;
		close(p[1]);
		while (read(p[0], &b, 1) != 0 && errno == EINTR) {
		}
		_exit(12);
	}
	must(c > 0, "clone3 CLONE_PIDFD");
	close(p[0]);
	out("clone3 CLONE_PIDFD: pidfd >= 0: %s, FD_CLOEXEC: %s\n", yesno(pidfd >= 0),
	    yesno(cloexec(pidfd)));
	out("poll while running: %d\n", poll_in(pidfd, 0));
	siginfo_t si;
	int r = waitid_pidfd(pidfd, &si, WEXITED | WNOHANG);
	out("waitid(P_PIDFD, WNOHANG) while running: %d, si_pid %d\n", r, (int)si.si_pid);
	errno = 0;
	res("pidfd_send_signal(0) while running", pidfd_send_signal(pidfd, 0, NULL, 0));

	close(p[1]); /* the child exits */
	short ev = poll_in(pidfd, -1);
	out("poll after exit: %s\n", ev == POLLIN ? "POLLIN" : "not readable");
	errno = 0;
	res("pidfd_send_signal(SIGTERM) to the zombie", pidfd_send_signal(pidfd, SIGTERM, NULL, 0));
	r = waitid_pidfd(pidfd, &si, WEXITED);
	check(r == 0, "waitid P_PIDFD");
	print_si("waitid(P_PIDFD, WEXITED)", &si, (pid_t)c);
	check(si.si_code == CLD_EXITED && si.si_status == 12, "status 12");
	ev = poll_in(pidfd, 0);
	out("poll after reaping: %s\n", ev == POLLIN ? "POLLIN" : "not readable");
	errno = 0;
	res("waitid(P_PIDFD) again", waitid_pidfd(pidfd, &si, WEXITED | WNOHANG));
	errno = 0;
	res("pidfd_send_signal(SIGTERM) after reaping", pidfd_send_signal(pidfd, SIGTERM, NULL, 0));
	errno = 0;
	res("pidfd_send_signal(0) after reaping", pidfd_send_signal(pidfd, 0, NULL, 0));
	close(pidfd);

	/* CLONE_PIDFD and CLONE_PARENT_SETTID */
	int both = -1;
	memset(&a, 0, sizeof a);
	a.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
	a.pidfd = (uint64_t)(uintptr_t)&both;
	a.parent_tid = (uint64_t)(uintptr_t)&both;
	a.exit_signal = SIGCHLD;
	errno = 0;
	c = syscall(SYS_clone3, &a, sizeof a);
	if (c == 0)
		_exit(0);
	res("clone3 CLONE_PIDFD|CLONE_PARENT_SETTID, same pointer", c < 0 ? -1 : 0);
	if (c > 0)
		wait_for((pid_t)c);

	int tid = 0;
	pidfd = -1;
	a.parent_tid = (uint64_t)(uintptr_t)&tid;
	a.pidfd = (uint64_t)(uintptr_t)&pidfd;
	c = syscall(SYS_clone3, &a, sizeof a);
	if (c == 0)
		_exit(14);
	if (c < 0) {
		res("clone3 CLONE_PIDFD|CLONE_PARENT_SETTID, two pointers", -1);
	} else {
		r = waitid_pidfd(pidfd, &si, WEXITED);
		out("clone3 CLONE_PIDFD|CLONE_PARENT_SETTID, two pointers: tid %s, pidfd %s, "
		    "waitid %d status %d\n",
		    tid == c ? "match" : "MISMATCH", yesno(pidfd >= 0), r, si.si_status);
		close(pidfd);
	}

	memset(&a, 0, sizeof a);
	a.flags = CLONE_PIDFD;
	a.pidfd = 8; /* not writable */
	a.exit_signal = SIGCHLD;
	errno = 0;
	c = syscall(SYS_clone3, &a, sizeof a);
	if (c == 0)
		_exit(0);
	res("clone3 CLONE_PIDFD, unwritable pidfd pointer", c < 0 ? -1 : 0);
	if (c > 0)
		wait_for((pid_t)c);
}

static void legacy_clone(void)
{
	int pidfd = -1;
	long c = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
	if (c == 0)
		_exit(13);
	must(c > 0, "clone CLONE_PIDFD");
	siginfo_t si;
	int r = waitid_pidfd(pidfd, &si, WEXITED);
	out("clone CLONE_PIDFD: pidfd via parent_tid >= 0: %s, FD_CLOEXEC: %s, waitid %d\n",
	    yesno(pidfd >= 0), yesno(cloexec(pidfd)), r);
	print_si("clone CLONE_PIDFD, waitid", &si, (pid_t)c);
	close(pidfd);

	errno = 0;
	c = syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pidfd, 0, 0);
	if (c == 0)
		_exit(0);
	res("clone CLONE_PIDFD|CLONE_PARENT_SETTID", c < 0 ? -1 : 0);
	if (c > 0)
		wait_for((pid_t)c);
}

static void open_and_wait(void)
{
	int release;
	pid_t c = spawn_waiter(21, &release);
	int fd = pidfd_open(c, 0);
	out("pidfd_open(child, 0): >= 0: %s, FD_CLOEXEC: %s, O_NONBLOCK: %s\n", yesno(fd >= 0),
	    yesno(cloexec(fd)), yesno(fcntl(fd, F_GETFL) & O_NONBLOCK));
	int nb = pidfd_open(c, G_PIDFD_NONBLOCK);
	out("pidfd_open(child, PIDFD_NONBLOCK): >= 0: %s, O_NONBLOCK: %s\n", yesno(nb >= 0),
	    yesno(fcntl(nb, F_GETFL) & O_NONBLOCK));
	int self = pidfd_open(getpid(), 0);
	out("pidfd_open(getpid(), 0): >= 0: %s\n", yesno(self >= 0));
	errno = 0;
	res("pidfd_open(-1, 0)", pidfd_open(-1, 0));
	errno = 0;
	res("pidfd_open(0, 0)", pidfd_open(0, 0));
	errno = 0;
	res("pidfd_open(1 << 30, 0)", pidfd_open(1 << 30, 0));
	errno = 0;
	res("pidfd_open(child, 1)", pidfd_open(c, 1));
	errno = 0;
	res("pidfd_open(child, O_CLOEXEC)", pidfd_open(c, O_CLOEXEC));

	siginfo_t si;
	errno = 0;
	res("waitid(P_PIDFD, nonblocking pidfd, WEXITED) while running",
	    waitid_pidfd(nb, &si, WEXITED));
	errno = 0;
	int r = waitid_pidfd(nb, &si, WEXITED | WNOHANG);
	if (r < 0)
		out("waitid(P_PIDFD, nonblocking pidfd, WEXITED|WNOHANG) while running: -1 %s\n",
		    errname(errno));
	else
		out("waitid(P_PIDFD, nonblocking pidfd, WEXITED|WNOHANG) while running: %d, "
		    "si_pid %d\n", r, (int)si.si_pid);
	int p[2];
	must(pipe(p) == 0, "pipe");
	errno = 0;
	res("waitid(P_PIDFD, pipe fd)", waitid_pidfd(p[0], &si, WEXITED | WNOHANG));
	errno = 0;
	res("waitid(P_PIDFD, closed fd)", waitid_pidfd(999, &si, WEXITED | WNOHANG));
	errno = 0;
	res("waitid(P_PIDFD, -1)", waitid_pidfd(-1, &si, WEXITED | WNOHANG));
	errno = 0;
	res("waitid(P_PIDFD, own pidfd)", waitid_pidfd(self, &si, WEXITED | WNOHANG));
	errno = 0;
	res("pidfd_send_signal(own pidfd, 0)", pidfd_send_signal(self, 0, NULL, 0));
	close(p[0]);
	close(p[1]);
	close(self);

	/* epoll */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	must(ep >= 0, "epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
	struct epoll_event got[2];
	memset(got, 0, sizeof got);
	r = epoll_wait(ep, got, 2, 0);
	out("epoll_wait while running: %d\n", r);
	close(release);
	do {
		r = epoll_wait(ep, got, 2, -1);
	} while (r < 0 && errno == EINTR);
	out("epoll_wait after exit: %d, EPOLLIN: %s, data %d\n", r, yesno(got[0].events & EPOLLIN),
	    (int)got[0].data.u64);
	close(ep);

	/* the nonblocking pidfd now reaps */
	r = waitid_pidfd(nb, &si, WEXITED);
	out("waitid(P_PIDFD, nonblocking pidfd) after exit: %d\n", r);
	print_si("  siginfo", &si, c);
	errno = 0;
	res("waitid(P_PIDFD, other pidfd) after reaping", waitid_pidfd(fd, &si, WEXITED));
	close(nb);
	close(fd);
}

static volatile sig_atomic_t got_code, got_value, got_signo;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_signo = sig;
	got_code = si->si_code;
	got_value = si->si_value.sival_int;
}

static void send_signal(void)
{
	int release;
	pid_t c = spawn_waiter(0, &release);
	int fd = pidfd_open(c, 0);
	must(fd >= 0, "pidfd_open");
	errno = 0;
	res("pidfd_send_signal(flags 0x100)", pidfd_send_signal(fd, SIGTERM, NULL, 0x100));
	errno = 0;
	res("pidfd_send_signal(signal 100)", pidfd_send_signal(fd, 100, NULL, 0));
	int p[2];
	must(pipe(p) == 0, "pipe");
	errno = 0;
	res("pidfd_send_signal(pipe fd)", pidfd_send_signal(p[0], SIGTERM, NULL, 0));
	errno = 0;
	res("pidfd_send_signal(closed fd)", pidfd_send_signal(999, SIGTERM, NULL, 0));
	close(p[0]);
	close(p[1]);

	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_signo = SIGUSR2;
	info.si_code = SI_QUEUE;
	errno = 0;
	res("pidfd_send_signal(SIGTERM, siginfo with si_signo SIGUSR2)",
	    pidfd_send_signal(fd, SIGTERM, &info, 0));
	info.si_signo = SIGTERM;
	info.si_code = SI_USER;
	errno = 0;
	res("pidfd_send_signal(SIGTERM, siginfo SI_USER) to another process",
	    pidfd_send_signal(fd, SIGTERM, &info, 0));

	errno = 0;
	res("pidfd_send_signal(SIGTERM)", pidfd_send_signal(fd, SIGTERM, NULL, 0));
	siginfo_t si;
	int r = waitid_pidfd(fd, &si, WEXITED);
	out("after SIGTERM: waitid %d\n", r);
	print_si("  siginfo", &si, c);
	check(si.si_code == CLD_KILLED && si.si_status == SIGTERM, "killed by SIGTERM");
	close(release);
	close(fd);

	/* SI_QUEUE with a value reaches the child's handler */
	int ready[2];
	must(pipe(ready) == 0, "pipe");
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_usr1;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		sigset_t block, old;
		sigemptyset(&block);
		sigaddset(&block, SIGUSR1);
		sigprocmask(SIG_BLOCK, &block, &old);
		if (write(ready[1], "r", 1) != 1)
			_exit(90);
		while (got_signo == 0)
			sigsuspend(&old);
		out("  child: got %s, si_code %s, si_value %d\n", signame(got_signo),
		    got_code == SI_QUEUE ? "SI_QUEUE" : "other", (int)got_value);
		_exit(0);
	}
	close(ready[1]);
	char b;
	must(read(ready[0], &b, 1) == 1, "ready");
	close(ready[0]);
	fd = pidfd_open(c, 0);
	memset(&info, 0, sizeof info);
	info.si_signo = SIGUSR1;
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	info.si_value.sival_int = 77;
	errno = 0;
	r = pidfd_send_signal(fd, SIGUSR1, &info, 0);
	int e = errno;
	siginfo_t si2;
	waitid_pidfd(fd, &si2, WEXITED); /* the child prints first */
	errno = e;
	res("pidfd_send_signal(SIGUSR1, siginfo SI_QUEUE value 77)", r);
	print_si("  siginfo", &si2, c);
	close(fd);
}

static void getfd(void)
{
	int ctl[2], data[2];
	must(pipe(ctl) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		/* a pipe of our own; send the parent the number of its write end */
		close(ctl[0]);
		must(pipe(data) == 0, "pipe");
		int num = data[1];
		if (write(ctl[1], &num, sizeof num) != sizeof num)
			_exit(90);
		close(ctl[1]);
		char buf[16] = {0};
		ssize_t n = 0;
		while (n < 4) {
			ssize_t k = read(data[0], buf + n, 4 - (size_t)n);
			if (k <= 0)
				_exit(91);
			n += k;
		}
		out("  child: read \"%s\" from its own pipe\n", buf);
		_exit(memcmp(buf, "ping", 4) == 0 ? 0 : 1);
	}
	close(ctl[1]);
	int target = -1;
	must(read(ctl[0], &target, sizeof target) == sizeof target, "read fd number");
	close(ctl[0]);
	int fd = pidfd_open(c, 0);
	must(fd >= 0, "pidfd_open");
	errno = 0;
	res("pidfd_getfd(flags 1)", pidfd_getfd(fd, target, 1));
	errno = 0;
	res("pidfd_getfd(bad target fd)", pidfd_getfd(fd, 999, 0));
	int p[2];
	must(pipe(p) == 0, "pipe");
	errno = 0;
	res("pidfd_getfd(pipe instead of pidfd)", pidfd_getfd(p[0], target, 0));
	close(p[0]);
	close(p[1]);
	int dup = pidfd_getfd(fd, target, 0);
	out("pidfd_getfd(child's pipe): >= 0: %s, FD_CLOEXEC: %s\n", yesno(dup >= 0),
	    yesno(cloexec(dup)));
	ssize_t w = -1;
	if (dup >= 0) {
		w = write(dup, "ping", 4);
		close(dup);
	}
	int fd2 = pidfd_open(c, 0);
	short ev = poll_in(fd, -1); /* the child prints first */
	check(ev == POLLIN, "poll");
	out("write through it: %d\n", (int)w);
	/* zombie: no more files */
	errno = 0;
	res("pidfd_getfd after the child exited", pidfd_getfd(fd, target, 0));
	siginfo_t si;
	waitid_pidfd(fd, &si, WEXITED);
	print_si("  siginfo", &si, c);
	errno = 0;
	res("pidfd_getfd after reaping", pidfd_getfd(fd2, target, 0));
	close(fd);
	close(fd2);
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	clone3_pidfd();
	legacy_clone();
	open_and_wait();
	send_signal();
	getfd();
	return finish();
}
