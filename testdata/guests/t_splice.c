/*
 * t_splice: splice, tee, vmsplice, copy_file_range and sendfile between
 * pipes and files under /tmp (and /dev/shm for EXDEV), with Linux's errno
 * for each refused case. Prints data and errno names only.
 */
#include "guest.h"

#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>

#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 2
#endif

static long sys_splice(int in, loff_t *oin, int outfd, loff_t *oout, size_t len, unsigned fl)
{
	return syscall(SYS_splice, in, oin, outfd, oout, len, fl);
}

static long sys_tee(int in, int outfd, size_t len, unsigned fl)
{
	return syscall(SYS_tee, in, outfd, len, fl);
}

static long sys_vmsplice(int fd, const struct iovec *iov, unsigned long n, unsigned fl)
{
	return syscall(SYS_vmsplice, fd, iov, n, fl);
}

static long sys_cfr(int in, loff_t *oin, int outfd, loff_t *oout, size_t len, unsigned fl)
{
	return syscall(SYS_copy_file_range, in, oin, outfd, oout, len, fl);
}

static void res(const char *what, long r)
{
	if (r < 0)
		out("%s: %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static void drain(const char *what, int fd)
{
	char buf[256];
	long n = read(fd, buf, sizeof buf);
	if (n < 0) {
		out("%s: read %s\n", what, errname(errno));
		return;
	}
	for (long i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = '0';
	out("%s: \"%.*s\"\n", what, (int)n, buf);
}

static void content(const char *what, const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	long n = read(fd, buf, sizeof buf);
	close(fd);
	out("%s: \"%.*s\"\n", what, n < 0 ? 0 : (int)n, buf);
}

int main(void)
{
	char a[64], b[64], shm[64];
	int pid = (int)getpid();
	snprintf(a, sizeof a, "/tmp/t_splice_a.%d", pid);
	snprintf(b, sizeof b, "/tmp/t_splice_b.%d", pid);
	snprintf(shm, sizeof shm, "/dev/shm/t_splice.%d", pid);
	signal(SIGPIPE, SIG_IGN);

	int fa = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	must(fa >= 0, "create a");
	must(write(fa, "0123456789abcdefghij", 20) == 20, "write a");
	int p[2], q[2];
	must(pipe(p) == 0 && pipe(q) == 0, "pipes");

	/* file -> pipe */
	loff_t off = 5;
	res("splice file@5 -> pipe 4", sys_splice(fa, &off, p[1], NULL, 4, 0));
	out("off_in now %ld, file pos %ld\n", (long)off, (long)lseek(fa, 0, SEEK_CUR));
	drain("pipe has", p[0]);
	lseek(fa, 2, SEEK_SET);
	res("splice file(pos 2) -> pipe 3", sys_splice(fa, NULL, p[1], NULL, 3, 0));
	out("file pos now %ld\n", (long)lseek(fa, 0, SEEK_CUR));
	drain("pipe has", p[0]);
	off = 18;
	res("splice file@18 -> pipe 100 (2 left)", sys_splice(fa, &off, p[1], NULL, 100, 0));
	drain("pipe has", p[0]);
	off = 20;
	res("splice file@EOF -> pipe", sys_splice(fa, &off, p[1], NULL, 100, 0));
	int z = open("/dev/zero", O_RDONLY);
	res("splice /dev/zero -> pipe 6", sys_splice(z, NULL, p[1], NULL, 6, 0));
	drain("pipe has", p[0]);
	close(z);

	/* pipe -> file */
	int fb = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	must(fb >= 0, "create b");
	must(write(p[1], "PIPE", 4) == 4, "write pipe");
	off = 3;
	res("splice pipe -> file@3 2", sys_splice(p[0], NULL, fb, &off, 2, 0));
	out("off_out now %ld, file pos %ld\n", (long)off, (long)lseek(fb, 0, SEEK_CUR));
	res("splice pipe -> file(pos) 10", sys_splice(p[0], NULL, fb, NULL, 10, 0));
	out("file pos now %ld\n", (long)lseek(fb, 0, SEEK_CUR));
	content("b is", b);
	res("splice empty pipe NONBLOCK", sys_splice(p[0], NULL, fb, NULL, 10, SPLICE_F_NONBLOCK));
	int ap = open(b, O_WRONLY | O_APPEND);
	must(write(p[1], "x", 1) == 1, "write pipe");
	res("splice pipe -> O_APPEND file", sys_splice(p[0], NULL, ap, NULL, 1, 0));
	close(ap);
	drain("pipe still has", p[0]);

	/* pipe -> pipe */
	must(write(p[1], "move me", 7) == 7, "write pipe");
	res("splice pipe -> pipe 4", sys_splice(p[0], NULL, q[1], NULL, 4, 0));
	drain("q has", q[0]);
	drain("p has", p[0]);
	res("splice pipe -> same pipe", sys_splice(p[0], NULL, p[1], NULL, 4, 0));
	res("splice file -> file", sys_splice(fa, NULL, fb, NULL, 4, 0));
	off = 0;
	res("splice with an offset on the pipe", sys_splice(p[0], &off, fb, NULL, 4, 0));
	res("splice len 0 bad fds", sys_splice(99, NULL, 98, NULL, 0, 0));
	res("splice bad flags", sys_splice(p[0], NULL, fb, NULL, 4, 0x100));
	res("splice bad fd", sys_splice(99, NULL, p[1], NULL, 4, 0));
	res("splice into the read end", sys_splice(fa, NULL, p[0], NULL, 4, 0));
	off = -1;
	res("splice negative offset", sys_splice(fa, &off, p[1], NULL, 4, 0));
	res("splice bad offset pointer", sys_splice(fa, (loff_t *)8, p[1], NULL, 4, 0));

	/* tee */
	must(write(p[1], "hello", 5) == 5, "write pipe");
	res("tee p -> q 3", sys_tee(p[0], q[1], 3, 0));
	drain("q has", q[0]);
	drain("p still has", p[0]);
	res("tee empty NONBLOCK", sys_tee(p[0], q[1], 3, SPLICE_F_NONBLOCK));
	res("tee same pipe", sys_tee(p[0], p[1], 3, 0));
	res("tee file", sys_tee(fa, q[1], 3, 0));
	res("tee bad flags", sys_tee(p[0], q[1], 3, 0x100));
	res("tee len 0", sys_tee(p[0], q[1], 0, 0));

	/* vmsplice */
	struct iovec iov[2] = {{"abc", 3}, {"defg", 4}};
	res("vmsplice to pipe", sys_vmsplice(p[1], iov, 2, 0));
	char x[4], y[10];
	struct iovec rv[2] = {{x, sizeof x}, {y, sizeof y}};
	res("vmsplice from pipe", sys_vmsplice(p[0], rv, 2, 0));
	out("got \"%.4s\" \"%.3s\"\n", x, y);
	res("vmsplice to a file", sys_vmsplice(fa, iov, 2, 0));
	res("vmsplice empty pipe NONBLOCK", sys_vmsplice(p[0], rv, 2, SPLICE_F_NONBLOCK));

	/* Ends closed. */
	close(q[0]);
	must(write(p[1], "zz", 2) == 2, "write pipe");
	res("splice to a pipe with no reader", sys_splice(p[0], NULL, q[1], NULL, 2, 0));
	off = 0;
	res("splice file to a pipe with no reader", sys_splice(fa, &off, q[1], NULL, 2, 0));
	close(p[1]);
	drain("p has", p[0]);
	res("splice from a pipe with no writer", sys_splice(p[0], NULL, fb, NULL, 2, 0));
	int r[2];
	must(pipe(r) == 0, "pipe");
	res("tee from a pipe with no writer", sys_tee(p[0], r[1], 2, 0));

	/* copy_file_range */
	int c = open(b, O_RDWR | O_TRUNC);
	loff_t oi = 10, oo = 2;
	res("cfr a@10 -> b@2 5", sys_cfr(fa, &oi, c, &oo, 5, 0));
	out("offsets now %ld %ld\n", (long)oi, (long)oo);
	content("b is", b);
	lseek(fa, 0, SEEK_SET);
	lseek(c, 0, SEEK_SET);
	res("cfr a(pos) -> b(pos) 3", sys_cfr(fa, NULL, c, NULL, 3, 0));
	out("positions now %ld %ld\n", (long)lseek(fa, 0, SEEK_CUR), (long)lseek(c, 0, SEEK_CUR));
	content("b is", b);
	oi = 15;
	oo = 0;
	res("cfr past EOF shortens", sys_cfr(fa, &oi, c, &oo, 100, 0));
	oi = 30;
	res("cfr at EOF", sys_cfr(fa, &oi, c, &oo, 100, 0));
	oi = 0;
	oo = 4;
	res("cfr overlapping in one file", sys_cfr(fa, &oi, fa, &oo, 8, 0));
	oi = 0;
	oo = 10;
	res("cfr within one file", sys_cfr(fa, &oi, fa, &oo, 4, 0));
	content("a is", a);
	res("cfr flags", sys_cfr(fa, NULL, c, NULL, 1, 1));
	int d = open("/tmp", O_RDONLY | O_DIRECTORY);
	res("cfr from a directory", sys_cfr(d, NULL, c, NULL, 1, 0));
	close(d);
	res("cfr from a pipe", sys_cfr(p[0], NULL, c, NULL, 1, 0));
	ap = open(b, O_WRONLY | O_APPEND);
	res("cfr to O_APPEND", sys_cfr(fa, NULL, ap, NULL, 1, 0));
	close(ap);
	int ro = open(b, O_RDONLY);
	res("cfr to O_RDONLY", sys_cfr(fa, NULL, ro, NULL, 1, 0));
	close(ro);
	int s = open(shm, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (s >= 0) {
		oi = 0;
		res("cfr /tmp -> /dev/shm", sys_cfr(fa, &oi, s, NULL, 4, 0));
		oi = 40;
		res("cfr /tmp at EOF -> /dev/shm", sys_cfr(fa, &oi, s, NULL, 4, 0));
		close(s);
		unlink(shm);
	}
	oi = -1;
	res("cfr negative offset", sys_cfr(fa, &oi, c, NULL, 1, 0));

	/* sendfile */
	int t[2];
	must(pipe(t) == 0, "pipe");
	off = 4;
	res("sendfile a@4 -> pipe 3", sendfile(t[1], fa, &off, 3));
	out("offset now %ld\n", (long)off);
	drain("pipe has", t[0]);
	oo = 0;
	ftruncate(c, 0);
	lseek(c, 0, SEEK_SET);
	off = 0;
	res("sendfile a -> b file", sendfile(c, fa, &off, 6));
	content("b is", b);

	close(fa);
	close(fb);
	close(c);
	unlink(a);
	unlink(b);
	return failures() ? 1 : 0;
}
