/*
 * t_sched: scheduling and identity calls (issue 10): getgroups,
 * getpriority/setpriority (per thread, clamped, 20-nice from the raw call,
 * PRIO_PGRP over a group, inherited by fork), sched_get_priority_min/max,
 * sched_{get,set}scheduler and sched_{get,set}param with
 * SCHED_RESET_ON_FORK, ioprio_get/set, getrusage's argument checks, and
 * PR_SET_NAME/PR_GET_NAME (per thread, inherited by fork, reset by exec).
 *
 * `t_sched comm` prints its name and exits (the exec check).
 */
#include "guest.h"
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/times.h>

#define T(expr)                        \
	do {                           \
		errno = 0;             \
		long r_ = (long)(expr); \
		show(#expr, r_);       \
	} while (0)

#define IOPRIO(class, data) (((class) << 13) | (data))

/* Raw calls: musl's sched_setscheduler and sched_setparam are stubs that
 * return ENOSYS (the kernel's calls act on one thread, POSIX's on a
 * process), and both libcs must test the same kernel calls. */
#define sched_setscheduler(pid, policy, param) \
	syscall(SYS_sched_setscheduler, pid, policy, param)
#define sched_getscheduler(pid) ((int)syscall(SYS_sched_getscheduler, pid))
#define sched_setparam(pid, param) syscall(SYS_sched_setparam, pid, param)
#define sched_getparam(pid, param) syscall(SYS_sched_getparam, pid, param)
#define sched_get_priority_min(p) ((int)syscall(SYS_sched_get_priority_min, p))
#define sched_get_priority_max(p) ((int)syscall(SYS_sched_get_priority_max, p))

static long getprio_raw(int which, int who)
{
	return syscall(SYS_getpriority, which, who);
}

static void name(const char *what)
{
	char n[32];
	memset(n, 'x', sizeof n);
	prctl(PR_GET_NAME, n);
	n[31] = 0;
	out("%s: name=<%s> byte15=%d\n", what, n, n[15]);
}

/* A pid that no longer exists: a reaped child's. */
static pid_t dead_pid(void)
{
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	return c;
}

static int thread_tid;
static int go[2], back[2];

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = (int)syscall(SYS_gettid);
	setpriority(PRIO_PROCESS, 0, 9);
	prctl(PR_SET_NAME, "thr");
	name("thread");
	char c = 1;
	write(back[1], &c, 1);
	read(go[0], &c, 1);
	return NULL;
}

static void threads(void)
{
	must(pipe(go) == 0 && pipe(back) == 0, "pipe");
	pthread_t th;
	must(pthread_create(&th, NULL, thread_main, NULL) == 0, "pthread_create");
	char c;
	read(back[0], &c, 1);
	out("thread: main raw prio %ld, thread's %ld\n", getprio_raw(PRIO_PROCESS, 0),
	    getprio_raw(PRIO_PROCESS, thread_tid));
	name("main after thread");
	write(go[1], &c, 1);
	pthread_join(th, NULL);
}

static void nice_values(void)
{
	out("raw getpriority: %ld\n", getprio_raw(PRIO_PROCESS, 0));
	T(setpriority(PRIO_PROCESS, 0, 5));
	out("raw %ld, libc %d\n", getprio_raw(PRIO_PROCESS, 0), getpriority(PRIO_PROCESS, 0));
	T(setpriority(PRIO_PROCESS, 0, 100));
	out("clamped high: raw %ld\n", getprio_raw(PRIO_PROCESS, 0));
	T(setpriority(PRIO_PROCESS, 0, -100));
	out("clamped low: raw %ld\n", getprio_raw(PRIO_PROCESS, 0));
	T(setpriority(PRIO_PROCESS, getpid(), 0));
	T(syscall(SYS_setpriority, 3, 0, 0));
	T(syscall(SYS_getpriority, 3, 0));
	T(syscall(SYS_getpriority, -1, 0));
	T(syscall(SYS_getpriority, PRIO_PROCESS, -5));
	T(syscall(SYS_setpriority, PRIO_PROCESS, -5, 1));
	T(syscall(SYS_getpriority, PRIO_PGRP, -5));
	T(syscall(SYS_getpriority, PRIO_USER, 54321));
	pid_t dead = dead_pid();
	T(syscall(SYS_getpriority, PRIO_PROCESS, dead));
}

