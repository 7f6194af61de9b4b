/*
 * t_badstate: user state the kernel must accept, refuse or fault on, none
 * of which may bring the machine down (found by the syscall fuzzer: a
 * child cloned onto a non-canonical stack shut the sandbox's VM down).
 *
 * 1. clone(SIGCHLD, newsp) with a non-canonical or top-of-user stack; the
 *    child (raw asm, no libc) then (a) exits at once, (b) makes a getpid
 *    syscall and pushes, or (c) pushes. A push through a non-canonical
 *    RSP is #SS (SIGBUS); 0x800000000000 - 8 is canonical and unmapped
 *    (SIGSEGV). The parent prints how each child ended.
 * 2. The same in-process: two syscalls in a row on a non-canonical stack.
 * 3. clone(CLONE_SETTLS) with a TLS at or above the user limit: EPERM
 *    (copy_thread -> do_arch_prctl_64); arch_prctl(ARCH_SET_FS/GS) with
 *    such an address: EPERM.
 * 4. rt_sigreturn to a frame with a non-canonical RIP (SIGSEGV, the
 *    reported RIP is the bad one), with a non-canonical RSP and a RIP that
 *    makes a syscall and then pushes (SIGBUS), and with odd CS/SS
 *    selectors (SIGSEGV for a CS that is not 64-bit user code).
 * 5. A signal handler at a non-canonical address (killed by SIGSEGV).
 * 6. The XSAVE area of a signal frame: its header's XSTATE_BV always
 *    names x87 and SSE (so edits of those registers in the frame are
 *    restored: here the x87 control word and xmm0), and Linux's
 *    sigreturn runs XRSTOR on it, so XCOMP_BV bit 63 selects the
 *    compacted form: with XSTATE_BV inside XCOMP_BV it restores (for x87
 *    and SSE the layouts coincide), otherwise #GP: killed by SIGSEGV.
 */
#include "guest.h"
#include <setjmp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <ucontext.h>

#ifndef ARCH_SET_GS
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#endif

static const unsigned long bad_sps[] = {
	0x800000000000ul, 0x2b04d8badc53e4dbul, 0x8000000000000000ul,
	0xffff800000000000ul, 0x7ffffffff000ul,
};

/* clone(flags, sp, 0, 0, tls) by hand; the child runs `mode` with no
 * libc: 0 exit(5), 1 getpid then push, 2 push. Returns the raw result. */
static long raw_clone(unsigned long flags, unsigned long sp, unsigned long tls, long mode)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = (long)tls;
	register long r9 __asm__("r9") = mode;
	__asm__ volatile(
		"mov $56, %%eax\n"
		"syscall\n"
		"test %%rax, %%rax\n"
		"jnz 1f\n"
		"cmp $0, %%r9\n je 3f\n"
		"cmp $1, %%r9\n jne 2f\n"
		"mov $39, %%eax\n syscall\n"
		"2: push %%rax\n"
		"3: mov $60, %%eax\n mov $5, %%edi\n syscall\n"
		"1:\n"
		: "=a"(ret)
		: "D"(flags), "S"(sp), "d"(0L), "r"(r10), "r"(r8), "r"(r9)
		: "rcx", "r11", "memory");
	return ret;
}

static void report_child(const char *what, long pid)
{
	if (pid < 0) {
		out("%s: %s\n", what, errname((int)-pid));
		return;
	}
	int st;
	must(waitpid((pid_t)pid, &st, 0) == pid, "waitpid");
	if (WIFSIGNALED(st))
		out("%s: killed by %s\n", what, signame(WTERMSIG(st)));
	else
		out("%s: exit %d\n", what, WEXITSTATUS(st));
}

static void clone_stacks(void)
{
	static const char *const modes[] = {"exit", "getpid+push", "push"};
	for (unsigned i = 0; i < sizeof bad_sps / sizeof *bad_sps; i++)
		for (long m = 0; m < 3; m++) {
			char what[96];
			snprintf(what, sizeof what, "clone sp %#lx %s", bad_sps[i], modes[m]);
			report_child(what, raw_clone(SIGCHLD, bad_sps[i], 0, m));
		}
}

static unsigned long two_sp;
static void two_syscalls(void)
{
	for (unsigned i = 0; i < sizeof bad_sps / sizeof *bad_sps; i++) {
		long r;
		two_sp = bad_sps[i];
		__asm__ volatile("mov %%rsp, %%r12\n mov %1, %%rsp\n"
				 "mov $39, %%eax\n syscall\n"
				 "mov $39, %%eax\n syscall\n"
				 "mov %%r12, %%rsp"
				 : "=a"(r) : "m"(two_sp) : "r12", "rcx", "r11", "memory");
		out("two syscalls on sp %#lx: %s\n", bad_sps[i], r == getpid() ? "getpid" : "other");
	}
}

