/*
 * t2_sharing: CLONE_VM, CLONE_FILES, CLONE_FS and CLONE_SIGHAND between
 * separate processes (not threads). Each child is made with a raw clone
 * (exit signal SIGCHLD, its own mmap'd stack; an asm trampoline calls a C
 * function there and ends the child with SYS_exit, never returning into
 * libc), uses only inline-asm system calls, and is reaped with waitpid.
 * Every case runs with and without the flag:
 *  - CLONE_VM: a global the child writes, and a page the child mmaps and
 *    fills, are seen by the parent only with CLONE_VM; the child's getpid()
 *    is its own and its getppid() is the parent; SIGCHLD and the exit status
 *    arrive either way;
 *  - CLONE_FILES: the child dup2()s onto fd 50, closes one of the parent's
 *    fds and sets FD_CLOEXEC on another: the parent's table shows all three
 *    only with CLONE_FILES (fcntl F_GETFD succeeds / EBADF); O_NONBLOCK set
 *    by the child with F_SETFL is seen either way (it belongs to the open
 *    file description, not the table); with CLONE_VM|CLONE_FILES a pipe the
 *    child creates can be used by the parent;
 *  - CLONE_FS: a umask the child sets is the parent's only with CLONE_FS;
 *  - CLONE_SIGHAND (with CLONE_VM, which it needs): a handler the child
 *    installs is what the parent's sigaction() reports, and runs when the
 *    parent raises the signal, only with CLONE_SIGHAND; the child starts with
 *    the parent's handlers either way; a CLONE_VM|CLONE_SIGHAND child that
 *    execs gets its own table (reset), and the parent keeps its handler;
 *    CLONE_SIGHAND without CLONE_VM and
 *    CLONE_THREAD without CLONE_SIGHAND are EINVAL;
 *  - a CLONE_VM child that calls exit_group, is killed by SIGKILL or dies of
 *    SIGSEGV takes only itself down: the parent goes on, and waitpid
 *    reports the child's status;
 *  - CLONE_VFORK|CLONE_VM: clone returns in the parent only after the
 *    child has exited;
 *  - a CLONE_VM child spinning on a page: when the parent munmaps it the
 *    child dies of SIGSEGV; when the parent maps a fresh page over it with
 *    MAP_FIXED the child reads zeros and exits 0 (the parent's change reaches
 *    another process sharing the memory; 2 s watchdog).
 */
#include "guest.h"

#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define STACK_SIZE (64 * 1024)

/* sa_restorer for handlers installed with the raw rt_sigaction */
__asm__(".text\n"
	".globl guest_restorer\n"
	".type guest_restorer,@function\n"
	"guest_restorer:\n"
	"	mov $15, %eax\n" /* SYS_rt_sigreturn */
	"	syscall\n"
	"	hlt\n"
	".size guest_restorer, .-guest_restorer\n");

void guest_restorer(void);

static inline long rsys(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
#define rsys0(n) rsys(n, 0, 0, 0, 0, 0, 0)
#define rsys1(n, a) rsys(n, (long)(a), 0, 0, 0, 0, 0)
#define rsys2(n, a, b) rsys(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define rsys3(n, a, b, c) rsys(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define rsys4(n, a, b, c, d) rsys(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* The kernel's struct sigaction on x86-64. */
struct ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};
#define K_SA_RESTORER 0x04000000UL

static volatile sig_atomic_t chld_count;
static void on_chld(int sig)
{
	(void)sig;
	chld_count++;
}

/* Runs a child with `flags | SIGCHLD` and returns its wait status (or -1 and
 * prints the clone error). */
static int run_child(unsigned long flags, int (*fn)(void *), void *arg)
{
	void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	must(stack != MAP_FAILED, "mmap stack");
	int before = chld_count;
	long pid = guest_raw_thread(flags | SIGCHLD, (char *)stack + STACK_SIZE, NULL, NULL, 0,
				   fn, arg);
	if (pid < 0) {
		out("  clone: %s\n", errname((int)-pid));
		munmap(stack, STACK_SIZE);
		return -1;
	}
	int st = wait_for((pid_t)pid);
	/* SIGCHLD is delivered by the time waitpid returns (it was sent first) */
	for (int i = 0; i < 1000 && chld_count == before; i++)
		sleep_ms(1);
	check(chld_count > before, "SIGCHLD from the child");
	munmap(stack, STACK_SIZE);
	return st;
}

