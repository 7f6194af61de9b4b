/*
 * t_cpuclocks: every Linux clock id (getres values and whether gettime,
 * settime, adjtime and clock_nanosleep succeed or fail, with which errno),
 * CPU-time clocks of the process and its threads (they advance with busy
 * work and not while sleeping), clock_getcpuclockid/pthread_getcpuclockid,
 * times(), ITIMER_VIRTUAL and ITIMER_PROF (fire during a busy loop, not
 * during a sleep; not inherited by fork, kept by execve) and RLIMIT_CPU
 * (SIGXCPU at the soft limit, SIGKILL at the hard one).
 *
 * Only relations are printed (never a time), so the output is the same
 * natively and in the sandbox.
 */
#include "guest.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>

#define MS 1000000LL

static long long ts_ns(struct timespec t)
{
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long now_ns(clockid_t c)
{
	struct timespec t;
	if (clock_gettime(c, &t) != 0)
		return -1;
	return ts_ns(t);
}

/* Raw syscalls, so libc's own checks (glibc's and musl's differ) stay out
 * of the way. */
static long raw_gettime(int c, struct timespec *t)
{
	return syscall(SYS_clock_gettime, c, t) == 0 ? 0 : errno;
}
static long raw_getres(int c, struct timespec *t)
{
	return syscall(SYS_clock_getres, c, t) == 0 ? 0 : errno;
}
static long raw_nsleep(int c, int flags, struct timespec *t)
{
	return syscall(SYS_clock_nanosleep, c, flags, t, NULL) == 0 ? 0 : errno;
}

static volatile unsigned long sink;

/* Burns CPU until `clock` advanced by `ns` or `flag` is set (or 5 s of
 * wall time pass: then the check that follows fails). */
static void burn(clockid_t clock, long long ns, volatile sig_atomic_t *flag)
{
	long long start = now_ns(clock);
	long long wall = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		for (int i = 0; i < 200000; i++)
			sink += (unsigned long)i * 7;
		if (flag && *flag)
			return;
		if (now_ns(clock) - start >= ns)
			return;
		if (now_ns(CLOCK_MONOTONIC) - wall > 5000 * MS)
			return;
	}
}

/* Burns CPU without any syscall until `flag` is set or about `loops`
 * iterations pass. */
static void burn_silent(volatile sig_atomic_t *flag, unsigned long loops)
{
	for (unsigned long i = 0; i < loops && !*flag; i++)
		sink += i * 7;
}

static void msleep(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * MS};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

static void clock_table(void)
{
	static const struct {
		int id;
		const char *name;
	} clocks[] = {
		{0, "REALTIME"}, {1, "MONOTONIC"}, {2, "PROCESS_CPUTIME_ID"},
		{3, "THREAD_CPUTIME_ID"}, {4, "MONOTONIC_RAW"},
		{5, "REALTIME_COARSE"}, {6, "MONOTONIC_COARSE"}, {7, "BOOTTIME"},
		{8, "REALTIME_ALARM"}, {9, "BOOTTIME_ALARM"}, {10, "SGI_CYCLE"},
		{11, "TAI"}, {12, "12"}, {-1, "cpu which=3"},
		{-5, "fd 0"}, {-6, "self SCHED process"}, {-7, "self VIRT process"},
		{-8, "self PROF process"}, {-2, "self SCHED thread"},
		{-3, "self VIRT thread"}, {-4, "self PROF thread"},
		{(int)((~999999u) << 3) | 2, "pid 999999 SCHED"},
		{(int)((~999999u) << 3) | 6, "tid 999999 SCHED"},
	};
	for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		struct timespec g, r = {0, 0}, z = {0, 1000};
		long eg = raw_gettime(clocks[i].id, &g);
		long er = raw_getres(clocks[i].id, &r);
		/* A sleep on a CPU clock of the process would never end:
		 * sleep until an absolute time of zero instead. */
		struct timespec zero = {0, 0};
		long en = clocks[i].id < 0 || clocks[i].id == 2
				  ? raw_nsleep(clocks[i].id, TIMER_ABSTIME, &zero)
				  : raw_nsleep(clocks[i].id, 0, &z);
		out("clock %s: gettime %s getres %s res=%lldns nanosleep %s\n",
		    clocks[i].name, errname((int)eg), errname((int)er),
		    er ? -1 : ts_ns(r), errname((int)en));
	}
	/* TAI is REALTIME plus the host's TAI offset: within a minute. */
	long long rt = now_ns(CLOCK_REALTIME) / 1000000000LL;
	long long tai = now_ns(CLOCK_TAI) / 1000000000LL;
	out("TAI - REALTIME within 60 s: %d\n", tai - rt >= 0 && tai - rt < 60);
	long long raw1 = now_ns(CLOCK_MONOTONIC_RAW);
	long long raw2 = now_ns(CLOCK_MONOTONIC_RAW);
	out("MONOTONIC_RAW does not go back: %d\n", raw2 >= raw1);
	long long m = now_ns(CLOCK_MONOTONIC), b = now_ns(CLOCK_BOOTTIME);
	out("BOOTTIME read after MONOTONIC is not behind it: %d\n", b >= m);
}

