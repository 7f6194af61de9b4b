/*
 * mm_limits: the bounds of guest memory (issue 7).
 *
 * No argument (differential): page 0 can never be mapped, by any route
 * (mmap MAP_FIXED / MAP_FIXED_NOREPLACE, mremap MREMAP_FIXED and
 * MREMAP_DONTUNMAP, a MAP_GROWSDOWN mapping growing down); a hint at 0 gets
 * an address elsewhere; MREMAP_DONTUNMAP moves pages and leaves the old range
 * mapped and empty; and vm.max_map_count (65530) stops VMA splits with
 * ENOMEM. Natively the test runs as root, so it first drops its capabilities
 * (CAP_SYS_RAWIO lets root map below mmap_min_addr): the reference is what an
 * ordinary process sees. This host's vm.mmap_min_addr is 4096, the sandbox's
 * is Linux's default 65536, so only page 0 is compared here.
 *
 * "low" (sandbox only): [4096, 65536) is refused too.
 * "populate" (sandbox only, run with --memory 64M): a read-only
 *   MAP_POPULATE of 1 GiB takes no memory and one of 64 TiB returns at once;
 *   a writable one of 64 TiB stops at the cap.
 * "oom" (sandbox only, run with --memory 64M): a child holds 48 MiB, then
 *   pid 1 (small) touches 32 MiB more: the OOM killer must pick the child
 *   (SIGKILL), not the faulting pid 1, which goes on with the memory freed.
 */
#include "guest.h"
#include <setjmp.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096UL

static sigjmp_buf env;

/* The raw call: libc wrappers differ (an older glibc refuses
 * MREMAP_DONTUNMAP itself with EINVAL). */
static void *xmremap(void *old, unsigned long old_len, unsigned long new_len, int flags,
		     void *new_addr)
{
	long r = syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	return r == -1 ? MAP_FAILED : (void *)r;
}

static void on_segv(int s)
{
	(void)s;
	siglongjmp(env, 1);
}

/* Whether touching addr faults. */
static const char *touch(unsigned long addr)
{
	if (sigsetjmp(env, 1))
		return "SIGSEGV";
	*(volatile char *)addr = 1;
	return "ok";
}

static void drop_caps(void)
{
	struct {
		unsigned version;
		int pid;
	} hdr = {0x20080522, 0};
	unsigned data[6] = {0};
	/* Fails harmlessly in the sandbox, which grants no capabilities. */
	syscall(SYS_capset, &hdr, data);
}

static const char *map_res(void *p)
{
	return p == MAP_FAILED ? errname(errno) : "ok";
}

