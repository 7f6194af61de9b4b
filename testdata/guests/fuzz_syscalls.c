/*
 * fuzz_syscalls: random syscalls with extreme arguments, in forked children.
 *
 *     fuzz_syscalls SEED [CHILDREN [CALLS]]
 *
 * SANDBOX ONLY. Run natively it would do real damage (random unlink,
 * rename, kill, mount, reboot... with whatever the random bytes say), so it
 * refuses to start unless uname() reports the sandbox's node name
 * ("sandbox"), and sentry/tests/fuzz_syscalls.rs only ever runs it inside
 * the sentry. It is not a differential guest.
 *
 * The parent prints the seed, forks CHILDREN children (each in its own
 * process group), and reaps every one of them (and anything they leave
 * behind), killing stragglers with SIGKILL after a deadline. Each child,
 * seeded with SEED and its index, closes its standard streams and makes
 * CALLS raw syscalls: numbers 0..462 and out-of-range ones (up to 1023, the
 * x32 bit, high bits above 32, -1, 1<<63); arguments 0, -1, 1<<63, small
 * numbers, descriptors, sizes up to 1<<40, and pointers to NULL, below
 * mmap_min_addr, into a scratch area (random bytes seeded with some path
 * strings), right before its unmapped guard page, onto its own stack and
 * code, to non-canonical and kernel addresses. The parent's final line
 * says how many children were reaped; dying of a signal is an acceptable
 * end for a child (a random rt_sigreturn, munmap or arch_prctl will do
 * that), a sentry panic or hang is not.
 *
 * Excluded numbers, each because it would end or stall the test rather than
 * exercise the sentry: exit (60) and exit_group (231) end the child at
 * once; pause (34) and rt_sigsuspend (130) only wait for the alarm. Every
 * other call that may block (read on an empty pipe, wait4, futex, sleeps,
 * poll with a random timeout...) stays in: an alarm(1) in each child and the
 * parent's SIGKILL after the deadline bound them, and a sandbox whose
 * SIGKILL cannot end a blocked task is a finding.
 *
 * Arguments forced for safety of the parent (a child must not signal its
 * parent, pid 1 of the sandbox): the pid of kill, tkill, tgkill,
 * rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_open, ptrace, prlimit64,
 * process_vm_readv/writev and kcmp is the child's own. A new task made by
 * a random fork, vfork or clone sees a new tid and exits at once.
 */
#include "guest.h"
#include <sys/mman.h>
#include <sys/utsname.h>

#define SCRATCH_SIZE (64 * 1024)

static unsigned long long rng_state;

