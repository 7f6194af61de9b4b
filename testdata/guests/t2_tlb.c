/*
 * t2_tlb: a change to the memory map made by one thread reaches every other
 * thread at once (the sandbox must shoot down stale translations). Thread B
 * keeps touching a page in a tight loop while the main thread (A) changes
 * it; every wait is bounded (2 s) and prints "timeout" instead of hanging:
 *  - A munmaps the page B reads: B takes SIGSEGV (SEGV_MAPERR, si_addr in
 *    the page; the handler, running in B, prints "B faulted after munmap"
 *    with write() and siglongjmps out of B's loop);
 *  - A mprotects to PROT_READ the page B writes: B takes SIGSEGV
 *    (SEGV_ACCERR); A mprotects to PROT_NONE a page B reads: likewise;
 *  - A moves the page B reads with mremap: B faults at the old address, the
 *    data is at the new one;
 *  - copy-on-write coherence: with B reading a private page, the process
 *    forks (the child just sleeps 100 ms); then A writes increasing values
 *    to the page (its first write copies it) and B must see A's final value
 *    ("B saw the write");
 *  - A madvise(MADV_DONTNEED)s a private page B keeps reading: B reads
 *    zeros; A maps a fresh page over it with MAP_FIXED: likewise.
 */
#include "guest.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* what B does with the page */
enum mode { READ_UNTIL_FAULT, WRITE_UNTIL_FAULT, READ_UNTIL_ZERO, READ_UNTIL_VALUE };

/* Shared with B; in a MAP_SHARED page so that a fork does not make it
 * copy-on-write (the fork test must only break the page under test). */
struct ctl {
	volatile int mode;
	volatile long *target; /* the word B touches */
	volatile long value;   /* READ_UNTIL_VALUE: what B waits for */
	volatile int started;  /* B has touched the page at least once */
	volatile int faulted;  /* B's SIGSEGV handler ran */
	volatile int seen;     /* B saw what it waited for */
	volatile int stop;     /* A gave up */
	volatile int fault_in_b;
	volatile int fault_code;
	volatile uintptr_t fault_addr;
	volatile pid_t b_tid;
	const char *volatile fault_msg;
};
static struct ctl *ctl;
static sigjmp_buf b_env;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (gettid_() != ctl->b_tid) {
		static const char msg[] = "SIGSEGV outside thread B\n";
		if (write(1, msg, sizeof msg - 1) < 0) {
		}
		_exit(3);
	}
	ctl->fault_code = si->si_code;
	ctl->fault_addr = (uintptr_t)si->si_addr;
	const char *m = ctl->fault_msg;
	if (write(1, m, strlen(m)) < 0) {
	}
	ctl->faulted = 1;
	siglongjmp(b_env, 1);
}

static void *thread_b(void *arg)
{
	(void)arg;
	ctl->b_tid = gettid_();
	volatile long *p = ctl->target;
	long sum = 0;
	if (sigsetjmp(b_env, 1) != 0)
		return NULL; /* came back from the SIGSEGV handler */
	switch (ctl->mode) {
	case READ_UNTIL_FAULT:
		sum += *p;
		ctl->started = 1;
		while (!ctl->stop)
			sum += *p;
		break;
	case WRITE_UNTIL_FAULT:
		*p = 1;
		ctl->started = 1;
		for (long i = 2; !ctl->stop; i++)
			*p = i;
		break;
	case READ_UNTIL_ZERO:
		sum += *p;
		ctl->started = 1;
		while (!ctl->stop) {
			if (*p == 0) {
				ctl->seen = 1;
				break;
			}
		}
		break;
	case READ_UNTIL_VALUE:
		sum += *p;
		ctl->started = 1;
		while (!ctl->stop) {
			if (*p == ctl->value) {
				ctl->seen = 1;
				break;
			}
		}
		break;
	}
	return (void *)sum;
}

static pthread_t start_b(enum mode mode, volatile long *target, const char *fault_msg)
{
	ctl->mode = mode;
	ctl->target = target;
	ctl->started = ctl->faulted = ctl->seen = ctl->stop = 0;
	ctl->fault_code = 0;
	ctl->fault_addr = 0;
	ctl->fault_msg = fault_msg;
	pthread_t th;
	must(pthread_create(&th, NULL, thread_b, NULL) == 0, "pthread_create");
	for (int i = 0; i < 2000 && !ctl->started; i++)
		sleep_ms(1);
	must(ctl->started, "thread B did not start");
	sleep_ms(5); /* B is spinning on the page now */
	return th;
}

/* Wait (at most 2 s) for *flag; on timeout print it and stop B. */
static int await(volatile int *flag, const char *what)
{
	for (int i = 0; i < 2000 && !*flag; i++)
		sleep_ms(1);
	if (*flag)
		return 1;
	out("timeout: %s\n", what);
	guest_failures++;
	ctl->stop = 1;
	return 0;
}

static const char *code_name(int code)
{
	switch (code) {
	case SEGV_MAPERR: return "SEGV_MAPERR";
	case SEGV_ACCERR: return "SEGV_ACCERR";
	default: return "other";
	}
}

static void report_fault(const char *what, void *page)
{
	out("%s: si_code %s, si_addr in the page: %s\n", what, code_name(ctl->fault_code),
	    ctl->fault_addr >= (uintptr_t)page && ctl->fault_addr < (uintptr_t)page + PAGE ? "yes"
											 : "no");
}