/* A child in its own process group with a grandchild: PRIO_PGRP. */
static void groups_of_processes(void)
{
	setpriority(PRIO_PROCESS, 0, 3);
	int p[2], q[2];
	must(pipe(p) == 0 && pipe(q) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		setpgid(0, 0);
		out("child: inherited raw %ld\n", getprio_raw(PRIO_PROCESS, 0));
		int r[2], s[2];
		must(pipe(r) == 0 && pipe(s) == 0, "pipe");
		pid_t g = fork();
		if (g == 0) {
			setpriority(PRIO_PROCESS, 0, -4);
			char x = 1;
			write(r[1], &x, 1);
			read(s[0], &x, 1);
			out("grandchild: raw %ld\n", getprio_raw(PRIO_PROCESS, 0));
			_exit(0);
		}
		char x;
		read(r[0], &x, 1);
		out("group: raw %ld\n", getprio_raw(PRIO_PGRP, 0));
		out("group by id: raw %ld\n", getprio_raw(PRIO_PGRP, getpgrp()));
		out("grandchild by pid: raw %ld\n", getprio_raw(PRIO_PROCESS, g));
		T(setpriority(PRIO_PGRP, 0, 6));
		write(s[1], &x, 1);
		waitpid(g, NULL, 0);
		out("child after group set: raw %ld\n", getprio_raw(PRIO_PROCESS, 0));
		/* Effective I/O priority of a group: from nice and policy. */
		setpriority(PRIO_PROCESS, 0, 0);
		T(syscall(SYS_ioprio_get, 2, 0));
		setpriority(PRIO_PROCESS, 0, 10);
		T(syscall(SYS_ioprio_get, 2, 0));
		struct sched_param sp = {0};
		sched_setscheduler(0, SCHED_IDLE, &sp);
		T(syscall(SYS_ioprio_get, 2, 0));
		syscall(SYS_ioprio_set, 1, 0, IOPRIO(2, 1));
		T(syscall(SYS_ioprio_get, 2, 0));
		setpriority(PRIO_PROCESS, 0, 7);
		char y = 1;
		write(p[1], &y, 1);
		read(q[0], &y, 1);
		_exit(0);
	}
	char y;
	read(p[0], &y, 1);
	out("parent sees child: raw %ld\n", getprio_raw(PRIO_PROCESS, c));
	write(q[1], &y, 1);
	waitpid(c, NULL, 0);
	setpriority(PRIO_PROCESS, 0, 0);
}

