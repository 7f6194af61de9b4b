/*
 * pipes: pipes and file-descriptor plumbing.
 *  - pipe() vs pipe2(O_CLOEXEC) vs pipe2(O_NONBLOCK) flags (F_GETFD,
 *    F_GETFL access modes), EAGAIN on an empty non-blocking read and on a
 *    full non-blocking pipe, pipe2 with a bad flag -> EINVAL;
 *  - 1 MiB producer (child) / consumer (parent) with mismatched chunk sizes
 *    and a pattern check, then EOF once the writer has exited;
 *  - EOF only when *all* write ends (including dups) are closed;
 *  - EPIPE: with SIGPIPE ignored, with a handler (runs once), and with the
 *    default action (the writing child dies of SIGPIPE);
 *  - dup/dup2/dup3/fcntl(F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD/F_SETFD,
 *    F_GETFL/F_SETFL): lowest-free-fd rule, flags per fd vs per open file.
 * Fd numbers are never printed, only compared with the lowest free fd found
 * by probing, so fds inherited from the host cannot change the output.
 */
#include "guest.h"
#include <sys/stat.h>

#define TOTAL (1 << 20)

static volatile sig_atomic_t pipe_signals;
static void on_pipe(int sig)
{
	(void)sig;
	pipe_signals++;
}

static int lowest_free(int from)
{
	int fd = from;
	while (fcntl(fd, F_GETFD) != -1)
		fd++;
	return fd;
}

static const char *accmode(int fl)
{
	switch (fl & O_ACCMODE) {
	case O_RDONLY: return "O_RDONLY";
	case O_WRONLY: return "O_WRONLY";
	default: return "O_RDWR";
	}
}

static unsigned char pattern(long i)
{
	return (unsigned char)(i * 7 + (i >> 9));
}

static void flags(void)
{
	int p[2], q[2], n[2];
	must(pipe(p) == 0, "pipe");
	must(pipe2(q, O_CLOEXEC) == 0, "pipe2(O_CLOEXEC)");
	must(pipe2(n, O_NONBLOCK) == 0, "pipe2(O_NONBLOCK)");
	out("pipe: FD_CLOEXEC %d/%d, %s/%s\n", fcntl(p[0], F_GETFD), fcntl(p[1], F_GETFD),
	    accmode(fcntl(p[0], F_GETFL)), accmode(fcntl(p[1], F_GETFL)));
	out("pipe2(O_CLOEXEC): FD_CLOEXEC %d/%d\n", fcntl(q[0], F_GETFD), fcntl(q[1], F_GETFD));
	out("pipe2(O_NONBLOCK): O_NONBLOCK %d/%d\n", !!(fcntl(n[0], F_GETFL) & O_NONBLOCK),
	    !!(fcntl(n[1], F_GETFL) & O_NONBLOCK));
	char buf[4096];
	errno = 0;
	ssize_t r = read(n[0], buf, sizeof buf);
	out("non-blocking read of empty pipe: %d %s\n", (int)r, errname(errno));
	memset(buf, 'z', sizeof buf);
	long written = 0;
	int eagain = 0;
	while (written < (16L << 20)) {
		ssize_t w = write(n[1], buf, sizeof buf);
		if (w < 0) {
			eagain = errno == EAGAIN;
			break;
		}
		written += w;
	}
	out("non-blocking writes until full: %s\n", eagain ? "EAGAIN" : "NEVER FULL");
	long got = 0;
	for (;;) {
		r = read(n[0], buf, sizeof buf);
		if (r <= 0)
			break;
		got += r;
	}
	out("drained: %s, then %s\n", got == written ? "all bytes" : "MISMATCH", errname(errno));
	check(got == written && eagain, "non-blocking pipe");
	int bad[2];
	errno = 0;
	show("pipe2(O_WRONLY)", pipe2(bad, O_WRONLY));
	close(p[0]), close(p[1]), close(q[0]), close(q[1]), close(n[0]), close(n[1]);
}

