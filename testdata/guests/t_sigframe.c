/*
 * t_sigframe: the x86-64 signal frame, field by field, as a handler sees it
 * through ucontext_t: uc_mcontext.gregs (REG_TRAPNO, REG_ERR, REG_CR2,
 * REG_OLDMASK, REG_CSGSFS, REG_RIP), uc_mcontext.fpregs (cwd, mxcsr and the
 * XSAVE magic words Linux writes in sw_reserved and after the area), and
 * uc_flags, for faults of each kind and for signals sent with kill().
 *
 * Linux fills trapno/err/cr2 from the thread's last fault (thread.trap_nr,
 * thread.error_code, thread.cr2): a page fault sets all three (err with the
 * user bit), other traps set trapno and err and leave cr2 alone, and a
 * kill() signal shows whatever the last fault left (0 before any). A child
 * inherits them with the rest of its parent's thread state.
 *
 * Printed values never depend on where things are mapped: addresses are
 * printed relative to the page the guest chose, RIP as "is it the faulting
 * instruction".
 */
#include "guest.h"

#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>

#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U

static sigjmp_buf jb;

struct seen {
	int sig, code;
	unsigned long trapno, err, cr2, oldmask, cs, ss, rip, uc_flags;
	uintptr_t addr;
	int fpregs_ok;
	unsigned cwd, mxcsr;
	int magic1_ok, magic2_ok, ext_size_ok;
	unsigned handler_mxcsr;
	unsigned short handler_cwd;
	int ss_flags, ss_sp_set;
	size_t ss_size;
};
static volatile struct seen seen;

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	mcontext_t *mc = &uc->uc_mcontext;
	seen.sig = sig;
	seen.code = si->si_code;
	seen.addr = (uintptr_t)si->si_addr;
	seen.trapno = (unsigned long)mc->gregs[REG_TRAPNO];
	seen.err = (unsigned long)mc->gregs[REG_ERR];
	seen.cr2 = (unsigned long)mc->gregs[REG_CR2];
	seen.oldmask = (unsigned long)mc->gregs[REG_OLDMASK];
	seen.cs = (unsigned long)mc->gregs[REG_CSGSFS] & 0xffff;
	seen.ss = ((unsigned long)mc->gregs[REG_CSGSFS] >> 48) & 0xffff;
	seen.rip = (unsigned long)mc->gregs[REG_RIP];
	seen.uc_flags = uc->uc_flags;
	seen.ss_flags = uc->uc_stack.ss_flags;
	seen.ss_sp_set = uc->uc_stack.ss_sp != NULL;
	seen.ss_size = uc->uc_stack.ss_size;
	seen.fpregs_ok = mc->fpregs != NULL;
	if (mc->fpregs) {
		const unsigned char *fx = (const unsigned char *)mc->fpregs;
		uint32_t m1, ext, xsize, m2;
		seen.cwd = mc->fpregs->cwd;
		seen.mxcsr = mc->fpregs->mxcsr;
		memcpy(&m1, fx + 464, 4);
		memcpy(&ext, fx + 468, 4);
		memcpy(&xsize, fx + 480, 4);
		seen.magic1_ok = m1 == FP_XSTATE_MAGIC1;
		seen.ext_size_ok = ext == xsize + 4 && xsize >= 576 && xsize <= 65536;
		if (seen.magic1_ok && seen.ext_size_ok) {
			memcpy(&m2, fx + xsize, 4);
			seen.magic2_ok = m2 == FP_XSTATE_MAGIC2;
		}
	}
	unsigned mx;
	unsigned short cw;
	__asm__ volatile("stmxcsr %0" : "=m"(mx));
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	seen.handler_mxcsr = mx;
	seen.handler_cwd = cw;
	if (sig == SIGTRAP) /* stop single-stepping */
		mc->gregs[REG_EFL] &= ~0x100L;
	if (sig != SIGTRAP && sig != SIGUSR1 && sig != SIGUSR2 && sig != SIGHUP)
		siglongjmp(jb, 1);
}

/* uc_stack: Linux saves the alternate stack as set, flags included (0 in
 * a fresh process, SS_DISABLE after a reset), not whether the handler runs
 * on it. */
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
static void nested(int s)
{
	(void)s;
	raise(SIGUSR2);
}

