/*
 * t_clone3: the clone3 system call (raw syscall; struct clone_args defined
 * here in its 64-, 80- and 88-byte versions, as neither libc exports it).
 * Each case prints "name: ok" (plus what the child did) or
 * "name: -1 ERRNAME".
 *  - struct size: < 64 EINVAL; 64 (VER0), 80 (VER1), 88 (VER2) work; 4096
 *    with an all-zero tail works, 4097 is E2BIG; a non-zero byte past the
 *    known struct (offset 100 of 128) is E2BIG; a bad pointer is EFAULT;
 *  - flag/argument validation, all EINVAL: unknown flag bit 40, CSIGNAL bits
 *    in flags, CLONE_DETACHED, exit_signal with CLONE_THREAD or with
 *    CLONE_PARENT, exit_signal 65, exit_signal with bits above 32,
 *    CLONE_SIGHAND without CLONE_VM, CLONE_THREAD without CLONE_SIGHAND,
 *    stack without stack_size and the reverse, CLONE_CLEAR_SIGHAND with
 *    CLONE_SIGHAND, set_tid without set_tid_size and the reverse,
 *    set_tid_size 33; an unreadable set_tid array is EFAULT;
 *    CLONE_INTO_CGROUP: with an 80-byte struct or a cgroup > INT_MAX EINVAL,
 *    with a pipe (not a cgroup2 directory) EBADF;
 *  - set_tid naming a pid in use (our own): EEXIST when the caller may use
 *    set_tid (CAP_CHECKPOINT_RESTORE/CAP_SYS_ADMIN), EPERM otherwise; both
 *    are printed as "rejected (EEXIST or EPERM)" so the output does not
 *    depend on the host's privileges;
 *  - working clones: fork with exit_signal SIGCHLD, 0 (reaped with __WALL)
 *    and 64; CLONE_VFORK without CLONE_VM (parent resumes only after the
 *    child exited; the child's write is not visible); CLONE_VM|CLONE_VFORK
 *    (the write is visible); a child on its own stack (stack + stack_size;
 *    a local variable's address lies inside it); CLONE_SETTLS (%fs:0 and
 *    ARCH_GET_FS in the child); CLONE_PARENT_SETTID, CLONE_CHILD_SETTID and
 *    CLONE_CHILD_CLEARTID; CLONE_CLEAR_SIGHAND resets handled signals to
 *    SIG_DFL but keeps SIG_IGN.
 * Namespace flags are not tested (root natively vs. the sandbox differ).
 * Children that share memory with the parent run on a small asm trampoline
 * and end with SYS_exit; they never return into libc.
 */
#include "guest.h"

#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003
#endif

#define G_CLONE_CLEAR_SIGHAND 0x100000000ULL
#define G_CLONE_INTO_CGROUP 0x200000000ULL

struct g_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	/* VER1 (80 bytes) */
	uint64_t set_tid;
	uint64_t set_tid_size;
	/* VER2 (88 bytes) */
	uint64_t cgroup;
};

#define VER0 64
#define VER1 80
#define VER2 88

_Static_assert(sizeof(struct g_clone_args) == VER2, "clone_args size");

/*
 * long guest_clone3_run(void *args, size_t size, int (*fn)(void *), void *arg);
 * clone3; the parent gets the pid or -errno. The child calls fn(arg) on
 * whatever stack the kernel gave it and passes the result to SYS_exit; with
 * fn == NULL it calls SYS_exit(0) at once, touching no memory.
 */
__asm__(".text\n"
	".globl guest_clone3_run\n"
	".type guest_clone3_run,@function\n"
	"guest_clone3_run:\n"
	"	mov %rcx, %r9\n"
	"	mov %rdx, %r8\n"
	"	mov $435, %eax\n" /* SYS_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	test %r8, %r8\n"
	"	jz 2f\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n" /* SYS_exit */
	"	syscall\n"
	"	hlt\n"
	"2:	xor %edi, %edi\n"
	"	mov $60, %eax\n"
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size guest_clone3_run, .-guest_clone3_run\n");

long guest_clone3_run(void *args, size_t size, int (*fn)(void *), void *arg);

static inline long rsys2(long n, long a, long b)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return r;
}

