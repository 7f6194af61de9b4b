/*
 * t_intargs_fs: the file syscalls read an `int` or `unsigned int` argument
 * (descriptors, flags, modes, fcntl and ioctl commands, whence, bufsiz,
 * count) from the low 32 bits of its register, as t_intargs checks for
 * the other families. Each call passes junk in the high half and prints
 * what it returned (measured on the host kernel).
 */
#include "guest.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define HI (1ULL << 32)

#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif
#ifndef SYS_statx
#define SYS_statx 332
#endif

static void res(const char *what, long r)
{
	if (r < 0)
		out("%s = %s\n", what, errname(errno));
	else
		out("%s = ok\n", what);
}

static void cloexec(const char *what, int fd)
{
	int r = fcntl(fd, F_GETFD);
	out("  %s FD_CLOEXEC: %s\n", what, r < 0 ? errname(errno) : (r & FD_CLOEXEC) ? "set" : "clear");
}

int main(void)
{
	int fds[2];
	res("pipe2(fds, O_CLOEXEC | junk)", syscall(SYS_pipe2, fds, HI | O_CLOEXEC));
	cloexec("read end", fds[0]);
	close(fds[0]);
	close(fds[1]);
	res("pipe2(fds, junk only)", syscall(SYS_pipe2, fds, HI));
	cloexec("read end", fds[0]);

	long d = syscall(SYS_fcntl, HI | fds[0], HI | F_DUPFD_CLOEXEC, 20);
	res("fcntl(fd | junk, F_DUPFD_CLOEXEC | junk, 20)", d);
	if (d >= 0) {
		out("  new fd >= 20: %s\n", d >= 20 ? "yes" : "no");
		cloexec("dup", (int)d);
	}
	long fl = syscall(SYS_fcntl, fds[1], HI | F_GETFL);
	out("fcntl(F_GETFL | junk) accmode = %ld\n", fl < 0 ? -1 : fl & O_ACCMODE);
	res("dup3(old, new, O_CLOEXEC | junk)", syscall(SYS_dup3, fds[0], 30, HI | O_CLOEXEC));
	cloexec("dup3", 30);

	char a[2] = {'a', 'b'}, b[4] = {0};
	struct iovec wv = {a, 2}, rv = {b, sizeof b};
	long n = syscall(SYS_pwritev2, fds[1], &wv, 1, -1L, -1L, HI);
	out("pwritev2(pipe, pos -1, flags junk) = %ld%s\n", n, n < 0 ? errname(errno) : "");
	n = syscall(SYS_preadv2, fds[0], &rv, 1, -1L, -1L, HI);
	out("preadv2(pipe, pos -1, flags junk) = %ld %.2s\n", n, n > 0 ? b : "");
	res("pwritev2(pipe, pos -1, flags 1<<30 | junk)",
	    syscall(SYS_pwritev2, fds[1], &wv, 1, -1L, -1L, HI | 0x40000000));
	res("close(fd | junk)", syscall(SYS_close, HI | (unsigned)d));
	cloexec("closed dup", (int)d);

	struct stat st;
	res("newfstatat(\"/\", flags junk)", syscall(SYS_newfstatat, AT_FDCWD, "/", &st, HI));
	out("  directory: %s\n", S_ISDIR(st.st_mode) ? "yes" : "no");
	res("newfstatat(AT_FDCWD | junk, \"/\", 0)",
	    syscall(SYS_newfstatat, HI | (unsigned)AT_FDCWD, "/", &st, 0));
	res("access(\"/\", F_OK | junk)", syscall(SYS_access, "/", HI | F_OK));
	res("faccessat(\"/\", R_OK | junk)", syscall(SYS_faccessat, AT_FDCWD, "/", HI | R_OK));
	res("faccessat2(\"/\", F_OK | junk, junk)",
	    syscall(SYS_faccessat2, AT_FDCWD, "/", HI | F_OK, HI));
	res("faccessat2(\"/\", 8 | junk)", syscall(SYS_faccessat2, AT_FDCWD, "/", HI | 8, 0));

	/* struct statx (musl has none): stx_mode is the u16 at offset 28. */
	unsigned char stx[256] = {0};
	res("statx(\"/\", flags junk, mask junk | BASIC)",
	    syscall(SYS_statx, AT_FDCWD, "/", HI, HI | 0x7ffULL, stx));
	unsigned short mode;
	memcpy(&mode, stx + 28, sizeof mode);
	out("  directory: %s\n", S_ISDIR(mode) ? "yes" : "no");

	long dfd = syscall(SYS_openat, HI | (unsigned)AT_FDCWD, "/", HI | O_RDONLY | O_DIRECTORY,
			   HI | 0644);
	res("openat(AT_FDCWD | junk, \"/\", O_DIRECTORY | junk, mode junk)", dfd);
	char ents[4096];
	n = syscall(SYS_getdents64, dfd, ents, HI | sizeof ents);
	out("getdents64(count 4096 | junk) > 0: %s\n", n > 0 ? "yes" : errname(errno));
	res("lseek(dir, 0, SEEK_SET | junk)", syscall(SYS_lseek, dfd, 0, HI | SEEK_SET));
	close((int)dfd);

	char link[64];
	n = syscall(SYS_readlink, "/proc/self/exe", link, HI | 3);
	out("readlink(bufsiz 3 | junk) = %ld\n", n < 0 ? -(long)errno : n);
	res("readlink(bufsiz 0 | junk)", syscall(SYS_readlink, "/proc/self/exe", link, HI));
	n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", link, HI | 2);
	out("readlinkat(bufsiz 2 | junk) = %ld\n", n < 0 ? -(long)errno : n);
	return failures();
}