static unsigned long long next(void)
{
	unsigned long long z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned long long below(unsigned long long n)
{
	return n ? next() % n : 0;
}

static inline long raw6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static char *scratch; /* SCRATCH_SIZE bytes, then an unmapped guard page */

static const char *const paths[] = {
	"/", ".", "..", "/etc/passwd", "/proc/self/maps", "/proc/self/exe", "/proc/self/status",
	"/dev/null", "/dev/zero", "/tmp", "/nonexistent", "/proc", "/sys", "/dev",
	"/etc/mtab", "", "/bin/sh",
};

static void fill_scratch(void)
{
	for (size_t i = 0; i < SCRATCH_SIZE; i += 8) {
		unsigned long long v = next();
		memcpy(scratch + i, &v, 8);
	}
	/* Some small numbers and valid strings, for deeper paths. */
	for (int i = 0; i < 64; i++) {
		size_t off = below(SCRATCH_SIZE / 8) * 8;
		unsigned long long v = below(4) ? below(64) : below(1 << 20);
		memcpy(scratch + off, &v, 8);
	}
	for (int i = 0; i < 32; i++) {
		const char *p = paths[below(sizeof paths / sizeof paths[0])];
		size_t off = below(SCRATCH_SIZE - 64);
		memcpy(scratch + off, p, strlen(p) + 1);
	}
}

static long code_marker(void)
{
	return 0;
}

static long pointer(void)
{
	char local[64];
	switch (below(12)) {
	case 0: return 0;
	case 1: return 0x1000;
	case 2: return (long)(scratch + below(SCRATCH_SIZE));
	case 3: return (long)(scratch + below(64) * 64);
	case 4: return (long)(scratch + SCRATCH_SIZE - 1 - below(16));
	case 5: return (long)(scratch + SCRATCH_SIZE); /* the guard page */
	case 6: return (long)local; /* own stack (the callee's frame is gone: fine) */
	case 7: return (long)&code_marker; /* read-only code */
	case 8: return (long)0x0000800000000000ULL; /* non-canonical */
	case 9: return (long)0xffff800000000000ULL; /* kernel half */
	case 10: return (long)0xffffffffff600000ULL; /* vsyscall page */
	default: return (long)(0x7ffffffff000ULL - below(4) * 8);
	}
}

static long argument(void)
{
	switch (below(14)) {
	case 0: return 0;
	case 1: return -1;
	case 2: return (long)(1ULL << 63);
	case 3: return (long)below(8);
	case 4: return (long)below(1024);
	case 5: return (long)below(64) - 100; /* fds, AT_FDCWD nearby */
	case 6: return (long)(1ULL << below(64));
	case 7: return (long)((1ULL << below(64)) - 1);
	case 8: return (long)(next() & 0xffffffffULL);
	case 9: return (long)next();
	case 10: return (long)(below(1ULL << 40) & ~0xfffULL); /* page-aligned sizes */
	case 11: return (long)(0x7fffffffffffLL - (long)below(0x3000));
	default: return pointer();
	}
}

static long number(void)
{
	switch (below(20)) {
	case 0: return 463 + (long)below(561); /* past the table */
	case 1: return 0x40000000L | (long)below(550); /* x32 bit */
	case 2: return (long)(((unsigned long long)(1 + below(0xffff)) << 32) | below(463));
	case 3: return below(2) ? -1L : (long)(1ULL << 63);
	default: return (long)below(463);
	}
}

/*
 * Calls that change the caller's own memory map or registers: aimed at its
 * stack or code they end the child at once, so most of the time their
 * address arguments avoid those (scratch, unmapped, kernel addresses only),
 * and rt_sigreturn runs one time in ten.
 */
static int destructive(long nr)
{
	switch (nr) {
	case SYS_mmap:
	case SYS_munmap:
	case SYS_mprotect:
	case SYS_mremap:
	case SYS_madvise:
	case SYS_brk:
	case SYS_arch_prctl:
	case SYS_shmat:
	case SYS_remap_file_pages:
	case SYS_pkey_mprotect:
	case SYS_process_madvise:
	case 462: /* mseal */
		return 1;
	}
	return 0;
}

extern char __executable_start[], end[];
static unsigned long stack_mark;

/* On the stack (within 8 MiB below where the child started) or the image. */
static int own_memory(long v)
{
	unsigned long p = (unsigned long)v;
	return (p >= stack_mark - (8UL << 20) && p < stack_mark + (1UL << 20)) ||
	       (p >= (unsigned long)__executable_start - 4096 && p < (unsigned long)end + (1UL << 20));
}

static int excluded(long nr)
{
	return nr == SYS_exit || nr == SYS_exit_group || nr == SYS_pause || nr == SYS_rt_sigsuspend;
}

static void child(unsigned long long seed, int calls)
{
	long self = raw6(SYS_getpid, 0, 0, 0, 0, 0, 0);
	long tid = raw6(SYS_gettid, 0, 0, 0, 0, 0, 0);
	char mark;
	stack_mark = (unsigned long)&mark;
	raw6(SYS_setpgid, 0, 0, 0, 0, 0, 0);
	raw6(SYS_alarm, 1, 0, 0, 0, 0, 0);
	for (int fd = 0; fd < 3; fd++)
		raw6(SYS_close, fd, 0, 0, 0, 0, 0);
	rng_state = seed;
	for (int i = 0; i < calls; i++) {
		if (i % 16 == 0)
			fill_scratch();
		long nr;
		do
			nr = number();
		while (excluded(nr));
		long a[6];
		for (int j = 0; j < 6; j++)
			a[j] = argument();
		if (nr == SYS_rt_sigreturn && below(10) != 0)
			continue;
		if (destructive(nr) && below(10) != 0)
			for (int j = 0; j < 6; j++)
				while (own_memory(a[j]))
					a[j] = argument();
		switch (nr) {
		case SYS_kill:
		case SYS_rt_sigqueueinfo:
		case SYS_pidfd_open:
		case SYS_prlimit64:
		case SYS_process_vm_readv:
		case SYS_process_vm_writev:
			a[0] = self;
			break;
		case SYS_tkill:
			a[0] = tid;
			break;
		case SYS_tgkill:
		case SYS_rt_tgsigqueueinfo:
			a[0] = self;
			a[1] = tid;
			break;
		case SYS_ptrace:
			a[1] = self;
			break;
		case SYS_kcmp:
			a[0] = self;
			a[1] = self;
			break;
		}
		raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		/* A new task (fork, vfork, clone): leave at once. */
		if (raw6(SYS_gettid, 0, 0, 0, 0, 0, 0) != tid)
			raw6(SYS_exit, 0, 0, 0, 0, 0, 0);
	}
	raw6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct utsname u;
	if (uname(&u) != 0 || strcmp(u.nodename, "sandbox") != 0) {
		out("fuzz_syscalls: refusing to run outside the sandbox\n");
		return 2;
	}
	if (argc < 2) {
		out("usage: fuzz_syscalls SEED [CHILDREN [CALLS]]\n");
		return 2;
	}
	unsigned long long seed = strtoull(argv[1], NULL, 0);
	int children = argc > 2 ? atoi(argv[2]) : 8;
	int calls = argc > 3 ? atoi(argv[3]) : 300;
	if (children < 1 || children > 256 || calls < 0) {
		out("bad arguments\n");
		return 2;
	}
	out("seed %llu children %d calls %d\n", seed, children, calls);

	scratch = mmap(NULL, SCRATCH_SIZE + 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(scratch != MAP_FAILED, "mmap scratch");
	must(munmap(scratch + SCRATCH_SIZE, 4096) == 0, "munmap guard");

	pid_t pids[256];
	int live = 0;
	for (int i = 0; i < children; i++) {
		pid_t p = fork();
		must(p >= 0, "fork");
		if (p == 0)
			child(seed * 1000003ULL + (unsigned long long)i, calls);
		pids[i] = p;
		live++;
	}

	int reaped = 0, exited = 0, signaled = 0, others = 0, killed_late = 0;
	int by_signal[65] = {0};
	long start = now_ms();
	int sent_group = 0, sent_all = 0;
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG | __WALL);
		if (p > 0) {
			int mine = 0;
			for (int i = 0; i < children; i++)
				if (pids[i] == p) {
					mine = 1;
					pids[i] = 0;
				}
			if (mine) {
				reaped++;
				if (WIFEXITED(st))
					exited++;
				else if (WIFSIGNALED(st)) {
					signaled++;
					if (WTERMSIG(st) > 0 && WTERMSIG(st) <= 64)
						by_signal[WTERMSIG(st)]++;
				}
			} else {
				others++;
			}
			continue;
		}
		if (p < 0 && errno == ECHILD)
			break;
		long t = now_ms() - start;
		if (t > 2500 && !sent_group) {
			/* Past every child's alarm: kill each child's group. */
			for (int i = 0; i < children; i++)
				if (pids[i] > 0) {
					kill(-pids[i], SIGKILL);
					kill(pids[i], SIGKILL);
					killed_late++;
				}
			sent_group = 1;
		}
		if (t > 5000 && !sent_all) {
			/* Anything left (a grandchild in another group). */
			kill(-1, SIGKILL);
			sent_all = 1;
		}
		if (t > 15000) {
			out("fuzz_syscalls: children still alive after SIGKILL\n");
			return 3;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	out("exited %d signaled %d others %d killed after the deadline %d\n", exited, signaled,
	    others, killed_late);
	char line[512];
	int n = 0;
	for (int sig = 1; sig <= 64; sig++)
		if (by_signal[sig])
			n += snprintf(line + n, sizeof line - (size_t)n, " %s:%d", strsignal(sig),
				      by_signal[sig]);
	line[n] = 0;
	out("killed by:%s\n", n ? line : " none");
	out("fuzz_syscalls: reaped %d of %d children\n", reaped, children);
	return reaped == children ? 0 : 1;
}
