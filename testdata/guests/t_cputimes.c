/*
 * t_cputimes MODE: user and system time of work done in a child process
 * (wait4's rusage) and by the process itself (getrusage, times() and
 * /proc/self/stat's utime and stime), printed in milliseconds for the
 * test to judge (sentry/tests/timers.rs: sandbox-only, the values are the
 * host's and the sandbox's own).
 *   busy      a loop with no syscall for about 300 ms of CPU time
 *   syscalls  20000 getppid calls
 */
#include "guest.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>

static volatile unsigned long sink;

static long long cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void work(int busy)
{
	if (busy) {
		long long end = cpu_ns() + 300000000LL;
		while (cpu_ns() < end)
			for (int i = 0; i < 10000000; i++)
				sink += i;
	} else {
		for (int i = 0; i < 20000; i++)
			syscall(SYS_getppid);
	}
}

static long ms(struct timeval t)
{
	return t.tv_sec * 1000 + t.tv_usec / 1000;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int busy = strcmp(argv[1], "busy") == 0;
	long hz = sysconf(_SC_CLK_TCK);

	pid_t c = fork();
	if (c == 0) {
		work(busy);
		_exit(0);
	}
	struct rusage ru;
	int status;
	must(wait4(c, &status, 0, &ru) == c, "wait4");
	out("wait4: user %ld sys %ld\n", ms(ru.ru_utime), ms(ru.ru_stime));

	work(busy);
	must(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
	out("getrusage: user %ld sys %ld\n", ms(ru.ru_utime), ms(ru.ru_stime));
	struct tms tm;
	times(&tm);
	out("times: user %ld sys %ld\n", tm.tms_utime * 1000 / hz, tm.tms_stime * 1000 / hz);

	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	must(n > 0, "read /proc/self/stat");
	buf[n] = 0;
	char *p = strrchr(buf, ')') + 2; /* field 3 */
	for (int field = 3; field < 14; field++)
		p = strchr(p, ' ') + 1;
	long ut = strtol(p, &p, 10), st = strtol(p, &p, 10);
	out("stat: user %ld sys %ld\n", ut * 1000 / hz, st * 1000 / hz);
	return failures() != 0;
}