static void settime_adjtime(void)
{
	struct timespec bad = {0, 1000000000}, ok = {1, 0};
	errno = 0;
	out("clock_settime(REALTIME, bad nsec): %s\n",
	    errname(syscall(SYS_clock_settime, CLOCK_REALTIME, &bad) ? errno : 0));
	out("clock_settime(MONOTONIC): %s\n",
	    errname(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ok) ? errno : 0));
	out("clock_settime(BOOTTIME): %s\n",
	    errname(syscall(SYS_clock_settime, CLOCK_BOOTTIME, &ok) ? errno : 0));
	out("clock_settime(PROCESS_CPUTIME_ID): %s\n",
	    errname(syscall(SYS_clock_settime, CLOCK_PROCESS_CPUTIME_ID, &ok) ? errno : 0));
	out("clock_settime(self SCHED process): %s\n",
	    errname(syscall(SYS_clock_settime, -6, &ok) ? errno : 0));
	out("clock_settime(self PROF thread): %s\n",
	    errname(syscall(SYS_clock_settime, -4, &ok) ? errno : 0));
	out("clock_settime(pid 999999): %s\n",
	    errname(syscall(SYS_clock_settime, (int)((~999999u) << 3) | 2, &ok) ? errno : 0));
	out("clock_settime(REALTIME_ALARM): %s\n",
	    errname(syscall(SYS_clock_settime, CLOCK_REALTIME_ALARM, &ok) ? errno : 0));
	out("clock_settime(12): %s\n",
	    errname(syscall(SYS_clock_settime, 12, &ok) ? errno : 0));
	struct timex tx;
	memset(&tx, 0, sizeof tx);
	long r = syscall(SYS_adjtimex, &tx);
	out("adjtimex(modes 0): %s, tick %ld\n", r >= 0 ? "ok" : errname(errno),
	    (long)tx.tick);
	memset(&tx, 0, sizeof tx);
	r = syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
	out("clock_adjtime(REALTIME, modes 0): %s\n", r >= 0 ? "ok" : errname(errno));
	memset(&tx, 0, sizeof tx);
	out("clock_adjtime(MONOTONIC): %s\n",
	    errname(syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx) ? errno : 0));
	out("clock_adjtime(PROCESS_CPUTIME_ID): %s\n",
	    errname(syscall(SYS_clock_adjtime, CLOCK_PROCESS_CPUTIME_ID, &tx) ? errno : 0));
	out("clock_adjtime(12): %s\n",
	    errname(syscall(SYS_clock_adjtime, 12, &tx) ? errno : 0));
	tx.modes = ADJ_OFFSET_SS_READ;
	r = syscall(SYS_adjtimex, &tx);
	out("adjtimex(ADJ_OFFSET_SS_READ): %s\n", r >= 0 ? "ok" : errname(errno));
	tx.modes = 0x8000; /* ADJ_ADJTIME */
	out("adjtimex(ADJ_ADJTIME alone): %s\n",
	    errname(syscall(SYS_adjtimex, &tx) >= 0 ? 0 : errno));
}

