/*
 * madv_fork: fork-related madvise flags.
 *  MADV_DONTFORK: the region is not mapped in the child; a child write to it
 *    dies of SIGSEGV (the parent prints WTERMSIG); the parent keeps the data.
 *  MADV_WIPEONFORK: the child sees zero-filled pages (and may use them);
 *    the parent keeps its data.
 *  MADV_DOFORK/MADV_KEEPONFORK undo them: a later child inherits the data.
 */
#include "guest.h"
#include <sys/mman.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MADV_KEEPONFORK
#define MADV_KEEPONFORK 19
#endif

#define LEN (4 * 4096UL)

static int all_are(const volatile unsigned char *p, unsigned char v)
{
	for (size_t i = 0; i < LEN; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

int main(void)
{
	no_core_dumps();
	volatile unsigned char *df = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile unsigned char *wf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(df != MAP_FAILED && wf != MAP_FAILED, "mmap");
	memset((void *)df, 0x5a, LEN);
	memset((void *)wf, 0xa5, LEN);

	out("madvise(DONTFORK)=%d\n", madvise((void *)df, LEN, MADV_DONTFORK));
	out("madvise(WIPEONFORK)=%d\n", madvise((void *)wf, LEN, MADV_WIPEONFORK));

	/* child 1 writes to the DONTFORK region */
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		df[100] = 1;
		_exit(0);
	}
	int st = wait_for(c);
	out("dontfork child: %s\n", describe_status(st));
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "dontfork child SIGSEGV");

	/* child 2 reads the WIPEONFORK region, then uses it */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int zero = all_are(wf, 0);
		memset((void *)wf, 0x77, LEN);
		int usable = all_are(wf, 0x77);
		_exit((zero ? 0 : 1) | (usable ? 0 : 2));
	}
	st = wait_for(c);
	out("wipeonfork child: %s (0 = saw zeros and could write)\n", describe_status(st));
	check(st == 0, "wipeonfork child");

	out("parent: dontfork data %s, wipeonfork data %s\n",
	    all_are(df, 0x5a) ? "kept" : "LOST", all_are(wf, 0xa5) ? "kept" : "LOST");
	check(all_are(df, 0x5a) && all_are(wf, 0xa5), "parent data");

	/* undo both and fork again: the child inherits everything */
	out("madvise(DOFORK)=%d\n", madvise((void *)df, LEN, MADV_DOFORK));
	out("madvise(KEEPONFORK)=%d\n", madvise((void *)wf, LEN, MADV_KEEPONFORK));
	c = fork();
	must(c >= 0, "fork");
	if (c == 0)
		_exit((all_are(df, 0x5a) ? 0 : 1) | (all_are(wf, 0xa5) ? 0 : 2));
	st = wait_for(c);
	out("after undo, child: %s\n", describe_status(st));
	check(st == 0, "child after undo");
	return finish();
}
