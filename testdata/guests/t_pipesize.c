/*
 * t_pipesize: pipe capacity as Linux counts it (pipe buffers of a page:
 * small writes merge into the last one, a write into an empty pipe starts
 * a new one), F_GETPIPE_SZ / F_SETPIPE_SZ rounding and errors (sizes up to
 * pipe-max-size only: the test runs as root natively, which could go
 * beyond), and writes that must wait for a free buffer.
 */
#include "guest.h"

static long fill(int fd, size_t chunk)
{
	static char buf[65536];
	long total = 0;
	for (;;) {
		ssize_t w = write(fd, buf, chunk);
		if (w < 0)
			break;
		total += w;
	}
	return total;
}

static void drain(int fd)
{
	static char buf[65536];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

int main(void)
{
	int p[2];
	must(pipe2(p, O_NONBLOCK) == 0, "pipe2");
	out("default size %d\n", fcntl(p[0], F_GETPIPE_SZ));
	out("fill with 4096-byte writes: %ld (then %s)\n", fill(p[1], 4096), errname(errno));
	drain(p[0]);
	out("fill with 1-byte writes: %ld\n", fill(p[1], 1));
	drain(p[0]);
	out("fill with 100-byte writes: %ld\n", fill(p[1], 100));
	drain(p[0]);
	out("fill with 5000-byte writes: %ld\n", fill(p[1], 5000));
	drain(p[0]);
	out("fill with 65536-byte writes: %ld\n", fill(p[1], 65536));
	drain(p[0]);

	/* A pipe buffer is freed only when read whole; a partly read one
	 * still takes its slot. */
	fill(p[1], 4096);
	char b[100];
	must(read(p[0], b, sizeof b) == 100, "read 100");
	out("after reading 100 bytes of a full pipe: write 100 -> %zd\n", write(p[1], b, 100));
	drain(p[0]);

	static const int sizes[] = {0, 1, 4096, 4097, 100000, 65536, 1 << 20};
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int r = fcntl(p[1], F_SETPIPE_SZ, sizes[i]);
		out("F_SETPIPE_SZ %d -> %d %s, F_GETPIPE_SZ %d\n", sizes[i], r,
		    r < 0 ? errname(errno) : "", fcntl(p[0], F_GETPIPE_SZ));
	}
	out("fill at 1 MiB: %ld\n", fill(p[1], 4096));
	int r = fcntl(p[1], F_SETPIPE_SZ, 4096);
	out("shrink a full pipe: %d %s\n", r, r < 0 ? errname(errno) : "");
	drain(p[0]);
	r = fcntl(p[1], F_SETPIPE_SZ, 8192);
	out("shrink an empty pipe to 8192: %d\n", r);
	out("fill at 8 KiB: %ld\n", fill(p[1], 1000));
	drain(p[0]);
	r = fcntl(p[1], F_SETPIPE_SZ, -1);
	out("F_SETPIPE_SZ -1: %d %s\n", r, r < 0 ? errname(errno) : "");
	r = fcntl(1, F_GETPIPE_SZ);
	int fd = open("/", O_RDONLY | O_DIRECTORY);
	r = fcntl(fd, F_GETPIPE_SZ);
	out("F_GETPIPE_SZ on a directory: %d %s\n", r, r < 0 ? errname(errno) : "");
	r = fcntl(fd, F_SETPIPE_SZ, 4096);
	out("F_SETPIPE_SZ on a directory: %d %s\n", r, r < 0 ? errname(errno) : "");
	return failures() ? 1 : 0;
}