static const unsigned long tls_values[] = {
	0x7fffffffe000ul, 0x7ffffffff000ul, 0x800000000000ul,
	0x8000000000000000ul, 0xffff800000000000ul, 0xfffffffffffff000ul,
};

static void tls_limits(void)
{
	for (unsigned i = 0; i < sizeof tls_values / sizeof *tls_values; i++) {
		char what[96];
		snprintf(what, sizeof what, "clone SETTLS %#lx", tls_values[i]);
		report_child(what, raw_clone(SIGCHLD | CLONE_SETTLS, 0, tls_values[i], 0));
		/* clone3 goes through the same copy_thread check. */
		struct {
			unsigned long flags, pidfd, child_tid, parent_tid, exit_signal,
				stack, stack_size, tls;
		} ca = {.flags = CLONE_SETTLS, .exit_signal = SIGCHLD, .tls = tls_values[i]};
		long pid;
		/* The child exits at once, touching neither TLS nor stack. */
		__asm__ volatile("syscall\n test %%rax, %%rax\n jnz 1f\n"
				 "mov $60, %%eax\n mov $6, %%edi\n syscall\n 1:\n"
				 : "=a"(pid)
				 : "a"((long)SYS_clone3), "D"(&ca), "S"(sizeof ca)
				 : "rcx", "r11", "memory");
		snprintf(what, sizeof what, "clone3 SETTLS %#lx", tls_values[i]);
		report_child(what, pid);
	}
	unsigned long fs0;
	must(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs0) == 0, "ARCH_GET_FS");
	for (unsigned i = 1; i < sizeof tls_values / sizeof *tls_values; i++) {
		long r = syscall(SYS_arch_prctl, ARCH_SET_FS, tls_values[i]);
		out("ARCH_SET_FS %#lx: %s\n", tls_values[i], r == 0 ? "0" : errname(errno));
		r = syscall(SYS_arch_prctl, ARCH_SET_GS, tls_values[i]);
		out("ARCH_SET_GS %#lx: %s\n", tls_values[i], r == 0 ? "0" : errname(errno));
	}
	unsigned long fs1;
	must(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs1) == 0, "ARCH_GET_FS");
	check(fs0 == fs1, "fs base unchanged by refused ARCH_SET_FS");
	long r = syscall(SYS_arch_prctl, ARCH_SET_GS, 0x7fffffffe000ul);
	out("ARCH_SET_GS 0x7fffffffe000: %s\n", r == 0 ? "0" : errname(errno));
	syscall(SYS_arch_prctl, ARCH_SET_GS, 0ul);
}

/* sigreturn tampering: a SIGUSR1 handler edits its frame. */
static sigjmp_buf jb;
static volatile int got_signo, got_code, rip_is_bad;
static volatile unsigned long tamper_rip, tamper_rsp;
static volatile int tamper_cs = -1, tamper_ss = -1;
static volatile long landing_pid;

static void on_fault(int s, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	got_signo = s;
	got_code = si->si_code;
	rip_is_bad = (unsigned long)uc->uc_mcontext.gregs[REG_RIP] == tamper_rip;
	siglongjmp(jb, 1);
}

static void on_usr1(int s, siginfo_t *si, void *ucv)
{
	(void)s;
	(void)si;
	ucontext_t *uc = ucv;
	if (tamper_rip)
		uc->uc_mcontext.gregs[REG_RIP] = (long)tamper_rip;
	if (tamper_rsp)
		uc->uc_mcontext.gregs[REG_RSP] = (long)tamper_rsp;
	/* gregs[REG_CSGSFS]: cs, gs, fs, ss as 16-bit fields. */
	unsigned short *sel = (unsigned short *)&uc->uc_mcontext.gregs[REG_CSGSFS];
	if (tamper_cs >= 0)
		sel[0] = (unsigned short)tamper_cs;
	if (tamper_ss >= 0)
		sel[3] = (unsigned short)tamper_ss;
}

/* Where a sigreturn with a bad RSP lands: getpid, then push (#SS). */
extern char landing[];
__asm__(".text\n.globl landing\nlanding:\n"
	"mov $39, %eax\n syscall\n"
	"mov %rax, landing_pid(%rip)\n"
	"push %rax\n ud2\n");

static void tamper(const char *what)
{
	got_signo = 0;
	landing_pid = 0;
	if (sigsetjmp(jb, 1) == 0) {
		raise(SIGUSR1);
		out("%s: no signal\n", what);
	} else {
		out("%s: %s code %d reported rip %s\n", what, signame(got_signo), got_code,
		    rip_is_bad ? "bad" : "other");
	}
	tamper_rip = tamper_rsp = 0;
	tamper_cs = tamper_ss = -1;
}

