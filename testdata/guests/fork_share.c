/*
 * fork_share: fork isolation of a large private mapping (16 MiB, eight
 * 2 MiB blocks, every page dirtied): the sandbox shares such memory's page
 * tables copy-on-write at fork, 2 MiB at a time, so this checks that no
 * write, unmap, protection change or discard leaks from one process to
 * another through a shared table, and no stale translation survives.
 *
 * 1. child and grandchild: the child writes two blocks, write-protects
 *    one, unmaps one, discards half of one (MADV_DONTNEED) and forks; the
 *    grandchild sees the child's view, writes, exits; the child still sees
 *    its own view; the parent sees none of it.
 * 2. the child exits at once: the parent (last sharer) rewrites it all.
 * 3. the parent writes first, the child must still read the old values.
 * 4. two vCPUs: a parent thread that kept writing before the fork writes
 *    after it, and another re-reads while the child writes; neither side
 *    sees the other's writes.
 * 5. three generations of forks, each writing its own block after its
 *    fork: no generation sees a descendant's block.
 */
#include "guest.h"
#include <pthread.h>
#include <sys/mman.h>

#define PAGE 4096UL
#define BLOCK (2UL << 20)
#define BLOCKS 8UL
#define LEN (BLOCKS * BLOCK)
#define PPB (BLOCK / PAGE)
#define WORDS (PAGE / sizeof(unsigned long))

static volatile unsigned long *mem;

static volatile unsigned long *word(unsigned long page, int last)
{
	return mem + page * WORDS + (last ? WORDS - 1 : 0);
}

/* Pages [from, to) hold v + page at their first and last word. */
static void fill(unsigned long from, unsigned long to, unsigned long v)
{
	for (unsigned long p = from; p < to; p++) {
		*word(p, 0) = v + p;
		*word(p, 1) = v + p;
	}
}

static int holds(unsigned long from, unsigned long to, unsigned long v)
{
	for (unsigned long p = from; p < to; p++)
		if (*word(p, 0) != v + p || *word(p, 1) != v + p)
			return 0;
	return 1;
}

static int zeros(unsigned long from, unsigned long to)
{
	for (unsigned long p = from; p < to; p++)
		if (*word(p, 0) != 0 || *word(p, 1) != 0)
			return 0;
	return 1;
}

#define B(n) ((n) * PPB)
#define ALL B(BLOCKS)

static int wait_ok(pid_t pid)
{
	int st;
	must(waitpid(pid, &st, 0) == pid, "waitpid");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void phase1(void)
{
	fill(0, ALL, 100);
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		check(holds(0, ALL, 100), "child sees the parent's memory");
		fill(B(0), B(2), 200);
		check(holds(B(0), B(2), 200) && holds(B(2), ALL, 100), "child's own writes");
		must(mprotect((void *)(mem + B(2) * WORDS), BLOCK, PROT_READ) == 0, "mprotect");
		must(munmap((void *)(mem + B(3) * WORDS), BLOCK) == 0, "munmap");
		must(madvise((void *)(mem + B(4) * WORDS), BLOCK / 2, MADV_DONTNEED) == 0,
		     "madvise");
		check(holds(B(2), B(3), 100), "child reads its write-protected block");
		check(zeros(B(4), B(4) + PPB / 2), "child's discarded half reads zeros");
		pid_t g = fork();
		must(g >= 0, "fork");
		if (g == 0) {
			check(holds(B(0), B(2), 200), "grandchild sees the child's writes");
			check(holds(B(2), B(3), 100), "grandchild sees the protected block");
			check(zeros(B(4), B(4) + PPB / 2) && holds(B(4) + PPB / 2, B(5), 100),
			      "grandchild sees the discarded half");
			check(holds(B(5), ALL, 100), "grandchild sees the untouched blocks");
			fill(B(5), ALL, 300);
			fill(B(0), B(1), 300);
			check(holds(B(5), ALL, 300) && holds(B(0), B(1), 300), "grandchild's writes");
			_exit(failures() ? 1 : 0);
		}
		check(wait_ok(g), "grandchild passed");
		check(holds(B(0), B(2), 200), "child keeps its writes");
		check(holds(B(5), ALL, 100), "child does not see the grandchild's writes");
		check(zeros(B(4), B(4) + PPB / 2), "child's discarded half stays zero");
		_exit(failures() ? 1 : 0);
	}
	check(wait_ok(c), "child passed");
	check(holds(0, ALL, 100), "parent sees none of its descendants' changes");
	fill(B(2), B(4), 101);
	check(holds(B(2), B(4), 101), "parent writes where the child protected and unmapped");
	out("phase 1 done\n");
}

