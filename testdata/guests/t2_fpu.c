/*
 * t2_fpu: signal delivery preserves the interrupted code's FPU/SSE state,
 * and new processes and threads start with their creator's MXCSR and x87
 * control word.
 *  - an inline-asm loop loads a known pattern into xmm0..xmm15 (ymm0..15
 *    when the CPU has AVX, zmm0..31 and k1..7 when it has AVX-512F), two
 *    values onto the x87 stack and known values
 *    into r8..r11, sets DF (std), runs with a non-default MXCSR and x87 CW,
 *    and spins until 5 signal handlers have run (or a ~1 s budget runs
 *    out); the handlers clobber every vector register, reinitialise the x87
 *    unit (fninit, fill and empty its stack), load another x87 CW and MXCSR
 *    and restore nothing. Afterwards the loop reads everything back: all
 *    intact. Once with SIGALRM from setitimer (1 ms interval), once with
 *    SIGUSR1 sent by a child process every millisecond;
 *  - each handler starts (checked by an asm stub before any C code) with
 *    Linux's initial state: MXCSR 0x1f80, x87 CW 0x037f, DF clear, xmm0..15
 *    zero;
 *  - a forked child and a new pthread report the MXCSR and x87 CW set by
 *    their creator (ldmxcsr/fldcw just before fork/pthread_create), and a
 *    division in the child rounds toward zero as that MXCSR says.
 */
#include "guest.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define MXCSR_DEFAULT 0x1f80u
#define CW_DEFAULT 0x037fu

/* The interrupted code runs with these: round up, 53-bit precision. */
#define MAIN_MXCSR 0x5f80u
#define MAIN_CW 0x0a7fu
/* The handlers load these: round toward zero, flush to zero. */
#define HANDLER_MXCSR 0xff80u
#define HANDLER_CW 0x0e7fu

/* --- what a handler sees on entry, captured by an asm stub --- */
unsigned int fpu_entry_mxcsr;
unsigned short fpu_entry_cw;
unsigned long fpu_entry_flags;
unsigned char fpu_entry_xmm[256] __attribute__((aligned(16)));
void fpu_handler_entry(int sig);
void fpu_handler_c(int sig);

__asm__(".text\n"
	".globl fpu_handler_entry\n"
	".type fpu_handler_entry,@function\n"
	"fpu_handler_entry:\n"
	"	stmxcsr fpu_entry_mxcsr(%rip)\n"
	"	fnstcw fpu_entry_cw(%rip)\n"
	"	pushfq\n"
	"	popq fpu_entry_flags(%rip)\n"
	"	movdqu %xmm0, fpu_entry_xmm+0(%rip)\n"
	"	movdqu %xmm1, fpu_entry_xmm+16(%rip)\n"
	"	movdqu %xmm2, fpu_entry_xmm+32(%rip)\n"
	"	movdqu %xmm3, fpu_entry_xmm+48(%rip)\n"
	"	movdqu %xmm4, fpu_entry_xmm+64(%rip)\n"
	"	movdqu %xmm5, fpu_entry_xmm+80(%rip)\n"
	"	movdqu %xmm6, fpu_entry_xmm+96(%rip)\n"
	"	movdqu %xmm7, fpu_entry_xmm+112(%rip)\n"
	"	movdqu %xmm8, fpu_entry_xmm+128(%rip)\n"
	"	movdqu %xmm9, fpu_entry_xmm+144(%rip)\n"
	"	movdqu %xmm10, fpu_entry_xmm+160(%rip)\n"
	"	movdqu %xmm11, fpu_entry_xmm+176(%rip)\n"
	"	movdqu %xmm12, fpu_entry_xmm+192(%rip)\n"
	"	movdqu %xmm13, fpu_entry_xmm+208(%rip)\n"
	"	movdqu %xmm14, fpu_entry_xmm+224(%rip)\n"
	"	movdqu %xmm15, fpu_entry_xmm+240(%rip)\n"
	"	jmp fpu_handler_c\n"
	".size fpu_handler_entry, .-fpu_handler_entry\n");

