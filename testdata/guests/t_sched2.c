/*
 * t_sched2: more scheduler calls (issue 10): sched_setaffinity and
 * sched_getaffinity (the raw call's byte count, the mask of the CPUs
 * offered, per thread, inherited by fork, EINVAL for a mask with no
 * usable CPU or a short length, ESRCH), getcpu (a CPU in the mask, node
 * 0), sched_rr_get_interval (SCHED_RR's 100 ms, FIFO's 0, errors), and
 * sched_setattr/sched_getattr (struct sizes, E2BIG with the size written
 * back, EINVAL for bad policies, flags and priorities, nice through
 * sched_attr, SCHED_FLAG_KEEP_POLICY with RESET_ON_FORK), and the
 * rusage of wait4 and waitid (the child's CPU time and its children's).
 * Nothing host-specific is printed: CPU counts are compared with
 * sysconf(_SC_NPROCESSORS_ONLN), never printed.
 */
#include "guest.h"
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#define T(expr)                                 \
	do {                                    \
		errno = 0;                      \
		long r_ = (long)(expr);         \
		out("%s = %ld%s%s\n", #expr, r_, \
		    r_ == -1 ? " " : "",        \
		    r_ == -1 ? errname(errno) : ""); \
	} while (0)

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t prio;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

static long setattr(int pid, void *a, unsigned flags)
{
	return syscall(SYS_sched_setattr, pid, a, flags);
}

static long getattr(int pid, void *a, unsigned size, unsigned flags)
{
	return syscall(SYS_sched_getattr, pid, a, size, flags);
}

static unsigned long mask_raw(int pid, long *ret)
{
	unsigned long m[16];
	memset(m, 0, sizeof m);
	*ret = syscall(SYS_sched_getaffinity, pid, sizeof m, m);
	return m[0];
}

static void *thread_mask(void *arg)
{
	long r;
	*(unsigned long *)arg = mask_raw(0, &r);
	return NULL;
}

