/*
 * t_timers: POSIX timers and sleeps.
 *  - timer_create on every clock id (which succeed, which fail and how),
 *    with SIGEV_NONE, SIGEV_SIGNAL and SIGEV_THREAD_ID, and bad sigevents;
 *  - the timer signal's siginfo (si_code SI_TIMER, si_timerid, si_value,
 *    si_overrun) and timer_getoverrun, with an interval timer whose signal
 *    stays blocked;
 *  - timer_settime relative and absolute (TIMER_ABSTIME), the old value,
 *    timer_gettime for armed, SIGEV_NONE and expired timers;
 *  - timer_delete, then every call on the id gives EINVAL;
 *  - CPU-clock timers fire during a busy loop and not during a sleep;
 *  - timers on another process's and another thread's CPU clock;
 *  - SIGEV_THREAD through libc (glibc's and musl's helper threads);
 *  - timers are not inherited by fork and are deleted by execve;
 *  - nanosleep and clock_nanosleep interrupted by a handler return EINTR
 *    with the time left (SA_RESTART does not restart them), and continue
 *    to the same end after SIGSTOP/SIGCONT (restart_syscall).
 * Timer ids are not printed; only relations between times are.
 */
#include "guest.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>

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

static void msleep(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * MS};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* The kernel's struct sigevent (64 bytes). */
struct ksigevent {
	union sigval value;
	int signo;
	int notify;
	int tid;
	int pad[11];
};

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

static int kcreate(int clock, struct ksigevent *ev, int *id)
{
	return syscall(SYS_timer_create, clock, ev, id) == 0 ? 0 : errno;
}
static int kset(int id, int flags, const struct itimerspec *n, struct itimerspec *o)
{
	return syscall(SYS_timer_settime, id, flags, n, o) == 0 ? 0 : errno;
}
static int kget(int id, struct itimerspec *c)
{
	return syscall(SYS_timer_gettime, id, c) == 0 ? 0 : errno;
}
static int kdelete(int id)
{
	return syscall(SYS_timer_delete, id) == 0 ? 0 : errno;
}

static long gettid_(void)
{
	return syscall(SYS_gettid);
}

static void every_clock(void)
{
	clockid_t proc, thr;
	clock_getcpuclockid(getpid(), &proc);
	pthread_getcpuclockid(pthread_self(), &thr);
	static const struct {
		int id;
		const char *name;
	} clocks[] = {
		{0, "REALTIME"}, {1, "MONOTONIC"}, {2, "PROCESS_CPUTIME_ID"},
		{3, "THREAD_CPUTIME_ID"}, {4, "MONOTONIC_RAW"},
		{5, "REALTIME_COARSE"}, {6, "MONOTONIC_COARSE"}, {7, "BOOTTIME"},
		{8, "REALTIME_ALARM"}, {9, "BOOTTIME_ALARM"}, {10, "SGI_CYCLE"},
		{11, "TAI"}, {12, "12"}, {-1, "cpu which=3"}, {-5, "fd 0"},
		{-8, "self PROF process"}, {-7, "self VIRT process"},
		{-4, "self PROF thread"}, {(int)((~999999u) << 3) | 2, "pid 999999"},
		{(int)((~999999u) << 3) | 6, "tid 999999"},
	};
	for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		for (int n = 0; n < 3; n++) {
			struct ksigevent ev = {0};
			ev.notify = n == 0 ? SIGEV_NONE : n == 1 ? SIGEV_SIGNAL : SIGEV_THREAD_ID;
			ev.signo = SIGUSR1;
			ev.tid = (int)gettid_();
			int id = -1;
			int e = kcreate(clocks[i].id, &ev, &id);
			if (e == 0) {
				struct itimerspec it = {{0, 0}, {100, 0}}, cur;
				int es = kset(id, 0, &it, NULL);
				int eg = kget(id, &cur);
				check(es == 0 && eg == 0 && cur.it_value.tv_sec >= 99,
				      "arm and read a timer");
				check(kdelete(id) == 0, "timer_delete");
			}
			out("timer_create(%s, %s): %s\n", clocks[i].name,
			    n == 0 ? "NONE" : n == 1 ? "SIGNAL" : "THREAD_ID", errname(e));
		}
	}
	out("libc clocks match raw ones: %d\n", proc == -6 - (getpid() << 3) && (thr & 7) == 6);
	/* Bad sigevents. */
	struct ksigevent ev = {0};
	int id;
	ev.notify = SIGEV_SIGNAL;
	ev.signo = 0;
	out("sigevent signo 0: %s\n", errname(kcreate(CLOCK_MONOTONIC, &ev, &id)));
	ev.signo = 65;
	out("sigevent signo 65: %s\n", errname(kcreate(CLOCK_MONOTONIC, &ev, &id)));
	ev.signo = SIGUSR1;
	ev.notify = 7;
	out("sigevent notify 7: %s\n", errname(kcreate(CLOCK_MONOTONIC, &ev, &id)));
	ev.notify = SIGEV_THREAD_ID;
	ev.tid = 999999;
	out("SIGEV_THREAD_ID to no thread: %s\n", errname(kcreate(CLOCK_MONOTONIC, &ev, &id)));
	ev.tid = getppid();
	out("SIGEV_THREAD_ID to another process: %s\n",
	    errname(kcreate(CLOCK_MONOTONIC, &ev, &id)));
	out("sevp unreadable: %s\n",
	    errname(kcreate(CLOCK_MONOTONIC, (struct ksigevent *)8, &id)));
	ev.notify = SIGEV_NONE;
	out("timerid unwritable: %s\n", errname(kcreate(CLOCK_MONOTONIC, &ev, (int *)8)));
}