static volatile sig_atomic_t other_done, other_go_away;

static void *other_thread(void *arg)
{
	(void)arg;
	burn(CLOCK_THREAD_CPUTIME_ID, 100 * MS, NULL);
	other_done = 1;
	while (!other_go_away)
		msleep(5);
	return NULL;
}

static void cpu_clocks(void)
{
	clockid_t self, me_thread;
	check(clock_getcpuclockid(getpid(), &self) == 0, "clock_getcpuclockid(self)");
	check(pthread_getcpuclockid(pthread_self(), &me_thread) == 0,
	      "pthread_getcpuclockid(self)");
	out("process clock id matches MAKE_PROCESS_CPUCLOCK: %d\n",
	    self == (clockid_t)((~(unsigned)getpid() << 3) | 2));
	out("thread clock id is a per-thread SCHED clock: %d\n",
	    (me_thread & 7) == 6);
	struct timespec t;
	out("clock_getcpuclockid(self) reads: %d\n", clock_gettime(self, &t) == 0);

	/* Busy work advances the CPU clocks. */
	long long m0 = now_ns(CLOCK_MONOTONIC), s0 = now_ns(self);
	long long p0 = now_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	struct tms tm0;
	times(&tm0);
	burn(CLOCK_THREAD_CPUTIME_ID, 150 * MS, NULL);
	/* Read in the reverse order: the process interval encloses the
	 * thread's. */
	long long t1 = now_ns(CLOCK_THREAD_CPUTIME_ID), p1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	long long s1 = now_ns(self), m1 = now_ns(CLOCK_MONOTONIC);
	struct tms tm1;
	times(&tm1);
	out("busy: thread clock +150ms: %d\n", t1 - t0 >= 150 * MS);
	out("busy: process clock >= thread clock advance: %d\n", p1 - p0 >= t1 - t0);
	out("busy: getcpuclockid clock advanced: %d\n", s1 - s0 >= 150 * MS);
	out("busy: wall time >= thread CPU time: %d\n", m1 - m0 >= t1 - t0);
	long ticks = (long)((tm1.tms_utime + tm1.tms_stime) - (tm0.tms_utime + tm0.tms_stime));
	out("busy: times() user+sys >= 10 ticks: %d\n", ticks >= 10);
	/* The thread's rusage accounts the burn. How it splits between user
	 * and system time is an estimate in the sandbox (guest mode is user
	 * time, crossings and the sentry's work system time, and a loaded
	 * host blurs the two), so only the sum is compared here; the split
	 * has its own sandbox-only test (t_cputimes). */
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	out("busy: RUSAGE_THREAD utime + stime >= 150ms: %d\n",
	    (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
		    ru.ru_stime.tv_usec >=
		150000);

	/* Sleeping does not. */
	p0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	msleep(300);
	p1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	t1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	out("sleep 300ms: thread clock +<100ms: %d\n", t1 - t0 < 100 * MS);
	out("sleep 300ms: process clock +<100ms: %d\n", p1 - p0 < 100 * MS);

	/* Another thread's clock, and the process's counting both. */
	pthread_t th;
	p0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	must(pthread_create(&th, NULL, other_thread, NULL) == 0, "pthread_create");
	clockid_t other;
	check(pthread_getcpuclockid(th, &other) == 0, "pthread_getcpuclockid(other)");
	while (!other_done)
		msleep(5);
	msleep(30);
	long long o = now_ns(other);
	p1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	out("other thread's clock >= 50ms: %d\n", o >= 50 * MS);
	out("process clock counted it: %d\n", p1 - p0 >= 50 * MS);
	struct timespec zero = {0, 0};
	out("clock_nanosleep on another thread's clock (abs 0): %s\n",
	    errname((int)raw_nsleep(other, TIMER_ABSTIME, &zero)));
	out("clock_nanosleep on own thread clock: %s\n",
	    errname((int)raw_nsleep(me_thread, TIMER_ABSTIME, &zero)));
	other_go_away = 1;
	pthread_join(th, NULL);

	/* A child's process clock; then a clock naming no process. */
	int ready[2];
	must(pipe(ready) == 0, "pipe");
	pid_t c = fork();
	if (c == 0) {
		burn(CLOCK_THREAD_CPUTIME_ID, 60 * MS, NULL);
		msleep(20);
		write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	char x;
	must(read(ready[0], &x, 1) == 1, "read ready");
	close(ready[0]);
	close(ready[1]);
	clockid_t cc;
	check(clock_getcpuclockid(c, &cc) == 0, "clock_getcpuclockid(child)");
	long long cv = now_ns(cc);
	out("child's CPU clock reads and advanced: %d\n", cv >= 30 * MS);
	kill(c, SIGKILL);
	wait_for(c);
	struct timespec g;
	out("clock of a reaped child: %s\n", errname((int)raw_gettime(cc, &g)));
	/* glibc says ESRCH, musl EINVAL. */
	out("clock_getcpuclockid(reaped child) fails: %d\n", clock_getcpuclockid(c, &cc) != 0);
}

static volatile sig_atomic_t got_vt, got_prof, got_xcpu;
static void on_vt(int s)
{
	(void)s;
	got_vt++;
}
static void on_prof(int s)
{
	(void)s;
	got_prof++;
}
static void on_xcpu(int s)
{
	(void)s;
	got_xcpu = 1;
}

static void itimers(const char *self)
{
	signal(SIGVTALRM, on_vt);
	signal(SIGPROF, on_prof);
	struct itimerval it = {{0, 0}, {0, 50000}}, old;

	/* One-shot ITIMER_VIRTUAL during a busy loop with no syscalls. */
	long long c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	check(setitimer(ITIMER_VIRTUAL, &it, NULL) == 0, "setitimer VIRTUAL");
	burn_silent(&got_vt, 4000000000UL);
	long long c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	out("ITIMER_VIRTUAL fired in a busy loop: %d, after >= 25ms CPU: %d\n",
	    got_vt == 1, c1 - c0 >= 25 * MS);
	getitimer(ITIMER_VIRTUAL, &old);
	out("ITIMER_VIRTUAL disarmed after one shot: %d\n",
	    old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);

	/* ITIMER_PROF, then an interval. */
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	check(setitimer(ITIMER_PROF, &it, NULL) == 0, "setitimer PROF");
	burn_silent(&got_prof, 4000000000UL);
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	out("ITIMER_PROF fired in a busy loop: %d, after >= 25ms CPU: %d\n",
	    got_prof == 1, c1 - c0 >= 25 * MS);
	got_prof = 0;
	struct itimerval iv = {{0, 20000}, {0, 20000}};
	setitimer(ITIMER_PROF, &iv, NULL);
	burn(CLOCK_PROCESS_CPUTIME_ID, 300 * MS, NULL);
	getitimer(ITIMER_PROF, &old);
	out("ITIMER_PROF interval 20ms over 300ms CPU: >= 4 signals: %d, interval kept: %d\n",
	    got_prof >= 4, old.it_interval.tv_usec == 20000);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &off, &old);
	out("setitimer returns the old PROF setting: %d\n", old.it_interval.tv_usec == 20000);

	/* Not during a sleep. */
	got_vt = 0;
	got_prof = 0;
	struct itimerval longer = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_VIRTUAL, &longer, NULL);
	setitimer(ITIMER_PROF, &longer, NULL);
	msleep(400);
	getitimer(ITIMER_VIRTUAL, &old);
	out("sleep 400ms: no SIGVTALRM: %d, no SIGPROF: %d, VIRTUAL still armed: %d\n",
	    got_vt == 0, got_prof == 0, old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0);
	out("ITIMER_VIRTUAL left <= 104ms: %d\n", old.it_value.tv_usec <= 104000);

	/* fork: the child inherits no itimer; execve keeps them. */
	struct itimerval ten = {{0, 0}, {10, 0}};
	setitimer(ITIMER_VIRTUAL, &ten, NULL);
	setitimer(ITIMER_PROF, &ten, NULL);
	pid_t c = fork();
	if (c == 0) {
		struct itimerval v, p;
		getitimer(ITIMER_VIRTUAL, &v);
		getitimer(ITIMER_PROF, &p);
		out("fork child: VIRTUAL armed %d, PROF armed %d\n",
		    v.it_value.tv_sec || v.it_value.tv_usec,
		    p.it_value.tv_sec || p.it_value.tv_usec);
		setitimer(ITIMER_VIRTUAL, &ten, NULL);
		char *args[] = {(char *)self, "after-exec", NULL};
		execv("/proc/self/exe", args);
		out("execv: %s\n", errname(errno));
		_exit(1);
	}
	out("child: %s\n", describe_status(wait_for(c)));
	setitimer(ITIMER_VIRTUAL, &off, NULL);
	setitimer(ITIMER_PROF, &off, NULL);
	out("setitimer(3): %s\n", errname(setitimer(3, &off, NULL) ? errno : 0));
	out("getitimer(-1): %s\n", errname(getitimer(-1, &old) ? errno : 0));
	struct itimerval badv = {{0, 0}, {0, 1000000}};
	out("setitimer(VIRTUAL, usec 1e6): %s\n",
	    errname(setitimer(ITIMER_VIRTUAL, &badv, NULL) ? errno : 0));
	signal(SIGVTALRM, SIG_DFL);
	signal(SIGPROF, SIG_DFL);
}

