/*
 * The vDSO (issue 11): found through AT_SYSINFO_EHDR, its ELF tables
 * parsed by hand (program headers, dynamic section, symbols, versions), the
 * symbols the issue requires looked up with their version, and each
 * function called through the looked-up pointer and checked against the
 * real syscall: clocks sandwiched between vDSO reads, never backwards over
 * 100000 interleaved calls, across two threads, in a forked child and after
 * execve; /proc/self/maps shows [vdso] and [vvar]; [vvar] cannot be made
 * writable or executable; a write to the vDSO (after mprotect) stays
 * private to the process.
 *
 *   t_vdso            all of the above
 *   t_vdso small      the same with 2000 reads instead of 100000
 *   t_vdso exec       (run by the test itself through /proc/self/exe)
 *   t_vdso coarse     sandbox-only: the _COARSE clocks sit on the
 *                     sentry's 4 ms tick grid
 *   t_vdso count N    N calls each of clock_gettime, gettimeofday and
 *                     time through libc (the crossing-count test)
 *
 * Only facts that hold on any Linux are printed (native kernels export
 * more symbols, e.g. __vdso_getrandom, and map more [vvar] pages).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif

static int failures;
/* Clock reads in the monotonic checks ("small" makes them fit the
 * syscall-only fallback's pace). */
static long reads = 100000;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("FAIL line %d: ", __LINE__);                    \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
			failures++;                                            \
		}                                                              \
	} while (0)

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, struct timezone *);
typedef time_t (*time_fn)(time_t *);
typedef int (*getres_fn)(clockid_t, struct timespec *);
typedef int (*getcpu_fn)(unsigned *, unsigned *, void *);

static gettime_fn vgettime;
static gettimeofday_fn vgettimeofday;
static time_fn vtime;
static getres_fn vgetres;
static getcpu_fn vgetcpu;

static uintptr_t vdso_base;
static uintptr_t load_bias;
static const Elf64_Sym *symtab;
static const char *strtab;
static const Elf64_Half *versym;
static const Elf64_Verdef *verdef;
static unsigned long nsyms;

static const char *version_of(unsigned long i)
{
	if (!versym || !verdef)
		return "(no version table)";
	Elf64_Half want = versym[i] & 0x7fff;
	const Elf64_Verdef *d = verdef;
	for (;;) {
		if (d->vd_ndx == want && !(d->vd_flags & VER_FLG_BASE)) {
			const Elf64_Verdaux *a =
				(const void *)((const char *)d + d->vd_aux);
			return strtab + a->vda_name;
		}
		if (!d->vd_next)
			return "(unversioned)";
		d = (const void *)((const char *)d + d->vd_next);
	}
}

static void *lookup(const char *name, const char **version)
{
	for (unsigned long i = 1; i < nsyms; i++) {
		const Elf64_Sym *s = &symtab[i];
		int type = ELF64_ST_TYPE(s->st_info);
		int bind = ELF64_ST_BIND(s->st_info);
		if (s->st_shndx == SHN_UNDEF || type != STT_FUNC ||
		    (bind != STB_GLOBAL && bind != STB_WEAK))
			continue;
		if (strcmp(strtab + s->st_name, name))
			continue;
		*version = version_of(i);
		return (void *)(load_bias + s->st_value);
	}
	return NULL;
}