static void policies(void)
{
	for (int p = -1; p <= 7; p++)
		out("policy %d: min %d max %d\n", p, sched_get_priority_min(p),
		    sched_get_priority_max(p));
	struct sched_param sp = {0};
	T(sched_getscheduler(0));
	T(sched_getparam(0, &sp));
	out("param %d\n", sp.sched_priority);
	sp.sched_priority = 10;
	T(sched_setscheduler(0, SCHED_FIFO, &sp));
	T(sched_getscheduler(0));
	sp.sched_priority = -7;
	T(sched_getparam(0, &sp));
	out("param %d\n", sp.sched_priority);
	sp.sched_priority = 20;
	T(sched_setparam(0, &sp));
	T(sched_getparam(0, &sp));
	out("param %d\n", sp.sched_priority);
	out("raw getpriority under FIFO: %ld\n", getprio_raw(PRIO_PROCESS, 0));
	sp.sched_priority = 0;
	T(sched_setparam(0, &sp));
	sp.sched_priority = 100;
	T(sched_setscheduler(0, SCHED_FIFO, &sp));
	sp.sched_priority = -1;
	T(sched_setscheduler(0, SCHED_RR, &sp));
	sp.sched_priority = 5;
	T(sched_setscheduler(0, SCHED_OTHER, &sp));
	sp.sched_priority = 0;
	T(sched_setscheduler(0, SCHED_OTHER, &sp));
	T(sched_setscheduler(0, 4, &sp));
	T(sched_setscheduler(0, 6, &sp));
	T(syscall(SYS_sched_setscheduler, 0, -1, &sp));
	T(sched_setscheduler(-1, SCHED_OTHER, &sp));
	T(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL));
	T(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, 8));
	T(syscall(SYS_sched_getparam, 0, NULL));
	T(syscall(SYS_sched_getparam, 0, 8));
	T(sched_getscheduler(-1));
	pid_t dead = dead_pid();
	T(sched_getscheduler(dead));
	T(sched_getparam(dead, &sp));
	T(sched_setscheduler(dead, SCHED_OTHER, &sp));

	/* SCHED_RESET_ON_FORK: kept by the parent, cleared in the child; a
	 * real-time policy (and a negative nice) go back to the default. */
	struct {
		int policy, nice, prio;
	} cases[] = {{SCHED_BATCH, -3, 0}, {SCHED_FIFO, -5, 7}, {SCHED_IDLE, 4, 0}};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sp.sched_priority = cases[i].prio;
		setpriority(PRIO_PROCESS, 0, cases[i].nice);
		T(sched_setscheduler(0, cases[i].policy | SCHED_RESET_ON_FORK, &sp));
		out("parent: %#x\n", sched_getscheduler(0));
		pid_t c = fork();
		if (c == 0) {
			struct sched_param cp = {-1};
			sched_getparam(0, &cp);
			out("child: %#x param %d raw prio %ld\n", sched_getscheduler(0),
			    cp.sched_priority, getprio_raw(PRIO_PROCESS, 0));
			_exit(0);
		}
		waitpid(c, NULL, 0);
		sp.sched_priority = 0;
		sched_setscheduler(0, SCHED_OTHER, &sp);
		setpriority(PRIO_PROCESS, 0, 0);
	}
	T(sched_getscheduler(0));
}

static void ioprio(void)
{
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(2, 3)));
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_get, 1, getpid()));
	pid_t c = fork();
	if (c == 0) {
		out("child inherits: %ld\n", syscall(SYS_ioprio_get, 1, 0));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(2, 3) | (1 << 3)));
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(0, 1)));
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(4, 0)));
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(7, 0)));
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(3, 5)));
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_set, 1, 0, IOPRIO(1, 0)));
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_set, 1, 0, 0x10000 | IOPRIO(2, 2)));
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_set, 1, 0, 1 << 3));
	T(syscall(SYS_ioprio_get, 1, 0));
	c = fork();
	if (c == 0) {
		out("class NONE is not inherited: %ld\n", syscall(SYS_ioprio_get, 1, 0));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	T(syscall(SYS_ioprio_set, 1, 0, 0));
	T(syscall(SYS_ioprio_get, 1, 0));
	T(syscall(SYS_ioprio_get, 0, 0));
	T(syscall(SYS_ioprio_get, 4, 0));
	T(syscall(SYS_ioprio_set, 0, 0, 0));
	T(syscall(SYS_ioprio_get, 1, -3));
	T(syscall(SYS_ioprio_set, 1, -3, 0));
	T(syscall(SYS_ioprio_get, 3, 54321));
	T(syscall(SYS_ioprio_set, 1, dead_pid(), 0));
}

/* CPU time (user + system) in milliseconds. */
static long cpu_ms(int who)
{
	struct rusage ru;
	if (getrusage(who, &ru) != 0)
		return -1;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* About 150 ms of CPU on the machines measured (never optimized out). */
static void burn(void)
{
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 300000000UL; i++)
		x += i;
}

static void *burner(void *arg)
{
	(void)arg;
	burn();
	return NULL;
}

/* getrusage's times are real: work done by this thread, another thread
 * and a waited-for child shows up where Linux shows it. */
