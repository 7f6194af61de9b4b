/*
 * t_unix_opts: socket options and receive flags of Unix sockets:
 * SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN after the timeout, read back, EDOM and
 * EINVAL for bad values), SO_LINGER, SO_SNDBUF/SO_RCVBUF (doubled,
 * clamped), SO_REUSEADDR, SO_KEEPALIVE, SO_RCVLOWAT, SO_ACCEPTCONN,
 * SO_DOMAIN, SO_PROTOCOL, SO_TYPE, SO_PEERCRED, short option lengths;
 * MSG_WAITALL with a slow writer, MSG_PEEK, MSG_TRUNC on a stream, and
 * unknown levels and options.
 */
#include "guest.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void geti(const char *what, int fd, int opt)
{
	int v = -7;
	socklen_t l = sizeof v;
	int r = getsockopt(fd, SOL_SOCKET, opt, &v, &l);
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %d (len %d)\n", what, v, (int)l);
}

static void seti(const char *what, int fd, int opt, int v)
{
	report(what, setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v));
}

int main(void)
{
	int sv[2];
	char buf[256];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");

	/* Timeouts. */
	struct timeval tv;
	socklen_t l = sizeof tv;
	report("get rcvtimeo", getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &l));
	out("rcvtimeo %ld.%06ld len %d\n", (long)tv.tv_sec, (long)tv.tv_usec, (int)l);
	tv.tv_sec = 0;
	tv.tv_usec = 200000;
	report("set rcvtimeo", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	memset(&tv, 0, sizeof tv);
	l = sizeof tv;
	getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &l);
	out("rcvtimeo %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	double t0 = now();
	report("recv times out", recv(sv[0], buf, sizeof buf, 0));
	double dt = now() - t0;
	out("waited %d\n", dt > 0.15 && dt < 2);
	t0 = now();
	report("read times out", read(sv[0], buf, sizeof buf));
	dt = now() - t0;
	out("waited %d\n", dt > 0.15 && dt < 2);
	tv.tv_usec = 1000000;
	report("rcvtimeo usec too big", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	report("rcvtimeo short", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
	tv.tv_sec = -1;
	tv.tv_usec = 0;
	report("rcvtimeo negative", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	l = sizeof tv;
	getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &l);
	out("rcvtimeo after negative %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);

	/* SO_SNDTIMEO on a full stream. */
	int sz = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	long total = 0, r;
	while ((r = write(sv[0], buf, sizeof buf)) > 0)
		total += r;
	fcntl(sv[0], F_SETFL, 0);
	tv.tv_sec = 0;
	tv.tv_usec = 160000;
	report("set sndtimeo", setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
	t0 = now();
	report("send times out", send(sv[0], buf, sizeof buf, 0));
	dt = now() - t0;
	out("waited %d\n", dt > 0.1 && dt < 2);
	l = sizeof tv;
	getsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, &l);
	out("sndtimeo %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	close(sv[0]);
	close(sv[1]);

	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	/* SO_LINGER. */
	struct linger lg;
	l = sizeof lg;
	report("get linger", getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, &l));
	out("linger %d %d len %d\n", lg.l_onoff, lg.l_linger, (int)l);
	lg.l_onoff = 1;
	lg.l_linger = 5;
	report("set linger", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	l = sizeof lg;
	getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, &l);
	out("linger %d %d\n", lg.l_onoff, lg.l_linger);
	report("set linger short", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, 4));
	lg.l_onoff = 7;
	setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	l = sizeof lg;
	getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, &l);
	out("linger onoff 7 reads %d %d\n", lg.l_onoff, lg.l_linger);

	/* Buffers. */
	seti("sndbuf 1", sv[0], SO_SNDBUF, 1);
	geti("sndbuf", sv[0], SO_SNDBUF);
	seti("sndbuf 100000", sv[0], SO_SNDBUF, 100000);
	geti("sndbuf", sv[0], SO_SNDBUF);
	/* (Not past net.core.wmem_max: the host's may differ from Linux's
	 * default, which the sandbox keeps.) */
	seti("rcvbuf 1", sv[0], SO_RCVBUF, 1);
	geti("rcvbuf", sv[0], SO_RCVBUF);
	seti("rcvbuf 50000", sv[0], SO_RCVBUF, 50000);
	geti("rcvbuf", sv[0], SO_RCVBUF);

	/* Flags and read-only ones. */
	geti("reuseaddr", sv[0], SO_REUSEADDR);
	seti("set reuseaddr", sv[0], SO_REUSEADDR, 5);
	geti("reuseaddr", sv[0], SO_REUSEADDR);
	geti("keepalive", sv[0], SO_KEEPALIVE);
	seti("set keepalive", sv[0], SO_KEEPALIVE, 1);
	geti("keepalive", sv[0], SO_KEEPALIVE);
	geti("rcvlowat", sv[0], SO_RCVLOWAT);
	geti("acceptconn", sv[0], SO_ACCEPTCONN);
	geti("domain", sv[0], SO_DOMAIN);
	geti("protocol", sv[0], SO_PROTOCOL);
	geti("type", sv[0], SO_TYPE);
	geti("error", sv[0], SO_ERROR);
	seti("set type", sv[0], SO_TYPE, 1);
	seti("set acceptconn", sv[0], SO_ACCEPTCONN, 1);
	seti("set domain", sv[0], SO_DOMAIN, 1);
	seti("set protocol", sv[0], SO_PROTOCOL, 1);
	seti("set peercred", sv[0], SO_PEERCRED, 1);
	struct ucred cr;
	l = sizeof cr;
	report("peercred", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &l));
	out("peercred pid %d uid %d gid %d len %d\n", cr.pid == getpid(), (int)cr.uid, (int)cr.gid, (int)l);
	int v = 0;
	l = 2;
	report("short int option", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l));
	out("short len %d value %d\n", (int)l, v);
	l = 0;
	report("zero-length option", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l));
	out("zero len %d\n", (int)l);
	l = 4;
	report("short peercred", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &l));
	out("short peercred len %d\n", (int)l);
	l = sizeof v;
	report("unknown option", getsockopt(sv[0], SOL_SOCKET, 9999, &v, &l));
	report("set unknown option", setsockopt(sv[0], SOL_SOCKET, 9999, &v, sizeof v));
	report("set short int", setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, 2));
	l = sizeof v;
	report("ip level", getsockopt(sv[0], 0, 1, &v, &l));
	report("tcp level", getsockopt(sv[0], 6, 1, &v, &l));

	/* MSG_WAITALL with a writer that writes in pieces. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			usleep(20000);
			write(sv[1], "abcd", 4);
		}
		_exit(0);
	}
	report("recv waitall", recv(sv[0], buf, 16, MSG_WAITALL));
	waitpid(pid, NULL, 0);
	write(sv[1], "peekdata", 8);
	report("peek", recv(sv[0], buf, 4, MSG_PEEK));
	report("peek again", recv(sv[0], buf, sizeof buf, MSG_PEEK));
	report("read after peek", recv(sv[0], buf, sizeof buf, 0));
	write(sv[1], "truncate", 8);
	report("stream MSG_TRUNC", recv(sv[0], buf, 3, MSG_TRUNC));
	report("after MSG_TRUNC", recv(sv[0], buf, sizeof buf, MSG_DONTWAIT));
	close(sv[1]);
	report("waitall at eof", recv(sv[0], buf, 16, MSG_WAITALL));
	close(sv[0]);

	/* Options of a listening socket and a datagram socket. */
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un au = {AF_UNIX, ""};
	bind(s, (struct sockaddr *)&au, sizeof(sa_family_t));
	listen(s, 1);
	geti("listening acceptconn", s, SO_ACCEPTCONN);
	geti("seqpacket type", s, SO_TYPE);
	l = sizeof cr;
	getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l);
	out("listener peercred pid %d uid %d\n", cr.pid == getpid(), (int)cr.uid);
	close(s);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	geti("dgram sndbuf", s, SO_SNDBUF);
	geti("dgram type", s, SO_TYPE);
	l = sizeof cr;
	getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l);
	out("dgram peercred pid %d uid %d\n", cr.pid, (int)cr.uid);
	close(s);
	return failures();
}
