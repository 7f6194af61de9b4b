/*
 * bench_net.c - socket costs for benches/benches/net.rs:
 *
 *   tcp_pingpong  a 1-byte round trip between this process and a forked
 *                 echo child over a loopback TCP connection (TCP_NODELAY)
 *   tcp_bulk      64 KiB sent by a forked child and read here, over
 *                 loopback TCP (one operation = 64 KiB)
 *   unix_pingpong the same round trip over a Unix stream socketpair
 *
 *   bench_net MODE N       times N operations and prints one line
 *                          "mode=M n=N total_ns=T per_op_ns=P"
 *   bench_net MODE serve   prints "ready" and then answers one count per
 *                          stdin line with such a line, until EOF
 *   bench_net              (no arguments) a deterministic self-check for
 *                          sentry/tests/guests_native.rs
 *
 * The connection and the child are set up once per process; only the
 * operations are timed.
 */
#include "guest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

enum { CHUNK = 65536 };

static const char *mode;
static int fd = -1;
static pid_t child;

static long long now_ns(void)
{
	struct timespec ts;
	must(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int read_full(int s, char *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(s, b + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The child: echo each byte (ping-pong), or, for bulk, send `n` chunks
 * each time it reads a count. */
static void child_loop(int s, int bulk)
{
	static char buf[CHUNK];
	memset(buf, 'x', sizeof buf);
	for (;;) {
		if (bulk) {
			long n;
			if (read_full(s, (char *)&n, sizeof n) < 0)
				_exit(0);
			for (long i = 0; i < n; i++) {
				size_t off = 0;
				while (off < CHUNK) {
					ssize_t w = write(s, buf + off, CHUNK - off);
					if (w <= 0)
						_exit(1);
					off += (size_t)w;
				}
			}
		} else {
			char c;
			if (read(s, &c, 1) != 1)
				_exit(0);
			if (write(s, &c, 1) != 1)
				_exit(1);
		}
	}
}

static void setup(void)
{
	int pair[2];
	int bulk = strcmp(mode, "tcp_bulk") == 0;
	if (strcmp(mode, "unix_pingpong") == 0) {
		must(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair");
	} else {
		int l = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		must(bind(l, (void *)&a, sizeof a) == 0, "bind");
		must(listen(l, 1) == 0, "listen");
		socklen_t al = sizeof a;
		getsockname(l, (void *)&a, &al);
		pair[0] = socket(AF_INET, SOCK_STREAM, 0);
		must(connect(pair[0], (void *)&a, sizeof a) == 0, "connect");
		pair[1] = accept(l, NULL, NULL);
		must(pair[1] >= 0, "accept");
		close(l);
		int one = 1;
		setsockopt(pair[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(pair[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	child = fork();
	must(child >= 0, "fork");
	if (child == 0) {
		close(pair[0]);
		child_loop(pair[1], bulk);
	}
	close(pair[1]);
	fd = pair[0];
}

/* Runs n operations; returns the elapsed time in ns. */
static long long run(long n)
{
	if (fd < 0)
		setup();
	static char buf[CHUNK];
	long long t0 = now_ns();
	if (strcmp(mode, "tcp_bulk") == 0) {
		must(write(fd, &n, sizeof n) == sizeof n, "write count");
		for (long i = 0; i < n; i++)
			must(read_full(fd, buf, CHUNK) == 0, "read chunk");
	} else {
		for (long i = 0; i < n; i++) {
			char c = (char)i;
			must(write(fd, &c, 1) == 1, "write");
			must(read(fd, &c, 1) == 1 && c == (char)i, "read echo");
		}
	}
	return now_ns() - t0;
}

static void stop(void)
{
	if (fd >= 0) {
		close(fd);
		wait_for(child);
		fd = -1;
	}
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
	long n = parse_count(line);
	long long t = run(n);
	out("mode=%s n=%ld total_ns=%lld per_op_ns=%.1f\n", mode, n, t,
	    n > 0 ? (double)t / (double)n : 0.0);
}

int main(int argc, char **argv)
{
	static const char *modes[] = {"tcp_pingpong", "tcp_bulk", "unix_pingpong"};
	if (argc == 3) {
		mode = NULL;
		for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
			if (strcmp(argv[1], modes[i]) == 0)
				mode = modes[i];
		if (mode == NULL) {
			out("error: MODE must be tcp_pingpong, tcp_bulk or unix_pingpong\n");
			return 2;
		}
		if (strcmp(argv[2], "serve") == 0) {
			out("ready\n");
			serve_lines(answer);
		} else {
			answer(argv[2]);
		}
		stop();
		return 0;
	}
	if (argc != 1) {
		out("usage: bench_net [tcp_pingpong|tcp_bulk|unix_pingpong N|serve]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		mode = modes[i];
		run(100);
		stop();
		out("bench_net %s: ok\n", mode);
	}
	return failures() != 0;
}
