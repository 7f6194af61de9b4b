/*
 * t_shortread: reads into a buffer whose second page is PROT_NONE. Linux
 * copies page by page and stops at the fault: the call returns the bytes
 * copied before it (EFAULT only when nothing was copied) and whatever was
 * not copied stays in the pipe, the file or the stream. Covers read, readv,
 * pread, getdents64 on pipes, a regular file, a directory and stdin (the
 * test feeds 200 bytes: "0123456789" twenty times).
 */
#include "guest.h"

#include <dirent.h>
#include <sys/mman.h>
#include <sys/uio.h>

static char *edge; /* 100 good bytes, then a PROT_NONE page */

static void pattern(char *b, size_t n, size_t from)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + (from + i) % 26);
}

static int is_pattern(const char *b, size_t n, size_t from)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != (char)('a' + (from + i) % 26))
			return 0;
	return 1;
}

static void fill_pipe(int fd, size_t n)
{
	static char buf[8192];
	pattern(buf, n, 0);
	must(write(fd, buf, n) == (ssize_t)n, "write to pipe");
}

/* Reads everything left (nonblocking) and checks it continues the pattern
 * at `from`. */
static void rest(int fd, size_t from)
{
	static char buf[16384];
	size_t got = 0;
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof buf - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	fcntl(fd, F_SETFL, fl);
	out("  left in the pipe: %zu bytes, continues the data at %zu: %d\n", got,
	    from, is_pattern(buf, got, from));
}

/* How many linux_dirent64 records the n bytes at buf hold. */
static long dirents(const char *buf, long n)
{
	long count = 0;
	for (long off = 0; off < n; count++) {
		unsigned short reclen;
		memcpy(&reclen, buf + off + 16, 2);
		off += reclen;
	}
	return count;
}

static void report(const char *what, ssize_t r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %zd\n", what, r);
}