/* --- CLONE_VM --- */
static volatile int vm_global;
static volatile char *vm_map;
static volatile long vm_pid, vm_ppid;

static int vm_child(void *arg)
{
	(void)arg;
	vm_global = 42;
	vm_pid = rsys0(SYS_getpid);
	vm_ppid = rsys0(SYS_getppid);
	long p = rsys(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p < 0 && p > -4096)
		return 2;
	((char *)p)[100] = 0x5a;
	vm_map = (char *)p;
	return 7;
}

static void vm_case(const char *label, unsigned long flags)
{
	vm_global = 0;
	vm_map = NULL;
	vm_pid = vm_ppid = 0;
	int st = run_child(flags, vm_child, NULL);
	out("%s: child %s\n", label, describe_status(st));
	out("%s: parent sees the child's global write: %s\n", label, vm_global == 42 ? "yes" : "no");
	out("%s: parent sees the child's new mapping: %s\n", label,
	    vm_map && vm_map[100] == 0x5a ? "yes" : "no");
	if (flags & CLONE_VM) {
		out("%s: child's getpid is its own: %s; its getppid is the parent: %s\n", label,
		    vm_pid != getpid() && vm_pid > 0 ? "yes" : "no",
		    vm_ppid == getpid() ? "yes" : "no");
	}
	if (vm_map)
		munmap((void *)vm_map, 4096);
}

/* --- CLONE_FILES --- */
struct files_arg {
	int close_fd;   /* the child closes it */
	int cloexec_fd; /* the child sets FD_CLOEXEC on it */
	int nonblock_fd; /* the child sets O_NONBLOCK on it */
};

