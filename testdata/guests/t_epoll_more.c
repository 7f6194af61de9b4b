/*
 * t_epoll_more: edge-triggered epoll items on the remaining kinds of
 * files, and EPOLLEXCLUSIVE.
 *  - EPOLLET on a timerfd, a signalfd, an inotify descriptor and a POSIX
 *    message queue: reported once per change, again when more arrives
 *    (a second expiration, another signal, another event, another
 *    message, a receive from a queue that stays non-empty);
 *  - EPOLLOUT|EPOLLET on a Unix stream socket and a message queue: not
 *    reported while full, reported again once the peer reads;
 *  - EPOLLEXCLUSIVE: four threads, each blocked in epoll_wait on its own
 *    epoll with the same eventfd added EPOLLIN|EPOLLEXCLUSIVE: each write
 *    wakes exactly one of them; the rules of epoll_ctl for it (EINVAL for
 *    MOD, with EPOLLONESHOT, with EPOLLRDHUP, on an epoll descriptor).
 */
#include "guest.h"

#include <mqueue.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

static int ep;

static int waitn(int e, const char *what)
{
	struct epoll_event ev[8];
	int n = epoll_wait(e, ev, 8, 0);
	char line[256];
	int len = snprintf(line, sizeof line, "%s: %d", what, n);
	for (int i = 0; i < n && len < 200; i++)
		len += snprintf(line + len, sizeof line - len, " [%llu %#x]",
				(unsigned long long)ev[i].data.u64, ev[i].events);
	out("%s\n", line);
	return n;
}

static int add(int e, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	int r = epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev);
	if (r != 0)
		out("add %llu: -1 %s\n", (unsigned long long)data, errname(errno));
	return r;
}

static void timer_fd(void)
{
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	uint64_t v;
	ep = epoll_create1(0);
	add(ep, t, EPOLLIN | EPOLLET, 1);
	struct itimerspec its = {.it_value = {0, 20 * 1000 * 1000}};
	timerfd_settime(t, 0, &its, NULL);
	waitn(ep, "timerfd: armed");
	usleep(60000);
	waitn(ep, "timerfd: expired");
	waitn(ep, "timerfd: again");
	timerfd_settime(t, 0, &its, NULL);
	waitn(ep, "timerfd: rearmed (count reset)");
	usleep(60000);
	waitn(ep, "timerfd: expired again");
	out("timerfd read: %zd\n", read(t, &v, 8));
	waitn(ep, "timerfd: read");
	close(t);
	close(ep);
}

static void signal_fd(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int s = signalfd(-1, &m, SFD_NONBLOCK);
	struct signalfd_siginfo si[4];
	ep = epoll_create1(0);
	add(ep, s, EPOLLIN | EPOLLET, 2);
	waitn(ep, "signalfd: none");
	raise(SIGUSR1);
	waitn(ep, "signalfd: SIGUSR1");
	waitn(ep, "signalfd: again");
	raise(SIGUSR2);
	waitn(ep, "signalfd: SIGUSR2");
	waitn(ep, "signalfd: again");
	out("signalfd read: %zd\n", read(s, si, sizeof si));
	waitn(ep, "signalfd: read");
	close(s);
	close(ep);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
}

static void inotify_fd(void)
{
	char path[] = "/tmp/t_epoll_more.XXXXXX";
	int fd = mkstemp(path);
	int in = inotify_init1(IN_NONBLOCK);
	char buf[4096];
	inotify_add_watch(in, path, IN_MODIFY);
	ep = epoll_create1(0);
	add(ep, in, EPOLLIN | EPOLLET, 3);
	waitn(ep, "inotify: none");
	write(fd, "a", 1);
	waitn(ep, "inotify: modify");
	waitn(ep, "inotify: again");
	write(fd, "b", 1);
	waitn(ep, "inotify: modify again");
	read(in, buf, sizeof buf);
	waitn(ep, "inotify: read");
	close(in);
	close(fd);
	unlink(path);
	close(ep);
}

