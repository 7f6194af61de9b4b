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
 * `t_traps int80` also tries `int $0x80` (not part of the differential
 * run: natively it is a 32-bit syscall when IA32 emulation is on).
 */
#include "guest.h"
#include <setjmp.h>

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
	return failures();
}
