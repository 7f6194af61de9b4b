/*
 * bench_fork: the guest half of benches/benches/fork.rs. First mallocs
 * DIRTY_MIB MiB and writes one byte per 4 KiB page, then times iterations of
 * fork() or vfork() + child _exit(0) + waitpid() with
 * clock_gettime(CLOCK_MONOTONIC).
 *
 *   bench_fork MODE N DIRTY_MIB      MODE is fork or vfork; times N
 *                                    iterations and prints one line
 *                                    "mode=M n=N dirty_mib=D total_ns=T per_iter_ns=P"
 *   bench_fork MODE serve DIRTY_MIB  prints "ready dirty_mib=D" once the
 *                                    memory is dirty, then reads one count per
 *                                    line from stdin and answers each with
 *                                    such a line, until EOF (the set-up, which
 *                                    can take long in the sandbox, is paid once)
 *   bench_fork touch N DIRTY_MIB     times, after each fork (the child
 *                                    waits on a pipe meanwhile), the
 *                                    parent's first write in each 2 MiB of
 *                                    the dirty memory (the cost a fork that
 *                                    shares page tables defers); per_iter_ns
 *                                    is per fork, per_region_ns per 2 MiB
 *   bench_fork rewrite N DIRTY_MIB   the same, timing a memset of all the
 *                                    dirty memory after each fork
 *   (serve works with touch and rewrite too)
 *   bench_fork                       (no arguments) a deterministic
 *                                    self-check for
 *                                    sentry/tests/guests_native.rs
 *
 * Printing times breaks guest.h's output rule on purpose, and only when an
 * argument asks for it. A failed fork or a child that does not exit 0 is
 * reported on stdout ("error: ...") with exit status 3.
 */
#include "guest.h"

static int use_vfork;
/* 0: time fork + _exit + wait; 1: the first write per 2 MiB after a fork;
 * 2: a rewrite of all the dirty memory after a fork. */
static int after_mode;
static long dirty_mib;
static volatile char *dirty_mem;

static long long now_ns(void)
{
	struct timespec ts;
	must(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void dirty(long mib)
{
	if (mib == 0)
		return;
	size_t size = (size_t)mib << 20;
	volatile char *p = malloc(size);
	must(p != NULL, "malloc");
	dirty_mem = p;
	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	/* Never freed: the memory stays mapped and dirty for every fork. */
}

/* One fork (or vfork) + _exit(0) + waitpid; 0 on success. */
static int one(void)
{
	pid_t pid = use_vfork ? vfork() : fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0) {
		out("error: %s failed: %s\n", use_vfork ? "vfork" : "fork",
		    errname(errno));
		return -1;
	}
	int st = wait_for(pid);
	if (st != 0) {
		out("error: child %s\n",
		    st == -1 ? "could not be waited for" : describe_status(st));
		return -1;
	}
	return 0;
}

/* One fork whose child waits on a pipe while the parent's write after it
 * (after_mode) is timed; returns that time, or -1 on an error. */
static long long after_fork(void)
{
	int fd[2];
	must(pipe(fd) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char b;
		_exit(read(fd[0], &b, 1) == 1 ? 0 : 1);
	}
	if (pid < 0) {
		out("error: fork failed: %s\n", errname(errno));
		return -1;
	}
	size_t size = (size_t)dirty_mib << 20;
	long long t0 = now_ns();
	if (after_mode == 1)
		for (size_t off = 0; off < size; off += 2UL << 20)
			dirty_mem[off] ^= 1;
	else
		memset((char *)dirty_mem, 2, size);
	long long t = now_ns() - t0;
	must(write(fd[1], "x", 1) == 1, "write");
	close(fd[0]);
	close(fd[1]);
	int st = wait_for(pid);
	if (st != 0) {
		out("error: child %s\n",
		    st == -1 ? "could not be waited for" : describe_status(st));
		return -1;
	}
	return t;
}

static void bench_after(long n)
{
	long long total = 0;
	for (long i = 0; i < n; i++) {
		long long t = after_fork();
		if (t < 0)
			_exit(3);
		total += t;
	}
	long regions = (dirty_mib + 1) / 2;
	out("mode=%s n=%ld dirty_mib=%ld total_ns=%lld per_iter_ns=%.1f per_region_ns=%.1f\n",
	    after_mode == 1 ? "touch" : "rewrite", n, dirty_mib, total,
	    n > 0 ? (double)total / (double)n : 0.0,
	    n > 0 && regions > 0 ? (double)total / (double)n / (double)regions : 0.0);
}

static void bench(long n)
{
	if (after_mode) {
		bench_after(n);
		return;
	}
	long long t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (one() != 0)
			_exit(3);
	long long t1 = now_ns();
	out("mode=%s n=%ld dirty_mib=%ld total_ns=%lld per_iter_ns=%.1f\n",
	    use_vfork ? "vfork" : "fork", n, dirty_mib, t1 - t0,
	    n > 0 ? (double)(t1 - t0) / (double)n : 0.0);
}

static long parse_count(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno != 0 || end == s || (*end != '\0' && *end != '\n') || n < 0) {
		out("error: bad %s \"%s\"\n", what, s);
		_exit(2);
	}
	return n;
}

/* Answers one request line (a count) with a timing line. */
static void answer(const char *line)
{
	bench(parse_count(line, "count"));
}

/* Answers every line of stdin (a count) with a timing line. */
static void serve(void)
{
	serve_lines(answer);
}

int main(int argc, char **argv)
{
	if (argc == 4) {
		if (strcmp(argv[1], "fork") == 0)
			use_vfork = 0;
		else if (strcmp(argv[1], "vfork") == 0)
			use_vfork = 1;
		else if (strcmp(argv[1], "touch") == 0)
			after_mode = 1;
		else if (strcmp(argv[1], "rewrite") == 0)
			after_mode = 2;
		else {
			out("error: MODE must be fork, vfork, touch or rewrite, not \"%s\"\n",
			    argv[1]);
			return 2;
		}
		dirty_mib = parse_count(argv[3], "DIRTY_MIB");
		int serving = strcmp(argv[2], "serve") == 0;
		long n = serving ? 0 : parse_count(argv[2], "N");
		dirty(dirty_mib);
		if (serving) {
			out("ready dirty_mib=%ld\n", dirty_mib);
			serve();
		} else {
			bench(n);
		}
		return 0;
	}
	if (argc != 1) {
		out("usage: bench_fork [fork|vfork|touch|rewrite N|serve DIRTY_MIB]\n");
		return 2;
	}
	dirty(1);
	for (use_vfork = 0; use_vfork <= 1; use_vfork++)
		for (int i = 0; i < 3; i++)
			check(one() == 0, use_vfork ? "vfork round" : "fork round");
	out("bench_fork: %s\n", failures() == 0 ? "ok" : "FAILED");
	return finish();
}
