/*
 * badptr: what the sentry does with hostile counts and pointers, checked
 * against Linux: a write with a huge count from a buffer whose tail is
 * unmapped writes the readable prefix (Linux copies until the fault); a
 * write from an unmapped buffer and a read into a read-only one give
 * EFAULT; a writev whose second iovec is bad writes the first; invalid
 * iovec counts give EINVAL.
 */
#include "guest.h"
#include <sys/mman.h>
#include <sys/uio.h>

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
	return finish();
}
