/*
 * bench_clock: the guest half of benches/benches/clock.rs, the clock
 * reads a program makes through libc (the vDSO natively and, since issue
 * 11, in the sandbox too). Times N calls of one function with
 * clock_gettime(CLOCK_MONOTONIC) around the loop.
 *
 *   bench_clock FN serve  reads one count per line from stdin and answers
 *                         each with "n=N total_ns=T per_call_ns=P", FN
 *                         being clock_gettime, gettimeofday or time
 *   bench_clock           (no arguments) a deterministic self-check for
 *                         sentry/tests/guests_native.rs
 *
 * Printing times breaks guest.h's output rule on purpose, and only when an
 * argument asks for it.
 */
#include "guest.h"

#include <sys/time.h>

static long long now_ns(void)
{
	struct timespec ts;
	must(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int which;
static volatile long sink;

static void bench(long n)
{
	struct timespec ts;
	struct timeval tv;
	long long t0 = now_ns();
	switch (which) {
	case 0:
		for (long i = 0; i < n; i++) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			sink += ts.tv_nsec;
		}
		break;
	case 1:
		for (long i = 0; i < n; i++) {
			gettimeofday(&tv, NULL);
			sink += tv.tv_usec;
		}
		break;
	default:
		for (long i = 0; i < n; i++)
			sink += time(NULL);
		break;
	}
	long long t1 = now_ns();
	out("n=%ld total_ns=%lld per_call_ns=%.1f\n", n, t1 - t0,
	    n > 0 ? (double)(t1 - t0) / (double)n : 0.0);
}

static void answer(const char *line)
{
	char *end;
	errno = 0;
	long n = strtol(line, &end, 10);
	if (errno != 0 || end == line || *end != '\0' || n < 0) {
		out("error: bad count \"%s\"\n", line);
		_exit(2);
	}
	bench(n);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[2], "serve") == 0) {
		if (strcmp(argv[1], "clock_gettime") == 0)
			which = 0;
		else if (strcmp(argv[1], "gettimeofday") == 0)
			which = 1;
		else
			which = 2;
		serve_lines(answer);
		return 0;
	}
	struct timespec a, b;
	struct timeval tv;
	clock_gettime(CLOCK_MONOTONIC, &a);
	gettimeofday(&tv, NULL);
	time_t t = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	check(b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec),
	      "MONOTONIC does not go back");
	/* time() reads the coarse clock, which lags by up to a tick: right
	 * after a second begins it may still give the one before. */
	check(t >= tv.tv_sec - 1, "time() is at most a second behind gettimeofday()");
	out("bench_clock: ok\n");
	return finish();
}