#define ALL16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define ALL32(M)                                                                                 \
	ALL16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) \
		M(29) M(30) M(31)

static int have_avx, have_avx512;
static volatile int sig_count;
/* bit set when some handler started with a non-initial value */
#define BAD_MXCSR 1
#define BAD_CW 2
#define BAD_XMM 4
#define BAD_DF 8
static volatile int entry_bad;

/* Destroy the vector, x87 and control state; restore nothing. */
static void clobber_everything(void)
{
	static const unsigned int mx = HANDLER_MXCSR;
	static const unsigned short cw = HANDLER_CW;
#define SET_ONES(n) "pcmpeqd %%xmm" #n ", %%xmm" #n "\n\t"
	__asm__ volatile(SET_ONES(0) SET_ONES(1) SET_ONES(2) SET_ONES(3) SET_ONES(4) SET_ONES(5)
				 SET_ONES(6) SET_ONES(7) SET_ONES(8) SET_ONES(9) SET_ONES(10)
					 SET_ONES(11) SET_ONES(12) SET_ONES(13) SET_ONES(14)
						 SET_ONES(15)
			 "fninit\n\t"
			 ".rept 8\n\tfldpi\n\t.endr\n\t"
			 ".rept 8\n\tfstp %%st(0)\n\t.endr\n\t"
			 "fldcw %1\n\t"
			 "ldmxcsr %0\n\t"
			 :
			 : "m"(mx), "m"(cw)
			 : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
			   "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
			   "xmm15");
#undef SET_ONES
	if (have_avx) {
#define YMM_ONES(n) "vcmpps $15, %%ymm" #n ", %%ymm" #n ", %%ymm" #n "\n\t"
		__asm__ volatile(YMM_ONES(0) YMM_ONES(1) YMM_ONES(2) YMM_ONES(3) YMM_ONES(4)
					 YMM_ONES(5) YMM_ONES(6) YMM_ONES(7) YMM_ONES(8)
						 YMM_ONES(9) YMM_ONES(10) YMM_ONES(11)
							 YMM_ONES(12) YMM_ONES(13)
								 YMM_ONES(14) YMM_ONES(15)
				 :
				 :
				 : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
				   "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
				   "xmm13", "xmm14", "xmm15");
#undef YMM_ONES
	}
	if (have_avx512) {
		/* no clobbers for zmm16..31 and k1..7: the compiler does not use
		 * them without -mavx512f (and does not know their names) */
#define ZMM_ONES(n) "vpternlogd $0xff, %%zmm" #n ", %%zmm" #n ", %%zmm" #n "\n\t"
#define K_ONES(n) "kxnorw %%k0, %%k0, %%k" #n "\n\t"
		__asm__ volatile(ALL32(ZMM_ONES) K_ONES(1) K_ONES(2) K_ONES(3) K_ONES(4) K_ONES(5)
					 K_ONES(6) K_ONES(7)
				 :
				 :
				 : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
				   "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
				   "xmm13", "xmm14", "xmm15");
#undef ZMM_ONES
#undef K_ONES
	}
}

void fpu_handler_c(int sig)
{
	(void)sig;
	int bad = 0;
	if (fpu_entry_mxcsr != MXCSR_DEFAULT)
		bad |= BAD_MXCSR;
	if (fpu_entry_cw != CW_DEFAULT)
		bad |= BAD_CW;
	if (fpu_entry_flags & 0x400)
		bad |= BAD_DF;
	for (int i = 0; i < 256; i++)
		if (fpu_entry_xmm[i] != 0)
			bad |= BAD_XMM;
	entry_bad |= bad;
	sig_count++;
	clobber_everything();
}

static int cpu_has_avx(void)
{
	unsigned int a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	if (!(c & (1u << 27)) || !(c & (1u << 28))) /* OSXSAVE, AVX */
		return 0;
	unsigned int lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6; /* the OS saves SSE and AVX state */
}

static int cpu_has_avx512(void)
{
	unsigned int a = 7, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	if (!(b & (1u << 16))) /* AVX512F */
		return 0;
	unsigned int lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 0xe6) == 0xe6; /* opmask, ZMM_Hi256, Hi16_ZMM too */
}