static void stream(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		close(p[0]);
		static unsigned char buf[70000];
		static const int sizes[] = {1, 100, 4096, 5000, 65536, 70000, 333};
		long off = 0;
		for (int k = 0; off < TOTAL; k++) {
			long len = sizes[k % 7];
			if (len > TOTAL - off)
				len = TOTAL - off;
			for (long i = 0; i < len; i++)
				buf[i] = pattern(off + i);
			long done = 0;
			while (done < len) {
				ssize_t w = write(p[1], buf + done, (size_t)(len - done));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					_exit(1);
				done += w;
			}
			off += len;
		}
		_exit(0);
	}
	close(p[1]);
	static unsigned char buf[3000];
	long total = 0, bad = 0;
	ssize_t r;
	for (;;) {
		r = read(p[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			bad += buf[i] != pattern(total + i);
		total += r;
	}
	out("stream: received %ld bytes, %ld bad, last read %d\n", total, bad, (int)r);
	check(total == TOTAL && bad == 0 && r == 0, "1 MiB stream");
	int st = wait_for(c);
	out("stream: writer %s\n", describe_status(st));
	close(p[0]);
}

static void eof(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	int w2 = dup(p[1]);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	char b[8];
	errno = 0;
	ssize_t r = read(p[0], b, sizeof b);
	out("eof: one of two writers closed, read=%d %s\n", (int)r, errname(errno));
	check(write(w2, "abc", 3) == 3, "write via dup");
	r = read(p[0], b, sizeof b);
	out("eof: read via remaining writer=%d\n", (int)r);
	close(w2);
	r = read(p[0], b, sizeof b);
	out("eof: all writers closed, read=%d\n", (int)r);
	close(p[0]);
}

static void epipe(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	ssize_t r = write(p[1], "x", 1);
	out("EPIPE with SIGPIPE ignored: %d %s\n", (int)r, errname(errno));

	on_signal(SIGPIPE, on_pipe, 0);
	errno = 0;
	r = write(p[1], "x", 1);
	out("EPIPE with a SIGPIPE handler: %d %s, handler ran %d time(s)\n", (int)r,
	    errname(errno), (int)pipe_signals);
	close(p[1]);
	signal(SIGPIPE, SIG_IGN);

	must(pipe(p) == 0, "pipe");
	close(p[0]); /* before fork: no read end may exist anywhere */
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		signal(SIGPIPE, SIG_DFL);
		ssize_t w = write(p[1], "x", 1);
		_exit(w < 0 ? 10 : 11);
	}
	close(p[1]);
	int st = wait_for(c);
	out("write to a reader-less pipe, default SIGPIPE: child %s\n", describe_status(st));
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "SIGPIPE kills");
	signal(SIGPIPE, SIG_DFL);
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void dups(void)
{
	int base = lowest_free(0);
	int p[2], q[2];
	must(pipe2(p, O_CLOEXEC) == 0, "pipe2");
	must(pipe(q) == 0, "pipe");

	int expect = lowest_free(0);
	int d = dup(p[0]);
	out("dup: lowest free fd %s, same pipe %s, FD_CLOEXEC %d\n",
	    d == expect ? "yes" : "NO", same_file(d, p[0]) ? "yes" : "NO", fcntl(d, F_GETFD));
	errno = 0;
	show("dup(-1)", dup(-1));

	int r = dup2(p[0], p[0]);
	out("dup2(fd, fd) returns fd: %s, FD_CLOEXEC kept %d\n", r == p[0] ? "yes" : "NO",
	    fcntl(p[0], F_GETFD));
	r = dup2(p[0], q[0]); /* q[0] is open: silently closed first */
	out("dup2 onto an open fd: returns it %s, now same pipe as source %s\n",
	    r == q[0] ? "yes" : "NO", same_file(q[0], p[0]) && !same_file(q[0], q[1]) ? "yes" : "NO");
	int hi = lowest_free(100);
	r = dup2(p[1], hi);
	out("dup2 to a high free fd: %s, FD_CLOEXEC %d\n", r == hi ? "yes" : "NO",
	    fcntl(hi, F_GETFD));
	int closed = lowest_free(0);
	errno = 0;
	show("dup2(closed fd, x)", dup2(closed, hi));

	errno = 0;
	show("dup3(fd, fd, 0)", dup3(p[0], p[0], 0));
	/* raw syscall: musl's dup3() quietly falls back to dup2 for flags
	 * without O_CLOEXEC instead of failing like the kernel */
	errno = 0;
	show("SYS_dup3 with O_NONBLOCK", syscall(SYS_dup3, p[0], hi, O_NONBLOCK));
	r = dup3(d, hi, O_CLOEXEC);
	out("dup3(O_CLOEXEC): %s, FD_CLOEXEC %d, same pipe %s\n", r == hi ? "yes" : "NO",
	    fcntl(hi, F_GETFD), same_file(hi, p[0]) ? "yes" : "NO");

	r = fcntl(d, F_SETFD, FD_CLOEXEC);
	out("F_SETFD(FD_CLOEXEC)=%d -> %d\n", r, fcntl(d, F_GETFD));
	r = fcntl(d, F_SETFD, 0);
	out("F_SETFD(0)=%d -> %d, other fd of the same pipe %d\n", r, fcntl(d, F_GETFD),
	    fcntl(p[0], F_GETFD));

	int fl = fcntl(d, F_GETFL);
	out("F_GETFL: %s nonblock=%d\n", accmode(fl), !!(fl & O_NONBLOCK));
	r = fcntl(d, F_SETFL, O_NONBLOCK | O_WRONLY);
	out("F_SETFL(O_NONBLOCK|O_WRONLY)=%d\n", r);
	fl = fcntl(d, F_GETFL);
	out("F_GETFL: %s nonblock=%d; the dup'ed fd shares it: nonblock=%d\n", accmode(fl),
	    !!(fl & O_NONBLOCK), !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
	fcntl(d, F_SETFL, 0);

	int want = lowest_free(100);
	r = fcntl(p[0], F_DUPFD_CLOEXEC, 100);
	out("F_DUPFD_CLOEXEC(100): lowest free >= 100 %s, FD_CLOEXEC %d\n",
	    r == want ? "yes" : "NO", fcntl(r, F_GETFD));
	want = lowest_free(100);
	int r2 = fcntl(p[0], F_DUPFD, 100);
	out("F_DUPFD(100): lowest free >= 100 %s, FD_CLOEXEC %d\n", r2 == want ? "yes" : "NO",
	    fcntl(r2, F_GETFD));
	close(r);
	close(r2);
	errno = 0;
	show("close(closed fd)", close(r));
	errno = 0;
	show("fcntl(closed fd, F_GETFD)", fcntl(r, F_GETFD));

	close(d), close(hi), close(p[0]), close(p[1]), close(q[0]), close(q[1]);
	out("all closed: lowest free fd back to the start %s\n",
	    lowest_free(0) == base ? "yes" : "NO");
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	flags();
	stream();
	eof();
	epipe();
	dups();
	return finish();
}