static void show_stack(const char *what)
{
	out("uc_stack %s: flags %#x sp %d size %zu\n", what, (unsigned)seen.ss_flags,
	    seen.ss_sp_set, seen.ss_size);
	memset((void *)&seen, 0, sizeof seen);
}

static void altstack_cases(void)
{
	static char stk[65536];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGUSR2, &sa, NULL);
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &usr2, NULL);
	raise(SIGUSR2);
	show_stack("never set");
	stack_t ss = {.ss_sp = stk, .ss_size = sizeof stk, .ss_flags = 0};
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack");
	raise(SIGUSR2);
	show_stack("set, handler off it");
	sa.sa_flags |= SA_ONSTACK;
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	show_stack("set, handler on it");
	struct sigaction sb;
	memset(&sb, 0, sizeof sb);
	sb.sa_handler = nested;
	sb.sa_flags = SA_ONSTACK;
	sigaction(SIGHUP, &sb, NULL);
	raise(SIGHUP);
	show_stack("nested on it");
	ss.ss_flags = (int)SS_AUTODISARM;
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack autodisarm");
	raise(SIGUSR2);
	show_stack("autodisarm, handler on it");
	raise(SIGHUP);
	show_stack("autodisarm, nested");
	stack_t old;
	must(sigaltstack(NULL, &old) == 0, "sigaltstack query");
	out("after autodisarm handlers: flags %#x size %zu\n", (unsigned)old.ss_flags,
	    old.ss_size);
	ss.ss_flags = SS_DISABLE;
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack disable");
	raise(SIGUSR2);
	show_stack("disabled");
	ss.ss_flags = 0;
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack again");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		must(sigaltstack(NULL, &old) == 0, "sigaltstack in child");
		out("fork child's alternate stack: flags %#x size %zu\n",
		    (unsigned)old.ss_flags, old.ss_size);
		_exit(0);
	}
	wait_for(pid);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	sigprocmask(SIG_BLOCK, &usr2, NULL);
}

/* Each faulting instruction has a global label so RIP can be checked. */
extern char read_insn[], write_insn[], ud2_insn[], div_insn[], int3_after[],
	gp_insn[];

__attribute__((noinline)) static void fault_read(volatile char *p)
{
	__asm__ volatile(".globl read_insn\nread_insn: movb (%0), %%al"
			 :
			 : "r"(p)
			 : "rax", "memory");
}

__attribute__((noinline)) static void fault_write(volatile char *p)
{
	__asm__ volatile(".globl write_insn\nwrite_insn: movb $1, (%0)"
			 :
			 : "r"(p)
			 : "memory");
}

__attribute__((noinline)) static void fault_ud2(void)
{
	__asm__ volatile(".globl ud2_insn\nud2_insn: ud2");
}

__attribute__((noinline)) static void fault_div(void)
{
	__asm__ volatile("xor %%ecx, %%ecx\n\txor %%edx, %%edx\n\tmov $1, %%eax\n\t"
			 ".globl div_insn\ndiv_insn: divl %%ecx"
			 :
			 :
			 : "rax", "rcx", "rdx");
}

__attribute__((noinline)) static void trap_int3(void)
{
	__asm__ volatile("int3\n.globl int3_after\nint3_after: nop");
}

__attribute__((noinline)) static void fault_gp(void)
{
	/* A non-canonical address: #GP, not #PF. */
	__asm__ volatile("movabs $0x8000000000000000, %%rax\n\t"
			 ".globl gp_insn\ngp_insn: movb (%%rax), %%al"
			 :
			 :
			 : "rax", "memory");
}

/* A non-default FPU state in the interrupted code: the frame must hold it
 * and the handler must start with the default one. */
