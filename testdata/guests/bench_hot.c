/*
 * bench_hot: the guest half of benches/benches/hotpaths.rs and of the
 * crossing-count tests in sentry/tests/crossings.rs. Each MODE times N
 * operations with clock_gettime(CLOCK_MONOTONIC):
 *
 *   thread  pthread_create of a thread that returns at once + pthread_join
 *   futex   a round trip between two threads through one futex word (A
 *           stores 1 and wakes B, B stores 2 and wakes A; each sleeps with
 *           FUTEX_WAIT while the word is not its turn)
 *   raise   raise(SIGUSR1) with a handler installed (the handler counts)
 *   cow     one copy-on-write fault: a child is forked and kept alive while
 *           the parent writes one byte to each of the next pages of a
 *           COW_PAGES-page region it dirtied before (sequentially); only
 *           the writes are timed, and a new child is forked for every
 *           COW_PAGES faults
 *
 *   bench_hot MODE N       times N operations and prints one line
 *                          "mode=M n=N total_ns=T per_op_ns=P"
 *   bench_hot MODE serve   prints "ready" and then answers one count per
 *                          stdin line with such a line, until EOF
 *   bench_hot              (no arguments) a deterministic self-check for
 *                          sentry/tests/guests_native.rs
 *
 * Printing times breaks guest.h's output rule on purpose, and only when an
 * argument asks for it. A failure is reported on stdout ("error: ...")
 * with exit status 3.
 */
#include "guest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

/* <linux/futex.h> is not available to musl-gcc. */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

/* More than the sentry copies eagerly at fork (EAGER_FORK_PAGES, 512), so
 * the pages are really shared copy-on-write. */
#define COW_PAGES 1024

static const char *mode;

static long long now_ns(void)
{
	struct timespec ts;
	must(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fail(const char *what)
{
	out("error: %s: %s\n", what, errname(errno));
	_exit(3);
}

/* thread */

static void *nothing(void *arg)
{
	return arg;
}

static long long run_thread(long n)
{
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		pthread_t t;
		int e = pthread_create(&t, NULL, nothing, (void *)i);
		if (e != 0) {
			errno = e;
			fail("pthread_create");
		}
		void *ret;
		e = pthread_join(t, &ret);
		if (e != 0 || ret != (void *)i) {
			errno = e;
			fail("pthread_join");
		}
	}
	return now_ns() - t0;
}

/* futex */

static _Atomic int word;
static pthread_t ponger;
static int ponger_up;

static void futex_wait(int val)
{
	if (syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0) != 0 &&
	    errno != EAGAIN && errno != EINTR)
		fail("FUTEX_WAIT");
}

static void futex_wake(void)
{
	if (syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) < 0)
		fail("FUTEX_WAKE");
}

/* Waits until the word is `want` (or 3: quit); returns it. */
static int wait_for_word(int want)
{
	for (;;) {
		int v = atomic_load(&word);
		if (v == want || v == 3)
			return v;
		futex_wait(v);
	}
}

static void *pong(void *arg)
{
	(void)arg;
	while (wait_for_word(1) == 1) {
		atomic_store(&word, 2);
		futex_wake();
	}
	return NULL;
}

static long long run_futex(long n)
{
	if (!ponger_up) {
		atomic_store(&word, 0);
		int e = pthread_create(&ponger, NULL, pong, NULL);
		if (e != 0) {
			errno = e;
			fail("pthread_create");
		}
		ponger_up = 1;
	}
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		atomic_store(&word, 1);
		futex_wake();
		wait_for_word(2);
	}
	return now_ns() - t0;
}

static void stop_futex(void)
{
	if (!ponger_up)
		return;
	atomic_store(&word, 3);
	futex_wake();
	pthread_join(ponger, NULL);
	ponger_up = 0;
}

/* raise */

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

static long long run_raise(long n)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		fail("sigaction");
	handled = 0;
	long long t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (raise(SIGUSR1) != 0)
			fail("raise");
	long long t = now_ns() - t0;
	if (handled != n) {
		out("error: %ld signals raised, %ld handled\n", n, (long)handled);
		_exit(3);
	}
	return t;
}

/* cow */

static volatile char *region;

/* Forks a child that waits for EOF on a pipe; returns the write end. */
static int fork_sleeper(pid_t *pid)
{
	int p[2];
	if (pipe(p) != 0)
		fail("pipe");
	*pid = fork();
	if (*pid < 0)
		fail("fork");
	if (*pid == 0) {
		char c;
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	return p[1];
}

static long long run_cow(long n)
{
	if (region == NULL) {
		void *m = mmap(NULL, COW_PAGES * 4096L, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			fail("mmap");
		region = m;
		for (long i = 0; i < COW_PAGES; i++)
			region[i * 4096] = 1;
	}
	long long total = 0;
	for (long done = 0; done < n;) {
		pid_t pid;
		int fd = fork_sleeper(&pid);
		long batch = n - done < COW_PAGES ? n - done : COW_PAGES;
		long long t0 = now_ns();
		for (long i = 0; i < batch; i++)
			region[i * 4096] = (char)(done + i);
		total += now_ns() - t0;
		close(fd);
		int st = wait_for(pid);
		if (st != 0) {
			out("error: cow child %s\n", describe_status(st));
			_exit(3);
		}
		done += batch;
	}
	return total;
}

static long long run(long n)
{
	if (strcmp(mode, "thread") == 0)
		return run_thread(n);
	if (strcmp(mode, "futex") == 0)
		return run_futex(n);
	if (strcmp(mode, "raise") == 0)
		return run_raise(n);
	return run_cow(n);
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
	static const char *modes[] = {"thread", "futex", "raise", "cow"};
	if (argc == 3) {
		mode = NULL;
		for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
			if (strcmp(argv[1], modes[i]) == 0)
				mode = modes[i];
		if (mode == NULL) {
			out("error: MODE must be thread, futex, raise or cow, not \"%s\"\n",
			    argv[1]);
			return 2;
		}
		if (strcmp(argv[2], "serve") == 0) {
			out("ready\n");
			serve_lines(answer);
		} else {
			answer(argv[2]);
		}
		stop_futex();
		return 0;
	}
	if (argc != 1) {
		out("usage: bench_hot [thread|futex|raise|cow N|serve]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		mode = modes[i];
		run(COW_PAGES + 44);
		out("bench_hot %s: ok\n", mode);
	}
	stop_futex();
	/* COW_PAGES + 44 writes: page i got i, then pages 0..43 again. */
	long bad = 0;
	for (long i = 0; i < COW_PAGES; i++)
		bad += region[i * 4096] != (char)(i < 44 ? COW_PAGES + i : i);
	check(bad == 0, "the parent's copy holds its last writes");
	out("bench_hot: %s\n", failures() == 0 ? "ok" : "FAILED");
	return finish();
}