static void parse_vdso(void)
{
	const Elf64_Ehdr *eh = (const void *)vdso_base;
	CHECK(!memcmp(eh->e_ident, ELFMAG, SELFMAG), "no ELF magic");
	printf("class %s type %s machine %s\n",
	       eh->e_ident[EI_CLASS] == ELFCLASS64 ? "ELF64" : "?",
	       eh->e_type == ET_DYN ? "DYN" : "?",
	       eh->e_machine == EM_X86_64 ? "x86-64" : "?");
	const Elf64_Phdr *ph = (const void *)(vdso_base + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	int loads = 0, notes = 0, eh_frame = 0, linux_note = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && loads++ == 0)
			load_bias = vdso_base + ph[i].p_offset - ph[i].p_vaddr;
	}
	for (int i = 0; i < eh->e_phnum; i++) {
		switch (ph[i].p_type) {
		case PT_DYNAMIC:
			dyn = (const void *)(load_bias + ph[i].p_vaddr);
			break;
		case PT_NOTE: {
			notes++;
			const char *p = (const char *)(load_bias + ph[i].p_vaddr);
			const char *end = p + ph[i].p_memsz;
			while (p + sizeof(Elf64_Nhdr) <= end) {
				const Elf64_Nhdr *n = (const void *)p;
				const char *name = p + sizeof(*n);
				if (n->n_namesz == 6 && !memcmp(name, "Linux", 6))
					linux_note = 1;
				p = name + ((n->n_namesz + 3) & ~3u) +
				    ((n->n_descsz + 3) & ~3u);
			}
			break;
		}
		case PT_GNU_EH_FRAME: {
			/* .eh_frame_hdr: version 1, then a table of FDEs. */
			const unsigned char *h =
				(const void *)(load_bias + ph[i].p_vaddr);
			eh_frame = h[0] == 1 ? 1 : -1;
			break;
		}
		}
	}
	printf("PT_LOAD %s, PT_DYNAMIC %s, PT_NOTE %s (Linux note %s), "
	       "PT_GNU_EH_FRAME %s\n",
	       loads ? "yes" : "no", dyn ? "yes" : "no", notes ? "yes" : "no",
	       linux_note ? "yes" : "no",
	       eh_frame == 1 ? "version 1" : eh_frame ? "bad" : "no");
	const Elf64_Word *hash = NULL;
	Elf64_Xword soname = 0;
	int has_soname = 0;
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = load_bias + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const void *)p; break;
		case DT_STRTAB: strtab = (const void *)p; break;
		case DT_HASH: hash = (const void *)p; break;
		case DT_VERSYM: versym = (const void *)p; break;
		case DT_VERDEF: verdef = (const void *)p; break;
		case DT_SONAME: soname = dyn->d_un.d_val; has_soname = 1; break;
		case DT_RELA:
		case DT_REL:
		case DT_JMPREL: CHECK(0, "the vDSO has relocations"); break;
		}
	}
	CHECK(symtab && strtab && hash, "missing DT_SYMTAB/DT_STRTAB/DT_HASH");
	if (!symtab || !strtab || !hash)
		exit(1);
	nsyms = hash[1]; /* nchain: the number of symbols */
	printf("soname %s\n", has_soname ? strtab + soname : "(none)");
	printf("version tables: versym %s, verdef %s\n", versym ? "yes" : "no",
	       verdef ? "yes" : "no");
}

static const char *required[] = {
	"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
	"__vdso_clock_getres", "__vdso_getcpu", "clock_gettime",
	"gettimeofday", "time", "clock_getres", "getcpu",
};

static void list_symbols(void)
{
	/* The required set, sorted, each found or not with its version. */
	int n = sizeof(required) / sizeof(required[0]);
	const char *sorted[16];
	memcpy(sorted, required, sizeof(required));
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(sorted[j], sorted[i]) < 0) {
				const char *t = sorted[i];
				sorted[i] = sorted[j];
				sorted[j] = t;
			}
	for (int i = 0; i < n; i++) {
		const char *version = NULL;
		void *p = lookup(sorted[i], &version);
		if (p)
			printf("symbol %s@%s\n", sorted[i], version);
		else
			printf("symbol %s not found\n", sorted[i]);
	}
	const char *v;
	vgettime = (gettime_fn)lookup("__vdso_clock_gettime", &v);
	vgettimeofday = (gettimeofday_fn)lookup("__vdso_gettimeofday", &v);
	vtime = (time_fn)lookup("__vdso_time", &v);
	vgetres = (getres_fn)lookup("__vdso_clock_getres", &v);
	vgetcpu = (getcpu_fn)lookup("__vdso_getcpu", &v);
	if (!vgettime || !vgettimeofday || !vtime || !vgetres || !vgetcpu) {
		printf("a required function is missing\n");
		exit(1);
	}
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t vnow(clockid_t c)
{
	struct timespec t;
	int r = vgettime(c, &t);
	CHECK(r == 0, "vdso clock_gettime(%d) = %d", (int)c, r);
	return ns(&t);
}

static int64_t snow(clockid_t c)
{
	struct timespec t;
	long r = syscall(SYS_clock_gettime, c, &t);
	CHECK(r == 0, "syscall clock_gettime(%d) = %ld", (int)c, r);
	return ns(&t);
}

