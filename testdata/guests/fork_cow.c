/*
 * fork_cow: copy-on-write isolation across two generations of fork.
 *
 * Regions: a global, a heap block, a stack variable, a 16 MiB MAP_PRIVATE
 * anonymous mapping (only its first half touched before the first fork, so
 * never-faulted pages are covered too) and a MAP_SHARED|MAP_ANONYMOUS page.
 *
 * gen 0 (parent) writes 1 everywhere, forks gen 1 and waits. gen 1 reports
 * what it sees, writes 2, forks gen 2 and waits. gen 2 reports, writes 3 and
 * exits. gen 1 then reports again (private: 2, shared: 3) and exits; gen 0
 * reports last (private: 1 / untouched 0, shared: 3). Each process checks its
 * view and exits non-zero on a mismatch; output is strictly ordered by the
 * waits.
 */
#include "guest.h"
#include <sys/mman.h>

#define PAGE 4096UL
#define BIG (16UL << 20)
#define PAGES (BIG / PAGE)

static volatile int global;
static volatile int *heap;
static volatile int *shared;
static volatile unsigned char *big;

/* Every page of big holds its value at two offsets; pages in [0, half)
 * should hold lo, pages in [half, PAGES) should hold hi. */
static int big_is(unsigned char lo, unsigned char hi)
{
	for (size_t p = 0; p < PAGES; p++) {
		unsigned char want = p < PAGES / 2 ? lo : hi;
		if (big[p * PAGE] != want || big[p * PAGE + PAGE - 1] != want)
			return 0;
	}
	return 1;
}

static void big_fill(unsigned char v, size_t pages)
{
	for (size_t p = 0; p < pages; p++) {
		big[p * PAGE] = v;
		big[p * PAGE + PAGE - 1] = v;
	}
}

static void report(const char *who, int stack, unsigned char lo, unsigned char hi,
		   int priv, int sh)
{
	int ok_big = big_is(lo, hi);
	out("%s: global=%d heap=%d stack=%d big=%s shared=%d\n", who, global,
	    *heap, stack, ok_big ? "ok" : "MISMATCH", *shared);
	check(global == priv && *heap == priv && stack == priv, "private values");
	check(ok_big, "16 MiB private mapping");
	check(*shared == sh, "shared mapping");
}

int main(void)
{
	volatile int stack = 1;
	heap = malloc(sizeof(int));
	must(heap != NULL, "malloc");
	big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(big != MAP_FAILED, "mmap private");
	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	must(shared != MAP_FAILED, "mmap shared");

	global = 1;
	*heap = 1;
	*shared = 1;
	big_fill(1, PAGES / 2);
	report("gen0 before fork", stack, 1, 0, 1, 1);

	pid_t c = fork();
	must(c >= 0, "fork gen1");
	if (c == 0) {
		report("gen1 after fork", stack, 1, 0, 1, 1);
		global = 2;
		*heap = 2;
		stack = 2;
		*shared = 2;
		big_fill(2, PAGES);
		report("gen1 after write", stack, 2, 2, 2, 2);
		pid_t g = fork();
		must(g >= 0, "fork gen2");
		if (g == 0) {
			report("gen2 after fork", stack, 2, 2, 2, 2);
			global = 3;
			*heap = 3;
			stack = 3;
			*shared = 3;
			big_fill(3, PAGES);
			report("gen2 after write", stack, 3, 3, 3, 3);
			_exit(failures() ? 1 : 0);
		}
		int st = wait_for(g);
		out("gen1: gen2 %s\n", describe_status(st));
		check(st == 0, "gen2 exit status");
		report("gen1 after gen2 exit", stack, 2, 2, 2, 3);
		_exit(failures() ? 1 : 0);
	}
	int st = wait_for(c);
	out("gen0: gen1 %s\n", describe_status(st));
	check(st == 0, "gen1 exit status");
	report("gen0 after gen1 exit", stack, 1, 0, 1, 3);
	return finish();
}