static void low_addr(unsigned long at)
{
	errno = 0;
	void *p = mmap((void *)at, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	out("mmap MAP_FIXED at %#lx: %s\n", at, map_res(p));
	/* Raw: musl's wrapper turns EPERM at address 0 into ENOMEM. */
	long r = syscall(SYS_mmap, at, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	p = r == -1 ? MAP_FAILED : (void *)r;
	out("mmap MAP_FIXED_NOREPLACE at %#lx: %s\n", at, map_res(p));
	p = mmap((void *)at, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out("mmap hint %#lx: %s, placed %s\n", at, map_res(p),
	    p != MAP_FAILED && (unsigned long)p >= 65536 ? "above 64K" : "low");
	if (p != MAP_FAILED)
		munmap(p, PAGE);

	char *src = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(src != MAP_FAILED, "mmap src");
	src[0] = 7;
	errno = 0;
	p = xmremap(src, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)at);
	out("mremap MREMAP_FIXED to %#lx: %s\n", at, map_res(p));
	p = xmremap(src, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, (void *)at);
	out("mremap MREMAP_DONTUNMAP to %#lx: %s\n", at, map_res(p));
	out("source intact: %s\n", src[0] == 7 ? "yes" : "no");
	munmap(src, PAGE);

	/* A MAP_GROWSDOWN mapping two pages above `at` grows down on a touch,
	 * but never to `at`. */
	unsigned long base = at + 0x11000;
	char *g = mmap((void *)base, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
	out("MAP_GROWSDOWN at %#lx: %s\n", base, map_res(g));
	if (g != MAP_FAILED) {
		out("touch %#lx: %s\n", base - PAGE, touch(base - PAGE));
		out("touch %#lx: %s\n", at, touch(at));
		munmap((void *)at, 0x20000);
	}
}

/* A MAP_GROWSDOWN mapping stops stack_guard_gap (1 MiB) above the next
 * accessible mapping below it. */
static void guard_gap(void)
{
	unsigned long below = 0x200000000UL, top = below + (4UL << 20);
	void *b = mmap((void *)below, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *g = mmap((void *)top, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
	must(b != MAP_FAILED && g != MAP_FAILED, "mmap guard-gap pair");
	out("grow to 2 MiB above the mapping below: %s\n", touch(below + (2UL << 20)));
	out("grow to 512 KiB above it: %s\n", touch(below + PAGE + (512UL << 10)));
	munmap((void *)below, (4UL << 20) + PAGE);
}

static void dont_unmap(void)
{
	char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(a != MAP_FAILED, "mmap");
	memset(a, 5, 4 * PAGE);
	errno = 0;
	char *b = xmremap(a, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	out("mremap DONTUNMAP: %s\n", map_res(b));
	if (b != MAP_FAILED)
		out("moved %d %d, old %d %d\n", b[0], b[3 * PAGE], a[0], a[3 * PAGE]);
	errno = 0;
	b = xmremap(a, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	out("mremap DONTUNMAP growing: %s\n", map_res(b));
	b = xmremap(a, 4 * PAGE, 4 * PAGE, MREMAP_DONTUNMAP, NULL);
	out("mremap DONTUNMAP without MAYMOVE: %s\n", map_res(b));
}

static void max_map_count(void)
{
	const unsigned long pages = 70000;
	char *r = mmap(NULL, pages * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	must(r != MAP_FAILED, "mmap region");
	unsigned long ok = 0, i;
	int err = 0;
	for (i = 1; i < pages - 2; i += 2) {
		if (mprotect(r + i * PAGE, PAGE, PROT_READ | PROT_WRITE) != 0) {
			err = errno;
			break;
		}
		ok++;
	}
	/* ~32,760 succeed; a process's own VMAs shift that by a few. */
	out("alternating mprotect: stopped by %s after about %lu thousand\n", errname(err),
	    (ok + 500) / 1000);
	/* A hole in the middle of the untouched tail needs one more VMA. */
	errno = 0;
	int m = munmap(r + (pages - 100) * PAGE, PAGE);
	out("munmap splitting a VMA at the limit: %s\n", m == 0 ? "ok" : errname(errno));
	int hit = 0;
	for (int k = 0; k < 10 && !hit; k++) {
		void *p = mmap(NULL, PAGE, k % 2 ? PROT_READ : PROT_READ | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			hit = errno;
	}
	out("new mappings at the limit: %s within 10\n", hit ? errname(hit) : "no error");
	munmap(r, pages * PAGE);
	/* Below the limit again, everything works. */
	void *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out("after unmapping: %s\n", map_res(p));
}

static void populate(void)
{
	const unsigned long gib = 1UL << 30;
	char *p = mmap(NULL, gib, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	out("1 GiB PROT_READ MAP_POPULATE: %s\n", map_res(p));
	int sum = 0;
	for (unsigned long i = 0; i < gib; i += 64 * PAGE)
		sum += p[i];
	out("reads as zero: %s\n", sum == 0 ? "yes" : "no");
	/* The cap (64M) still has room: 48 MiB can be written. */
	char *w = mmap(NULL, 48UL << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(w != MAP_FAILED, "mmap 48M");
	memset(w, 1, 48UL << 20);
	out("48 MiB written\n");
	munmap(w, 48UL << 20);
	/* A read-only page made writable still gets its own frame. */
	must(mprotect(p, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect");
	p[0] = 3;
	out("written after mprotect: %d, neighbour %d\n", p[0], p[PAGE]);
	munmap(p, gib);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p = mmap(NULL, 64UL << 40, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE,
		 -1, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	out("64 TiB PROT_READ MAP_POPULATE: %s, %s\n", map_res(p), s < 1.0 ? "fast" : "slow");
	if (p != MAP_FAILED)
		munmap(p, 64UL << 40);
	/* A writable one stops at the cap (populate is best effort). */
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		p = mmap(NULL, 64UL << 40, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
		out("64 TiB writable MAP_POPULATE: %s\n", map_res(p));
		_exit(0);
	}
	out("child: %s\n", describe_status(wait_for(c)));
}

static void oom(void)
{
	int fds[2];
	must(pipe(fds) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		/* The big one: 48 MiB of the 64 MiB cap, then idle. */
		char *p = mmap(NULL, 48UL << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		must(p != MAP_FAILED, "mmap 48M");
		memset(p, 1, 48UL << 20);
		must(write(fds[1], "x", 1) == 1, "write");
		sleep(20);
		_exit(0);
	}
	char b;
	must(read(fds[0], &b, 1) == 1, "read");
	/* pid 1 runs out of memory here: the child must go, not pid 1. */
	char *q = mmap(NULL, 32UL << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	must(q != MAP_FAILED, "mmap 32M");
	memset(q, 2, 32UL << 20);
	out("pid 1 wrote 32 MiB\n");
	out("child: %s\n", describe_status(wait_for(c)));
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	drop_caps();
	if (strcmp(mode, "low") == 0) {
		low_addr(0x8000);
	} else if (strcmp(mode, "oom") == 0) {
		oom();
	} else if (strcmp(mode, "populate") == 0) {
		populate();
	} else {
		low_addr(0);
		guard_gap();
		dont_unmap();
		max_map_count();
	}
	return finish();
}
