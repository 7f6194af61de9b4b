/*
 * guest.h - shared helpers for the test guests (header only; not a guest).
 *
 * Include this FIRST in every guest (it defines _GNU_SOURCE). Everything here
 * must work identically with glibc and musl.
 *
 * Output rule: guests print with out(), which formats one line into a buffer
 * and emits it with a single write(2). There is no stdio buffering, so output
 * is never duplicated by fork() nor lost by _exit(), and lines from different
 * processes never interleave mid-line. Never print pids, addresses, times or
 * anything else that depends on the host; print the results of checks.
 *
 * check(cond, what) prints "FAIL: what" and counts a failure; guests exit
 * with failures() != 0 -> status 1, so a broken check is visible both in the
 * output and in the exit status.
 */
#ifndef GUEST_H
#define GUEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* pidfd syscalls, for libc headers that predate them. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int guest_failures;

__attribute__((format(printf, 1, 2), unused)) static void out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	int saved = errno;
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(1, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
	errno = saved;
}

#define check(cond, what)                                         \
	do {                                                      \
		if (!(cond)) {                                    \
			guest_failures++;                         \
			out("FAIL: %s (line %d)\n", what, __LINE__); \
		}                                                 \
	} while (0)

/* Abort the whole guest on a setup error that makes going on pointless. */
#define must(cond, what)                                               \
	do {                                                           \
		if (!(cond)) {                                         \
			out("FATAL: %s (line %d, errno %s)\n", what, \
			    __LINE__, errname(errno));                 \
			_exit(99);                                     \
		}                                                      \
	} while (0)

__attribute__((unused)) static int failures(void)
{
	return guest_failures;
}

__attribute__((unused)) static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case ESPIPE: return "ESPIPE";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: {
		static char buf[32];
		snprintf(buf, sizeof buf, "errno%d", e);
		return buf;
	}
	}
}

/* Signal names; real-time signals are printed relative to SIGRTMIN because
 * glibc (34) and musl (35) disagree on its value. */
__attribute__((unused)) static const char *signame(int s)
{
	static const char *const names[32] = {
		"0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP",
		"SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV",
		"SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
		"SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",
		"SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM",
		"SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
	};
	static char buf[32];
	if (s >= 0 && s < 32)
		return names[s];
	if (s >= SIGRTMIN && s <= SIGRTMAX) {
		snprintf(buf, sizeof buf, "SIGRTMIN+%d", s - SIGRTMIN);
		return buf;
	}
	snprintf(buf, sizeof buf, "sig%d", s);
	return buf;
}

/* Human-readable decoding of a wait status, without the core-dump bit (which
 * depends on the host's RLIMIT_CORE / core_pattern). */
__attribute__((unused)) static const char *describe_status(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof buf, "killed by %s", signame(WTERMSIG(st)));
	else if (WIFSTOPPED(st))
		snprintf(buf, sizeof buf, "stopped by %s", signame(WSTOPSIG(st)));
	else if (WIFCONTINUED(st))
		snprintf(buf, sizeof buf, "continued");
	else
		snprintf(buf, sizeof buf, "unknown status");
	return buf;
}

/* waitpid() that retries on EINTR and returns the raw status (or -1). */
__attribute__((unused)) static int wait_for(pid_t pid)
{
	int st;
	pid_t r;
	do {
		r = waitpid(pid, &st, 0);
	} while (r < 0 && errno == EINTR);
	if (r != pid)
		return -1;
	return st;
}

/* Children that are meant to die of SIGSEGV/SIGABRT/... must not leave core
 * files behind on the host; harmless (and ignored) if unsupported. */
__attribute__((unused)) static void no_core_dumps(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
}

/* Fault deliberately. Inline asm, because GCC happily deletes a C store
 * through a NULL pointer (even a volatile one) or an unused division by 0. */
__attribute__((unused)) static void store_to_null(void)
{
	__asm__ volatile("movl $1, (%0)" : : "r"(0L) : "memory");
}

__attribute__((unused)) static void divide_by_zero(void)
{
	__asm__ volatile("xor %%ecx, %%ecx\n\t"
			 "mov $1, %%eax\n\t"
			 "cltd\n\t"
			 "idiv %%ecx"
			 :
			 :
			 : "eax", "ecx", "edx", "cc");
}

/* Install a handler (no SA_RESTART unless asked) with an empty mask. */
__attribute__((unused)) static void on_signal(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) {
		out("FATAL: sigaction(%s)\n", signame(sig));
		_exit(99);
	}
}

/* Sleep for ms milliseconds, resuming after signal handlers. */
__attribute__((unused)) static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Print "what=ret" plus the errno name when ret is -1. Call it as
 * `errno = 0; show("dup(-1)", dup(-1));` so that errno is read only after the
 * call under test (the evaluation order of a function's arguments is
 * unspecified, so never pass both a call and errname(errno) to out()). */
__attribute__((unused)) static void show(const char *what, long ret)
{
	int e = errno;
	if (ret == -1)
		out("%s=-1 %s\n", what, errname(e));
	else
		out("%s=%ld\n", what, ret);
}

/* Exit status for the main process: 0 if all checks passed. */
__attribute__((unused)) static int finish(void)
{
	if (guest_failures)
		out("%d check(s) FAILED\n", guest_failures);
	return guest_failures ? 1 : 0;
}


/*
 * A raw clone for guests that start threads or processes on their own
 * stacks without libc:
 * long guest_raw_thread(unsigned long flags, void *stack_top, int *ptid,
 *                       int *ctid, unsigned long tls, int (*fn)(void *),
 *                       void *arg);
 * Returns the tid (parent) or -errno. The child pops fn and arg from its new
 * stack, calls fn(arg) and passes its result to SYS_exit.
 */
__asm__(".text\n"
	".globl guest_raw_thread\n"
	".type guest_raw_thread,@function\n"
	"guest_raw_thread:\n"
	"	mov 8(%rsp), %rax\n"
	"	sub $16, %rsi\n"
	"	mov %r9, (%rsi)\n"
	"	mov %rax, 8(%rsi)\n"
	"	mov %rcx, %r10\n"
	"	mov $56, %eax\n" /* SYS_clone */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"
	"	pop %rax\n"
	"	pop %rdi\n"
	"	and $-16, %rsp\n"
	"	call *%rax\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n" /* SYS_exit */
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size guest_raw_thread, .-guest_raw_thread\n");

long guest_raw_thread(unsigned long flags, void *stack_top, int *ptid, int *ctid,
		      unsigned long tls, int (*fn)(void *), void *arg);

/* Reads one byte, retrying on EINTR; '-' at EOF or on an error. */
__attribute__((unused)) static char read_byte(int fd)
{
	char b = '?';
	ssize_t r;
	do {
		r = read(fd, &b, 1);
	} while (r < 0 && errno == EINTR);
	return r == 1 ? b : '-';
}


/*
 * For the benchmark guests: calls `handle(line)` for every line of stdin
 * (a request), until EOF.
 */
__attribute__((unused)) static void serve_lines(void (*handle)(const char *line))
{
	static char buf[4096];
	size_t have = 0;
	for (;;) {
		char *nl = memchr(buf, '\n', have);
		if (nl != NULL) {
			*nl = '\0';
			handle(buf);
			size_t used = (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have - used);
			have -= used;
			continue;
		}
		must(have < sizeof buf - 1, "request line too long");
		ssize_t r = read(0, buf + have, sizeof buf - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		must(r >= 0, "read stdin");
		if (r == 0)
			return;
		have += (size_t)r;
	}
}

#endif