static void affinity(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	long r;
	unsigned long all = mask_raw(0, &r);
	out("getaffinity: returns a multiple of 8: %s, CPUs in mask == online: %s\n",
	    r > 0 && r % 8 == 0 ? "yes" : "no", __builtin_popcountl(all) == n ? "yes" : "no");
	unsigned long m[2] = {0, 0};
	T(syscall(SYS_sched_getaffinity, 0, 4, m));
	T(syscall(SYS_sched_getaffinity, 0, 12, m));
	T(syscall(SYS_sched_getaffinity, 0, 0, m));
	T(syscall(SYS_sched_getaffinity, -1, 8, m));
	T(syscall(SYS_sched_getaffinity, 0, 8, NULL));
	unsigned long zero = 0, high = 1UL << 63, first = all & -all;
	T(syscall(SYS_sched_setaffinity, 0, 8, &zero));
	T(syscall(SYS_sched_setaffinity, 0, 8, &high));
	T(syscall(SYS_sched_setaffinity, 0, 8, NULL));
	T(syscall(SYS_sched_setaffinity, -1, 8, &first));
	T(syscall(SYS_sched_setaffinity, 0, 8, &first));
	out("after setting the first CPU: mask is it: %s\n", mask_raw(0, &r) == first ? "yes" : "no");
	unsigned cpu = 99, node = 99;
	T(syscall(SYS_getcpu, &cpu, &node, NULL));
	out("getcpu: the CPU is the one allowed: %s, node %u\n", (1UL << cpu) == first ? "yes" : "no", node);
	T(syscall(SYS_getcpu, NULL, NULL, NULL));
	unsigned long tm = 0;
	pthread_t th;
	pthread_create(&th, NULL, thread_mask, &tm);
	pthread_join(th, NULL);
	out("a new thread inherits it: %s\n", tm == first ? "yes" : "no");
	pid_t c = fork();
	if (c == 0) {
		long r2;
		_exit(mask_raw(0, &r2) == first ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	out("a child inherits it: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
	/* A shorter length: the rest of the mask is zero. */
	T(syscall(SYS_sched_setaffinity, 0, 1, &all));
	T(syscall(SYS_sched_setaffinity, 0, 8, &all));
	out("back to all: %s\n", mask_raw(0, &r) == all ? "yes" : "no");
}

static void rr_interval(void)
{
	struct timespec ts = {-1, -1};
	T(sched_rr_get_interval(0, &ts));
	out("SCHED_OTHER slice under a second: %s\n", ts.tv_sec == 0 && ts.tv_nsec >= 0 ? "yes" : "no");
	T(syscall(SYS_sched_rr_get_interval, -1, &ts));
	T(syscall(SYS_sched_rr_get_interval, 0, NULL));
	T(syscall(SYS_sched_rr_get_interval, 0x3ffffff0, &ts));
}

static void *rr_thread(void *arg)
{
	(void)arg;
	struct sched_param p = {.sched_priority = 5};
	struct timespec ts;
	if (syscall(SYS_sched_setscheduler, 0, SCHED_RR, &p) != 0) {
		out("SCHED_RR refused: %s\n", errname(errno));
		return NULL;
	}
	T(sched_rr_get_interval(0, &ts));
	out("SCHED_RR slice: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	p.sched_priority = 7;
	syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &p);
	T(sched_rr_get_interval(0, &ts));
	out("SCHED_FIFO slice: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	struct attr a;
	memset(&a, 0, sizeof a);
	T(getattr(0, &a, sizeof a, 0));
	out("getattr FIFO: size %u policy %u flags %llu prio %u nice %d\n", a.size, a.policy,
	    (unsigned long long)a.flags, a.prio, a.nice);
	return NULL;
}

static void attrs(void)
{
	struct attr a;
	unsigned char big[128];
	memset(&a, 0, sizeof a);
	T(getattr(0, &a, sizeof a, 0));
	out("getattr: size %u policy %u flags %llu nice %d prio %u runtime>0 %s\n", a.size, a.policy,
	    (unsigned long long)a.flags, a.nice, a.prio, a.runtime > 0 ? "yes" : "no");
	memset(&a, 0xff, sizeof a);
	T(getattr(0, &a, 48, 0));
	out("getattr 48: size %u, byte 48 untouched: %s\n", a.size, a.util_min == 0xffffffffu ? "yes" : "no");
	memset(big, 0xee, sizeof big);
	T(getattr(0, big, sizeof big, 0));
	out("getattr 128: size %u, byte 100: %#x\n", ((struct attr *)big)->size, big[100]);
	T(getattr(0, &a, 47, 0));
	T(getattr(0, &a, 8192, 0));
	T(getattr(0, &a, sizeof a, 1));
	T(getattr(0, NULL, sizeof a, 0));
	T(getattr(-1, &a, sizeof a, 0));
	T(getattr(0x3ffffff0, &a, sizeof a, 0));

	/* setattr: nice through the struct. */
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.policy = SCHED_OTHER;
	a.nice = 3;
	T(setattr(0, &a, 0));
	out("nice after setattr: %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0));
	a.nice = 100;
	T(setattr(0, &a, 0));
	out("nice 100 is clamped: %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0));
	a.nice = 0;
	T(setattr(0, &a, 0));
	a.size = 0; /* VER0 */
	T(setattr(0, &a, 0));
	a.size = 40;
	T(setattr(0, &a, 0));
	out("size written back: %u\n", a.size);
	memset(big, 0, sizeof big);
	memcpy(big, &a, sizeof a);
	((struct attr *)big)->size = sizeof big;
	T(setattr(0, big, 0));
	big[100] = 1;
	T(setattr(0, big, 0));
	out("size written back: %u\n", ((struct attr *)big)->size);
	a.size = sizeof a;
	a.policy = 42;
	T(setattr(0, &a, 0));
	a.policy = (uint32_t)-1;
	T(setattr(0, &a, 0));
	a.policy = SCHED_OTHER;
	a.flags = 0x100;
	T(setattr(0, &a, 0));
	a.flags = 0;
	a.prio = 5;
	T(setattr(0, &a, 0));
	a.policy = SCHED_FIFO;
	a.prio = 0;
	T(setattr(0, &a, 0));
	a.prio = 100;
	T(setattr(0, &a, 0));
	a.policy = 6; /* SCHED_DEADLINE with no deadline */
	a.prio = 0;
	T(setattr(0, &a, 0));
	a.policy = SCHED_BATCH;
	a.flags = 0x20; /* a utilization clamp needs the longer struct */
	a.size = 48;
	T(setattr(0, &a, 0));
	a.size = sizeof a;
	a.flags = 0;
	T(setattr(0, &a, 1));
	T(setattr(-1, &a, 0));
	T(setattr(0, NULL, 0));
	T(setattr(0x3ffffff0, &a, 0));
	T(setattr(0, &a, 0));
	out("policy after SCHED_BATCH: %ld\n", syscall(SYS_sched_getscheduler, 0));
	/* KEEP_POLICY: only the nice value changes; RESET_ON_FORK is then
	 * the task's own, not the flag's. */
	a.policy = SCHED_IDLE;
	a.nice = 2;
	a.flags = 0x08 | 0x01;
	T(setattr(0, &a, 0));
	out("after KEEP_POLICY: policy %ld nice %ld\n", syscall(SYS_sched_getscheduler, 0),
	    20 - syscall(SYS_getpriority, PRIO_PROCESS, 0));
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	T(setattr(0, &a, 0));
	pthread_t th;
	pthread_create(&th, NULL, rr_thread, NULL);
	pthread_join(th, NULL);
}

/* About 150 ms of CPU on the machines measured (never optimized out). */
static void burn(void)
{
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 300000000UL; i++)
		x += i;
}

static long ms(const struct rusage *ru)
{
	return (ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
	       (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
}

/* wait4's and waitid's rusage are the child's (and its children's). */
static void wait_rusage(void)
{
	struct rusage ru;
	memset(&ru, 0xff, sizeof ru);
	pid_t c = fork();
	if (c == 0) {
		burn();
		_exit(0);
	}
	siginfo_t si;
	long r = syscall(SYS_waitid, P_PID, c, &si, WEXITED | WNOWAIT, &ru);
	out("waitid WNOWAIT: %ld, child's time >=50ms: %s\n", r, ms(&ru) >= 50 ? "yes" : "no");
	memset(&ru, 0xff, sizeof ru);
	int st;
	r = wait4(c, &st, 0, &ru);
	out("wait4: %s, child's time >=50ms: %s, under 100 s: %s, maxrss set: %s\n", r == c ? "child" : "?",
	    ms(&ru) >= 50 ? "yes" : "no", ms(&ru) < 100000 ? "yes" : "no", ru.ru_maxrss != -1 ? "yes" : "no");
	/* A grandchild's time counts once its parent waited for it. */
	c = fork();
	if (c == 0) {
		pid_t g = fork();
		if (g == 0) {
			burn();
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	memset(&ru, 0, sizeof ru);
	wait4(c, &st, 0, &ru);
	out("wait4 of a child that waited for a busy grandchild: >=50ms: %s\n", ms(&ru) >= 50 ? "yes" : "no");
	memset(&ru, 0xff, sizeof ru);
	r = wait4(-1, &st, WNOHANG, &ru);
	out("wait4 with no child: %s\n", r == -1 ? errname(errno) : "?");
}

int main(void)
{
	wait_rusage();
	affinity();
	rr_interval();
	attrs();
	return failures() ? 1 : 0;
}
