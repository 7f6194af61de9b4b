/*
 * t_traps: what Linux does with odd syscall numbers and with CPU traps
 * raised by user code. Prints only deterministic fields.
 *
 * 1. Syscall numbers: Linux x86-64 decodes the low 32 bits of rax as an
 *    int (do_syscall_64): high bits are ignored, negative numbers and
 *    numbers past the table give ENOSYS, and the x32 bit (0x40000000)
 *    selects the x32 table only when the kernel has CONFIG_X86_X32_ABI.
 * 2. Traps: a SA_SIGINFO handler (on an alternate stack) for SIGSEGV,
 *    SIGILL, SIGTRAP, SIGFPE and SIGBUS
 *    prints si_signo, si_code, si_errno and whether si_addr is 0, the
 *    trapping instruction, or something else, for ud2, int3, int $3,
 *    int $4, int $n (#GP), hlt and cli (#GP), a divide by zero (#DE),
 *    into (#UD in 64-bit mode), a non-canonical load (#GP), a push with a
 *    non-canonical stack pointer (#SS: SIGBUS).
 *
 * 3. UMIP: Linux emulates sgdt, sidt, smsw for user code with fixed
 *    dummy values (arch/x86/kernel/umip.c), and since 6.x also sldt (0
 *    without an LDT) and str (the TSS selector 0x40); a store to a bad
 *    address gets SIGSEGV with SEGV_MAPERR at it.
 *
 * `t_traps int80` also tries `int $0x80` and `sysenter` (not part of the
 * differential run: natively each is a 32-bit syscall when IA32 emulation
 * is on, and sysenter is #UD on AMD CPUs).
 */
#include "guest.h"
#include <setjmp.h>
#include <ucontext.h>

static sigjmp_buf jb;
static volatile int got_signo, got_code, got_errno;
static void *volatile got_addr;