static void sigreturns(void)
{
	static char altstack[65536];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	must(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");
	must(sigaction(SIGBUS, &sa, NULL) == 0, "sigaction");
	must(sigaction(SIGILL, &sa, NULL) == 0, "sigaction");
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	must(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");

	static const unsigned long rips[] = {
		0x800000000000ul, 0x8000000000000000ul, 0x2b04d8badc53e4dbul,
	};
	for (unsigned i = 0; i < sizeof rips / sizeof *rips; i++) {
		char what[96];
		snprintf(what, sizeof what, "sigreturn to rip %#lx", rips[i]);
		tamper_rip = rips[i];
		tamper(what);
	}
	for (unsigned i = 0; i < 4; i++) {
		char what[96];
		snprintf(what, sizeof what, "sigreturn to rsp %#lx, getpid, push", bad_sps[i]);
		tamper_rip = (unsigned long)landing;
		tamper_rsp = bad_sps[i];
		tamper(what);
		out("  getpid on that stack: %s\n", landing_pid == getpid() ? "ok" : "other");
	}
	/* Selectors: Linux ORs in RPL 3 and irets; the 64-bit user CS and a
	 * valid or null SS work, anything else faults. */
	static const int css[] = {0x33, 0x30, 0x2b, 0x10, 0x43, 0xfff3};
	for (unsigned i = 0; i < sizeof css / sizeof *css; i++) {
		char what[96];
		snprintf(what, sizeof what, "sigreturn with cs %#x", css[i]);
		tamper_cs = css[i];
		tamper(what);
	}
	static const int sss[] = {0x2b, 0x28, 0};
	for (unsigned i = 0; i < sizeof sss / sizeof *sss; i++) {
		char what[96];
		snprintf(what, sizeof what, "sigreturn with ss %#x", sss[i]);
		tamper_ss = sss[i];
		tamper(what);
	}
}

/* A handler at a non-canonical address: the signal is delivered, the
 * return to it faults (#GP), and the SIGSEGV that follows kills. */
static void bad_handlers(void)
{
	static const unsigned long handlers[] = {0x800000000000ul, 0x8000000000000000ul};
	for (unsigned i = 0; i < 2; i++) {
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			struct sigaction sa;
			memset(&sa, 0, sizeof sa);
			sa.sa_handler = (void (*)(int))handlers[i];
			if (sigaction(SIGUSR2, &sa, NULL) != 0)
				_exit(3);
			raise(SIGUSR2);
			_exit(4);
		}
		char what[64];
		snprintf(what, sizeof what, "handler at %#lx", handlers[i]);
		report_child(what, pid);
	}
}

static int xsave_mode;
static void on_usr2_xsave(int s, siginfo_t *si, void *ucv)
{
	(void)s;
	(void)si;
	ucontext_t *uc = ucv;
	unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
	unsigned long *hdr = (unsigned long *)(fp + 512);
	out("  frame XSTATE_BV has x87 and SSE: %s, XCOMP_BV %#lx\n",
	    (hdr[0] & 3) == 3 ? "yes" : "no", hdr[1]);
	*(unsigned short *)fp = 0x27f; /* FCW: 53-bit precision */
	memset(fp + 160, 0x5a, 16);   /* xmm0 */
	if (xsave_mode == 1)
		hdr[1] = (1ul << 63) | hdr[0];
	else if (xsave_mode == 2)
		hdr[1] = 1ul << 63;
	else if (xsave_mode == 3)
		hdr[1] = 1;
}

static void xsave_frames(void)
{
	static const char *const modes[] = {
		"standard", "XCOMP_BV = bit 63 | XSTATE_BV", "XCOMP_BV = bit 63", "XCOMP_BV = 1",
	};
	for (int m = 0; m < 4; m++) {
		out("xsave frame, %s:\n", modes[m]);
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			xsave_mode = m;
			signal(SIGSEGV, SIG_DFL);
			signal(SIGBUS, SIG_DFL);
			signal(SIGILL, SIG_DFL);
			struct sigaction sa;
			memset(&sa, 0, sizeof sa);
			sa.sa_sigaction = on_usr2_xsave;
			sa.sa_flags = SA_SIGINFO;
			must(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
			unsigned char x[16];
			unsigned short cw = 0x37f;
			memset(x, 0x11, sizeof x);
			__asm__ volatile("fldcw %0\n movdqu %1, %%xmm0" :: "m"(cw), "m"(x));
			raise(SIGUSR2);
			__asm__ volatile("fnstcw %0\n movdqu %%xmm0, %1" : "=m"(cw), "=m"(x));
			out("  after sigreturn: fcw %#x xmm0 byte %#x\n", cw, x[0]);
			_exit(0);
		}
		report_child("  child", pid);
	}
}

int main(void)
{
	no_core_dumps();
	clone_stacks();
	two_syscalls();
	tls_limits();
	bad_handlers();
	sigreturns();
	xsave_frames();
	return failures();
}
