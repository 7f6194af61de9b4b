/*
 * t_getcpu: the CPU a thread runs on, read three ways, agrees and is one
 * sched_getaffinity allows: sched_getcpu() (the vDSO's getcpu for musl,
 * and for glibc where rseq is not registered, as in the sandbox), the
 * getcpu syscall, and /proc/self/stat's `processor` (field 39).
 *  - pinned to each allowed CPU in turn: all three report it;
 *  - unpinned: every read is an allowed CPU;
 *  - another thread pinned by sched_setaffinity(tid) moves there.
 * Only agreement and membership are printed, not CPU numbers.
 */
#include "guest.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

static int sys_getcpu(void)
{
	unsigned cpu = 9999;
	if (syscall(SYS_getcpu, &cpu, NULL, NULL) != 0)
		return -1;
	return (int)cpu;
}

/* Field 39 of /proc/self/stat. */
static int stat_cpu(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2; /* field 3, state */
	for (int field = 3; field < 39; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return atoi(p);
}

static volatile int moved_cpu = -2, stop;
static volatile int target_cpu = -1, mover_tid;

static void *mover(void *arg)
{
	(void)arg;
	mover_tid = (int)syscall(SYS_gettid);
	while (!stop) {
		int c = sched_getcpu(), s = sys_getcpu();
		if (target_cpu >= 0)
			moved_cpu = c == s ? c : -3;
	}
	return NULL;
}

int main(void)
{
	cpu_set_t all;
	must(sched_getaffinity(0, sizeof all, &all) == 0, "sched_getaffinity");
	int n = CPU_COUNT(&all), last = -1;
	out("allowed CPUs: %d\n", n);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		last = cpu;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		must(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity(one)");
		int vd = 1, sy = 1, st = 1;
		for (int i = 0; i < 200; i++) {
			vd &= sched_getcpu() == cpu;
			sy &= sys_getcpu() == cpu;
			if (i % 20 == 0)
				st &= stat_cpu() == cpu;
		}
		cpu_set_t now;
		sched_getaffinity(0, sizeof now, &now);
		out("pinned to one CPU: sched_getcpu %s, getcpu %s, stat %s, affinity %s\n",
		    vd ? "it" : "other", sy ? "it" : "other", st ? "it" : "other",
		    CPU_EQUAL(&now, &one) ? "that CPU" : "other");
	}
	must(sched_setaffinity(0, sizeof all, &all) == 0, "sched_setaffinity(all)");
	int in = 1;
	for (int i = 0; i < 2000; i++) {
		int a = sched_getcpu(), b = sys_getcpu();
		in &= a >= 0 && b >= 0 && CPU_ISSET(a, &all) && CPU_ISSET(b, &all);
		if (i % 200 == 0) {
			int s = stat_cpu();
			in &= s >= 0 && CPU_ISSET(s, &all);
		}
	}
	out("unpinned: every read is an allowed CPU: %d\n", in);

	/* Another thread, moved by sched_setaffinity(tid). */
	pthread_t th;
	must(pthread_create(&th, NULL, mover, NULL) == 0, "pthread_create");
	usleep(20000);
	pid_t tid = mover_tid;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	must(tid > 0 && sched_setaffinity(tid, sizeof one, &one) == 0,
	     "sched_setaffinity(other thread)");
	target_cpu = last;
	usleep(50000);
	moved_cpu = -2;
	usleep(50000);
	stop = 1;
	pthread_join(th, NULL);
	out("another thread pinned by tid: runs there %d\n", moved_cpu == last);
	return failures() != 0;
}
