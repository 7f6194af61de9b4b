/*
 * badptr: what the sentry does with hostile counts and pointers, checked
 * against Linux: a write with a huge count from a buffer whose tail is
 * unmapped writes the readable prefix (Linux copies until the fault); a
 * write from an unmapped buffer and a read into a read-only one give
 * EFAULT; a writev whose second iovec is bad writes the first; invalid
 * iovec counts give EINVAL; pointers at the very top of the address space
 * give EFAULT (no wrap-around); a nanosleep of LLONG_MAX seconds sleeps
 * until a signal; a signal whose frame cannot be written (an alternate
 * stack at the top of the address space) kills with SIGSEGV.
 */
#include "guest.h"
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static void on_usr1(int sig)
{
	(void)sig;
}

static void on_usr2(int sig)
{
	(void)sig;
}

int main(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(p != MAP_FAILED, "mmap");
	munmap(p + 4096, 4096);
	memset(p, 'x', 4096);
	int fd[2];
	must(pipe(fd) == 0, "pipe");

	errno = 0;
	long w = syscall(SYS_write, fd[1], p, 0x7ffff000L);
	out("write huge count from a 4 KiB buffer: %ld\n", w);
	errno = 0;
	w = syscall(SYS_write, fd[1], p + 4096, 10);
	out("write from an unmapped buffer: %ld %s\n", w, errname(errno));

	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(ro != MAP_FAILED, "mmap ro");
	errno = 0;
	long r = syscall(SYS_read, fd[0], ro, 16);
	out("read into a read-only buffer: %ld %s\n", r, errname(errno));

	struct iovec iov[2] = {{p, 100}, {p + 4096, 100}};
	errno = 0;
	w = syscall(SYS_writev, fd[1], iov, 2);
	out("writev with a bad second iovec: %ld %s\n", w, errname(errno));
	errno = 0;
	w = syscall(SYS_writev, fd[1], iov, 1025);
	out("writev with 1025 iovecs: %ld %s\n", w, errname(errno));
	errno = 0;
	w = syscall(SYS_writev, fd[1], (void *)8, 1);
	out("writev with a bad iovec array: %ld %s\n", w, errname(errno));
	const unsigned long top = ~0UL - 7;
	errno = 0;
	long c = syscall(SYS_clone3, (void *)top, 64);
	out("clone3 at the top of the address space: %ld %s\n", c, errname(errno));
	errno = 0;
	long it = syscall(SYS_setitimer, ITIMER_REAL, (void *)top, NULL);
	out("setitimer at the top of the address space: %ld %s\n", it, errname(errno));

	/* A very long sleep ends with the signal that interrupts it. */
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t parent = getpid();
	pid_t k = fork();
	must(k >= 0, "fork");
	if (k == 0) {
		struct timespec d = {0, 50 * 1000 * 1000};
		nanosleep(&d, NULL);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	struct timespec forever = {0x7fffffffffffffffL, 0};
	errno = 0;
	int ns = nanosleep(&forever, NULL);
	out("nanosleep(LLONG_MAX s): %d %s\n", ns, errname(errno));
	waitpid(k, NULL, 0);

	/* A handler frame that cannot be written kills with SIGSEGV. */
	k = fork();
	must(k >= 0, "fork");
	if (k == 0) {
		stack_t ss = {.ss_sp = (void *)(~0UL - 4095), .ss_size = 4096, .ss_flags = 0};
		syscall(SYS_sigaltstack, &ss, NULL);
		struct sigaction sb = {0};
		sb.sa_handler = on_usr2;
		sb.sa_flags = SA_ONSTACK;
		sigaction(SIGUSR2, &sb, NULL);
		raise(SIGUSR2);
		_exit(0);
	}
	int st = 0;
	waitpid(k, &st, 0);
	out("signal with an unwritable frame: %s\n", WIFSIGNALED(st) ? signame(WTERMSIG(st)) : "exited");
	return finish();
}