static int files_child(void *arg)
{
	struct files_arg *a = arg;
	if (rsys2(SYS_dup2, 1, 50) != 50)
		return 2;
	if (rsys1(SYS_close, a->close_fd) != 0)
		return 3;
	if (rsys3(SYS_fcntl, a->cloexec_fd, F_SETFD, FD_CLOEXEC) != 0)
		return 4;
	long fl = rsys2(SYS_fcntl, a->nonblock_fd, F_GETFL);
	if (fl < 0 || rsys3(SYS_fcntl, a->nonblock_fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return 5;
	return 0;
}

static const char *fd_state(int fd)
{
	errno = 0;
	int r = fcntl(fd, F_GETFD);
	if (r < 0)
		return errname(errno);
	return r & FD_CLOEXEC ? "open, FD_CLOEXEC" : "open";
}

static void files_case(const char *label, unsigned long flags)
{
	int p[2], q[2];
	must(pipe(p) == 0 && pipe(q) == 0, "pipe");
	close(50);
	struct files_arg a = {p[0], p[1], q[0]};
	int st = run_child(flags, files_child, &a);
	out("%s: child %s\n", label, describe_status(st));
	out("%s: fd 50 (the child's dup2): %s\n", label, fd_state(50));
	out("%s: fd the child closed: %s\n", label, fd_state(p[0]));
	out("%s: fd the child set FD_CLOEXEC on: %s\n", label, fd_state(p[1]));
	int fl = fcntl(q[0], F_GETFL);
	out("%s: O_NONBLOCK the child set (file description): %s\n", label,
	    fl >= 0 && (fl & O_NONBLOCK) ? "seen" : "not seen");
	close(50);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static volatile int vmf_fds[2] = {-1, -1};

static int vm_files_child(void *arg)
{
	(void)arg;
	int fds[2];
	if (rsys2(SYS_pipe2, fds, 0) != 0)
		return 2;
	if (rsys3(SYS_write, fds[1], "hi", 2) != 2)
		return 3;
	vmf_fds[0] = fds[0];
	vmf_fds[1] = fds[1];
	return 0;
}

static void vm_files_pipe(void)
{
	int st = run_child(CLONE_VM | CLONE_FILES, vm_files_child, NULL);
	out("CLONE_VM|CLONE_FILES: child %s\n", describe_status(st));
	char buf[4] = {0};
	errno = 0;
	ssize_t n = read(vmf_fds[0], buf, sizeof buf);
	if (n == 2)
		out("CLONE_VM|CLONE_FILES: parent reads the child's pipe: \"%s\"\n", buf);
	else
		out("CLONE_VM|CLONE_FILES: parent reads the child's pipe: %zd %s\n", n, errname(errno));
	close(vmf_fds[0]);
	close(vmf_fds[1]);
}

/* --- CLONE_FS --- */
static int fs_child(void *arg)
{
	(void)arg;
	rsys1(SYS_umask, 077);
	return 0;
}

static void fs_case(const char *label, unsigned long flags)
{
	umask(022);
	int st = run_child(flags, fs_child, NULL);
	mode_t m = umask(022);
	out("%s: child %s; parent's umask afterwards: %03o\n", label, describe_status(st),
	    (unsigned)m);
}

/* --- CLONE_SIGHAND --- */
static volatile sig_atomic_t usr1_count, usr2_count;
static void parent_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}
static void child_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

static volatile long seen_usr1;

static int sighand_child(void *arg)
{
	(void)arg;
	struct ksigaction old;
	memset(&old, 0, sizeof old);
	if (rsys4(SYS_rt_sigaction, SIGUSR1, 0, &old, 8) != 0)
		return 2;
	seen_usr1 = (long)old.handler;
	struct ksigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.handler = child_usr2;
	sa.flags = K_SA_RESTORER | SA_RESTART;
	sa.restorer = guest_restorer;
	if (rsys4(SYS_rt_sigaction, SIGUSR2, &sa, 0, 8) != 0)
		return 3;
	return 0;
}

static void sighand_case(const char *label, unsigned long flags)
{
	on_signal(SIGUSR1, parent_usr1, SA_RESTART);
	signal(SIGUSR2, SIG_DFL);
	seen_usr1 = 0;
	usr2_count = 0;
	int st = run_child(flags, sighand_child, NULL);
	out("%s: child %s\n", label, describe_status(st));
	out("%s: child started with the parent's SIGUSR1 handler: %s\n", label,
	    seen_usr1 == (long)parent_usr1 ? "yes" : "no");
	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	const char *what = cur.sa_handler == SIG_DFL      ? "SIG_DFL"
			   : cur.sa_handler == child_usr2 ? "the child's handler"
							  : "something else";
	out("%s: parent's SIGUSR2 disposition: %s\n", label, what);
	if (cur.sa_handler == child_usr2) {
		raise(SIGUSR2);
		out("%s: the child's handler ran in the parent: %s\n", label,
		    usr2_count == 1 ? "yes" : "no");
	}
	signal(SIGUSR2, SIG_DFL);
}

static int nothing_child(void *arg)
{
	(void)arg;
	return 0;
}

static void bad_flags(const char *label, unsigned long flags)
{
	void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	must(stack != MAP_FAILED, "mmap stack");
	long r = guest_raw_thread(flags, (char *)stack + STACK_SIZE, NULL, NULL, 0, nothing_child,
				 NULL);
	if (r < 0) {
		out("%s: %s\n", label, errname((int)-r));
	} else {
		out("%s: clone succeeded (child %s)\n", label, describe_status(wait_for((pid_t)r)));
	}
	munmap(stack, STACK_SIZE);
}

/* --- deaths of a CLONE_VM child --- */
static int exit_group_child(void *arg)
{
	(void)arg;
	rsys1(SYS_exit_group, 5);
	return 1;
}

static int sigkill_child(void *arg)
{
	(void)arg;
	rsys2(SYS_kill, rsys0(SYS_getpid), SIGKILL);
	return 1;
}

static int segv_child(void *arg)
{
	(void)arg;
	store_to_null();
	return 1;
}

/* --- a CLONE_VM child keeps reading a page the parent changes --- */
static volatile int *volatile spin_page;
static volatile int spin_started;

static int spin_child(void *arg)
{
	(void)arg;
	spin_started = 1;
	while (*spin_page != 0) {
	}
	return 0;
}

static void spin_case(const char *label, int replace)
{
	int *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(page != MAP_FAILED, "mmap");
	page[0] = 1;
	spin_page = page;
	spin_started = 0;
	void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	must(stack != MAP_FAILED, "mmap stack");
	long pid = guest_raw_thread(CLONE_VM | SIGCHLD, (char *)stack + STACK_SIZE, NULL, NULL, 0,
				   spin_child, NULL);
	must(pid > 0, "clone");
	while (!spin_started)
		sleep_ms(1);
	sleep_ms(5);
	if (replace)
		must(mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			  -1, 0) == page,
		     "mmap MAP_FIXED");
	else
		must(munmap(page, 4096) == 0, "munmap");
	int st = -1;
	for (int i = 0; i < 2000; i++) {
		if (waitpid((pid_t)pid, &st, WNOHANG) == pid)
			break;
		st = -1;
		sleep_ms(1);
	}
	if (st == -1) {
		out("%s: timeout, the child did not notice\n", label);
		guest_failures++;
		kill((pid_t)pid, SIGKILL);
		st = wait_for((pid_t)pid);
	}
	out("%s: child %s\n", label, describe_status(st));
	if (replace)
		munmap(page, 4096);
	munmap(stack, STACK_SIZE);
}

static volatile int vfork_done;

static int vfork_child(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 30 * 1000 * 1000};
	rsys2(SYS_nanosleep, &ts, 0);
	vfork_done = 1;
	return 3;
}

