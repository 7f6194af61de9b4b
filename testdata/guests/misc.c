/*
 * misc: a grab bag of simple syscalls whose results are host independent.
 * uname (sysname/machine only), getrandom, clock_gettime(MONOTONIC) and
 * gettimeofday sanity, uid/gid (printed: the tests run as the same user
 * natively and in the sandbox), isatty/ioctl(TCGETS) on stdout (stdout is a
 * pipe in the tests: ENOTTY), fstat(1) is a FIFO, readlink(/proc/self/exe)
 * basename, sched_getaffinity, madvise(MADV_DONTNEED) zeroing, unknown
 * syscall 999 -> ENOSYS, write from a bad pointer -> EFAULT.
 */
#include "guest.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <termios.h>

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int main(void)
{
	struct utsname u;
	must(uname(&u) == 0, "uname");
	out("uname: sysname=%s machine=%s\n", u.sysname, u.machine);

	unsigned char rnd[16];
	long n = syscall(SYS_getrandom, rnd, sizeof rnd, 0);
	out("getrandom: %ld\n", n);

	struct timespec a, b;
	int r1 = clock_gettime(CLOCK_MONOTONIC, &a);
	int r2 = clock_gettime(CLOCK_MONOTONIC, &b);
	check(r1 == 0 && r2 == 0, "clock_gettime");
	check(ns(&b) >= ns(&a), "monotonic never goes back");
	sleep_ms(2);
	struct timespec c;
	clock_gettime(CLOCK_MONOTONIC, &c);
	out("monotonic: %s\n", ns(&c) - ns(&b) >= 2000000 ? "increases" : "BAD");

	struct timeval tv;
	struct timespec rt;
	int g = gettimeofday(&tv, NULL);
	clock_gettime(CLOCK_REALTIME, &rt);
	long long diff = (long long)rt.tv_sec - (long long)tv.tv_sec;
	out("gettimeofday: %s\n",
	    g == 0 && tv.tv_sec > 1500000000 && tv.tv_usec >= 0 &&
			    tv.tv_usec < 1000000 && diff >= 0 && diff <= 2
		    ? "ok"
		    : "BAD");

	out("ids: uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(),
	    (int)getgid(), (int)getegid());

	errno = 0;
	int tty = isatty(1);
	out("isatty(1)=%d errno=%s\n", tty, tty ? "0" : errname(errno));
	struct termios tio;
	errno = 0;
	int ir = ioctl(1, TCGETS, &tio);
	out("ioctl(1, TCGETS)=%d errno=%s\n", ir, ir == 0 ? "0" : errname(errno));

	struct stat st;
	must(fstat(1, &st) == 0, "fstat(1)");
	out("fstat(1): fifo=%d\n", S_ISFIFO(st.st_mode) ? 1 : 0);

	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = 0;
		const char *base = strrchr(exe, '/');
		out("readlink(/proc/self/exe): absolute=%d basename=%s\n",
		    exe[0] == '/', base ? base + 1 : exe);
	} else {
		out("readlink(/proc/self/exe): failed errno=%s\n", errname(errno));
	}

	unsigned long mask[16];
	memset(mask, 0, sizeof mask);
	long ar = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
	int cpus = 0;
	if (ar > 0)
		for (long i = 0; i < ar / (long)sizeof(unsigned long); i++)
			cpus += __builtin_popcountl(mask[i]);
	out("sched_getaffinity: %s\n", ar > 0 && cpus > 0 ? "ok" : "BAD");

	size_t pg = 4096;
	unsigned char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(m != MAP_FAILED, "mmap");
	memset(m, 0xab, 4 * pg);
	int mr = madvise(m, 4 * pg, MADV_NORMAL);
	int dr = madvise(m + pg, 2 * pg, MADV_DONTNEED);
	out("madvise: normal=%d dontneed=%d page0=%02x page1=%02x page2=%02x page3=%02x\n",
	    mr, dr, m[0], m[pg], m[2 * pg + 100], m[3 * pg + pg - 1]);
	munmap(m, 4 * pg);

	errno = 0;
	long u999 = syscall(999);
	out("syscall(999)=%ld errno=%s\n", u999, errname(errno));

	errno = 0;
	const void *volatile badp = (const void *)1;
	long wr = syscall(SYS_write, 1, badp, 10);
	out("write(1, (void*)1, 10)=%ld errno=%s\n", wr, errname(errno));

	return finish();
}
