/*
 * fifo: named pipes as fifo(7) describes them, checked against the host
 * kernel. Argument: a directory holding two FIFOs "f" (mode 0640) and "g"
 * and a symbolic link "link" -> "f" (the root-filesystem test makes them
 * and runs this guest in a chroot and in the sandbox), or "--self" to make
 * them in a fresh directory under /tmp (native sanity run).
 *
 * Checked: which opens block, succeed at once or fail (ENXIO, EINVAL);
 * a blocked open is woken by the partner (also one opened O_NONBLOCK),
 * interrupted by a signal (EINTR, or restarted with SA_RESTART) and
 * killable; two paths to the same FIFO meet, two FIFOs do not; EOF after
 * the data once every writer is gone; EPIPE and SIGPIPE without readers;
 * poll and epoll readiness, with POLLHUP hidden from a reader opened
 * O_NONBLOCK until a writer has come and gone; access(W_OK) (a FIFO on a
 * read-only mount is writable); data kept while an end is
 * open and dropped once every end is closed; fstat and F_GETPIPE_SZ /
 * F_SETPIPE_SZ; many open/fill/close rounds (a leak would hit --memory).
 */
#include "guest.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>

static char F[256], G[256], L[256];
static volatile sig_atomic_t handled;
/* A word shared with the children (MAP_SHARED). */
static volatile int *shared;

static void on_alarm(int s)
{
	(void)s;
	handled++;
	*shared = 1;
}

/* Waits (at most 10 s) until the shared word is set. */
static void wait_shared(void)
{
	for (int i = 0; i < 2000 && !*shared; i++)
		sleep_ms(5);
}

/* SIGALRM every ms milliseconds (0: stop), so a blocking call is
 * interrupted even if it starts after the first tick. */