static void deaths(void)
{
	int st = run_child(CLONE_VM, exit_group_child, NULL);
	out("CLONE_VM child calls exit_group(5): parent alive, child %s\n", describe_status(st));
	st = run_child(CLONE_VM | CLONE_FILES | CLONE_FS, sigkill_child, NULL);
	out("CLONE_VM|CLONE_FILES|CLONE_FS child SIGKILLs itself: parent alive, child %s\n",
	    describe_status(st));
	st = run_child(CLONE_VM | CLONE_SIGHAND, segv_child, NULL);
	out("CLONE_VM|CLONE_SIGHAND child stores to NULL: parent alive, child %s\n",
	    describe_status(st));
	out("parent's stdout still works after the CLONE_FILES child died: yes\n");

	void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	must(stack != MAP_FAILED, "mmap stack");
	vfork_done = 0;
	long pid = guest_raw_thread(CLONE_VM | CLONE_VFORK | SIGCHLD, (char *)stack + STACK_SIZE,
				   NULL, NULL, 0, vfork_child, NULL);
	int done_at_return = vfork_done;
	if (pid < 0) {
		out("CLONE_VFORK|CLONE_VM: clone %s\n", errname((int)-pid));
	} else {
		st = wait_for((pid_t)pid);
		out("CLONE_VFORK|CLONE_VM: child had exited when clone returned: %s; child %s\n",
		    done_at_return ? "yes" : "no", describe_status(st));
	}
	munmap(stack, STACK_SIZE);
}

/* The shared table is unshared by the child's execve (unshare_sighand):
 * resetting the child's handlers leaves the parent's alone. */
static char *const exec_argv[] = {"t2_sharing", "exec-exit", NULL};
static char *const exec_envp[] = {NULL};
static int exec_child(void *arg)
{
	(void)arg;
	rsys4(SYS_execve, "/proc/self/exe", exec_argv, exec_envp, 0);
	return 9;
}

static void sighand_exec_case(void)
{
	on_signal(SIGUSR1, parent_usr1, SA_RESTART);
	int st = run_child(CLONE_VM | CLONE_SIGHAND, exec_child, NULL);
	struct sigaction cur;
	sigaction(SIGUSR1, NULL, &cur);
	out("CLONE_VM|CLONE_SIGHAND child that execs: child %s; parent's SIGUSR1: %s\n",
	    describe_status(st),
	    cur.sa_handler == parent_usr1 ? "its handler"
	    : cur.sa_handler == SIG_DFL   ? "SIG_DFL"
					  : "something else");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-exit") == 0)
		return 5;
	no_core_dumps();
	on_signal(SIGCHLD, on_chld, SA_RESTART);

	vm_case("no CLONE_VM", 0);
	vm_case("CLONE_VM", CLONE_VM);

	files_case("no CLONE_FILES", 0);
	files_case("CLONE_FILES", CLONE_FILES);
	files_case("CLONE_VM without CLONE_FILES", CLONE_VM);
	vm_files_pipe();

	fs_case("no CLONE_FS", 0);
	fs_case("CLONE_FS", CLONE_FS);
	fs_case("CLONE_VM|CLONE_FS", CLONE_VM | CLONE_FS);

	sighand_case("CLONE_VM without CLONE_SIGHAND", CLONE_VM);
	sighand_case("CLONE_VM|CLONE_SIGHAND", CLONE_VM | CLONE_SIGHAND);
	sighand_exec_case();
	bad_flags("CLONE_SIGHAND without CLONE_VM", CLONE_SIGHAND | SIGCHLD);
	bad_flags("CLONE_THREAD without CLONE_SIGHAND", CLONE_THREAD | CLONE_VM);

	deaths();
	spin_case("CLONE_VM child spinning on a page the parent munmaps", 0);
	spin_case("CLONE_VM child spinning on a page the parent replaces (MAP_FIXED, zeros)", 1);
	out("done\n");
	return finish();
}