static int wait_any(pid_t pid)
{
	int st;
	pid_t r;
	do {
		r = waitpid(pid, &st, __WALL);
	} while (r < 0 && errno == EINTR);
	return r == pid ? st : -1;
}

static void init_args(struct g_clone_args *a)
{
	memset(a, 0, sizeof *a);
	a->exit_signal = SIGCHLD;
}

/* A clone that is expected to fail. Should it succeed, the child exits at
 * once and is reaped. */
static void expect_error(const char *name, void *args, size_t size)
{
	long r = guest_clone3_run(args, size, NULL, NULL);
	if (r < 0) {
		out("%s: -1 %s\n", name, errname((int)-r));
		return;
	}
	out("%s: ok\n", name);
	if (r > 0)
		wait_any((pid_t)r);
}

/* A fork-like clone (no shared memory): the child exits with `code`. */
static void fork_case(const char *name, void *args, size_t size, int code)
{
	long r = syscall(SYS_clone3, args, size);
	if (r < 0) {
		out("%s: -1 %s\n", name, errname(errno));
		return;
	}
	if (r == 0)
		_exit(code);
	int st = wait_any((pid_t)r);
	out("%s: ok, child %s\n", name, describe_status(st));
	check(WIFEXITED(st) && WEXITSTATUS(st) == code, name);
}

static void sizes(void)
{
	struct g_clone_args a;
	static unsigned char page[4096 + 64];

	init_args(&a);
	expect_error("size 0", &a, 0);
	expect_error("size 63", &a, 63);
	fork_case("size 64 (VER0)", &a, VER0, 64);
	fork_case("size 80 (VER1)", &a, VER1, 80);
	fork_case("size 88 (VER2)", &a, VER2, 88);

	memset(page, 0, sizeof page);
	memcpy(page, &a, sizeof a);
	fork_case("size 4096, zero tail", page, 4096, 96);
	expect_error("size 4097", page, 4097);
	fork_case("size 128, zero tail", page, 128, 28);
	page[100] = 1;
	expect_error("size 128, byte 100 non-zero", page, 128);
	page[100] = 0;
	page[88] = 1;
	expect_error("size 128, byte 88 non-zero", page, 128);
	page[88] = 0;
	expect_error("bad pointer (void *)1", (void *)1, VER0);
	expect_error("NULL pointer", NULL, VER0);

	/* the struct's end runs into an unmapped page */
	unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(m != MAP_FAILED, "mmap");
	must(munmap(m + 4096, 4096) == 0, "munmap");
	memcpy(m + 4096 - 64, &a, 64);
	fork_case("size 64 ending at an unmapped page", m + 4096 - 64, VER0, 65);
	expect_error("size 80 crossing into an unmapped page", m + 4096 - 64, VER1);
	munmap(m, 4096);
}