static void phase2(void)
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0)
		_exit(0);
	check(wait_ok(c), "child exited");
	fill(0, ALL, 400);
	check(holds(0, ALL, 400), "last sharer rewrites everything");
	out("phase 2 done\n");
}

static void phase3(void)
{
	int fd[2];
	must(pipe(fd) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		char b;
		must(read(fd[0], &b, 1) == 1, "read");
		check(holds(0, ALL, 400), "child does not see the parent's later writes");
		fill(B(7), ALL, 450);
		check(holds(B(7), ALL, 450), "child's write after the parent's");
		_exit(failures() ? 1 : 0);
	}
	fill(0, ALL, 500);
	must(write(fd[1], "x", 1) == 1, "write");
	check(wait_ok(c), "child passed");
	check(holds(0, ALL, 500), "parent keeps its writes");
	close(fd[0]);
	close(fd[1]);
	out("phase 3 done\n");
}

static volatile int stop_writer, forked, go_write, writer_done, stop_reader;
static volatile long reader_passes, reader_bad;

static void *writer(void *arg)
{
	(void)arg;
	/* Keep writable translations hot on this vCPU across the fork. */
	while (!forked)
		fill(B(0), B(2), 500);
	while (!go_write)
		;
	fill(B(0), B(2), 700);
	writer_done = 1;
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	/* At least one pass, however late this thread gets a CPU. */
	do {
		if (!holds(B(2), ALL, 500))
			reader_bad++;
		reader_passes++;
	} while (!stop_reader);
	return NULL;
}

static void phase4(void)
{
	int ready[2], done[2];
	must(pipe(ready) == 0 && pipe(done) == 0, "pipe");
	pthread_t w, r;
	must(pthread_create(&w, NULL, writer, NULL) == 0, "pthread_create");
	must(pthread_create(&r, NULL, reader, NULL) == 0, "pthread_create");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		check(holds(0, ALL, 500), "child sees the memory at the fork");
		must(write(ready[1], "r", 1) == 1, "write");
		/* The parent's reader runs while this child writes. */
		fill(B(2), ALL, 600);
		check(holds(B(2), ALL, 600), "child's writes");
		char b;
		must(read(done[0], &b, 1) == 1, "read");
		check(holds(B(0), B(2), 500), "child does not see the parent thread's writes");
		_exit(failures() ? 1 : 0);
	}
	forked = 1;
	char b;
	must(read(ready[0], &b, 1) == 1, "read");
	go_write = 1;
	pthread_join(w, NULL);
	must(write(done[1], "d", 1) == 1, "write");
	check(wait_ok(c), "child passed");
	stop_reader = 1;
	pthread_join(r, NULL);
	check(reader_passes > 0 && reader_bad == 0, "parent's reader never saw the child's writes");
	check(holds(B(0), B(2), 700) && holds(B(2), ALL, 500), "parent's memory after the fork");
	out("phase 4 done\n");
}

static void phase5(void)
{
	fill(0, ALL, 800);
	unsigned long gen = 0;
	for (;;) {
		pid_t c = fork();
		must(c >= 0, "fork");
		if (c == 0) {
			gen++;
			check(holds(B(gen), B(gen + 1), 800), "descendant sees the fork-time block");
			check(gen == 1 || holds(B(gen - 1), B(gen), 800 + 10 * (gen - 1)),
			      "descendant sees its parent's block");
			fill(B(gen), B(gen + 1), 800 + 10 * gen);
			if (gen < 3)
				continue;
			_exit(failures() ? 1 : 0);
		}
		check(wait_ok(c), "descendant passed");
		check(holds(B(gen + 1), B(gen + 2), 800), "a descendant's writes are not seen");
		check(gen == 0 || holds(B(gen), B(gen + 1), 800 + 10 * gen), "own block kept");
		if (gen > 0)
			_exit(failures() ? 1 : 0);
		break;
	}
	out("phase 5 done\n");
}

int main(void)
{
	char *raw = mmap(NULL, LEN + BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	must(raw != MAP_FAILED, "mmap");
	mem = (volatile unsigned long *)(((unsigned long)raw + BLOCK - 1) & ~(BLOCK - 1));
	phase1();
	phase2();
	phase3();
	phase4();
	phase5();
	out("fork_share: %s\n", failures() ? "FAILED" : "ok");
	return failures() ? 1 : 0;
}
