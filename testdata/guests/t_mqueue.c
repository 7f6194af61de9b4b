/*
 * t_mqueue: POSIX message queues through the libc's mq_* functions (and
 * the raw syscalls where libcs differ).
 *  - mq_open: O_CREAT, O_EXCL (EEXIST), a missing queue (ENOENT), bad
 *    attributes (EINVAL), names with '/' or '.' (EACCES), too long
 *    (ENAMETOOLONG), empty (ENOENT), O_RDWR|O_WRONLY (EINVAL); the
 *    descriptor is close-on-exec and reads as Linux's status line;
 *  - mq_send/mq_receive: priorities (highest first, FIFO within one),
 *    EMSGSIZE both ways, EAGAIN with O_NONBLOCK, ETIMEDOUT with a past
 *    or near deadline, EINVAL for a bad priority or timeout, EBADF for the
 *    wrong access mode or descriptor;
 *  - mq_getsetattr: the attributes, O_NONBLOCK set and cleared, EINVAL
 *    for other flags;
 *  - mq_notify: SIGEV_SIGNAL (si_code SI_MESGQ, pid, value) when a message
 *    reaches the empty queue, once; EBUSY for a second registration;
 *    SIGEV_NONE; removal with NULL; SIGEV_THREAD with a non-socket (raw
 *    syscall: ENOTSOCK);
 *  - poll, select and epoll readiness; a blocked receive woken by another
 *    process; mq_unlink (ENOENT after; an open queue lives on);
 *  - /proc/sys/fs/mqueue limits.
 */
#include "guest.h"

#include <mqueue.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>

static char name[64];

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static const char *qname(const char *suffix)
{
	static char buf[4][96];
	static int n;
	char *b = buf[n++ % 4];
	snprintf(b, sizeof buf[0], "%s%s", name, suffix);
	return b;
}

static void sysctl(const char *file)
{
	char path[96], buf[32] = {0};
	snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", file);
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	out("%s: %s", file, buf[0] ? buf : "?\n");
}

static volatile int got_signo, got_code, got_pid_ok, got_value;

static void on_sig(int s, siginfo_t *si, void *u)
{
	(void)u;
	got_signo = s;
	got_code = si->si_code;
	got_pid_ok = si->si_pid == getpid();
	got_value = si->si_value.sival_int;
}

static void status_line(mqd_t q)
{
	char buf[128] = {0};
	ssize_t n = read(q, buf, sizeof buf - 1);
	/* NOTIFY_PID is a pid: show whether it is ours. */
	char *pid = strstr(buf, "NOTIFY_PID:");
	int mine = 0;
	if (pid) {
		mine = atoi(pid + 11) == getpid();
		pid[11] = 0;
	}
	out("status (%zd bytes): [%s] pid mine %d\n", n, buf, mine);
}