static void validation(void)
{
	struct g_clone_args a;
	static uint64_t stack_words[512];

	init_args(&a);
	a.flags = 1ULL << 40;
	expect_error("unknown flag bit 40", &a, VER2);

	init_args(&a);
	a.flags = 1ULL << 63;
	expect_error("unknown flag bit 63", &a, VER2);

	init_args(&a);
	a.flags = SIGCHLD;
	a.exit_signal = 0;
	expect_error("CSIGNAL bits in flags (SIGCHLD)", &a, VER2);

	init_args(&a);
	a.flags = CLONE_DETACHED;
	expect_error("CLONE_DETACHED", &a, VER2);

	init_args(&a);
	a.flags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
	expect_error("exit_signal with CLONE_THREAD", &a, VER2);

	init_args(&a);
	a.flags = CLONE_PARENT;
	expect_error("exit_signal with CLONE_PARENT", &a, VER2);

	init_args(&a);
	a.exit_signal = 65;
	expect_error("exit_signal 65", &a, VER2);

	init_args(&a);
	a.exit_signal = (1ULL << 32) | SIGCHLD;
	expect_error("exit_signal with bit 32 set", &a, VER2);

	init_args(&a);
	a.exit_signal = 0x100 | SIGCHLD;
	expect_error("exit_signal 0x111", &a, VER2);

	init_args(&a);
	a.flags = CLONE_SIGHAND;
	expect_error("CLONE_SIGHAND without CLONE_VM", &a, VER2);

	init_args(&a);
	a.flags = CLONE_VM | CLONE_THREAD;
	a.exit_signal = 0;
	expect_error("CLONE_THREAD without CLONE_SIGHAND", &a, VER2);

	init_args(&a);
	a.stack = (uint64_t)(uintptr_t)stack_words;
	expect_error("stack without stack_size", &a, VER2);

	init_args(&a);
	a.stack_size = sizeof stack_words;
	expect_error("stack_size without stack", &a, VER2);

	init_args(&a);
	a.flags = CLONE_VM | CLONE_SIGHAND | G_CLONE_CLEAR_SIGHAND;
	expect_error("CLONE_CLEAR_SIGHAND|CLONE_SIGHAND", &a, VER2);

	uint64_t tids[40];
	memset(tids, 0, sizeof tids);
	init_args(&a);
	a.set_tid = (uint64_t)(uintptr_t)tids;
	expect_error("set_tid without set_tid_size", &a, VER2);

	init_args(&a);
	a.set_tid_size = 1;
	expect_error("set_tid_size without set_tid", &a, VER2);

	init_args(&a);
	a.set_tid = (uint64_t)(uintptr_t)tids;
	a.set_tid_size = 33;
	expect_error("set_tid_size 33", &a, VER2);

	init_args(&a);
	a.set_tid = 1;
	a.set_tid_size = 1;
	expect_error("set_tid unreadable", &a, VER2);

	int p[2];
	must(pipe(p) == 0, "pipe");
	init_args(&a);
	a.flags = G_CLONE_INTO_CGROUP;
	a.cgroup = (uint64_t)p[0];
	expect_error("CLONE_INTO_CGROUP, pipe fd", &a, VER2);
	expect_error("CLONE_INTO_CGROUP, size 80", &a, VER1);
	a.cgroup = 0x80000000ULL;
	expect_error("CLONE_INTO_CGROUP, cgroup > INT_MAX", &a, VER2);
	a.cgroup = 1000;
	expect_error("CLONE_INTO_CGROUP, closed fd", &a, VER2);
	close(p[0]);
	close(p[1]);

	/* set_tid with our own pid: in use */
	tids[0] = (uint64_t)getpid();
	init_args(&a);
	a.set_tid = (uint64_t)(uintptr_t)tids;
	a.set_tid_size = 1;
	long r = guest_clone3_run(&a, VER2, NULL, NULL);
	if (r == -EEXIST || r == -EPERM) {
		out("set_tid = own pid: rejected (EEXIST or EPERM)\n");
	} else if (r < 0) {
		out("set_tid = own pid: -1 %s\n", errname((int)-r));
	} else {
		out("set_tid = own pid: ok\n");
		wait_any((pid_t)r);
	}
}

/* --- working clones --- */

static volatile int shared_var;

static int set_shared(void *arg)
{
	sleep_ms(20); /* the parent must not run meanwhile */
	shared_var = (int)(intptr_t)arg;
	return 3;
}

#define STACK_SIZE (64 * 1024)

struct on_stack {
	char *lo, *hi;
	unsigned long tcb[8];
	unsigned long fs0, fsbase;
};

static __attribute__((noinline)) int check_stack(void *arg)
{
	struct on_stack *s = arg;
	volatile char local = 0;
	char *p = (char *)&local;
	return p >= s->lo && p < s->hi ? 0 : 1;
}

/* Runs with a fake TLS: no libc, no TLS, raw system calls only. */
static __attribute__((noinline)) int check_tls(void *arg)
{
	struct on_stack *s = arg;
	unsigned long fs0, base = 0;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs0));
	rsys2(SYS_arch_prctl, ARCH_GET_FS, (long)&base);
	s->fs0 = fs0;
	s->fsbase = base;
	return fs0 == (unsigned long)s->tcb && base == (unsigned long)s->tcb ? 0 : 1;
}

