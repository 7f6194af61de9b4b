/*
 * t_signalfd_thread: a signalfd's readiness is that of the thread that
 * polls it (Linux's signalfd_poll looks at `current`), not of the thread
 * that made it. The main thread makes the signalfd; a second thread polls
 * it with poll, select and epoll_wait:
 *  - a signal sent to the second thread (tgkill) makes it ready there and
 *    not in the main thread, and the second thread reads it;
 *  - a signal sent to the main thread: ready there, not in the other;
 *  - a signal sent to the process (kill): ready in both;
 *  - the second thread blocked in poll and in epoll_wait wakes when the
 *    main thread sends it a signal.
 */
#include "guest.h"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>

static int sfd, ep, ep_thread;
static int to_thread[2], to_main[2];
static pid_t main_tid, thread_tid;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void tgkill_(pid_t tid, int sig)
{
	syscall(SYS_tgkill, getpid(), tid, sig);
}

static void step(int fd)
{
	char c;
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

static void go(int fd)
{
	write(fd, "x", 1);
}

static void readiness(const char *who, const char *what)
{
	int epfd = gettid_() == main_tid ? ep : ep_thread;
	struct pollfd p = {sfd, POLLIN, 0};
	int r = poll(&p, 1, 0);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(sfd, &rs);
	struct timeval tv = {0, 0};
	int s = select(sfd + 1, &rs, NULL, NULL, &tv);
	struct epoll_event got;
	int e = epoll_wait(epfd, &got, 1, 0);
	out("%s, %s: poll %d revents %#x select %d epoll %d\n", who, what, r, p.revents, s, e);
}

static void take(const char *who)
{
	struct signalfd_siginfo si;
	ssize_t n = read(sfd, &si, sizeof si);
	if (n < 0)
		out("%s reads: %s\n", who, errname(errno));
	else
		out("%s reads: %s\n", who, signame((int)si.ssi_signo));
}

static void *thread(void *arg)
{
	(void)arg;
	thread_tid = gettid_();
	/* Each thread waits on its own epoll instance: Linux's epoll keeps a
	 * ready item only while the waiting thread finds it ready. */
	ep_thread = epoll_create1(0);
	struct epoll_event ev = {EPOLLIN, {.u64 = 2}};
	must(epoll_ctl(ep_thread, EPOLL_CTL_ADD, sfd, &ev) == 0, "epoll_ctl");
	go(to_main[1]);

	step(to_thread[0]); /* main sent SIGUSR1 to this thread */
	readiness("thread", "own signal");
	take("thread");
	readiness("thread", "after read");
	go(to_main[1]);

	step(to_thread[0]); /* main sent SIGUSR2 to itself */
	readiness("thread", "main's signal");
	take("thread");
	go(to_main[1]);

	step(to_thread[0]); /* SIGUSR1 to the process */
	readiness("thread", "process signal");
	go(to_main[1]);

	step(to_thread[0]);
	go(to_main[1]);
	struct pollfd p = {sfd, POLLIN, 0};
	int r = poll(&p, 1, 5000);
	out("thread, blocked poll: %d revents %#x\n", r, p.revents);
	take("thread");

	go(to_main[1]);
	struct epoll_event got;
	r = epoll_wait(ep_thread, &got, 1, 5000);
	out("thread, blocked epoll_wait: %d\n", r);
	take("thread");
	return NULL;
}

int main(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	sfd = signalfd(-1, &m, SFD_NONBLOCK);
	must(sfd >= 0, "signalfd");
	ep = epoll_create1(0);
	struct epoll_event ev = {EPOLLIN, {.u64 = 1}};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == 0, "epoll_ctl");
	must(pipe(to_thread) == 0 && pipe(to_main) == 0, "pipe");
	main_tid = gettid_();

	pthread_t th;
	must(pthread_create(&th, NULL, thread, NULL) == 0, "pthread_create");
	step(to_main[0]);

	tgkill_(thread_tid, SIGUSR1);
	readiness("main", "thread's signal");
	take("main");
	go(to_thread[1]);
	step(to_main[0]);

	tgkill_(main_tid, SIGUSR2);
	readiness("main", "own signal");
	go(to_thread[1]);
	step(to_main[0]);
	take("main");
	readiness("main", "after read");

	kill(getpid(), SIGUSR1);
	readiness("main", "process signal");
	go(to_thread[1]);
	step(to_main[0]);
	take("main");

	/* Blocked poll, then blocked epoll_wait, in the thread. */
	go(to_thread[1]);
	step(to_main[0]);
	usleep(100000);
	tgkill_(thread_tid, SIGUSR2);
	step(to_main[0]);
	usleep(100000);
	tgkill_(thread_tid, SIGUSR1);
	pthread_join(th, NULL);
	readiness("main", "at the end");
	return failures() ? 1 : 0;
}