static void odd_fpu(void)
{
	unsigned mx = 0x5f80; /* round up, all exceptions masked */
	unsigned short cw = 0x0b7f;
	__asm__ volatile("ldmxcsr %0" : : "m"(mx));
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

static void report(const char *what, uintptr_t page, const char *insn)
{
	out("%s: %s code=%d trapno=%lu err=%#lx", what, signame(seen.sig), seen.code,
	    seen.trapno, seen.err);
	if (page && seen.cr2 >= page && seen.cr2 < page + 4096)
		out("  cr2=page+%#lx", (unsigned long)(seen.cr2 - page));
	else
		out("  cr2=%s", seen.cr2 == 0 ? "0" : "other");
	if (page && seen.addr >= page && seen.addr < page + 4096)
		out(" si_addr=page+%#lx", (unsigned long)(seen.addr - page));
	else if (insn)
		out(" si_addr=%s", seen.addr == (uintptr_t)insn ? "rip" :
			seen.addr == 0 ? "0" : "other");
	out("\n");
	out("  rip_ok=%d cs=%#lx ss=%#lx oldmask_has_usr2=%d uc_fp_xstate=%lu\n",
	    insn ? seen.rip == (unsigned long)insn : -1, seen.cs, seen.ss,
	    (int)((seen.oldmask >> (SIGUSR2 - 1)) & 1), seen.uc_flags & 1);
	out("  fpregs=%d cwd=%#x mxcsr=%#x magic1=%d ext_size=%d magic2=%d handler_cwd=%#x handler_mxcsr=%#x\n",
	    seen.fpregs_ok, seen.cwd, seen.mxcsr, seen.magic1_ok, seen.ext_size_ok,
	    seen.magic2_ok, seen.handler_cwd, seen.handler_mxcsr);
	memset((void *)&seen, 0, sizeof seen);
}

static uintptr_t last_page; /* where the last page fault was */

static void kill_self(const char *what)
{
	odd_fpu();
	kill(getpid(), SIGUSR1);
	report(what, last_page, NULL);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGUSR1, SIGBUS};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		must(sigaction(sigs[i], &sa, NULL) == 0, "sigaction");
	/* SIGUSR2 blocked while faulting: shows up in oldmask. */
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	must(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0, "sigprocmask");

	kill_self("kill before any fault");

	char *hint = (char *)0x5a5a0000;
	char *none = mmap(hint, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			  MAP_FIXED_NOREPLACE, -1, 0);
	must(none == hint, "mmap PROT_NONE at the hint");
	char *ro = mmap(hint + 0x10000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
			MAP_FIXED_NOREPLACE, -1, 0);
	must(ro == hint + 0x10000, "mmap PROT_READ at the hint");
	char *unmapped = hint + 0x20000;

	if (sigsetjmp(jb, 1) == 0) {
		odd_fpu();
		fault_read(none + 0x123);
	}
	report("read PROT_NONE", (uintptr_t)none, read_insn);

	if (sigsetjmp(jb, 1) == 0) {
		odd_fpu();
		fault_write(none + 0x456);
	}
	report("write PROT_NONE", (uintptr_t)none, write_insn);

	if (sigsetjmp(jb, 1) == 0)
		fault_write(unmapped + 0x789);
	report("write unmapped", (uintptr_t)unmapped, write_insn);

	last_page = (uintptr_t)ro;
	(void)*(volatile char *)(ro + 8); /* now present, read-only */
	if (sigsetjmp(jb, 1) == 0)
		fault_write(ro + 0x10);
	report("write read-only", (uintptr_t)ro, write_insn);

	kill_self("kill after a page fault");

	if (sigsetjmp(jb, 1) == 0)
		fault_ud2();
	report("ud2", (uintptr_t)ro, ud2_insn);

	if (sigsetjmp(jb, 1) == 0)
		fault_div();
	report("divide by zero", (uintptr_t)ro, div_insn);

	trap_int3();
	report("int3", (uintptr_t)ro, int3_after);

	__asm__ volatile("pushf\n\torq $0x100, (%%rsp)\n\tpopf\n\tnop\n\tnop" ::: "memory", "cc");
	report("single step", (uintptr_t)ro, NULL);

	if (sigsetjmp(jb, 1) == 0)
		fault_gp();
	report("non-canonical", (uintptr_t)ro, gp_insn);

	kill_self("kill after a #GP");

	/* A child inherits the last fault's fields; a fault in it is its own. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		kill_self("child: kill");
		if (sigsetjmp(jb, 1) == 0)
			fault_read(none + 0xabc);
		report("child: read PROT_NONE", (uintptr_t)none, read_insn);
		_exit(failures() ? 1 : 0);
	}
	int st = wait_for(pid);
	out("child: %s\n", describe_status(st));
	kill_self("parent after child");
	altstack_cases();
	return failures() ? 1 : 0;
}
