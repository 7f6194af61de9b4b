/*
 * t_intargs: syscalls read an `int` (or `unsigned int`) argument from the
 * low 32 bits of its register, whatever the high bits hold, while an
 * `unsigned long` argument counts all 64 (measured on the 6.18 host). Each
 * call below passes junk in the high half of an int argument and prints
 * what it returned; mprotect's prot is an unsigned long, so junk there is
 * EINVAL. Then the order of the checks: a bad pointer to copy in is
 * EFAULT before a bad signal number or `how` is EINVAL.
 */
#include "guest.h"
#include <poll.h>
#include <sys/mman.h>

#define HI (1ULL << 32)

static void res(const char *what, long r)
{
	out("%s = %s\n", what, r < 0 ? errname(errno) : "ok");
}

int main(void)
{
	unsigned long set = 0, old = 0;
	res("rt_sigprocmask(how SIG_BLOCK | junk)",
	    syscall(SYS_rt_sigprocmask, HI | SIG_BLOCK, &set, &old, 8));
	res("rt_sigprocmask(how 3 | junk)", syscall(SYS_rt_sigprocmask, HI | 3, &set, &old, 8));

	struct timespec ts;
	res("clock_gettime(CLOCK_MONOTONIC | junk)",
	    syscall(SYS_clock_gettime, HI | CLOCK_MONOTONIC, &ts));
	res("clock_getres(CLOCK_REALTIME | junk)", syscall(SYS_clock_getres, HI, &ts));
	res("clock_gettime(-1 as int)", syscall(SYS_clock_gettime, 0xffffffffULL, &ts));
	struct timespec nap = {0, 1000};
	res("clock_nanosleep(CLOCK_MONOTONIC | junk, flags junk)",
	    syscall(SYS_clock_nanosleep, HI | CLOCK_MONOTONIC, HI, &nap, NULL));

	char buf[16];
	long n = syscall(SYS_getrandom, buf, sizeof buf, HI);
	out("getrandom(flags junk) = %ld\n", n);
	res("getrandom(flags GRND_RANDOM|GRND_INSECURE | junk)", syscall(SYS_getrandom, buf, 4, HI | 6));

	struct rlimit rl;
	res("getrlimit(RLIMIT_NOFILE | junk)", syscall(SYS_getrlimit, HI | RLIMIT_NOFILE, &rl));
	out("  soft <= hard: %s\n", rl.rlim_cur <= rl.rlim_max ? "yes" : "no");
	res("prlimit64(0, RLIMIT_NOFILE | junk)",
	    syscall(SYS_prlimit64, 0, HI | RLIMIT_NOFILE, NULL, &rl));

	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(p != MAP_FAILED, "mmap");
	p[0] = 7;
	res("madvise(MADV_DONTNEED | junk)", syscall(SYS_madvise, p, 4096, HI | MADV_DONTNEED));
	out("  byte after DONTNEED: %d\n", p[0]);
	res("mprotect(PROT_READ | junk)", syscall(SYS_mprotect, p, 4096, HI | PROT_READ));

	int fds[2];
	must(pipe(fds) == 0, "pipe");
	must(write(fds[1], "x", 1) == 1, "write");
	struct pollfd pfd = {fds[0], POLLIN, 0};
	n = syscall(SYS_poll, &pfd, HI | 1, HI | 0);
	out("poll(nfds 1 | junk, timeout 0 | junk) = %ld revents %#x\n", n, pfd.revents);

	siginfo_t si;
	res("waitid(P_ALL | junk, WEXITED|WNOHANG | junk)",
	    syscall(SYS_waitid, HI | P_ALL, 0, &si, HI | WEXITED | WNOHANG, NULL));

	int ep = (int)syscall(SYS_epoll_create1, HI);
	res("epoll_create1(junk)", ep);
	if (ep >= 0)
		close(ep);

	res("rt_sigaction(0, bad act)", syscall(SYS_rt_sigaction, 0, (void *)8, NULL, 8));
	res("rt_sigaction(SIGKILL, bad act)", syscall(SYS_rt_sigaction, SIGKILL, (void *)8, NULL, 8));
	res("rt_sigaction(65, NULL, bad oact)", syscall(SYS_rt_sigaction, 65, NULL, (void *)8, 8));
	res("rt_sigaction(SIGUSR1, bad act, size 7)",
	    syscall(SYS_rt_sigaction, SIGUSR1, (void *)8, NULL, 7));
	res("rt_sigprocmask(how 5, bad set)", syscall(SYS_rt_sigprocmask, 5, (void *)8, NULL, 8));
	res("rt_sigprocmask(how 5, NULL set)", syscall(SYS_rt_sigprocmask, 5, NULL, NULL, 8));

	syscall(SYS_exit_group, HI | 0);
	return 1;
}