static void working(void)
{
	struct g_clone_args a;
	int st;
	long r;

	init_args(&a);
	fork_case("fork, exit_signal SIGCHLD", &a, VER2, 7);

	init_args(&a);
	a.exit_signal = 0;
	fork_case("fork, exit_signal 0 (waitpid __WALL)", &a, VER2, 8);

	signal(64, SIG_IGN);
	init_args(&a);
	a.exit_signal = 64;
	fork_case("fork, exit_signal 64", &a, VER2, 9);
	signal(64, SIG_DFL);

	/* CLONE_VFORK without CLONE_VM: a forked child; parent waits for it */
	int p[2];
	must(pipe(p) == 0, "pipe");
	shared_var = 0;
	init_args(&a);
	a.flags = CLONE_VFORK;
	r = syscall(SYS_clone3, &a, VER2);
	if (r == 0) {
		sleep_ms(30);
		shared_var = 1;
		if (write(p[1], "v", 1) != 1)
			_exit(90);
		_exit(5);
	}
	if (r < 0) {
		out("CLONE_VFORK: -1 %s\n", errname(errno));
	} else {
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		char b = 0;
		ssize_t n = read(p[0], &b, 1);
		out("CLONE_VFORK: ok, parent resumed after the child ran: %s, child's write visible: %s\n",
		    n == 1 ? "yes" : "no", shared_var ? "yes" : "no");
		check(n == 1 && shared_var == 0, "CLONE_VFORK");
		st = wait_any((pid_t)r);
		out("CLONE_VFORK: child %s\n", describe_status(st));
	}
	close(p[0]);
	close(p[1]);

	/* CLONE_VM|CLONE_VFORK, child on the parent's stack (below its sp) */
	shared_var = 0;
	init_args(&a);
	a.flags = CLONE_VM | CLONE_VFORK;
	r = guest_clone3_run(&a, VER2, set_shared, (void *)42);
	if (r < 0) {
		out("CLONE_VM|CLONE_VFORK: -1 %s\n", errname((int)-r));
	} else {
		int seen = shared_var;
		st = wait_any((pid_t)r);
		out("CLONE_VM|CLONE_VFORK: ok, child's write visible on return: %d, child %s\n",
		    seen, describe_status(st));
		check(seen == 42, "CLONE_VM|CLONE_VFORK");
	}

	/* own stack */
	char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	must(stack != MAP_FAILED, "mmap stack");
	static struct on_stack os;
	os.lo = stack;
	os.hi = stack + STACK_SIZE;
	init_args(&a);
	a.flags = CLONE_VM | CLONE_VFORK;
	a.stack = (uint64_t)(uintptr_t)stack;
	a.stack_size = STACK_SIZE;
	r = guest_clone3_run(&a, VER2, check_stack, &os);
	if (r < 0) {
		out("stack + stack_size: -1 %s\n", errname((int)-r));
	} else {
		st = wait_any((pid_t)r);
		out("stack + stack_size: ok, child ran on that stack: %s\n",
		    WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : describe_status(st));
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "own stack");
	}

	/* CLONE_SETTLS */
	os.tcb[0] = (unsigned long)os.tcb;
	os.fs0 = os.fsbase = 0;
	init_args(&a);
	a.flags = CLONE_VM | CLONE_VFORK | CLONE_SETTLS;
	a.stack = (uint64_t)(uintptr_t)stack;
	a.stack_size = STACK_SIZE;
	a.tls = (uint64_t)(uintptr_t)os.tcb;
	r = guest_clone3_run(&a, VER2, check_tls, &os);
	if (r < 0) {
		out("CLONE_SETTLS: -1 %s\n", errname((int)-r));
	} else {
		st = wait_any((pid_t)r);
		int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
			 os.fs0 == (unsigned long)os.tcb && os.fsbase == (unsigned long)os.tcb;
		out("CLONE_SETTLS: ok, %%fs:0 and ARCH_GET_FS in the child: %s\n",
		    ok ? "match" : "MISMATCH");
		check(ok, "settls");
	}
	unsigned long my_fs = 0;
	rsys2(SYS_arch_prctl, ARCH_GET_FS, (long)&my_fs);
	check(my_fs != (unsigned long)os.tcb, "parent's fs untouched");

	/* CLONE_PARENT_SETTID (fork-like) */
	int ptid = 0;
	init_args(&a);
	a.flags = CLONE_PARENT_SETTID;
	a.parent_tid = (uint64_t)(uintptr_t)&ptid;
	r = syscall(SYS_clone3, &a, VER2);
	if (r == 0)
		_exit(0);
	if (r < 0) {
		out("CLONE_PARENT_SETTID: -1 %s\n", errname(errno));
	} else {
		wait_any((pid_t)r);
		out("CLONE_PARENT_SETTID: ok, value %s\n", ptid == r ? "match" : "MISMATCH");
		check(ptid == r, "parent settid");
	}

	/* CLONE_CHILD_SETTID with shared memory */
	int ctid = 0;
	init_args(&a);
	a.flags = CLONE_VM | CLONE_VFORK | CLONE_CHILD_SETTID;
	a.child_tid = (uint64_t)(uintptr_t)&ctid;
	a.stack = (uint64_t)(uintptr_t)stack;
	a.stack_size = STACK_SIZE;
	r = guest_clone3_run(&a, VER2, check_stack, &os);
	if (r < 0) {
		out("CLONE_CHILD_SETTID: -1 %s\n", errname((int)-r));
	} else {
		wait_any((pid_t)r);
		out("CLONE_CHILD_SETTID: ok, value %s\n", ctid == r ? "match" : "MISMATCH");
		check(ctid == r, "child settid");
	}

	/* CLONE_CHILD_CLEARTID with shared memory: cleared when the child
	 * releases the mm, before the vfork parent resumes */
	ctid = 12345;
	init_args(&a);
	a.flags = CLONE_VM | CLONE_VFORK | CLONE_CHILD_CLEARTID;
	a.child_tid = (uint64_t)(uintptr_t)&ctid;
	a.stack = (uint64_t)(uintptr_t)stack;
	a.stack_size = STACK_SIZE;
	r = guest_clone3_run(&a, VER2, check_stack, &os);
	if (r < 0) {
		out("CLONE_CHILD_CLEARTID: -1 %s\n", errname((int)-r));
	} else {
		int seen = ctid;
		wait_any((pid_t)r);
		out("CLONE_CHILD_CLEARTID: ok, word on return: %d\n", seen);
		check(seen == 0, "child cleartid");
	}
	munmap(stack, STACK_SIZE);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static const char *disposition(int sig)
{
	struct sigaction sa;
	if (sigaction(sig, NULL, &sa) != 0)
		return "error";
	if (sa.sa_handler == SIG_DFL)
		return "SIG_DFL";
	if (sa.sa_handler == SIG_IGN)
		return "SIG_IGN";
	return "handler";
}