static void cpu_times(void)
{
	long self0 = cpu_ms(RUSAGE_SELF), thread0 = cpu_ms(RUSAGE_THREAD);
	burn();
	/* The thread's time first: time passes between the two calls (a
	 * trap's worth in the sandbox), so only this order makes
	 * "thread <= self" hold whatever the timing. */
	long thread1 = cpu_ms(RUSAGE_THREAD), self1 = cpu_ms(RUSAGE_SELF);
	out("own work: self +%s, thread +%s, thread <= self: %s\n",
	    self1 - self0 >= 50 ? ">=50ms" : "<50ms", thread1 - thread0 >= 50 ? ">=50ms" : "<50ms",
	    thread1 <= self1 ? "yes" : "no");
	pthread_t th;
	must(pthread_create(&th, NULL, burner, NULL) == 0, "pthread_create");
	pthread_join(th, NULL);
	long self2 = cpu_ms(RUSAGE_SELF), thread2 = cpu_ms(RUSAGE_THREAD);
	out("a thread's work: self +%s, this thread +%s\n", self2 - self1 >= 50 ? ">=50ms" : "<50ms",
	    thread2 - thread1 >= 50 ? ">=50ms" : "<50ms");
	long children0 = cpu_ms(RUSAGE_CHILDREN);
	pid_t c = fork();
	if (c == 0) {
		burn();
		_exit(0);
	}
	siginfo_t si;
	waitid(P_PID, c, &si, WEXITED | WNOWAIT);
	long children1 = cpu_ms(RUSAGE_CHILDREN);
	waitpid(c, NULL, 0);
	long children2 = cpu_ms(RUSAGE_CHILDREN), self3 = cpu_ms(RUSAGE_SELF);
	out("a child's work: children +%s before wait, +%s after; self +%s\n",
	    children1 - children0 >= 50 ? ">=50ms" : "<50ms",
	    children2 - children0 >= 50 ? ">=50ms" : "<50ms", self3 - self2 >= 50 ? ">=50ms" : "<50ms");
	/* times(): the same, in clock ticks (100 a second). */
	struct tms tm;
	errno = 0;
	long r = syscall(SYS_times, &tm);
	out("times: %s, self %s, children %s\n", r == -1 ? errname(errno) : "ok",
	    tm.tms_utime + tm.tms_stime >= 10 ? ">=100ms" : "<100ms",
	    tm.tms_cutime + tm.tms_cstime >= 5 ? ">=50ms" : "<50ms");
	T(syscall(SYS_times, NULL) != -1);
	T(syscall(SYS_times, 8));
}

static void usage(void)
{
	struct rusage ru;
	T(getrusage(RUSAGE_SELF, &ru));
	T(getrusage(RUSAGE_CHILDREN, &ru));
	T(getrusage(RUSAGE_THREAD, &ru));
	T(syscall(SYS_getrusage, 5, &ru));
	T(syscall(SYS_getrusage, -2, &ru));
	T(syscall(SYS_getrusage, 5, 8));
	T(syscall(SYS_getrusage, RUSAGE_SELF, 8));
	out("times non-negative: %s\n",
	    ru.ru_utime.tv_sec >= 0 && ru.ru_stime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 ? "yes" : "no");
}

static void identity(void)
{
	T(getgroups(0, NULL));
	gid_t g[8];
	T(getgroups(8, g));
	T(syscall(SYS_getgroups, -1, g));
}

static void names(char *self)
{
	name("start");
	T(prctl(PR_SET_NAME, "worker-name-longer-than-15"));
	name("long");
	T(prctl(PR_SET_NAME, ""));
	name("empty");
	T(prctl(PR_SET_NAME, (char *)8));
	name("after EFAULT");
	T(prctl(PR_GET_NAME, (char *)8));
	T(prctl(PR_SET_NAME, "parent"));
	pid_t c = fork();
	if (c == 0) {
		name("forked child");
		prctl(PR_SET_NAME, "kid");
		char *args[] = {self, "comm", NULL};
		execv("/proc/self/exe", args);
		_exit(99);
	}
	int st;
	waitpid(c, &st, 0);
	name("parent after child");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "comm") == 0) {
		name("after exec");
		return 0;
	}
	identity();
	nice_values();
	groups_of_processes();
	threads();
	policies();
	ioprio();
	usage();
	cpu_times();
	names(argv[0]);
	return finish();
}
