/*
 * bench_syscall: the guest half of benches/benches/syscall.rs, a trapped
 * syscall round trip. Times raw syscall(SYS_getppid) calls with
 * clock_gettime(CLOCK_MONOTONIC) inside the guest.
 *
 *   bench_syscall N      times N calls and prints one line
 *                        "n=N total_ns=T per_call_ns=P"
 *   bench_syscall serve  reads one count per line from stdin and answers each
 *                        with such a line, until EOF (one process serves many
 *                        benchmark samples, so its start-up is never timed)
 *   bench_syscall        (no arguments) a deterministic self-check for
 *                        sentry/tests/guests_native.rs: "bench_syscall: ok"
 *
 * Printing times breaks guest.h's output rule on purpose, and only when an
 * argument asks for it.
 */
#include "guest.h"

static long long now_ns(void)
{
	struct timespec ts;
	must(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void bench(long n)
{
	long long t0 = now_ns();
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	long long t1 = now_ns();
	out("n=%ld total_ns=%lld per_call_ns=%.1f\n", n, t1 - t0,
	    n > 0 ? (double)(t1 - t0) / (double)n : 0.0);
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

/* Answers one request line (a count) with a timing line. */
static void answer(const char *line)
{
	bench(parse_count(line));
}

/* Answers every line of stdin (a count) with a timing line. */
static void serve(void)
{
	serve_lines(answer);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "serve") == 0)
			serve();
		else
			bench(parse_count(argv[1]));
		return 0;
	}
	pid_t ppid = getppid();
	long bad = 0;
	for (int i = 0; i < 1000; i++)
		bad += syscall(SYS_getppid) != ppid;
	check(bad == 0, "raw getppid agrees with getppid()");
	out("bench_syscall: %s\n", bad == 0 ? "ok" : "MISMATCH");
	return finish();
}
