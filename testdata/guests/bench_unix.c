/*
 * bench_unix: the guest half of benches/benches/unix.rs, Unix stream
 * socket ping-pong latency and bulk throughput between two processes
 * (a socketpair, a forked child), timed with clock_gettime inside the
 * guest.
 *
 *   bench_unix ping serve  a child echoes one byte back; each request N
 *                          times N round trips and prints
 *                          "n=N total_ns=T per_call_ns=P"
 *   bench_unix pipe serve  as ping, over two pipes instead of a socket
 *   bench_unix bulk serve  each request N has the child send N chunks of
 *                          64 KiB, which the parent reads; the time per
 *                          chunk
 *   bench_unix MODE N      one such measurement
 *   bench_unix             (no arguments) a deterministic self-check for
 *                          sentry/tests/guests_native.rs
 *
 * Both serving modes print "ready" once the child runs. Printing times
 * breaks guest.h's output rule on purpose, and only when asked for.
 */
#include "guest.h"

#include <sys/socket.h>

#define CHUNK (64 * 1024)

static int sock = -1;
/* Where the parent reads (the socket, or the read end of the child's
 * pipe in pipe mode). */
static int rsock = -1;
static int bulk, use_pipes;
static char chunk[CHUNK];

static long long now_ns(void)
{
	struct timespec ts;
	must(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void full_write(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		must(w > 0, "write");
		c += w;
		n -= (size_t)w;
	}
}

static int full_read(int fd, void *p, size_t n)
{
	char *c = p;
	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		must(r >= 0, "read");
		if (r == 0)
			return 0;
		c += r;
		n -= (size_t)r;
	}
	return 1;
}

/* The child: echoes bytes (ping) or sends the chunks asked for (bulk)
 * until EOF. */
static void child(int fd, int wfd)
{
	if (!bulk) {
		char c;
		while (full_read(fd, &c, 1))
			full_write(wfd, &c, 1);
		_exit(0);
	}
	long n;
	while (full_read(fd, &n, sizeof n))
		for (long i = 0; i < n; i++)
			full_write(fd, chunk, CHUNK);
	_exit(0);
}

static void start(void)
{
	if (use_pipes) {
		int down[2], up[2];
		must(pipe(down) == 0 && pipe(up) == 0, "pipe");
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			close(down[1]);
			close(up[0]);
			child(down[0], up[1]);
		}
		close(down[0]);
		close(up[1]);
		sock = down[1];
		rsock = up[0];
		return;
	}
	int sv[2];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		close(sv[0]);
		child(sv[1], sv[1]);
	}
	close(sv[1]);
	sock = sv[0];
	rsock = sv[0];
}

/* Returns the nanoseconds n operations took. */
static long long measure(long n)
{
	long long t0 = now_ns();
	if (!bulk) {
		char c = 'x';
		for (long i = 0; i < n; i++) {
			full_write(sock, &c, 1);
			must(full_read(rsock, &c, 1), "echo");
		}
	} else {
		static char in[CHUNK];
		full_write(sock, &n, sizeof n);
		for (long i = 0; i < n; i++)
			must(full_read(sock, in, CHUNK), "chunk");
	}
	return now_ns() - t0;
}

static void bench(long n)
{
	long long t = measure(n);
	out("n=%ld total_ns=%lld per_call_ns=%.1f\n", n, t, n > 0 ? (double)t / (double)n : 0.0);
}

static long parse_count(const char *s)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno != 0 || end == s || (*end != '\0' && *end != '\n') || n < 0) {
		out("error: bad count \"%s\"\n", s);
		_exit(2);
	}
	return n;
}

static void answer(const char *line)
{
	bench(parse_count(line));
}

int main(int argc, char **argv)
{
	memset(chunk, 'b', sizeof chunk);
	if (argc > 2) {
		bulk = strcmp(argv[1], "bulk") == 0;
		use_pipes = strcmp(argv[1], "pipe") == 0;
		start();
		if (strcmp(argv[2], "serve") == 0) {
			out("ready\n");
			serve_lines(answer);
		} else {
			bench(parse_count(argv[2]));
		}
		close(sock);
		if (rsock != sock)
			close(rsock);
		wait(NULL);
		return 0;
	}
	/* Self-check: a few round trips and a few chunks arrive intact. */
	start();
	measure(100);
	close(sock);
	wait(NULL);
	use_pipes = 1;
	start();
	measure(100);
	close(sock);
	close(rsock);
	wait(NULL);
	use_pipes = 0;
	bulk = 1;
	start();
	long n = 3;
	full_write(sock, &n, sizeof n);
	static char in[CHUNK];
	int good = 1;
	for (long i = 0; i < n; i++)
		good &= full_read(sock, in, CHUNK) && memcmp(in, chunk, CHUNK) == 0;
	check(good, "chunks arrive intact");
	close(sock);
	wait(NULL);
	out("bench_unix: %s\n", good ? "ok" : "MISMATCH");
	return finish();
}