int main(void)
{
	char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(map != MAP_FAILED, "mmap");
	must(mprotect(map + 4096, 4096, PROT_NONE) == 0, "mprotect");
	edge = map + 4096 - 100;
	char *bad = map + 4096;

	int p[2];
	must(pipe(p) == 0, "pipe");

	/* read: part of the buffer is good. */
	fill_pipe(p[1], 8192);
	ssize_t r = read(p[0], edge, 1000);
	report("read 1000 into 100 good bytes", r);
	out("  copied data is the start: %d\n", is_pattern(edge, 100, 0));
	rest(p[0], r > 0 ? (size_t)r : 0);

	/* read: a first pipe buffer of 60 bytes fits, the next is cut. */
	fill_pipe(p[1], 8192);
	{
		char tmp[8192];
		must(read(p[0], tmp, sizeof tmp) == 8192, "drain");
	}
	fill_pipe(p[1], 60);      /* a buffer of its own (the pipe was empty) */
	{
		static char page[4096];
		pattern(page, 4096, 60);
		must(write(p[1], page, 4096) == 4096, "write a page");
	}
	r = read(p[0], edge, 1000);
	report("read 1000 into 100 good bytes, 60-byte buffer first", r);
	out("  copied data is the start: %d\n", is_pattern(edge, 60, 0));
	rest(p[0], r > 0 ? (size_t)r : 0);

	/* read: nothing of the buffer is good, data waiting. */
	fill_pipe(p[1], 300);
	report("read into a bad buffer, data waiting", read(p[0], bad, 10));
	rest(p[0], 0);

	/* read: bad buffer, empty nonblocking pipe. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	report("read into a bad buffer, empty O_NONBLOCK pipe", read(p[0], bad, 10));
	fcntl(p[0], F_SETFL, 0);

	/* readv: first vector good, second bad from its start. */
	fill_pipe(p[1], 500);
	char small[50];
	struct iovec iov[2] = {{small, sizeof small}, {bad, 100}};
	r = readv(p[0], iov, 2);
	report("readv 50 good + 100 bad", r);
	out("  copied data is the start: %d\n", is_pattern(small, 50, 0));
	rest(p[0], r > 0 ? (size_t)r : 0);

	/* readv: second vector partly good. */
	fill_pipe(p[1], 500);
	struct iovec iov2[2] = {{small, sizeof small}, {edge, 300}};
	r = readv(p[0], iov2, 2);
	report("readv 50 good + 300 with 100 good", r);
	out("  copied data is the start: %d\n",
	    is_pattern(small, 50, 0) && is_pattern(edge, 100, 50));
	rest(p[0], r > 0 ? (size_t)r : 0);

	/* read: bad buffer, pipe at end of file. */
	close(p[1]);
	report("read into a bad buffer at end of file", read(p[0], bad, 10));
	close(p[0]);

	/* A regular file: read advances by what was copied; pread too. */
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0)
		fd = open("/bin/sh", O_RDONLY);
	must(fd >= 0, "open a regular file");
	report("file: read 1000 into 100 good bytes", read(fd, edge, 1000));
	out("  starts with the ELF magic: %d\n", memcmp(edge, "\177ELF", 4) == 0);
	out("  offset now: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	report("file: pread 1000 into 100 good bytes", pread(fd, edge, 1000, 1));
	out("  pread data is ELF at 1: %d\n", memcmp(edge, "ELF", 3) == 0);
	report("file: pread into a bad buffer", pread(fd, bad, 10, 0));
	report("file: read into a bad buffer", read(fd, bad, 10));
	out("  offset now: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	lseek(fd, 0, SEEK_END);
	report("file: read into a bad buffer at its end", read(fd, bad, 10));
	report("file: read 1000 into 100 good bytes at its end", read(fd, edge, 1000));
	int dfd = open("/", O_RDONLY | O_DIRECTORY);
	report("directory: read into a bad buffer", read(dfd, bad, 10));
	close(dfd);
	close(fd);

	/* getdents64: a buffer with room for a few entries before the bad
	 * page loses none of them. */
	int d = open("/", O_RDONLY | O_DIRECTORY);
	must(d >= 0, "open /");
	static char big[65536];
	long all = 0;
	for (;;) {
		long n = syscall(SYS_getdents64, d, big, sizeof big);
		if (n <= 0)
			break;
		all += dirents(big, n);
	}
	lseek(d, 0, SEEK_SET);
	long pieces = 0, calls = 0, efault = 0;
	for (;;) {
		long n = syscall(SYS_getdents64, d, edge, 4096);
		if (n < 0 && errno == EFAULT) {
			efault++;
			/* An entry longer than 100 bytes: take it with room. */
			n = syscall(SYS_getdents64, d, big, 1024);
			if (n <= 0)
				break;
			pieces += dirents(big, n);
			continue;
		}
		if (n <= 0)
			break;
		calls++;
		pieces += dirents(edge, n);
	}
	out("getdents64 with 100 good bytes: same entries as with a big buffer: %d, several calls: %d\n",
	    pieces == all && all > 0, calls > 1);
	report("getdents64 into a bad buffer at the end", syscall(SYS_getdents64, d, bad, 4096));
	lseek(d, 0, SEEK_SET);
	report("getdents64 into a bad buffer", syscall(SYS_getdents64, d, bad, 4096));
	long n = syscall(SYS_getdents64, d, big, sizeof big);
	out("  then a good buffer gets entries: %d\n", n > 0);
	close(d);

	/* stdin (the host stream): the 200 bytes arrive in one write. */
	char in[300];
	size_t got = 0;
	r = read(0, edge, 1000);
	report("stdin: read 1000 into 100 good bytes", r);
	out("  data: %.10s\n", edge);
	while (got < sizeof in) {
		ssize_t k = read(0, in + got, sizeof in - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	out("  left on stdin: %zu bytes, starting %.10s\n", got, in);
	return failures() ? 1 : 0;
}