/* What the handler saw. */
static volatile sig_atomic_t got, got_code, got_timerid, got_value, got_overrun, got_tid;

static void on_timer(int s, siginfo_t *si, void *uc)
{
	(void)uc;
	/* `got` last: wait_got polls it from another thread. */
	got_tid = (int)gettid_();
	got_code = si->si_code;
	got_timerid = si->si_timerid;
	got_value = si->si_value.sival_int;
	got_overrun = si->si_overrun;
	got = s;
}

static void wait_got(int ms)
{
	for (int i = 0; i < ms && !got; i++)
		msleep(1);
}

static void handler_for(int s)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO;
	sigaction(s, &sa, NULL);
}

static volatile sig_atomic_t thread_tid, thread_stop;
static void *waiter_thread(void *arg)
{
	(void)arg;
	thread_tid = (int)gettid_();
	while (!thread_stop)
		msleep(2);
	return NULL;
}

static void signals(void)
{
	handler_for(SIGUSR1);
	handler_for(SIGUSR2);
	struct ksigevent ev = {0};
	ev.notify = SIGEV_SIGNAL;
	ev.signo = SIGUSR1;
	ev.value.sival_int = 1234;
	int id;
	must(kcreate(CLOCK_MONOTONIC, &ev, &id) == 0, "timer_create");
	struct itimerspec it = {{0, 0}, {0, 20 * MS}}, cur;
	long long t0 = now_ns(CLOCK_MONOTONIC);
	got = 0;
	kset(id, 0, &it, NULL);
	wait_got(2000);
	long long t1 = now_ns(CLOCK_MONOTONIC);
	out("SIGEV_SIGNAL: %s code SI_TIMER %d timerid %d value %d overrun %d after >= 20ms %d\n",
	    signame(got), got_code == SI_TIMER, got_timerid == id, got_value == 1234,
	    got_overrun, t1 - t0 >= 20 * MS);
	kget(id, &cur);
	out("one-shot after expiry: value 0 %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);

	/* Absolute on CLOCK_REALTIME. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long when = ts_ns(now) + 30 * MS;
	struct itimerspec abs = {{0, 0}, {when / 1000000000LL, when % 1000000000LL}};
	kdelete(id);
	must(kcreate(CLOCK_REALTIME, &ev, &id) == 0, "timer_create");
	got = 0;
	kset(id, TIMER_ABSTIME, &abs, NULL);
	kget(id, &cur);
	out("absolute: gettime <= 30ms: %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 30 * MS);
	wait_got(2000);
	clock_gettime(CLOCK_REALTIME, &now);
	out("absolute REALTIME timer fired, not early: %d %d\n", got == SIGUSR1, ts_ns(now) >= when);
	/* An absolute time in the past fires at once. */
	got = 0;
	struct itimerspec past = {{0, 0}, {1, 0}};
	kset(id, TIMER_ABSTIME, &past, NULL);
	wait_got(2000);
	out("absolute time in the past fires: %d\n", got == SIGUSR1);

	/* The old value. */
	struct itimerspec sec = {{0, 0}, {1, 0}}, old;
	kset(id, 0, &sec, NULL);
	kset(id, 0, &sec, &old);
	out("old value in (0.9s, 1s]: %d\n",
	    (old.it_value.tv_sec == 0 && old.it_value.tv_nsec > 900 * MS) ||
		    (old.it_value.tv_sec == 1 && old.it_value.tv_nsec == 0));
	struct itimerspec zero = {{0, 0}, {0, 0}};
	kset(id, 0, &zero, &old);
	kget(id, &cur);
	out("disarmed: %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	struct itimerspec bad = {{0, 0}, {0, 1000000000}};
	out("timer_settime bad nsec: %s\n", errname(kset(id, 0, &bad, NULL)));
	out("timer_settime NULL: %s\n",
	    errname(syscall(SYS_timer_settime, id, 0, NULL, NULL) ? errno : 0));

	/* Overruns: a 10ms interval whose signal stays blocked for ~105ms. */
	sigset_t block, prev;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &prev);
	struct itimerspec iv = {{0, 10 * MS}, {0, 10 * MS}};
	kset(id, 0, &iv, NULL);
	msleep(105);
	siginfo_t si;
	int s = sigwaitinfo(&block, &si);
	int ov = (int)syscall(SYS_timer_getoverrun, id);
	out("overrun: sigwaitinfo %s, si_overrun >= 5 %d, timer_getoverrun = si_overrun %d\n",
	    signame(s), si.si_overrun >= 5, ov == si.si_overrun);
	kget(id, &cur);
	out("interval timer: interval kept %d, value <= 10ms %d\n",
	    cur.it_interval.tv_nsec == 10 * MS,
	    cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 10 * MS);
	/* The next signal comes on time again, with no overrun. */
	s = sigwaitinfo(&block, &si);
	out("next signal: %s si_overrun <= 5 %d\n", signame(s), si.si_overrun <= 5);
	kset(id, 0, &zero, NULL);
	sigprocmask(SIG_SETMASK, &prev, NULL);

	/* SIGEV_NONE: gettime counts down; expired one-shot reads 0. */
	struct ksigevent none = {0};
	none.notify = SIGEV_NONE;
	int nid;
	must(kcreate(CLOCK_MONOTONIC, &none, &nid) == 0, "timer_create NONE");
	struct itimerspec shortone = {{0, 0}, {0, 50 * MS}};
	kset(nid, 0, &shortone, NULL);
	kget(nid, &cur);
	out("SIGEV_NONE armed: 0 < value <= 50ms %d\n",
	    cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 50 * MS);
	msleep(80);
	kget(nid, &cur);
	out("SIGEV_NONE expired: value 0 %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	struct itimerspec niv = {{0, 30 * MS}, {0, 30 * MS}};
	kset(nid, 0, &niv, NULL);
	msleep(100);
	kget(nid, &cur);
	out("SIGEV_NONE interval: 0 < value <= 30ms %d\n",
	    cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 30 * MS);
	kdelete(nid);

	/* SIGEV_THREAD_ID to a second thread. */
	pthread_t th;
	must(pthread_create(&th, NULL, waiter_thread, NULL) == 0, "pthread_create");
	while (!thread_tid)
		msleep(1);
	struct ksigevent tev = {0};
	tev.notify = SIGEV_SIGNAL | SIGEV_THREAD_ID;
	tev.signo = SIGUSR2;
	tev.tid = thread_tid;
	tev.value.sival_int = 77;
	int tid_timer;
	must(kcreate(CLOCK_MONOTONIC, &tev, &tid_timer) == 0, "timer_create THREAD_ID");
	got = 0;
	struct itimerspec t20 = {{0, 0}, {0, 20 * MS}};
	kset(tid_timer, 0, &t20, NULL);
	wait_got(2000);
	out("SIGEV_THREAD_ID: %s in the target thread %d value %d timerid %d\n", signame(got),
	    got_tid == thread_tid, got_value == 77, got_timerid == tid_timer);
	thread_stop = 1;
	pthread_join(th, NULL);
	kdelete(tid_timer);

	/* Deleted: every call gives EINVAL. */
	out("timer_delete: %s\n", errname(kdelete(id)));
	out("settime after delete: %s\n", errname(kset(id, 0, &sec, NULL)));
	out("gettime after delete: %s\n", errname(kget(id, &cur)));
	out("getoverrun after delete: %s\n",
	    errname(syscall(SYS_timer_getoverrun, id) < 0 ? errno : 0));
	out("delete again: %s\n", errname(kdelete(id)));
	out("delete -1: %s\n", errname(kdelete(-1)));
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

static volatile unsigned long sink;

static void cpu_timers(void)
{
	handler_for(SIGUSR1);
	static const struct {
		int clock;
		const char *name;
	} cs[] = {{CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID"},
		  {CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME_ID"}};
	for (int i = 0; i < 2; i++) {
		struct ksigevent ev = {0};
		ev.notify = SIGEV_SIGNAL;
		ev.signo = SIGUSR1;
		ev.value.sival_int = 5 + i;
		int id;
		must(kcreate(cs[i].clock, &ev, &id) == 0, "timer_create cpu");
		/* Not during a sleep. */
		struct itimerspec it = {{0, 0}, {0, 50 * MS}}, cur;
		got = 0;
		kset(id, 0, &it, NULL);
		msleep(300);
		kget(id, &cur);
		out("%s timer: no signal while sleeping %d, still armed %d\n", cs[i].name, got == 0,
		    cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0);
		/* During a busy loop with no syscalls. */
		long long c0 = now_ns(cs[i].clock);
		for (unsigned long n = 0; n < 4000000000UL && !got; n++)
			sink += n;
		long long c1 = now_ns(cs[i].clock);
		out("%s timer: fired in a busy loop %d, value %d, timerid %d, after >= 30ms CPU %d\n",
		    cs[i].name, got == SIGUSR1, got_value == 5 + i, got_timerid == id,
		    c1 - c0 >= 30 * MS);
		/* Absolute on the CPU clock: now + 30ms. */
		long long target = now_ns(cs[i].clock) + 30 * MS;
		struct itimerspec abs = {{0, 0}, {target / 1000000000LL, target % 1000000000LL}};
		got = 0;
		kset(id, TIMER_ABSTIME, &abs, NULL);
		for (unsigned long n = 0; n < 4000000000UL && !got; n++)
			sink += n;
		out("%s timer: absolute fired %d, not early %d\n", cs[i].name, got == SIGUSR1,
		    now_ns(cs[i].clock) >= target);
		kdelete(id);
	}
	signal(SIGUSR1, SIG_DFL);
}

/*
 * Timers on another task's CPU clock: a child process's (from
 * clock_getcpuclockid) and another thread's (pthread_getcpuclockid). The
 * signal goes to the creating process when the target has used the time;
 * a sleeping target's clock does not advance; a thread clock of another
 * process's thread is refused.
 */
static volatile sig_atomic_t spin_stop;
static void *spinner(void *arg)
{
	(void)arg;
	while (!spin_stop)
		sink++;
	return NULL;
}

static void foreign_cpu_timers(void)
{
	handler_for(SIGUSR1);
	for (int busy = 0; busy < 2; busy++) {
		pid_t c = fork();
		if (c == 0) {
			if (busy)
				for (;;)
					sink++;
			for (;;)
				pause();
		}
		must(c > 0, "fork");
		clockid_t cc;
		must(clock_getcpuclockid(c, &cc) == 0, "clock_getcpuclockid(child)");
		struct ksigevent ev = {0};
		ev.notify = SIGEV_SIGNAL;
		ev.signo = SIGUSR1;
		ev.value.sival_int = 9;
		int id = -1;
		int e = kcreate(cc, &ev, &id);
		got = 0;
		if (e == 0) {
			struct itimerspec it = {{0, 0}, {0, (busy ? 50 : 20) * MS}};
			check(kset(id, 0, &it, NULL) == 0, "timer_settime(child clock)");
			wait_got(busy ? 3000 : 200);
		}
		long long cpu = now_ns(cc);
		if (busy)
			out("timer on a busy child's CPU clock: %s, fired in the parent %d, "
			    "value %d, timerid %d, child CPU >= 50ms %d\n",
			    errname(e), got == SIGUSR1, got_value == 9, got_timerid == id,
			    cpu >= 50 * MS);
		else
			out("timer on a sleeping child's CPU clock: %s, no signal %d\n",
			    errname(e), got == 0);
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		if (e == 0) {
			struct itimerspec cur = {{1, 1}, {1, 1}};
			int eg = kget(id, &cur);
			out("  after the child is reaped: timer_gettime %s, value %s\n",
			    errname(eg),
			    busy ? (cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0
					    ? "0" : "not 0")
				 : "-");
			kdelete(id);
		}
		if (!busy) {
			/* A thread clock naming the child's (only) thread. */
			pid_t d = fork();
			if (d == 0)
				for (;;)
					pause();
			int tclock = (int)((~(unsigned)d) << 3) | 6;
			out("timer on another process's thread clock: %s\n",
			    errname(kcreate(tclock, &ev, &id)));
			kill(d, SIGKILL);
			waitpid(d, NULL, 0);
		}
	}
	/* Another thread's clock. */
	pthread_t th;
	spin_stop = 0;
	must(pthread_create(&th, NULL, spinner, NULL) == 0, "pthread_create");
	clockid_t tc;
	must(pthread_getcpuclockid(th, &tc) == 0, "pthread_getcpuclockid(other)");
	struct ksigevent ev = {0};
	ev.notify = SIGEV_SIGNAL;
	ev.signo = SIGUSR1;
	ev.value.sival_int = 11;
	int id = -1;
	int e = kcreate(tc, &ev, &id);
	got = 0;
	long long mine0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	if (e == 0) {
		struct itimerspec it = {{0, 0}, {0, 50 * MS}};
		check(kset(id, 0, &it, NULL) == 0, "timer_settime(thread clock)");
		wait_got(3000);
	}
	long long cpu = now_ns(tc);
	long long mine = now_ns(CLOCK_THREAD_CPUTIME_ID) - mine0;
	out("timer on another thread's CPU clock: %s, fired %d, value %d, thread CPU >= "
	    "50ms %d, the waiting thread's own CPU < 50ms %d\n",
	    errname(e), got == SIGUSR1, got_value == 11, cpu >= 50 * MS, mine < 50 * MS);
	spin_stop = 1;
	pthread_join(th, NULL);
	if (e == 0)
		kdelete(id);
	signal(SIGUSR1, SIG_DFL);
}

/* SIGEV_THREAD through libc. */
static volatile int thread_runs, thread_value_ok;
static void on_thread_timer(union sigval v)
{
	if (v.sival_int == 4242)
		thread_value_ok = 1;
	__atomic_add_fetch(&thread_runs, 1, __ATOMIC_SEQ_CST);
}

static void sigev_thread(void)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = on_thread_timer;
	sev.sigev_value.sival_int = 4242;
	timer_t t;
	must(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create SIGEV_THREAD");
	struct itimerspec it = {{0, 0}, {0, 20 * MS}};
	must(timer_settime(t, 0, &it, NULL) == 0, "timer_settime SIGEV_THREAD");
	for (int i = 0; i < 2000 && !thread_runs; i++)
		msleep(1);
	msleep(50);
	out("SIGEV_THREAD: ran once %d, value %d\n", thread_runs == 1, thread_value_ok);
	/* An interval: runs again. */
	struct itimerspec iv = {{0, 20 * MS}, {0, 20 * MS}};
	timer_settime(t, 0, &iv, NULL);
	for (int i = 0; i < 3000 && thread_runs < 4; i++)
		msleep(1);
	out("SIGEV_THREAD interval: ran again %d\n", thread_runs >= 4);
	check(timer_delete(t) == 0, "timer_delete SIGEV_THREAD");
}

static void fork_and_exec(const char *self)
{
	struct ksigevent ev = {0};
	ev.notify = SIGEV_NONE;
	int id;
	must(kcreate(CLOCK_MONOTONIC, &ev, &id) == 0, "timer_create");
	struct itimerspec it = {{0, 0}, {100, 0}}, cur;
	kset(id, 0, &it, NULL);
	pid_t c = fork();
	if (c == 0) {
		out("fork child: gettime of the parent's timer: %s\n", errname(kget(id, &cur)));
		int cid;
		kcreate(CLOCK_MONOTONIC, &ev, &cid);
		kset(cid, 0, &it, NULL);
		out("fork child: own timer before exec: %s\n", errname(kget(cid, &cur)));
		char idbuf[16];
		snprintf(idbuf, sizeof idbuf, "%d", cid);
		char *args[] = {(char *)self, "after-exec", idbuf, NULL};
		execv("/proc/self/exe", args);
		_exit(1);
	}
	out("child: %s\n", describe_status(wait_for(c)));
	out("parent's timer still there: %s\n", errname(kget(id, &cur)));
	kdelete(id);
}

static volatile sig_atomic_t alarmed;
static void on_alarm(int s)
{
	(void)s;
	alarmed = 1;
}

static void interrupted_sleeps(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART; /* does not restart a sleep */
	sigaction(SIGALRM, &sa, NULL);
	struct ksigevent ev = {0};
	ev.notify = SIGEV_SIGNAL;
	ev.signo = SIGALRM;
	int id;
	must(kcreate(CLOCK_MONOTONIC, &ev, &id) == 0, "timer_create");
	struct itimerspec it = {{0, 0}, {0, 100 * MS}};

	struct timespec req = {2, 0}, rem = {0, 0};
	kset(id, 0, &it, NULL);
	errno = 0;
	int r = nanosleep(&req, &rem);
	out("nanosleep interrupted: %d %s, rem in [1.5s, 1.95s] %d\n", r, errname(errno),
	    ts_ns(rem) >= 1500 * MS && ts_ns(rem) <= 1950 * MS);

	rem.tv_sec = rem.tv_nsec = 0;
	kset(id, 0, &it, NULL);
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
	out("clock_nanosleep relative interrupted: %s, rem in [1.5s, 1.95s] %d\n", errname(r),
	    ts_ns(rem) >= 1500 * MS && ts_ns(rem) <= 1950 * MS);

	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct timespec until = {now.tv_sec + 2, now.tv_nsec};
	rem.tv_sec = 77;
	kset(id, 0, &it, NULL);
	r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, &rem);
	out("clock_nanosleep absolute interrupted: %s, rem untouched %d\n", errname(r),
	    rem.tv_sec == 77);
	kdelete(id);
	signal(SIGALRM, SIG_DFL);

	/* Stopped and continued, no handler: the sleep goes on to its end. */
	pid_t c = fork();
	if (c == 0) {
		struct timespec q = {0, 400 * MS}, left = {9, 0};
		long long t0 = now_ns(CLOCK_MONOTONIC);
		int rr = nanosleep(&q, &left);
		long long t1 = now_ns(CLOCK_MONOTONIC);
		out("stopped sleeper: nanosleep %d, slept >= 400ms %d, < 680ms %d\n", rr,
		    t1 - t0 >= 400 * MS, t1 - t0 < 680 * MS);
		_exit(0);
	}
	msleep(100);
	kill(c, SIGSTOP);
	msleep(200);
	kill(c, SIGCONT);
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	out("stopped sleeper: %s\n", describe_status(st));
	out("restart_syscall with nothing to restart: %s\n",
	    errname(syscall(SYS_restart_syscall) < 0 ? errno : 0));
}

/* Sandbox-only checks (natively, as root, these would set the host's
 * clock or depend on the host's RLIMIT_SIGPENDING accounting): the
 * sandbox refuses to set any clock, and bounds the timers of a process. */
static void sandbox_only(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	out("clock_settime(REALTIME, now): %s\n",
	    errname(syscall(SYS_clock_settime, CLOCK_REALTIME, &now) ? errno : 0));
	struct timeval tv = {now.tv_sec, 0};
	out("settimeofday: %s\n", errname(syscall(SYS_settimeofday, &tv, NULL) ? errno : 0));
	long buf[26];
	memset(buf, 0, sizeof buf);
	buf[0] = 0x0002; /* ADJ_FREQUENCY */
	out("adjtimex(ADJ_FREQUENCY): %s\n", errname(syscall(SYS_adjtimex, buf) < 0 ? errno : 0));
	memset(buf, 0, sizeof buf);
	buf[0] = 0x8001; /* ADJ_OFFSET_SINGLESHOT */
	out("adjtimex(ADJ_OFFSET_SINGLESHOT): %s\n",
	    errname(syscall(SYS_adjtimex, buf) < 0 ? errno : 0));
	memset(buf, 0, sizeof buf);
	buf[0] = 0x0002;
	out("clock_adjtime(REALTIME, ADJ_FREQUENCY): %s\n",
	    errname(syscall(SYS_clock_adjtime, CLOCK_REALTIME, buf) < 0 ? errno : 0));
	struct ksigevent ev = {0};
	ev.notify = SIGEV_NONE;
	int n = 0, e = 0, id;
	while (n < 10000 && (e = kcreate(CLOCK_MONOTONIC, &ev, &id)) == 0)
		n++;
	out("timers before the limit: %d, then %s\n", n, errname(e));
	int ed = kdelete(0);
	int ec = kcreate(CLOCK_MONOTONIC, &ev, &id);
	out("delete one: %s, create again: %s\n", errname(ed), errname(ec));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "sandbox-only") == 0) {
		sandbox_only();
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "after-exec") == 0) {
		struct itimerspec cur;
		out("after exec: the timer made before exec: %s\n", errname(kget(atoi(argv[2]), &cur)));
		return 0;
	}
	every_clock();
	signals();
	cpu_timers();
	foreign_cpu_timers();
	sigev_thread();
	fork_and_exec(argv[0]);
	interrupted_sleeps();
	return failures() != 0;
}