static void mqueue(void)
{
	char name[64];
	snprintf(name, sizeof name, "/t_epoll_more.%d", (int)getpid());
	struct mq_attr a = {.mq_maxmsg = 2, .mq_msgsize = 8};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &a);
	if (q < 0) {
		out("mq_open: -1 %s\n", errname(errno));
		return;
	}
	mq_unlink(name);
	char buf[8];
	ep = epoll_create1(0);
	add(ep, q, EPOLLIN | EPOLLET, 4);
	waitn(ep, "mq in: empty");
	mq_send(q, "a", 1, 0);
	waitn(ep, "mq in: sent");
	waitn(ep, "mq in: again");
	int p[2];
	pipe(p);
	write(p[1], "x", 1);
	waitn(ep, "mq in: a pipe elsewhere written");
	close(p[0]);
	close(p[1]);
	mq_send(q, "b", 1, 0);
	waitn(ep, "mq in: sent more");
	mq_receive(q, buf, sizeof buf, NULL);
	waitn(ep, "mq in: received one of two");
	waitn(ep, "mq in: again");
	mq_receive(q, buf, sizeof buf, NULL);
	waitn(ep, "mq in: drained");
	close(ep);
	ep = epoll_create1(0);
	add(ep, q, EPOLLOUT | EPOLLET, 5);
	waitn(ep, "mq out: initially");
	waitn(ep, "mq out: again");
	mq_send(q, "a", 1, 0);
	waitn(ep, "mq out: sent one");
	mq_send(q, "b", 1, 0);
	waitn(ep, "mq out: full");
	mq_receive(q, buf, sizeof buf, NULL);
	waitn(ep, "mq out: room");
	waitn(ep, "mq out: again");
	mq_close(q);
	close(ep);
}

static void socket_out(void)
{
	int s[2];
	static char buf[1 << 16];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
	int sz = 8192;
	setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	ep = epoll_create1(0);
	add(ep, s[0], EPOLLOUT | EPOLLET, 6);
	waitn(ep, "sock out: initially");
	waitn(ep, "sock out: again");
	long total = 0;
	for (;;) {
		ssize_t n = write(s[0], buf, 1024);
		if (n < 0)
			break;
		total += n;
	}
	out("sock out: filled, EAGAIN %d\n", errno == EAGAIN);
	waitn(ep, "sock out: full");
	/* Read everything: room reappears. */
	while (read(s[1], buf, sizeof buf) > 0)
		;
	waitn(ep, "sock out: peer read");
	waitn(ep, "sock out: again");
	close(s[0]);
	close(s[1]);
	close(ep);
}

static int efd;
static int woken;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *waiter(void *arg)
{
	int e = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	if (epoll_ctl(e, EPOLL_CTL_ADD, efd, &ev) != 0)
		out("exclusive add: -1 %s\n", errname(errno));
	pthread_mutex_lock(&lock);
	woken--;
	pthread_mutex_unlock(&lock);
	int n = epoll_wait(e, &ev, 1, -1);
	pthread_mutex_lock(&lock);
	woken++;
	pthread_mutex_unlock(&lock);
	close(e);
	(void)arg;
	return (void *)(long)n;
}

static int count(void)
{
	pthread_mutex_lock(&lock);
	int n = woken;
	pthread_mutex_unlock(&lock);
	return n;
}

static void ctl(const char *what, int e, int op, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	if (epoll_ctl(e, op, fd, &ev) != 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: 0\n", what);
}

static void exclusive(void)
{
	enum { N = 4 };
	pthread_t th[N];
	efd = eventfd(0, EFD_NONBLOCK);
	woken = 0;
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, waiter, NULL);
	while (count() != -N)
		usleep(1000);
	usleep(100000); /* all four asleep in epoll_wait */
	out("exclusive: %d woken before\n", count() + N);
	uint64_t v = 1;
	for (int w = 1; w <= N; w++) {
		write(efd, &v, 8);
		/* Wait for one to wake (however loaded the machine), then a
		 * while longer for any other that would. */
		for (int i = 0; i < 5000 && count() + N < w; i++)
			usleep(1000);
		usleep(100000);
		out("exclusive: %d woken after write %d\n", count() + N, w);
	}
	for (int i = 0; i < N; i++) {
		void *r;
		pthread_join(th[i], &r);
		if ((long)r != 1)
			out("exclusive: a waiter returned %ld\n", (long)r);
	}
	/* epoll_ctl's rules. */
	ep = epoll_create1(0);
	int other = epoll_create1(0);
	ctl("exclusive on epoll", ep, EPOLL_CTL_ADD, other, EPOLLIN | EPOLLEXCLUSIVE);
	ctl("exclusive oneshot", ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT);
	ctl("exclusive rdhup", ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP);
	ctl("exclusive et", ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET);
	ctl("mod of exclusive", ep, EPOLL_CTL_MOD, efd, EPOLLIN);
	ctl("plain add", other, EPOLL_CTL_ADD, efd, EPOLLIN);
	ctl("mod to exclusive", other, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLEXCLUSIVE);
	close(other);
	close(ep);
	close(efd);
}

int main(void)
{
	timer_fd();
	signal_fd();
	inotify_fd();
	mqueue();
	socket_out();
	exclusive();
	return failures();
}