static const struct {
	clockid_t id;
	const char *name;
} clocks[] = {
	{CLOCK_REALTIME, "REALTIME"},
	{CLOCK_MONOTONIC, "MONOTONIC"},
	{CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW"},
	{CLOCK_REALTIME_COARSE, "REALTIME_COARSE"},
	{CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE"},
	{CLOCK_BOOTTIME, "BOOTTIME"},
	{CLOCK_TAI, "TAI"},
};

static void check_clocks(void)
{
	for (unsigned i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		clockid_t c = clocks[i].id;
		int64_t a = vnow(c), s = snow(c), b = vnow(c);
		CHECK(a <= s && s <= b,
		      "%s: vdso %lld, syscall %lld, vdso %lld not in order",
		      clocks[i].name, (long long)a, (long long)s,
		      (long long)b);
		struct timespec vr = {-1, -1}, sr = {-2, -2};
		int r1 = vgetres(c, &vr);
		long r2 = syscall(SYS_clock_getres, c, &sr);
		CHECK(r1 == 0 && r2 == 0 && vr.tv_sec == sr.tv_sec &&
			      vr.tv_nsec == sr.tv_nsec,
		      "%s: getres vdso %d %lld.%09ld, syscall %ld %lld.%09ld",
		      clocks[i].name, r1, (long long)vr.tv_sec, vr.tv_nsec, r2,
		      (long long)sr.tv_sec, sr.tv_nsec);
		CHECK(vgetres(c, NULL) == 0, "%s: getres(NULL)", clocks[i].name);
		printf("clock %s: vdso and syscall agree, resolution %s\n",
		       clocks[i].name,
		       vr.tv_sec == 0 && vr.tv_nsec == 1 ? "1 ns" : "coarse");
	}
	/* CPU-time clocks go to the syscall from inside the vDSO. */
	struct timespec t;
	CHECK(vgettime(CLOCK_PROCESS_CPUTIME_ID, &t) == 0, "process cputime");
	CHECK(vgettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0, "thread cputime");
	CHECK(vgetres(CLOCK_THREAD_CPUTIME_ID, &t) == 0, "thread getres");
	/* Bad clocks: the raw -EINVAL, as the syscall instruction gives. */
	printf("clock 100: vdso %d, getres %d\n", vgettime(100, &t),
	       vgetres(100, &t));

	struct timeval v1, sv, v2;
	struct timezone vtz = {-1, -1}, stz = {-2, -2};
	CHECK(vgettimeofday(&v1, &vtz) == 0, "gettimeofday");
	syscall(SYS_gettimeofday, &sv, &stz);
	CHECK(vgettimeofday(&v2, NULL) == 0, "gettimeofday(tv, NULL)");
	CHECK(vgettimeofday(NULL, NULL) == 0, "gettimeofday(NULL, NULL)");
	int64_t a = v1.tv_sec * 1000000LL + v1.tv_usec;
	int64_t s = sv.tv_sec * 1000000LL + sv.tv_usec;
	int64_t b = v2.tv_sec * 1000000LL + v2.tv_usec;
	CHECK(a <= s && s <= b, "gettimeofday out of order");
	CHECK(vtz.tz_minuteswest == stz.tz_minuteswest &&
		      vtz.tz_dsttime == stz.tz_dsttime,
	      "timezone differs");
	CHECK(v1.tv_usec >= 0 && v1.tv_usec < 1000000, "tv_usec range");
	printf("gettimeofday: vdso and syscall agree\n");

	time_t t1 = vtime(NULL), st, t2;
	st = syscall(SYS_time, NULL);
	time_t stored = 0;
	t2 = vtime(&stored);
	CHECK(t1 <= st && st <= t2 && stored == t2, "time out of order");
	printf("time: vdso and syscall agree\n");

	unsigned cpu = 9999, node = 9999;
	CHECK(vgetcpu(&cpu, &node, NULL) == 0, "getcpu");
	CHECK(cpu < 4096 && node == 0, "getcpu gave cpu %u node %u", cpu, node);
	CHECK(vgetcpu(NULL, NULL, NULL) == 0, "getcpu(NULL, NULL)");
	printf("getcpu: works\n");
}

/*
 * The _COARSE clocks read as of the last tick: a coarse read is never
 * ahead of a fine read made after it, never goes back, and holds still
 * between ticks (most consecutive reads are equal). Holds on any Linux.
 */
static const clockid_t coarse_pairs[2][2] = {
	{CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC},
	{CLOCK_REALTIME_COARSE, CLOCK_REALTIME},
};

static void check_coarse(void)
{
	long n = reads / 5;
	for (int p = 0; p < 2; p++) {
		clockid_t coarse = coarse_pairs[p][0], fine = coarse_pairs[p][1];
		int64_t last = 0;
		long ahead = 0, back = 0, same = 0;
		for (long i = 0; i < n; i++) {
			int64_t c = i % 100 == 99 ? snow(coarse) : vnow(coarse);
			int64_t f = i % 100 == 98 ? snow(fine) : vnow(fine);
			ahead += c > f;
			back += c < last;
			same += c == last;
			last = c;
		}
		CHECK(ahead == 0 && back == 0 && same > n / 2,
		      "%s: %ld reads ahead of the fine clock, %ld backwards, "
		      "%ld of %ld equal to the one before",
		      p ? "REALTIME_COARSE" : "MONOTONIC_COARSE", ahead, back,
		      same, n);
		printf("%s: never ahead of the fine clock, never backwards, "
		       "holds between ticks: %s\n",
		       p ? "REALTIME_COARSE" : "MONOTONIC_COARSE",
		       ahead == 0 && back == 0 && same > n / 2 ? "yes" : "no");
	}
}

/*
 * Sandbox-only ("coarse"): the sentry's tick is a 4 ms grid of MONOTONIC,
 * so MONOTONIC_COARSE is a multiple of 4 ms, and a coarse read c between
 * fine reads f1 and f2 has f1 - 4 ms < c <= f2 (on both coarse clocks).
 */
static int coarse_grid(void)
{
	const int64_t tick = 4000000;
	long bad = 0, offgrid = 0, n = 20000;
	for (long i = 0; i < n; i++) {
		for (int p = 0; p < 2; p++) {
			clockid_t coarse = coarse_pairs[p][0], fine = coarse_pairs[p][1];
			int sys = i % 50 == 49;
			int64_t f1 = vnow(fine);
			int64_t c = sys ? snow(coarse) : vnow(coarse);
			int64_t f2 = vnow(fine);
			bad += !(f1 - tick < c && c <= f2);
			offgrid += p == 0 && c % tick != 0;
		}
	}
	printf("coarse reads outside (fine - 4 ms, fine]: %ld\n", bad);
	printf("MONOTONIC_COARSE reads off the 4 ms grid: %ld\n", offgrid);
	return bad || offgrid;
}

static void check_monotonic(void)
{
	int64_t last = 0;
	int back = 0;
	for (long i = 0; i < reads; i++) {
		int64_t t = i % 100 == 99 ? snow(CLOCK_MONOTONIC)
					  : vnow(CLOCK_MONOTONIC);
		if (t < last)
			back++;
		last = t;
	}
	CHECK(back == 0, "MONOTONIC went backwards %d times", back);
	printf("%ld interleaved vdso/syscall MONOTONIC reads: never backwards\n", reads);
}

static _Atomic int64_t shared_max;
static _Atomic int racers;

static void *racer(void *arg)
{
	long back = 0;
	atomic_fetch_add(&racers, 1);
	while (atomic_load(&racers) < 2)
		;
	for (long i = 0; i < reads / 2; i++) {
		int64_t seen = atomic_load(&shared_max);
		int64_t t = i % 1000 == (long)arg ? snow(CLOCK_MONOTONIC)
						  : vnow(CLOCK_MONOTONIC);
		if (t < seen)
			back++;
		int64_t cur = atomic_load(&shared_max);
		while (cur < t && !atomic_compare_exchange_weak(&shared_max, &cur, t))
			;
	}
	return (void *)back;
}

static void check_threads(void)
{
	pthread_t a, b;
	void *ra, *rb;
	pthread_create(&a, NULL, racer, (void *)0);
	pthread_create(&b, NULL, racer, (void *)500);
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	CHECK(ra == NULL && rb == NULL,
	      "a thread read a time before one the other had published "
	      "(%ld, %ld times)",
	      (long)ra, (long)rb);
	printf("two threads: no read behind the other thread's\n");
}

static void check_fork(void)
{
	int64_t before = vnow(CLOCK_MONOTONIC);
	pid_t pid = fork();
	if (pid == 0) {
		int64_t child = vnow(CLOCK_MONOTONIC);
		int ok = child >= before && getauxval(AT_SYSINFO_EHDR) == vdso_base;
		_exit(ok ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	int64_t after = vnow(CLOCK_MONOTONIC);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child's clock was behind its parent's");
	CHECK(after >= before, "parent's clock went back over the fork");
	printf("fork: the child's clock continues the parent's\n");
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EPERM: return "EPERM";
	default: return "other";
	}
}

static int maps_range(const char *name, uintptr_t *start, uintptr_t *end,
		      char perms[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	while (f && fgets(line, sizeof line, f)) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		size_t ll = strlen(line), nlen = strlen(name);
		if (ll >= nlen && !strcmp(line + ll - nlen, name)) {
			unsigned long s, e;
			sscanf(line, "%lx-%lx %4s", &s, &e, perms);
			*start = s;
			*end = e;
			found = 1;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void check_maps_and_protection(const char *self)
{
	uintptr_t vs = 0, ve = 0, ds = 0, de = 0;
	char vp[5] = "", dp[5] = "";
	int has_vvar = maps_range("[vvar]", &vs, &ve, vp);
	int has_vdso = maps_range("[vdso]", &ds, &de, dp);
	printf("maps: [vvar] %s %s, [vdso] %s %s, [vdso] at AT_SYSINFO_EHDR %s, "
	       "[vvar] below [vdso] %s\n",
	       has_vvar ? "present" : "missing", vp,
	       has_vdso ? "present" : "missing", dp,
	       ds == vdso_base ? "yes" : "no", ve <= ds ? "yes" : "no");
	if (!has_vvar || !has_vdso)
		return;

	errno = 0;
	int r = mprotect((void *)vs, ve - vs, PROT_READ | PROT_WRITE);
	printf("mprotect [vvar] PROT_WRITE: %d %s\n", r, errname(errno));
	errno = 0;
	r = mprotect((void *)vs, ve - vs, PROT_READ | PROT_EXEC);
	printf("mprotect [vvar] PROT_EXEC: %d %s\n", r, errname(errno));
	CHECK(vnow(CLOCK_MONOTONIC) > 0, "clock after refused mprotects");

	/* Plain stores into either page fault. */
	for (int i = 0; i < 2; i++) {
		uintptr_t at = i ? ds + 15 : vs;
		pid_t pid = fork();
		if (pid == 0) {
			*(volatile unsigned char *)at = 1;
			_exit(0);
		}
		int status;
		waitpid(pid, &status, 0);
		printf("a store into %s: %s\n", i ? "[vdso]" : "[vvar]",
		       WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV
			       ? "SIGSEGV"
			       : "no fault");
	}

	/* A debugger's breakpoint: the vDSO made writable, one byte changed
	 * (e_ident padding), then made read + exec again. */
	errno = 0;
	r = mprotect((void *)ds, de - ds, PROT_READ | PROT_WRITE | PROT_EXEC);
	printf("mprotect [vdso] rwx: %d %s\n", r, errname(errno));
	if (r == 0) {
		volatile unsigned char *pad = (unsigned char *)ds + 15;
		*pad = 0x5a;
		CHECK(*pad == 0x5a, "the write did not stick");
		/* And the kernel's own copy into the page (read(2)). */
		int fds[2];
		CHECK(pipe(fds) == 0, "pipe");
		CHECK(write(fds[1], "\x11\x22", 2) == 2, "write to pipe");
		CHECK(read(fds[0], (void *)(ds + 13), 2) == 2, "read into the vDSO");
		CHECK(pad[-2] == 0x11 && pad[-1] == 0x22, "read(2) into the vDSO");
		close(fds[0]);
		close(fds[1]);
		CHECK(mprotect((void *)ds, de - ds, PROT_READ | PROT_EXEC) == 0,
		      "mprotect back");
		CHECK(vnow(CLOCK_MONOTONIC) > 0, "clock after the write");
	}
	fflush(stdout);
	/* A new program gets the pristine vDSO. */
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "exec", (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec child failed");
}

static int after_exec(void)
{
	vdso_base = getauxval(AT_SYSINFO_EHDR);
	if (!vdso_base) {
		printf("exec: no AT_SYSINFO_EHDR\n");
		return 1;
	}
	parse_vdso();
	const char *v;
	vgettime = (gettime_fn)lookup("__vdso_clock_gettime", &v);
	struct timespec t;
	int ok = vgettime && vgettime(CLOCK_MONOTONIC, &t) == 0;
	const unsigned char *e = (const unsigned char *)vdso_base;
	printf("exec: vDSO mapped, clock_gettime %s, e_ident padding %d %d %d\n",
	       ok ? "works" : "fails", e[13], e[14], e[15]);
	return ok ? 0 : 1;
}

static int count(long n)
{
	struct timespec t;
	struct timeval tv;
	long sum = 0;
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		gettimeofday(&tv, NULL);
		sum += time(NULL) & 1;
	}
	printf("%ld calls each done (%ld)\n", n, sum >= 0 ? n : -1);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "exec"))
		return after_exec();
	if (argc > 2 && !strcmp(argv[1], "count"))
		return count(atol(argv[2]));
	if (argc > 1 && !strcmp(argv[1], "small"))
		reads = 2000;
	vdso_base = getauxval(AT_SYSINFO_EHDR);
	printf("AT_SYSINFO_EHDR %s\n", vdso_base ? "present" : "missing");
	if (!vdso_base)
		return 1;
	parse_vdso();
	list_symbols();
	if (argc > 1 && !strcmp(argv[1], "coarse"))
		return coarse_grid();
	check_clocks();
	check_coarse();
	check_monotonic();
	check_threads();
	check_fork();
	check_maps_and_protection("/proc/self/exe");
	printf("failures: %d\n", failures);
	return failures != 0;
}