static void opening(void)
{
	struct mq_attr a = {0, 4, 64, 0, {0}};
	mqd_t q = mq_open(qname("-a"), O_RDWR | O_CREAT | O_EXCL, 0640, &a);
	report("create", q >= 0 ? 0 : -1);
	out("cloexec %d\n", fcntl(q, F_GETFD) & FD_CLOEXEC);
	report("create again excl", mq_open(qname("-a"), O_RDWR | O_CREAT | O_EXCL, 0640, &a));
	mqd_t q2 = mq_open(qname("-a"), O_RDONLY);
	report("open existing", q2 >= 0 ? 0 : -1);
	report("missing", mq_open(qname("-missing"), O_RDONLY));
	report("rdwr|wronly", syscall(SYS_mq_open, qname("-a") + 1, O_RDWR | O_WRONLY, 0, NULL));
	struct mq_attr bad = {0, 0, 64, 0, {0}};
	report("maxmsg 0", mq_open(qname("-b"), O_RDWR | O_CREAT, 0600, &bad));
	bad.mq_maxmsg = 4;
	bad.mq_msgsize = -1;
	report("msgsize -1", mq_open(qname("-b"), O_RDWR | O_CREAT, 0600, &bad));
	bad.mq_maxmsg = 100000;
	bad.mq_msgsize = 16;
	report("maxmsg past the hard limit", mq_open(qname("-b"), O_RDWR | O_CREAT, 0600, &bad));
	/* Raw syscall names (no leading slash): the kernel's rules. */
	report("raw slash inside", syscall(SYS_mq_open, "a/b", O_RDONLY, 0, NULL));
	report("raw dot", syscall(SYS_mq_open, ".", O_RDONLY, 0, NULL));
	report("raw dotdot", syscall(SYS_mq_open, "..", O_RDONLY, 0, NULL));
	report("raw empty", syscall(SYS_mq_open, "", O_RDONLY, 0, NULL));
	char longname[300];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	report("raw too long", syscall(SYS_mq_open, longname, O_RDONLY | O_CREAT, 0600, NULL));
	longname[255] = 0;
	long r = syscall(SYS_mq_open, longname, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
	report("raw 255 chars", r >= 0 ? 0 : r);
	if (r >= 0) {
		close((int)r);
		syscall(SYS_mq_unlink, longname);
	}
	report("raw unlink empty", syscall(SYS_mq_unlink, ""));
	report("raw unlink slash", syscall(SYS_mq_unlink, "a/b"));

	struct mq_attr got;
	mq_getattr(q, &got);
	out("attr flags %ld maxmsg %ld msgsize %ld curmsgs %ld\n", got.mq_flags, got.mq_maxmsg,
	    got.mq_msgsize, got.mq_curmsgs);
	mqd_t d = mq_open(qname("-d"), O_RDWR | O_CREAT | O_NONBLOCK, 0600, NULL);
	mq_getattr(d, &got);
	out("default attr flags %#lx maxmsg %ld msgsize %ld\n", got.mq_flags, got.mq_maxmsg,
	    got.mq_msgsize);
	mq_close(d);
	mq_unlink(qname("-d"));
	mq_close(q2);
	mq_close(q);
}

static void messages(void)
{
	mqd_t q = mq_open(qname("-a"), O_RDWR);
	char buf[128];
	unsigned prio;
	report("send p1", mq_send(q, "one", 3, 1));
	report("send p5", mq_send(q, "five", 4, 5));
	report("send p1 again", mq_send(q, "uno", 3, 1));
	report("send p0", mq_send(q, "zero", 4, 0));
	status_line(q);
	struct mq_attr nb = {O_NONBLOCK, 0, 0, 0, {0}}, old;
	mq_setattr(q, &nb, &old);
	out("old flags %ld curmsgs %ld\n", old.mq_flags, old.mq_curmsgs);
	report("send to full", mq_send(q, "x", 1, 0));
	struct mq_attr cur;
	mq_getattr(q, &cur);
	out("flags now %#lx\n", cur.mq_flags);
	struct mq_attr badflags = {O_NONBLOCK | 1, 0, 0, 0, {0}};
	report("setattr bad flags", mq_setattr(q, &badflags, NULL));
	struct mq_attr blocking = {0, 0, 0, 0, {0}};
	mq_setattr(q, &blocking, NULL);
	struct timespec past = {1, 0};
	report("timedsend past", mq_timedsend(q, "x", 1, 0, &past));
	struct timespec badts = {0, 2000000000};
	report("timedsend bad timeout", mq_timedsend(q, "x", 1, 0, &badts));
	report("send bad prio", mq_send(q, "x", 1, 40000));
	report("send too big", mq_send(q, buf, 65, 0));
	report("receive small buffer", mq_receive(q, buf, 63, &prio));
	for (int i = 0; i < 4; i++) {
		ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
		out("receive: %zd [%.*s] prio %u\n", n, (int)(n > 0 ? n : 0), buf, prio);
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_nsec += 50000000;
	if (now.tv_nsec >= 1000000000) {
		now.tv_sec++;
		now.tv_nsec -= 1000000000;
	}
	report("timedreceive 50 ms", mq_timedreceive(q, buf, sizeof buf, &prio, &now));
	mq_setattr(q, &nb, NULL);
	report("receive empty nonblock", mq_receive(q, buf, sizeof buf, &prio));
	report("send empty message", mq_send(q, "", 0, 3));
	report("receive empty message", mq_receive(q, buf, sizeof buf, NULL));
	mq_close(q);

	mqd_t ro = mq_open(qname("-a"), O_RDONLY);
	mqd_t wo = mq_open(qname("-a"), O_WRONLY);
	report("send on O_RDONLY", mq_send(ro, "x", 1, 0));
	report("receive on O_WRONLY", mq_receive(wo, buf, sizeof buf, NULL));
	report("send on a pipe", mq_send(1, "x", 1, 0));
	report("getattr on a pipe", mq_getattr(1, &cur));
	mq_close(ro);
	mq_close(wo);
}

static void notify(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sig;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	mqd_t q = mq_open(qname("-a"), O_RDWR | O_NONBLOCK);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGUSR1;
	ev.sigev_value.sival_int = 4242;
	report("notify", mq_notify(q, &ev));
	report("notify again", mq_notify(q, &ev));
	status_line(q);
	mq_send(q, "n", 1, 0);
	out("signal %s code SI_MESGQ %d pid %d value %d\n", signame(got_signo), got_code == SI_MESGQ,
	    got_pid_ok, got_value);
	got_signo = 0;
	mq_send(q, "m", 1, 0);
	char buf[128];
	mq_receive(q, buf, sizeof buf, NULL);
	mq_receive(q, buf, sizeof buf, NULL);
	mq_send(q, "o", 1, 0);
	out("second message signal %d\n", got_signo);
	mq_receive(q, buf, sizeof buf, NULL);
	report("notify after firing", mq_notify(q, &ev));
	report("notify remove", mq_notify(q, NULL));
	report("notify remove again", mq_notify(q, NULL));
	ev.sigev_notify = SIGEV_NONE;
	report("notify none", mq_notify(q, &ev));
	status_line(q);
	mq_send(q, "p", 1, 0);
	out("none: signal %d\n", got_signo);
	report("notify after none fired", mq_notify(q, NULL));
	mq_receive(q, buf, sizeof buf, NULL);
	ev.sigev_notify = 7;
	report("notify bad kind", mq_notify(q, &ev));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = 99;
	report("notify bad signal", mq_notify(q, &ev));
	/* SIGEV_THREAD at the syscall: sigev_signo names the netlink socket. */
	char cookie[32] = {0};
	struct sigevent th;
	memset(&th, 0, sizeof th);
	th.sigev_notify = SIGEV_THREAD;
	th.sigev_signo = 1; /* a pipe */
	th.sigev_value.sival_ptr = cookie;
	report("raw SIGEV_THREAD on a pipe", syscall(SYS_mq_notify, q, &th));
	th.sigev_signo = 99;
	report("raw SIGEV_THREAD on a bad fd", syscall(SYS_mq_notify, q, &th));
	report("notify on a pipe", mq_notify(1, NULL));
	mq_close(q);
}

static void readiness(void)
{
	mqd_t q = mq_open(qname("-a"), O_RDWR | O_NONBLOCK);
	struct pollfd p = {q, POLLIN | POLLOUT, 0};
	poll(&p, 1, 0);
	out("empty: revents %#x\n", p.revents);
	mq_send(q, "r", 1, 0);
	poll(&p, 1, 0);
	out("one: revents %#x\n", p.revents);
	for (int i = 0; i < 3; i++)
		mq_send(q, "r", 1, 0);
	poll(&p, 1, 0);
	out("full: revents %#x\n", p.revents);
	fd_set rs, ws;
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_SET(q, &rs);
	FD_SET(q, &ws);
	struct timeval tv = {0, 0};
	int sr = select(q + 1, &rs, &ws, NULL, &tv);
	out("select %d read %d write %d\n", sr, FD_ISSET(q, &rs) != 0, FD_ISSET(q, &ws) != 0);
	char buf[128];
	for (int i = 0; i < 4; i++)
		mq_receive(q, buf, sizeof buf, NULL);

	int ep = epoll_create1(0);
	struct epoll_event ev = {EPOLLIN, {.u64 = 5}}, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev);
	pid_t c = fork();
	if (c == 0) {
		usleep(100000);
		mqd_t w = mq_open(qname("-a"), O_WRONLY);
		mq_send(w, "wake", 4, 2);
		_exit(0);
	}
	int r = epoll_wait(ep, &got, 1, 5000);
	out("epoll woken %d data %llu\n", r, (unsigned long long)got.data.u64);
	wait_for(c);
	mq_receive(q, buf, sizeof buf, NULL);
	close(ep);

	/* A blocked receive woken by another process. */
	struct mq_attr blocking = {0, 0, 0, 0, {0}};
	mq_setattr(q, &blocking, NULL);
	c = fork();
	if (c == 0) {
		usleep(100000);
		mqd_t w = mq_open(qname("-a"), O_WRONLY);
		mq_send(w, "late", 4, 7);
		_exit(0);
	}
	unsigned prio = 0;
	ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
	out("blocked receive: %zd [%.*s] prio %u\n", n, (int)(n > 0 ? n : 0), buf, prio);
	wait_for(c);
	mq_close(q);
}

int main(void)
{
	snprintf(name, sizeof name, "/t_mqueue.%d", (int)getpid());
	sysctl("msg_max");
	sysctl("msgsize_max");
	sysctl("queues_max");
	sysctl("msg_default");
	sysctl("msgsize_default");
	opening();
	messages();
	notify();
	readiness();
	report("unlink", mq_unlink(qname("-a")));
	report("unlink again", mq_unlink(qname("-a")));
	report("open unlinked", mq_open(qname("-a"), O_RDONLY));
	return failures() ? 1 : 0;
}