static void clear_sighand(void)
{
	on_signal(SIGUSR1, on_usr1, 0);
	signal(SIGUSR2, SIG_IGN);
	struct g_clone_args a;
	init_args(&a);
	a.flags = G_CLONE_CLEAR_SIGHAND;
	long r = syscall(SYS_clone3, &a, VER2);
	if (r == 0) {
		out("  child: SIGUSR1 %s, SIGUSR2 %s\n", disposition(SIGUSR1),
		    disposition(SIGUSR2));
		_exit(0);
	}
	if (r < 0) {
		out("CLONE_CLEAR_SIGHAND: -1 %s\n", errname(errno));
	} else {
		int st = wait_any((pid_t)r);
		out("CLONE_CLEAR_SIGHAND: ok, child %s; parent: SIGUSR1 %s, SIGUSR2 %s\n",
		    describe_status(st), disposition(SIGUSR1), disposition(SIGUSR2));
	}
	/* without the flag, the child inherits the handler */
	init_args(&a);
	r = syscall(SYS_clone3, &a, VER2);
	if (r == 0) {
		out("  child without CLONE_CLEAR_SIGHAND: SIGUSR1 %s, SIGUSR2 %s\n",
		    disposition(SIGUSR1), disposition(SIGUSR2));
		_exit(0);
	}
	if (r > 0)
		wait_any((pid_t)r);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

int main(void)
{
	sizes();
	validation();
	working();
	clear_sighand();
	return finish();
}