static long *new_page(long fill)
{
	long *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(p != MAP_FAILED, "mmap");
	for (int i = 0; i < PAGE / 8; i++)
		p[i] = fill;
	return p;
}

static void munmap_case(void)
{
	long *p = new_page(7);
	pthread_t th = start_b(READ_UNTIL_FAULT, p, "B faulted after munmap\n");
	must(munmap(p, PAGE) == 0, "munmap");
	if (await(&ctl->faulted, "B did not fault after munmap"))
		report_fault("munmap", p);
	pthread_join(th, NULL);
}

static void mprotect_ro_case(void)
{
	long *p = new_page(7);
	pthread_t th = start_b(WRITE_UNTIL_FAULT, p, "B faulted after mprotect(PROT_READ)\n");
	must(mprotect(p, PAGE, PROT_READ) == 0, "mprotect");
	if (await(&ctl->faulted, "B did not fault after mprotect(PROT_READ)"))
		report_fault("mprotect(PROT_READ)", p);
	pthread_join(th, NULL);
	long v1 = p[0];
	sleep_ms(10);
	out("mprotect(PROT_READ): the page no longer changes: %s\n", p[0] == v1 ? "yes" : "no");
	munmap(p, PAGE);
}

static void mprotect_none_case(void)
{
	long *p = new_page(7);
	pthread_t th = start_b(READ_UNTIL_FAULT, p, "B faulted after mprotect(PROT_NONE)\n");
	must(mprotect(p, PAGE, PROT_NONE) == 0, "mprotect");
	if (await(&ctl->faulted, "B did not fault after mprotect(PROT_NONE)"))
		report_fault("mprotect(PROT_NONE)", p);
	pthread_join(th, NULL);
	munmap(p, PAGE);
}

static void mremap_case(void)
{
	char *reserve = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(reserve != MAP_FAILED, "mmap");
	long *p = new_page(7);
	pthread_t th = start_b(READ_UNTIL_FAULT, p, "B faulted after mremap\n");
	long *q = mremap(p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, reserve + PAGE);
	must(q != MAP_FAILED, "mremap");
	if (await(&ctl->faulted, "B did not fault after mremap"))
		report_fault("mremap (old address)", p);
	pthread_join(th, NULL);
	out("mremap: the data is at the new address: %s\n", q[0] == 7 && q[PAGE / 8 - 1] == 7 ? "yes" : "no");
	munmap(reserve, 4 * PAGE);
}

/* The copy-on-write page: private, in .bss, alone in its page. */
static long cow_page[PAGE / 8] __attribute__((aligned(PAGE)));
#define FINAL 200000L

static void cow_case(void)
{
	volatile long *v = cow_page;
	*v = -1; /* a real private page, not the shared zero page */
	ctl->value = FINAL;
	pthread_t th = start_b(READ_UNTIL_VALUE, v, "B faulted on the copy-on-write page\n");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		sleep_ms(100);
		_exit(0);
	}
	for (long i = 1; i <= FINAL; i++)
		*v = i;
	if (await(&ctl->seen, "B never saw A's final value after the fork"))
		out("copy-on-write after fork: B saw the write\n");
	pthread_join(th, NULL);
	out("copy-on-write: child %s\n", describe_status(wait_for(c)));
	/* and once more now that the child is gone (no copy, the page is reused) */
	ctl->value = 2 * FINAL;
	th = start_b(READ_UNTIL_VALUE, v, "B faulted on the private page\n");
	for (long i = FINAL; i <= 2 * FINAL; i++)
		*v = i;
	if (await(&ctl->seen, "B never saw A's final value"))
		out("after the child exited: B saw the write\n");
	pthread_join(th, NULL);
}

static void dontneed_case(void)
{
	long *p = new_page(0x5555);
	pthread_t th = start_b(READ_UNTIL_ZERO, p, "B faulted after MADV_DONTNEED\n");
	must(madvise(p, PAGE, MADV_DONTNEED) == 0, "madvise");
	if (await(&ctl->seen, "B still reads the old data after MADV_DONTNEED"))
		out("MADV_DONTNEED: B read zeros\n");
	pthread_join(th, NULL);
	out("MADV_DONTNEED: A reads zeros too: %s\n", p[0] == 0 && p[PAGE / 8 - 1] == 0 ? "yes" : "no");
	munmap(p, PAGE);
}

static void map_fixed_case(void)
{
	long *p = new_page(0x5555);
	pthread_t th = start_b(READ_UNTIL_ZERO, p, "B faulted after MAP_FIXED\n");
	must(mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p,
	     "mmap MAP_FIXED");
	if (await(&ctl->seen, "B still reads the old page after MAP_FIXED"))
		out("MAP_FIXED over the page: B read zeros\n");
	pthread_join(th, NULL);
	munmap(p, PAGE);
}

int main(void)
{
	no_core_dumps();
	ctl = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	must(ctl != MAP_FAILED, "mmap ctl");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	must(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");

	munmap_case();
	mprotect_ro_case();
	mprotect_none_case();
	mremap_case();
	cow_case();
	dontneed_case();
	map_fixed_case();
	out("done\n");
	return finish();
}