static void alarm_ms(int ms)
{
	struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
	struct itimerval it = {tv, tv};
	must(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

/* "ok" or the errno of a call that returned -1. Every result is computed
 * in its own statement before it is printed: the order in which a
 * function's arguments are evaluated is unspecified. */
static const char *res(long r)
{
	return r < 0 ? errname(errno) : "ok";
}

/* A buffer for a result string: a ring, so a few can be held at once. */
static char *scratch(void)
{
	static char ring[8][128];
	static int next;
	return ring[next++ % 8];
}

static const char *revents(int fd)
{
	char *buf = scratch();
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	int n = poll(&p, 1, 0);
	if (n < 0)
		return errname(errno);
	buf[0] = 0;
	if (p.revents & POLLIN)
		strcat(buf, " IN");
	if (p.revents & POLLOUT)
		strcat(buf, " OUT");
	if (p.revents & POLLERR)
		strcat(buf, " ERR");
	if (p.revents & POLLHUP)
		strcat(buf, " HUP");
	if (p.revents & POLLNVAL)
		strcat(buf, " NVAL");
	return buf[0] ? buf + 1 : "-";
}

/* What one read returns: its bytes, "EOF" or the errno. */
static const char *rd(int fd)
{
	char *buf = scratch();
	ssize_t n = read(fd, buf, 127);
	if (n < 0)
		return errname(errno);
	if (n == 0)
		return "EOF";
	buf[n] = 0;
	return buf;
}

static void wr(int fd, const char *s)
{
	ssize_t n = write(fd, s, strlen(s));
	check(n == (ssize_t)strlen(s), "write");
}

static void nonblocking_ends(void)
{
	int r = open(F, O_RDONLY | O_NONBLOCK);
	const char *a = res(r), *b = rd(r), *c = revents(r);
	out("nonblock: reader %s, read %s, poll %s\n", a, b, c);
	a = res(open(G, O_WRONLY | O_NONBLOCK));
	out("nonblock: writer without reader on g: %s\n", a);
	int w = open(F, O_WRONLY | O_NONBLOCK);
	a = res(w);
	b = revents(r);
	c = revents(w);
	out("nonblock: writer %s, reader poll %s, writer poll %s\n", a, b, c);
	wr(w, "abc");
	a = revents(r);
	b = rd(r);
	c = rd(r);
	out("nonblock: after write: reader poll %s, read %s, read %s\n", a, b, c);
	close(w);
	a = revents(r);
	b = rd(r);
	out("nonblock: writer closed: reader poll %s, read %s\n", a, b);
	close(r);
	a = res(open(F, O_WRONLY | O_NONBLOCK));
	out("nonblock: writer alone: %s\n", a);
	a = res(open(F, 3 | O_NONBLOCK)); /* not O_ACCMODE: musl adds O_PATH */
	out("nonblock: access mode 3: %s\n", a);
	a = res(access(F, W_OK));
	const char *b2 = res(access(L, R_OK | W_OK));
	out("nonblock: access W_OK %s, R_OK|W_OK via link %s\n", a, b2);
}

static void read_write_end(void)
{
	struct stat st, path, link;
	int fd = open(F, O_RDWR);
	const char *a = res(fd), *b = revents(fd);
	out("rdwr: open %s, poll %s\n", a, b);
	wr(fd, "xy");
	a = revents(fd);
	b = rd(fd);
	out("rdwr: poll %s, read %s\n", a, b);
	must(fstat(fd, &st) == 0 && stat(F, &path) == 0 && stat(L, &link) == 0, "stat");
	out("rdwr: fstat fifo=%d mode=%04o same inode as path=%d link=%d size=%ld\n",
	    S_ISFIFO(st.st_mode), (unsigned)(st.st_mode & 07777),
	    st.st_ino == path.st_ino && st.st_dev == path.st_dev,
	    link.st_ino == st.st_ino, (long)st.st_size);
	int size = fcntl(fd, F_GETPIPE_SZ);
	int set = fcntl(fd, F_SETPIPE_SZ, 8000);
	int now = fcntl(fd, F_GETPIPE_SZ);
	out("rdwr: pipe size %d, set 8000: %d, now %d\n", size, set, now);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	a = rd(fd);
	out("rdwr: empty nonblocking read %s\n", a);
	wr(fd, "lost");
	close(fd);
	/* Every end closed: the pipe (its data and size) is gone. */
	fd = open(F, O_RDWR | O_NONBLOCK);
	a = rd(fd);
	out("rdwr: reopened: read %s, pipe size %d\n", a, fcntl(fd, F_GETPIPE_SZ));
	close(fd);
}

static void data_kept_and_links_meet(void)
{
	int r = open(L, O_RDONLY | O_NONBLOCK);
	const char *a = res(r);
	int w = open(F, O_WRONLY | O_TRUNC);
	const char *b = res(w);
	out("kept: reader via link %s, writer %s (O_TRUNC ignored)\n", a, b);
	wr(w, "kept");
	close(w);
	int w2 = open(F, O_WRONLY | O_NONBLOCK | O_CREAT, 0600);
	a = res(w2);
	out("kept: second writer (O_CREAT) %s\n", a);
	close(w2);
	a = revents(r);
	b = rd(r);
	const char *c = rd(r), *d = revents(r);
	out("kept: poll %s, read %s, then %s, poll %s\n", a, b, c, d);
	close(r);
}

static void broken_pipe(void)
{
	handled = 0;
	on_signal(SIGPIPE, on_alarm, 0);
	int r = open(F, O_RDONLY | O_NONBLOCK);
	int w = open(F, O_WRONLY | O_NONBLOCK);
	close(r);
	const char *a = revents(w);
	out("epipe: writer poll %s\n", a);
	errno = 0;
	ssize_t n = write(w, "x", 1);
	a = errname(errno);
	out("epipe: write %zd %s, SIGPIPE %d\n", n, a, (int)handled);
	close(w);
	signal(SIGPIPE, SIG_DFL);
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		int r2 = open(F, O_RDONLY | O_NONBLOCK);
		int w2 = open(F, O_WRONLY);
		close(r2);
		if (write(w2, "x", 1) < 0)
			_exit(2);
		_exit(0);
	}
	out("epipe: default SIGPIPE: %s\n", describe_status(wait_for(pid)));
}

static void epoll_readiness(void)
{
	int r = open(F, O_RDONLY | O_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, r, &ev) == 0, "epoll_ctl");
	struct epoll_event got[2];
	int n = epoll_wait(ep, got, 2, 0);
	out("epoll: no writer yet: %d\n", n);
	int w = open(F, O_WRONLY | O_NONBLOCK);
	wr(w, "e");
	n = epoll_wait(ep, got, 2, 0);
	out("epoll: data: %d events %#x\n", n, n > 0 ? got[0].events : 0);
	const char *a = rd(r);
	out("epoll: read %s\n", a);
	close(w);
	n = epoll_wait(ep, got, 2, 1000);
	out("epoll: writer gone: %d events %#x\n", n, n > 0 ? got[0].events : 0);
	close(ep);
	close(r);
}

/* Reads until end of file into `all` (at most 40 bytes). */
static void slurp(int fd, char *all)
{
	const char *s;
	all[0] = 0;
	while (strcmp(s = rd(fd), "EOF") != 0 && strlen(all) < 40)
		strcat(all, s);
}

/* A reader blocked in open is woken by a writer (one opened O_NONBLOCK
 * succeeds because the blocked reader counts); a writer blocked in open is
 * woken by a reader; poll sleeps until data comes. */
