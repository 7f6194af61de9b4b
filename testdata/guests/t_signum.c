/*
 * t_signum: how each signal-sending call reads its signal number. Every
 * call takes an `int sig`, so Linux uses the low 32 bits of the register
 * (0x1_0000_000a is SIGUSR1, 0x1_0000_0000 is the null signal), and a
 * number outside 0..=64 (negative as an int, or 65) is EINVAL. Sent to
 * the process itself, with handlers for SIGUSR1 and signal 64, so a
 * delivered signal is counted. rt_sigqueueinfo, rt_tgsigqueueinfo and
 * pidfd_send_signal get an SI_QUEUE siginfo whose si_signo is the low
 * 32 bits too (pidfd_send_signal wants them equal).
 */
#include "guest.h"

static volatile int got_usr1, got_64;

static void on_sig(int s)
{
	if (s == SIGUSR1)
		got_usr1++;
	else if (s == 64)
		got_64++;
}

static const unsigned long long numbers[] = {
	0,
	10,
	64,
	65,
	0xffffffffULL,        /* -1 as an int */
	0x80000000ULL,        /* INT_MIN */
	0x100000000ULL,       /* 0 in the low bits */
	0x10000000aULL,       /* SIGUSR1 in the low bits */
	0xffffffff0000000aULL, /* SIGUSR1, high bits all set */
	0x100000040ULL,       /* 64 in the low bits */
	0x100000041ULL,       /* 65 in the low bits */
};

static void report(const char *call, unsigned long long n, long r)
{
	int e = r < 0 ? errno : 0;
	out("%s(%#llx) = %ld %s usr1=%d sig64=%d\n", call, n, r, e ? strerror(e) : "", got_usr1,
	    got_64);
	got_usr1 = got_64 = 0;
}

static siginfo_t queue_info(unsigned long long n)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = (int)n;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	return si;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(64, &sa, NULL);
	long pid = getpid(), tid = syscall(SYS_gettid);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	check(pidfd >= 0, "pidfd_open");

	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		unsigned long long n = numbers[i];
		siginfo_t si;
		report("kill", n, syscall(SYS_kill, pid, n));
		report("tkill", n, syscall(SYS_tkill, tid, n));
		report("tgkill", n, syscall(SYS_tgkill, pid, tid, n));
		si = queue_info(n);
		report("rt_sigqueueinfo", n, syscall(SYS_rt_sigqueueinfo, pid, n, &si));
		si = queue_info(n);
		report("rt_tgsigqueueinfo", n, syscall(SYS_rt_tgsigqueueinfo, pid, tid, n, &si));
		report("pidfd_send_signal", n, syscall(SYS_pidfd_send_signal, pidfd, n, NULL, 0));
		si = queue_info(n);
		report("pidfd_send_signal+info", n,
		       syscall(SYS_pidfd_send_signal, pidfd, n, &si, 0));
	}
	/*
	 * Which error first: a missing target (ESRCH) comes before a bad
	 * number (EINVAL), a bad siginfo pointer (EFAULT) before both.
	 */
	long far = 4000000;
	siginfo_t si = queue_info(SIGUSR1);
	report("kill far", 65, syscall(SYS_kill, far, 65));
	report("kill -far", 65, syscall(SYS_kill, -far, 65));
	report("kill 0", 65, syscall(SYS_kill, 0, 65));
	report("kill INT_MIN", 65, syscall(SYS_kill, 0x80000000L, 65));
	report("tkill far", 65, syscall(SYS_tkill, far, 65));
	report("tkill 0", 65, syscall(SYS_tkill, 0, 65));
	report("tgkill far", 65, syscall(SYS_tgkill, far, far, 65));
	report("tgkill pid far", 65, syscall(SYS_tgkill, pid, far, 65));
	report("tgkill 0", 65, syscall(SYS_tgkill, 0, tid, 65));
	report("rt_sigqueueinfo far", 65, syscall(SYS_rt_sigqueueinfo, far, 65, &si));
	report("rt_sigqueueinfo far badptr", 65, syscall(SYS_rt_sigqueueinfo, far, 65, (void *)8));
	report("rt_tgsigqueueinfo far", 65, syscall(SYS_rt_tgsigqueueinfo, far, far, 65, &si));
	report("rt_tgsigqueueinfo 0", 65, syscall(SYS_rt_tgsigqueueinfo, 0, tid, 65, &si));
	report("rt_tgsigqueueinfo 0 badptr", 65,
	       syscall(SYS_rt_tgsigqueueinfo, 0, tid, 65, (void *)8));
	report("pidfd_send_signal badfd", 65, syscall(SYS_pidfd_send_signal, 1000, 65, NULL, 0));

	/*
	 * A forged siginfo (si_code >= 0 or SI_TKILL) is refused (EPERM)
	 * except towards oneself, where it is delivered.
	 */
	int codes[] = {SI_USER, SI_TKILL, SI_KERNEL, SI_QUEUE};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		si = queue_info(SIGUSR1);
		si.si_code = codes[i];
		report("rt_sigqueueinfo self code", (unsigned)codes[i],
		       syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &si));
		report("rt_tgsigqueueinfo self code", (unsigned)codes[i],
		       syscall(SYS_rt_tgsigqueueinfo, pid, tid, SIGUSR1, &si));
		report("rt_sigqueueinfo far code", (unsigned)codes[i],
		       syscall(SYS_rt_sigqueueinfo, far, SIGUSR1, &si));
		report("rt_tgsigqueueinfo far code", (unsigned)codes[i],
		       syscall(SYS_rt_tgsigqueueinfo, far, far, SIGUSR1, &si));
	}

	/* rt_sigaction's signal number is an int too. */
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		struct sigaction old;
		long r = syscall(SYS_rt_sigaction, numbers[i], NULL, &old, 8);
		report("rt_sigaction", numbers[i], r);
	}
	return failures() ? 1 : 0;
}