static void handler(int s, siginfo_t *si, void *uc)
{
	(void)uc;
	got_signo = s;
	got_code = si->si_code;
	got_errno = si->si_errno;
	got_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static long raw_syscall(unsigned long nr)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static void show_nr(const char *what, unsigned long nr, long pid)
{
	long r = raw_syscall(nr);
	if (r == pid)
		out("%s: getpid\n", what);
	else if (r < 0 && r > -4096)
		out("%s: %s\n", what, errname((int)-r));
	else
		out("%s: returned something else\n", what);
}

/* Each trap runs `code` at the global label `lbl`. */
#define TRAP(name, lbl, code)                                            \
	static void name(void)                                           \
	{                                                                \
		__asm__ volatile(".globl " #lbl "\n" #lbl ":\n" code     \
				 ::: "memory", "rax", "rdx", "rcx");     \
	}

TRAP(do_ud2, at_ud2, "ud2")
TRAP(do_int3, at_int3, "int3")
TRAP(do_int_3, at_int_3, "int $3")
TRAP(do_int_4, at_int_4, "int $4")
TRAP(do_int_0x81, at_int_0x81, "int $0x81")
TRAP(do_int_0x40, at_int_0x40, "int $0x40")
TRAP(do_int_0x0d, at_int_0x0d, "int $0x0d")
TRAP(do_int_0x0e, at_int_0x0e, "int $0x0e")
TRAP(do_int_0xff, at_int_0xff, "int $0xff")
TRAP(do_hlt, at_hlt, "hlt")
TRAP(do_cli, at_cli, "cli")
TRAP(do_div0, at_div0, "xor %%ecx, %%ecx\n mov $1, %%eax\n xor %%edx, %%edx\n .globl at_div0_insn\nat_div0_insn: div %%ecx")
TRAP(do_into, at_into, ".byte 0xce")
/* A load from a non-canonical address: #GP. */
TRAP(do_noncanon, at_noncanon, "movabs $0x8000000000000000, %%rax\n .globl at_noncanon_insn\nat_noncanon_insn: mov (%%rax), %%rax")
/* A push with a non-canonical stack pointer: #SS (the handler runs on an
 * alternate stack). */
TRAP(do_badstack, at_badstack, "mov %%rsp, %%rdx\n movabs $0x8000000000000000, %%rsp\n .globl at_badstack_insn\nat_badstack_insn: push %%rax\n mov %%rdx, %%rsp")
TRAP(do_int80, at_int80, "mov $20, %%eax\n .globl at_int80_insn\nat_int80_insn: int $0x80")

extern char at_ud2[], at_int3[], at_int_3[], at_int_4[], at_int_0x81[],
	at_int_0x40[], at_int_0x0d[], at_int_0x0e[], at_int_0xff[], at_hlt[],
	at_cli[], at_div0_insn[], at_into[], at_int80_insn[],
	at_noncanon_insn[], at_badstack_insn[];

static unsigned char desc_buf[16];

static void umip(void)
{
	memset(desc_buf, 0xaa, sizeof desc_buf);
	__asm__ volatile("sgdt %0" : "=m"(desc_buf) :: "memory");
	out("sgdt:");
	for (int i = 0; i < 12; i++)
		out(" %02x", desc_buf[i]);
	out("\n");
	memset(desc_buf, 0xaa, sizeof desc_buf);
	unsigned char *p = desc_buf + 1;
	__asm__ volatile("sidt (%0)" :: "r"(p) : "memory");
	out("sidt at +1:");
	for (int i = 0; i < 12; i++)
		out(" %02x", desc_buf[i]);
	out("\n");
	unsigned long r64 = 0x1111111111111111ul;
	__asm__ volatile("smsw %0" : "+r"(r64));
	unsigned long r32 = 0x1111111111111111ul;
	__asm__ volatile("smsw %k0" : "+r"(r32));
	unsigned long r16 = 0x1111111111111111ul;
	__asm__ volatile("smsw %w0" : "+r"(r16));
	out("smsw: 64-bit %#lx 32-bit %#lx 16-bit %#lx\n", r64, r32, r16);
	memset(desc_buf, 0xaa, sizeof desc_buf);
	__asm__ volatile("smsw %0" : "=m"(*(unsigned short *)desc_buf) :: "memory");
	out("smsw to memory: %02x %02x %02x\n", desc_buf[0], desc_buf[1], desc_buf[2]);
	unsigned long s1 = 0x1111111111111111ul, s2 = s1, t1 = s1, t2 = s1;
	__asm__ volatile("sldt %0" : "+r"(s1));
	__asm__ volatile("sldt %k0" : "+r"(s2));
	__asm__ volatile("str %0" : "+r"(t1));
	__asm__ volatile("str %w0" : "+r"(t2));
	out("sldt: %#lx %#lx str: %#lx %#lx\n", s1, s2, t1, t2);
	memset(desc_buf, 0xaa, sizeof desc_buf);
	__asm__ volatile("sldt %0" : "=m"(*(unsigned short *)desc_buf) :: "memory");
	__asm__ volatile("str %0" : "=m"(*(unsigned short *)(desc_buf + 4)) :: "memory");
	out("sldt/str to memory:");
	for (int i = 0; i < 8; i++)
		out(" %02x", desc_buf[i]);
	out("\n");

	got_signo = 0;
	if (sigsetjmp(jb, 1) == 0) {
		__asm__ volatile("sgdt (%0)" :: "r"(16ul) : "memory");
		out("sgdt to address 16: no signal\n");
	} else {
		out("sgdt to address 16: signo %d code %d addr %s\n", got_signo,
		    got_code, got_addr == (void *)16 ? "16" : "other");
	}
}

/*
 * 4. A table of faulting instructions, run natively and in the sandbox:
 *    this KVM raises another vector than hardware for some (#UD for a far
 *    jmp/call to a selector its emulator refuses and for ldmxcsr with
 *    reserved bits, #SS for an iretq to a bad SS, #GP for monitor/mwait),
 *    and the sentry maps them back. Not here: selector 0x23 (natively
 *    Linux's 32-bit user code segment, where a far jump runs 32-bit code),
 *    an iretq with SS = 0x33 (natively #GP; this KVM lets it through and
 *    the sentry never sees it), and REX.W far jumps whose selector differs
 *    between AMD (which ignores REX.W) and the emulator, and an iretq to
 *    CS = 0x2b (natively #GP, here a page fault: SEGV_MAPERR).
 *
 * 5. Alignment checks: with AC set in rflags a misaligned load is #AC
 *    (SIGBUS, BUS_ADRALN, no address). Linux clears only DF, RF and TF for
 *    the handler, so the handler runs with AC still set, and a misaligned
 *    access in it (SIGBUS blocked) kills the process.
 */
static volatile unsigned long ac_handler_flags, ac_frame_flags;
static void ac_handler(int s, siginfo_t *si, void *ucv)
{
	unsigned long f;
	/* Clear AC first, before any C code does a misaligned access. */
	__asm__ volatile("pushfq\n pop %0\n pushfq\n andq $~0x40000, (%%rsp)\n popfq"
			 : "=r"(f) :: "memory");
	ac_handler_flags = f;
	ac_frame_flags = ((ucontext_t *)ucv)->uc_mcontext.gregs[REG_EFL];
	got_signo = s;
	got_code = si->si_code;
	got_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static void ac_misaligned_handler(int s)
{
	(void)s;
	static char b[16] __attribute__((aligned(16)));
	unsigned v;
	__asm__ volatile("mov 1(%1), %0" : "=r"(v) : "r"(b) : "memory");
	_exit(7);
}

static char ac_buf[16] __attribute__((aligned(16)));
static void set_ac_and_load(void)
{
	unsigned v;
	__asm__ volatile("pushfq\n orq $0x40000, (%%rsp)\n popfq\n"
			 "mov 1(%1), %0\n"
			 "pushfq\n andq $~0x40000, (%%rsp)\n popfq"
			 : "=r"(v) : "r"(ac_buf) : "memory");
}

static void alignment_check(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = ac_handler;
	sa.sa_flags = SA_SIGINFO;
	must(sigaction(SIGBUS, &sa, &old) == 0, "sigaction");
	got_signo = 0;
	if (sigsetjmp(jb, 1) == 0) {
		set_ac_and_load();
		out("misaligned load with AC: no signal\n");
	} else {
		out("misaligned load with AC: signo %d code %d addr %s; AC in handler %d, in frame %d\n",
		    got_signo, got_code, got_addr ? "other" : "0",
		    !!(ac_handler_flags & 0x40000), !!(ac_frame_flags & 0x40000));
	}
	must(sigaction(SIGBUS, &old, NULL) == 0, "sigaction");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		signal(SIGBUS, ac_misaligned_handler);
		set_ac_and_load();
		_exit(3);
	}
	int st;
	must(waitpid(pid, &st, 0) == pid, "waitpid");
	if (WIFSIGNALED(st))
		out("misaligned access in the handler: killed by %s\n", signame(WTERMSIG(st)));
	else
		out("misaligned access in the handler: exit %d\n", WEXITSTATUS(st));
}
static const void *volatile cur_at;
#define INSN(name, code, ...)                                                  \
	do {                                                                   \
		got_signo = 0;                                                 \
		if (sigsetjmp(jb, 1) == 0) {                                   \
			__asm__ volatile("lea 1f(%%rip), %%rcx\n mov %%rcx, cur_at(%%rip)\n" \
					 code ::__VA_ARGS__                    \
					 : "memory", "rax", "rcx", "rdx");     \
			out("%s: no signal\n", name);                          \
		} else {                                                       \
			out("%s: signo %d code %d errno %d addr %s\n", name,   \
			    got_signo, got_code, got_errno,                    \
			    got_addr == NULL     ? "0"                         \
			    : got_addr == cur_at ? "insn"                      \
						 : "other");                   \
		}                                                              \
	} while (0)

static struct {
	unsigned int off;
	unsigned short sel;
} __attribute__((packed)) far32;
static unsigned int mxcsr_bad;
static char fxbuf[512] __attribute__((aligned(64)));

static void insn_table(void)
{
	static const unsigned short sels[] = {0x0b, 0x3b, 0x43, 0x4b, 0x10, 0x2b, 0x53, 0xfffb, 0x4};
	for (unsigned i = 0; i < sizeof sels / sizeof *sels; i++) {
		char n[64];
		far32.off = 0;
		far32.sel = sels[i];
		snprintf(n, sizeof n, "ljmp *m16:32 to %#x", sels[i]);
		INSN(n, "1: ljmp *(%0)", "r"(&far32));
		snprintf(n, sizeof n, "lcall *m16:32 to %#x", sels[i]);
		INSN(n, "1: lcall *(%0)", "r"(&far32));
		snprintf(n, sizeof n, "lretq to cs %#x", sels[i]);
		INSN(n, "mov %%rsp, %%rdx\n push %0\n lea 2f(%%rip), %%rax\n push %%rax\n"
			"1: lretq\n 2: mov %%rdx, %%rsp", "r"((unsigned long)sels[i]));
		snprintf(n, sizeof n, "iretq to ss %#x", sels[i]);
		INSN(n, "mov %%rsp, %%rdx\n push %0\n push %%rdx\n pushfq\n push $0x33\n"
			"lea 2f(%%rip), %%rax\n push %%rax\n 1: iretq\n 2: mov %%rdx, %%rsp",
		     "r"((unsigned long)sels[i]));
		/* This KVM gives a page fault for CS = 0x2b (a data segment). */
		if (sels[i] == 0x2b)
			continue;
		snprintf(n, sizeof n, "iretq to cs %#x", sels[i]);
		INSN(n, "mov %%rsp, %%rdx\n push $0x2b\n push %%rdx\n pushfq\n push %0\n"
			"lea 2f(%%rip), %%rax\n push %%rax\n 1: iretq\n 2: mov %%rdx, %%rsp",
		     "r"((unsigned long)sels[i]));
	}
	mxcsr_bad = 0x1f80 | 0x10000;
	INSN("ldmxcsr reserved bit 16", "1: ldmxcsr (%0)", "r"(&mxcsr_bad));
	INSN("ldmxcsr with fs prefix", "1: ldmxcsr %%fs:(%0)", "r"(&mxcsr_bad));
	INSN("vldmxcsr reserved bit 16", "1: vldmxcsr (%0)", "r"(&mxcsr_bad));
	memset(fxbuf, 0, sizeof fxbuf);
	((unsigned *)fxbuf)[6] = 0xffffffff;
	INSN("fxrstor64 bad mxcsr", "1: fxrstor64 (%0)", "r"(fxbuf));
	INSN("movaps misaligned", "1: movaps 1(%0), %%xmm0", "r"(fxbuf));
	INSN("rdmsr", "xor %%ecx, %%ecx\n 1: rdmsr");
	INSN("in $0x80", "1: in $0x80, %%al");
	INSN("rdpmc", "xor %%ecx, %%ecx\n 1: rdpmc");
	INSN("mov %cr0", "1: mov %%cr0, %%rax");
	INSN("lgdt", "1: lgdt (%0)", "r"(fxbuf));
	INSN("swapgs", "1: swapgs");
	INSN("sysretq", "1: sysretq");
	INSN("wbinvd", "1: wbinvd");
	INSN("mov ds, 0x43", "mov $0x43, %%eax\n 1: mov %%eax, %%ds");
	INSN("xsetbv", "xor %%ecx, %%ecx\n xor %%edx, %%edx\n mov $3, %%eax\n 1: xsetbv");
	INSN("monitor", "mov %0, %%rax\n xor %%ecx, %%ecx\n xor %%edx, %%edx\n 1: monitor", "r"(fxbuf));
	INSN("mwait", "xor %%eax, %%eax\n xor %%ecx, %%ecx\n 1: mwait");
	INSN("vmcall", "1: vmcall");
	INSN("lock nop", "1: .byte 0xf0, 0x90");
	INSN("ljmp *%eax (register)", "1: .byte 0xff, 0xe8");
}

static void trap(const char *what, void (*fn)(void), const char *at, int len)
{
	got_signo = 0;
	if (sigsetjmp(jb, 1) == 0) {
		fn();
		out("%s: no signal\n", what);
		return;
	}
	const char *a = got_addr;
	const char *where = a == NULL ? "0"
			    : a == at	    ? "insn"
			    : a == at + len ? "next"
					    : "other";
	out("%s: signo %d code %d errno %d addr %s\n", what, got_signo,
	    got_code, got_errno, where);
}

int main(int argc, char **argv)
{
	no_core_dumps();
	long pid = getpid();
	show_nr("nr 39", 39, pid);
	show_nr("nr 0x100000027", 0x100000027ul, pid);
	show_nr("nr 0xffffffff00000027", 0xffffffff00000027ul, pid);
	show_nr("nr 0x80000027", 0x80000027ul, pid);
	show_nr("nr 0xffffffff (-1)", 0xfffffffful, pid);
	show_nr("nr -1", (unsigned long)-1, pid);
	show_nr("nr -2", (unsigned long)-2, pid);
	show_nr("nr 1000", 1000, pid);
	show_nr("nr 0x1000000027", 0x1000000027ul, pid);
	/* x32: 0x40000000 | getpid (CONFIG_X86_X32_ABI decides). */
	show_nr("nr 0x40000027 (x32 getpid)", 0x40000027ul, pid);
	show_nr("nr 0x40000200 (x32 past table)", 0x40000200ul, pid);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sa.sa_flags |= SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	static char altstack[65536];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack");
	int sigs[] = {SIGSEGV, SIGILL, SIGTRAP, SIGFPE, SIGBUS};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		must(sigaction(sigs[i], &sa, NULL) == 0, "sigaction");

	if (argc > 1 && strcmp(argv[1], "int80") == 0) {
		trap("int $0x80 (eax 20)", do_int80, at_int80_insn, 2);
		INSN("sysenter", "1: .byte 0x0f, 0x34");
		return 0;
	}
	trap("ud2", do_ud2, at_ud2, 2);
	trap("int3", do_int3, at_int3, 1);
	trap("int $3", do_int_3, at_int_3, 2);
	trap("int $4", do_int_4, at_int_4, 2);
	trap("int $0x81", do_int_0x81, at_int_0x81, 3);
	trap("int $0x40", do_int_0x40, at_int_0x40, 2);
	trap("int $0x0d", do_int_0x0d, at_int_0x0d, 2);
	trap("int $0x0e", do_int_0x0e, at_int_0x0e, 2);
	trap("int $0xff", do_int_0xff, at_int_0xff, 2);
	trap("hlt", do_hlt, at_hlt, 1);
	trap("cli", do_cli, at_cli, 1);
	trap("div by 0", do_div0, at_div0_insn, 2);
	trap("into", do_into, at_into, 1);
	trap("non-canonical load", do_noncanon, at_noncanon_insn, 3);
	trap("non-canonical stack", do_badstack, at_badstack_insn, 1);
	umip();
	insn_table();
	alignment_check();
	return failures();
}