static void after_exec(void)
{
	/* The fork child armed ITIMER_VIRTUAL before execve: it is kept. */
	struct itimerval v;
	getitimer(ITIMER_VIRTUAL, &v);
	out("after exec: VIRTUAL armed %d\n", v.it_value.tv_sec || v.it_value.tv_usec);
}

static void rlimit_cpu(void)
{
	/* Soft 1 s: SIGXCPU caught. */
	pid_t c = fork();
	if (c == 0) {
		signal(SIGXCPU, on_xcpu);
		struct rlimit rl = {1, 3};
		must(setrlimit(RLIMIT_CPU, &rl) == 0, "setrlimit");
		long long start = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		burn_silent(&got_xcpu, 40000000000UL);
		long long at = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		/* Linux checks the tick-sampled CPU time, which may run ahead
		 * of the precise clock on a busy host: only a loose bound. */
		out("RLIMIT_CPU soft 1s: SIGXCPU caught %d, at >= 0.25s CPU %d\n",
		    got_xcpu == 1, at >= 250 * MS);
		/* Linux moves the soft limit up a second at each SIGXCPU. */
		struct rlimit now;
		getrlimit(RLIMIT_CPU, &now);
		out("RLIMIT_CPU after SIGXCPU: soft raised %d, hard kept %d\n",
		    now.rlim_cur >= 2 && now.rlim_cur <= 3, now.rlim_max == 3);
		(void)start;
		_exit(0);
	}
	out("rlimit child: %s\n", describe_status(wait_for(c)));
	/* Hard limit: SIGXCPU ignored, then SIGKILL at 2 s. */
	c = fork();
	if (c == 0) {
		signal(SIGXCPU, SIG_IGN);
		struct rlimit rl = {1, 2};
		must(setrlimit(RLIMIT_CPU, &rl) == 0, "setrlimit");
		static volatile sig_atomic_t never;
		burn_silent(&never, 80000000000UL);
		out("RLIMIT_CPU hard: still alive\n");
		_exit(0);
	}
	out("rlimit hard child: %s\n", describe_status(wait_for(c)));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
		after_exec();
		return 0;
	}
	clock_table();
	settime_adjtime();
	cpu_clocks();
	itimers(argv[0]);
	rlimit_cpu();
	return failures() != 0;
}