static void blocking_opens(void)
{
	volatile int *flag = shared;
	char all[64];
	*flag = 0;
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		int r = open(L, O_RDONLY);
		const char *a = res(r);
		int saw = *flag;
		slurp(r, all);
		out("block: child reader open %s after the writer came: %d, read '%s' then EOF\n",
		    a, saw, all);
		_exit(0);
	}
	/* Until the child is blocked in open, there is no reader. */
	int w;
	sleep_ms(100);
	for (int i = 0; i < 1000; i++) {
		*flag = 1;
		w = open(F, O_WRONLY | O_NONBLOCK);
		if (w >= 0 || errno != ENXIO)
			break;
		sleep_ms(10);
	}
	const char *a = res(w);
	out("block: parent nonblocking writer %s\n", a);
	wr(w, "hello ");
	sleep_ms(20);
	wr(w, "world");
	close(w);
	out("block: child %s\n", describe_status(wait_for(pid)));

	*flag = 0;
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		int w2 = open(F, O_WRONLY);
		int saw = *flag;
		wr(w2, "ping");
		_exit(w2 >= 0 && saw ? 0 : 1);
	}
	sleep_ms(150);
	*flag = 1;
	int r = open(F, O_RDONLY);
	a = res(r);
	slurp(r, all);
	out("block: parent reader %s, read '%s' then EOF\n", a, all);
	out("block: child writer %s\n", describe_status(wait_for(pid)));
	close(r);

	r = open(F, O_RDONLY | O_NONBLOCK);
	*flag = 0;
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		int w3 = open(F, O_WRONLY);
		sleep_ms(150);
		wr(w3, "late");
		wait_shared(); /* no POLLHUP before the parent has seen POLLIN */
		_exit(0);
	}
	struct pollfd p = {r, POLLIN, 0};
	int n = poll(&p, 1, 5000);
	*flag = 1;
	a = rd(r);
	out("block: poll %d revents %#x, read %s\n", n, p.revents, a);
	out("block: child %s\n", describe_status(wait_for(pid)));
	a = revents(r);
	out("block: then poll %s\n", a);
	close(r);
}

static void interrupted_opens(void)
{
	handled = 0;
	on_signal(SIGALRM, on_alarm, 0);
	alarm_ms(50);
	int r = open(F, O_RDONLY);
	const char *a = res(r);
	alarm_ms(0);
	out("signal: reader open %s, handler ran %d\n", a, handled > 0);
	handled = 0;
	alarm_ms(50);
	int w = open(G, O_WRONLY);
	a = res(w);
	alarm_ms(0);
	out("signal: writer open %s, handler ran %d\n", a, handled > 0);

	/* The writer comes after the handler has run (and, ticking every
	 * 20 ms, interrupted the open a few times): each time the open is
	 * restarted. */
	handled = 0;
	*shared = 0;
	on_signal(SIGALRM, on_alarm, SA_RESTART);
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		wait_shared();
		sleep_ms(100);
		int w2 = open(F, O_WRONLY);
		wr(w2, "restarted");
		_exit(0);
	}
	alarm_ms(20);
	r = open(F, O_RDONLY);
	a = res(r);
	alarm_ms(0);
	const char *b = rd(r);
	out("restart: open %s, handler ran %d, read %s\n", a, handled > 0, b);
	out("restart: child %s\n", describe_status(wait_for(pid)));
	close(r);
	signal(SIGALRM, SIG_DFL);

	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		open(F, O_WRONLY);
		_exit(3);
	}
	sleep_ms(100);
	kill(pid, SIGKILL);
	out("kill: blocked writer %s\n", describe_status(wait_for(pid)));
	a = res(open(F, O_WRONLY | O_NONBLOCK));
	out("kill: then a nonblocking writer %s\n", a);
	r = open(F, O_RDONLY | O_NONBLOCK);
	a = res(r);
	b = revents(r);
	out("kill: a nonblocking reader %s, poll %s\n", a, b);
	close(r);
}

static void churn(void)
{
	static char page[65536];
	memset(page, 'c', sizeof page);
	int bad = 0;
	for (int i = 0; i < 1500 && !bad; i++) {
		int fd = open(i % 2 ? L : F, O_RDWR | O_NONBLOCK);
		if (fd < 0 || write(fd, page, sizeof page) != (ssize_t)sizeof page)
			bad = i + 1;
		close(fd);
	}
	const char *a = bad ? errname(errno) : "ok";
	out("churn: 1500 rounds of 64 KiB: %s\n", a);
}

int main(int argc, char **argv)
{
	char dir[200];
	int self = argc > 1 && strcmp(argv[1], "--self") == 0;
	if (self) {
		strcpy(dir, "/tmp/fifo-guest-XXXXXX");
		must(mkdtemp(dir) != NULL, "mkdtemp");
	} else {
		must(argc > 1 && strlen(argv[1]) < 150, "usage: fifo DIR | --self");
		strcpy(dir, argv[1]);
	}
	snprintf(F, sizeof F, "%s/f", dir);
	snprintf(G, sizeof G, "%s/g", dir);
	snprintf(L, sizeof L, "%s/link", dir);
	if (self) {
		umask(022);
		must(mkfifo(F, 0640) == 0 && mkfifo(G, 0600) == 0, "mkfifo");
		must(symlink("f", L) == 0, "symlink");
	}
	void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	must(map != MAP_FAILED, "mmap");
	shared = map;

	nonblocking_ends();
	read_write_end();
	data_kept_and_links_meet();
	broken_pipe();
	epoll_readiness();
	blocking_opens();
	interrupted_opens();
	churn();

	if (self) {
		unlink(F);
		unlink(G);
		unlink(L);
		rmdir(dir);
	}
	return failures() ? 1 : 0;
}