static unsigned int get_mxcsr(void)
{
	unsigned int v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static unsigned short get_cw(void)
{
	unsigned short v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void set_mxcsr(unsigned int v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static void set_cw(unsigned short v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}

struct state {
	/* xmm0..15 as 16 x 16 bytes, ymm0..15 as 16 x 32, or zmm0..31 as 32 x
	 * 64 followed by k1..7 as 7 x 2 bytes */
	unsigned char vec[2048 + 16];
	double x87[2];
	unsigned long gpr[4];
	unsigned long flags;
	unsigned int mxcsr;
	unsigned short cw;
};

#define LOAD_X(n) "movdqu " #n "*16(%[pat]), %%xmm" #n "\n\t"
#define STORE_X(n) "movdqu %%xmm" #n ", " #n "*16(%[res])\n\t"
#define LOAD_Y(n) "vmovdqu " #n "*32(%[pat]), %%ymm" #n "\n\t"
#define STORE_Y(n) "vmovdqu %%ymm" #n ", " #n "*32(%[res])\n\t"
#define SPIN_BODY                                                                            \
	"fldpi\n\t"                                                                          \
	"fld1\n\t"                                                                           \
	"mov $0x1111111111111111, %%r8\n\t"                                                  \
	"mov $0x2222222222222222, %%r9\n\t"                                                  \
	"mov $0x3333333333333333, %%r10\n\t"                                                 \
	"mov $0x4444444444444444, %%r11\n\t"                                                 \
	"std\n\t"                                                                            \
	"1:\n\t"                                                                             \
	"cmpl %k[target], (%[cnt])\n\t"                                                      \
	"jge 2f\n\t"                                                                         \
	"dec %[budget]\n\t"                                                                  \
	"jnz 1b\n\t"                                                                         \
	"2:\n\t"                                                                             \
	"sub $128, %%rsp\n\t" /* keep out of the red zone */                                 \
	"pushfq\n\t"                                                                         \
	"popq %c[off_flags](%[st])\n\t"                                                      \
	"add $128, %%rsp\n\t"                                                                \
	"cld\n\t"                                                                            \
	"mov %%r8, %c[off_gpr](%[st])\n\t"                                                   \
	"mov %%r9, %c[off_gpr]+8(%[st])\n\t"                                                 \
	"mov %%r10, %c[off_gpr]+16(%[st])\n\t"                                               \
	"mov %%r11, %c[off_gpr]+24(%[st])\n\t"                                               \
	"fstpl %c[off_x87](%[st])\n\t"                                                       \
	"fstpl %c[off_x87]+8(%[st])\n\t"                                                     \
	"stmxcsr %c[off_mxcsr](%[st])\n\t"                                                   \
	"fnstcw %c[off_cw](%[st])\n\t"

#define SPIN_OPERANDS                                                                        \
	: [budget] "+r"(budget)                                                              \
	: [pat] "r"(pat), [res] "r"(st->vec), [st] "r"(st), [cnt] "r"(&sig_count),           \
	  [target] "r"(target), [off_flags] "i"(offsetof(struct state, flags)),              \
	  [off_gpr] "i"(offsetof(struct state, gpr)), [off_x87] "i"(offsetof(struct state, x87)), \
	  [off_mxcsr] "i"(offsetof(struct state, mxcsr)), [off_cw] "i"(offsetof(struct state, cw)) \
	: "memory", "cc", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",   \
	  "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", \
	  "xmm15"

static long spin_sse(const unsigned char *pat, struct state *st, long budget, int target)
{
	__asm__ volatile(ALL16(LOAD_X) SPIN_BODY ALL16(STORE_X) SPIN_OPERANDS);
	return budget;
}

static long spin_avx(const unsigned char *pat, struct state *st, long budget, int target)
{
	__asm__ volatile(ALL16(LOAD_Y) SPIN_BODY ALL16(STORE_Y) "vzeroupper\n\t" SPIN_OPERANDS);
	return budget;
}

#define LOAD_Z(n) "vmovdqu64 " #n "*64(%[pat]), %%zmm" #n "\n\t"
#define STORE_Z(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[res])\n\t"
#define LOAD_K(n) "kmovw 2048+" #n "*2(%[pat]), %%k" #n "\n\t"
#define STORE_K(n) "kmovw %%k" #n ", 2048+" #n "*2(%[res])\n\t"
#define K1TO7(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

static long spin_avx512(const unsigned char *pat, struct state *st, long budget, int target)
{
	__asm__ volatile(ALL32(LOAD_Z) K1TO7(LOAD_K) SPIN_BODY ALL32(STORE_Z) K1TO7(STORE_K)
			 "vzeroupper\n\t" SPIN_OPERANDS);
	return budget;
}

static void spin_test(const char *label, void (*start)(void), void (*stop)(void))
{
	static unsigned char pat[2048 + 16];
	static struct state st;
	for (size_t i = 0; i < sizeof pat; i++)
		pat[i] = (unsigned char)(i * 7 + 3);
	memset(&st, 0, sizeof st);
	sig_count = 0;
	entry_bad = 0;
	set_mxcsr(MAIN_MXCSR);
	set_cw(MAIN_CW);
	start();
	long left = have_avx512 ? spin_avx512(pat, &st, 2000000000L, 5)
		    : have_avx  ? spin_avx(pat, &st, 2000000000L, 5)
				: spin_sse(pat, &st, 2000000000L, 5);
	stop();
	set_mxcsr(MXCSR_DEFAULT);
	set_cw(CW_DEFAULT);
	int n = sig_count;
	out("%s: handlers ran during the spin: %s\n", label, n >= 5 && left > 0 ? "yes" : "no");
	check(n >= 5, "signals during the spin");
	int bad = entry_bad;
	out("%s: handlers start with MXCSR 0x1f80: %s\n", label, bad & BAD_MXCSR ? "no" : "yes");
	out("%s: handlers start with x87 CW 0x037f: %s\n", label, bad & BAD_CW ? "no" : "yes");
	out("%s: handlers start with xmm0..15 zero: %s\n", label, bad & BAD_XMM ? "no" : "yes");
	out("%s: handlers start with DF clear: %s\n", label, bad & BAD_DF ? "no" : "yes");
	if (bad)
		out("%s:   last entry: MXCSR %#x, CW %#x, DF %d\n", label, fpu_entry_mxcsr,
		    fpu_entry_cw, (int)((fpu_entry_flags >> 10) & 1));
	int size = have_avx512 ? 64 : have_avx ? 32 : 16;
	int xmm_ok = 1, ymm_ok = 1, zmm_ok = 1;
	for (int r = 0; r < (have_avx512 ? 32 : 16); r++) {
		const unsigned char *got = st.vec + size * r;
		const unsigned char *want = pat + size * r;
		if (memcmp(got, want, 16) != 0)
			*(r < 16 ? &xmm_ok : &zmm_ok) = 0;
		if (size >= 32 && memcmp(got + 16, want + 16, 16) != 0)
			*(r < 16 ? &ymm_ok : &zmm_ok) = 0;
		if (size == 64 && memcmp(got + 32, want + 32, 32) != 0)
			zmm_ok = 0;
	}
	if (have_avx512 && memcmp(st.vec + 2048 + 2, pat + 2048 + 2, 14) != 0)
		zmm_ok = 0;
	out("%s: xmm0..15 intact: %s\n", label, xmm_ok ? "yes" : "no");
	out("%s: ymm0..15 upper halves intact (or no AVX): %s\n", label, ymm_ok ? "yes" : "no");
	out("%s: zmm0..31 and k1..7 intact (or no AVX-512): %s\n", label, zmm_ok ? "yes" : "no");
	out("%s: MXCSR intact: %s\n", label, st.mxcsr == MAIN_MXCSR ? "yes" : "no");
	if (st.mxcsr != MAIN_MXCSR)
		out("%s:   MXCSR %#x\n", label, st.mxcsr);
	out("%s: x87 CW intact: %s\n", label, st.cw == MAIN_CW ? "yes" : "no");
	if (st.cw != MAIN_CW)
		out("%s:   CW %#x\n", label, st.cw);
	int x87_ok = st.x87[0] == 1.0 && st.x87[1] > 3.14159 && st.x87[1] < 3.1416;
	out("%s: x87 stack intact (1, pi): %s\n", label, x87_ok ? "yes" : "no");
	int gpr_ok = st.gpr[0] == 0x1111111111111111UL && st.gpr[1] == 0x2222222222222222UL &&
		     st.gpr[2] == 0x3333333333333333UL && st.gpr[3] == 0x4444444444444444UL;
	out("%s: r8..r11 intact: %s\n", label, gpr_ok ? "yes" : "no");
	int df = (st.flags & 0x400) != 0;
	out("%s: DF still set: %s\n", label, df ? "yes" : "no");
	check(xmm_ok && ymm_ok && zmm_ok && st.mxcsr == MAIN_MXCSR && st.cw == MAIN_CW && x87_ok &&
		      gpr_ok && df,
	      "state after the spin");
	check(bad == 0, "state at handler entry");
}

static void install(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fpu_handler_entry;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	must(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

static void timer_start(void)
{
	struct itimerval it = {{0, 1000}, {0, 1000}};
	must(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

static void timer_stop(void)
{
	struct itimerval it;
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
}

static pid_t killer;

static void killer_start(void)
{
	pid_t parent = getpid();
	killer = fork();
	must(killer >= 0, "fork");
	if (killer == 0) {
		for (int i = 0; i < 3000 && getppid() == parent; i++) {
			kill(parent, SIGUSR1);
			sleep_ms(1);
		}
		_exit(0);
	}
}

static void killer_stop(void)
{
	kill(killer, SIGKILL);
	wait_for(killer);
}

/* --- inheritance --- */
static void *thread_report(void *arg)
{
	unsigned int *v = arg;
	v[0] = get_mxcsr();
	v[1] = get_cw();
	return NULL;
}

static int divides_toward_zero(void)
{
	volatile double a = 1.0, b = 10.0;
	volatile double q = a / b;
	uint64_t bits;
	memcpy(&bits, (const void *)&q, 8);
	return bits == 0x3fb9999999999999ULL; /* nearest would be ...9a */
}

static void inheritance(void)
{
	const unsigned int mx = HANDLER_MXCSR;
	const unsigned short cw = HANDLER_CW;
	set_mxcsr(mx);
	set_cw(cw);
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		unsigned int m = get_mxcsr();
		unsigned int w = get_cw();
		out("fork: child's MXCSR %#x, x87 CW %#x (parent set %#x, %#x)\n", m, w, mx,
		    (unsigned)cw);
		out("fork: child's 1.0/10.0 rounds toward zero: %s\n",
		    divides_toward_zero() ? "yes" : "no");
		_exit(0);
	}
	int st = wait_for(c);
	set_mxcsr(mx);
	set_cw(cw);
	unsigned int v[2] = {0, 0};
	pthread_t th;
	must(pthread_create(&th, NULL, thread_report, v) == 0, "pthread_create");
	pthread_join(th, NULL);
	set_mxcsr(MXCSR_DEFAULT);
	set_cw(CW_DEFAULT);
	out("fork: child %s\n", describe_status(st));
	out("pthread_create: thread's MXCSR %#x, x87 CW %#x\n", v[0], v[1]);
	out("back to defaults: 1.0/10.0 rounds toward zero: %s\n", divides_toward_zero() ? "yes" : "no");
}

int main(void)
{
	have_avx = cpu_has_avx();
	have_avx512 = have_avx && cpu_has_avx512();
	out("initial MXCSR %#x, x87 CW %#x\n", get_mxcsr(), (unsigned)get_cw());
	install(SIGALRM);
	install(SIGUSR1);
	spin_test("SIGALRM (setitimer)", timer_start, timer_stop);
	spin_test("SIGUSR1 (from a child)", killer_start, killer_stop);
	signal(SIGALRM, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	inheritance();
	out("done\n");
	return finish();
}
