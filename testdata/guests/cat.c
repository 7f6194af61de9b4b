/*
 * cat: copies stdin to stdout until EOF with a 4 KiB buffer, alternating
 * between read/write and readv/writev (two iovecs: 1 KiB + 3 KiB), handling
 * short reads and short writes. Exits 0, or 1 on an I/O error (reported on
 * stderr so stdout stays byte-identical to stdin).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static char buf[4096];

static int write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* writev for the first chunk of data, then write_all for any remainder. */
static int writev_all(size_t n)
{
	struct iovec iov[2];
	size_t first = n < 1024 ? n : 1024;
	iov[0].iov_base = buf;
	iov[0].iov_len = first;
	iov[1].iov_base = buf + first;
	iov[1].iov_len = n - first;
	ssize_t w;
	do {
		w = writev(1, iov, 2);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return -1;
	return write_all(buf + w, n - (size_t)w);
}

int main(void)
{
	for (unsigned long iter = 0;; iter++) {
		ssize_t n;
		if (iter % 2 == 0) {
			n = read(0, buf, sizeof buf);
		} else {
			struct iovec iov[2] = {
				{buf, 1024},
				{buf + 1024, sizeof buf - 1024},
			};
			n = readv(0, iov, 2);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "cat: read: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			return 0;
		int r = iter % 2 == 0 ? write_all(buf, (size_t)n) : writev_all((size_t)n);
		if (r != 0) {
			fprintf(stderr, "cat: write: %s\n", strerror(errno));
			return 1;
		}
	}
}
