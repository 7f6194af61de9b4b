/*
 * The sandbox's vDSO: clock_gettime, gettimeofday, time, clock_getres and
 * getcpu without leaving the guest, in the manner of Linux's
 * arch/x86/entry/vdso (written for this project; the clock data format is
 * our own, see vvar.h).
 *
 * Built by sentry/build.rs with -nostdlib -fPIC into a shared object with
 * no relocations; the sentry maps it (and the [vvar] page below it) into
 * every process and passes its address in AT_SYSINFO_EHDR.
 */
#include "vvar.h"

typedef long long s64;
typedef unsigned long long u64;
typedef unsigned int u32;

struct timespec_k {
	s64 tv_sec;
	s64 tv_nsec;
};

struct timeval_k {
	s64 tv_sec;
	s64 tv_usec;
};

struct timezone_k {
	int tz_minuteswest;
	int tz_dsttime;
};

#define NSEC_PER_SEC 1000000000ULL
#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1

/* Defined by the linker script: the page right below the image. */
extern const volatile struct vvar_data vvar_page __attribute__((visibility("hidden")));

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	asm volatile("syscall"
		     : "=a"(ret)
		     : "0"(nr), "D"(a), "S"(b)
		     : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	asm volatile("syscall"
		     : "=a"(ret)
		     : "0"(nr), "D"(a), "S"(b), "d"(c)
		     : "rcx", "r11", "memory");
	return ret;
}

/* rdtsc, not speculated ahead of the loads before it (Linux's rdtsc_ordered). */
static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi;
	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((u64)hi << 32) | lo;
}

/* rdtsc that may run a little early: enough for whole seconds. */
static inline u64 rdtsc_unordered(void)
{
	u32 lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	asm volatile("pause" : : : "memory");
}

/*
 * The clock's value in nanoseconds; 0 (and nothing written) when the page
 * does not serve `clock`, so the caller makes the syscall. `ordered` reads
 * the TSC only after the page (what nanosecond clocks need to stay
 * monotonic across CPUs); time() does without (it costs about as much as
 * the rest of the call and whole seconds cannot tell).
 */
static inline __attribute__((always_inline)) int read_clock(unsigned int clock, u64 *ns, int ordered)
{
	const volatile struct vvar_data *v = &vvar_page;
	u32 seq;
	u64 base, mono_base, res, tsc_base, mult, tsc, delta, mono;
	u32 shift;

	if (clock >= VVAR_CLOCKS)
		return 0;
	for (;;) {
		seq = v->seq;
		if (seq & 1) {
			cpu_relax();
			continue;
		}
		asm volatile("" : : : "memory");
		if (!(v->clock_mask & (1U << clock)))
			return 0;
		base = v->base_ns[clock];
		mono_base = v->base_ns[CLOCK_MONOTONIC];
		res = v->res_ns[clock];
		tsc_base = v->tsc_base;
		mult = v->mult;
		shift = v->shift;
		tsc = ordered ? rdtsc_ordered() : rdtsc_unordered();
		asm volatile("" : : : "memory");
		if (v->seq == seq)
			break;
	}
	/* TSCs are synchronized, but never go below the base. */
	delta = tsc > tsc_base ? tsc - tsc_base : 0;
	delta = (u64)(((unsigned __int128)delta * mult) >> shift);
	if (res > 1) {
		/*
		 * A _COARSE clock: as of the last tick, MONOTONIC truncated to
		 * the tick (its resolution), plus the clock's offset, as
		 * sentry/src/kernel/vclock.rs computes it.
		 */
		mono = mono_base + delta;
		*ns = (base - mono_base) + (mono - mono % res);
		return 1;
	}
	*ns = base + delta;
	return 1;
}

int __vdso_clock_gettime(int clock, struct timespec_k *ts)
{
	u64 ns;

	if (!read_clock((unsigned int)clock, &ns, 1))
		return (int)syscall2(NR_clock_gettime, clock, (long)ts);
	ts->tv_sec = (s64)(ns / NSEC_PER_SEC);
	ts->tv_nsec = (s64)(ns % NSEC_PER_SEC);
	return 0;
}

int __vdso_gettimeofday(struct timeval_k *tv, struct timezone_k *tz)
{
	u64 ns;

	if (!read_clock(CLOCK_REALTIME, &ns, 1))
		return (int)syscall2(NR_gettimeofday, (long)tv, (long)tz);
	if (tv) {
		tv->tv_sec = (s64)(ns / NSEC_PER_SEC);
		tv->tv_usec = (s64)(ns % NSEC_PER_SEC / 1000);
	}
	if (tz) {
		/* The sandbox's time zone is UTC, as its gettimeofday says. */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

s64 __vdso_time(s64 *t)
{
	u64 ns;
	s64 secs;

	if (!read_clock(CLOCK_REALTIME, &ns, 0))
		return syscall2(NR_time, (long)t, 0);
	secs = (s64)(ns / NSEC_PER_SEC);
	if (t)
		*t = secs;
	return secs;
}

int __vdso_clock_getres(int clock, struct timespec_k *res)
{
	const volatile struct vvar_data *v = &vvar_page;
	u64 ns;

	if ((unsigned int)clock >= VVAR_CLOCKS || !(v->clock_mask & (1U << clock)))
		return (int)syscall2(NR_clock_getres, clock, (long)res);
	ns = v->res_ns[clock];
	if (res) {
		res->tv_sec = (s64)(ns / NSEC_PER_SEC);
		res->tv_nsec = (s64)(ns % NSEC_PER_SEC);
	}
	return 0;
}

/*
 * The CPU the thread runs on, as the sandbox numbers its CPUs: RDTSCP's
 * TSC_AUX holds (node << 12) | cpu of the host CPU (in ring 3 of this VM
 * it reads the host's; shared/kvmlab/REPORT.md §7), which the sentry's
 * table in [vvar] maps to the sandbox CPU (sentry/src/kernel/cpus.rs).
 * A host CPU the table does not know makes the syscall. Node 0.
 */
int __vdso_getcpu(unsigned int *cpu, unsigned int *node, void *unused)
{
	const volatile struct vvar_data *v = &vvar_page;
	u32 lo, hi, aux, host, mapped;

	asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	(void)lo;
	(void)hi;
	host = aux & 0xfff;
	mapped = host < VVAR_HOST_CPUS ? v->cpu_of_host[host] : 0;
	if (!mapped)
		return (int)syscall3(NR_getcpu, (long)cpu, (long)node, (long)unused);
	if (cpu)
		*cpu = mapped - 1;
	if (node)
		*node = 0;
	return 0;
}

/* The names without the prefix, as Linux exports them too. */
int clock_gettime(int, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_k *, struct timezone_k *) __attribute__((weak, alias("__vdso_gettimeofday")));
s64 time(s64 *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned int *, unsigned int *, void *) __attribute__((weak, alias("__vdso_getcpu")));

/* The "Linux" note with the kernel version the sandbox reports (6.18.0). */
struct linux_note {
	u32 namesz, descsz, type;
	char name[8];
	u32 version;
};

__attribute__((section(".note.Linux"), used, aligned(4)))
static const struct linux_note linux_version_note = {
	6, 4, 0, "Linux", (6 << 16) | (18 << 8) | 0,
};
