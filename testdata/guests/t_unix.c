/*
 * t_unix: Unix domain socket pairs.
 *  - socketpair's family, type, protocol and flag checks;
 *  - stream: read/write/readv/writev, send/recv, MSG_PEEK, MSG_DONTWAIT,
 *    MSG_WAITALL, half-close with shutdown (EOF, EPIPE + SIGPIPE, none
 *    with MSG_NOSIGNAL), a full buffer (EAGAIN) that drains;
 *  - datagram and seqpacket: message boundaries, truncation (MSG_TRUNC
 *    in msg_flags and as a recv flag), EOF and EPIPE after a close;
 *  - readiness in poll, epoll and select;
 *  - getsockopt/setsockopt (SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR,
 *    SO_ACCEPTCONN, SO_PEERCRED, SO_SNDBUF/SO_RCVBUF), getsockname and
 *    getpeername, ENOTSOCK on a pipe;
 *  - SCM_RIGHTS (a pipe, a socket, across fork, MSG_CMSG_CLOEXEC,
 *    MSG_CTRUNC with a short control buffer) and SCM_CREDENTIALS with
 *    SO_PASSCRED.
 */
#include "guest.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

static volatile sig_atomic_t pipes;
static void on_pipe(int s)
{
	(void)s;
	pipes++;
}

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static int rev(int fd)
{
	struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDHUP, 0};
	int r = poll(&p, 1, 0);
	return r < 0 ? -1 : p.revents;
}

static void pairs(void)
{
	int sv[2];
	report("pair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
	report("pair inet6", socketpair(AF_INET6, SOCK_DGRAM, 0, sv));
	report("pair 99", socketpair(99, SOCK_STREAM, 0, sv));
	report("pair bad type", socketpair(AF_UNIX, 4, 0, sv));
	report("pair type 20", socketpair(AF_UNIX, 20, 0, sv));
	report("pair proto 6", socketpair(AF_UNIX, SOCK_STREAM, 6, sv));
	report("pair bad flag", socketpair(AF_UNIX, SOCK_STREAM | 0x100, 0, sv));
	report("socket 99", socket(99, SOCK_STREAM, 0));
	report("pair raw", socketpair(AF_UNIX, SOCK_RAW, 0, sv));
	int ty = 0;
	socklen_t l = sizeof ty;
	getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &ty, &l);
	out("raw is type %d\n", ty);
	close(sv[0]);
	close(sv[1]);
	must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, PF_UNIX, sv) == 0,
	     "socketpair flags");
	out("nonblock %d cloexec %d\n", !!(fcntl(sv[0], F_GETFL) & O_NONBLOCK),
	    !!(fcntl(sv[1], F_GETFD) & FD_CLOEXEC));
	out("accmode %d\n", fcntl(sv[0], F_GETFL) & O_ACCMODE);
	char c;
	report("nonblock read", read(sv[0], &c, 1));
	struct stat st;
	must(fstat(sv[0], &st) == 0, "fstat");
	out("S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
	close(sv[0]);
	close(sv[1]);
}

static void stream(void)
{
	int sv[2];
	char buf[64];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	out("poll empty %#x\n", rev(sv[0]));
	report("write", write(sv[0], "hello", 5));
	out("poll data %#x\n", rev(sv[1]));
	report("recv peek", recv(sv[1], buf, 3, MSG_PEEK));
	report("read", read(sv[1], buf, sizeof buf));
	out("got %.5s\n", buf);
	report("recv dontwait", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	struct iovec iov[2] = {{"ab", 2}, {"cdef", 4}};
	report("writev", writev(sv[1], iov, 2));
	report("send", send(sv[1], "gh", 2, 0));
	char x[3] = {0}, y[5] = {0};
	struct iovec riov[2] = {{x, 2}, {y, 4}};
	report("readv", readv(sv[0], riov, 2));
	out("readv %s %s\n", x, y);
	report("recvfrom", recvfrom(sv[0], buf, sizeof buf, 0, NULL, NULL));
	/* Bytes of two writes merge. */
	send(sv[0], "12", 2, 0);
	send(sv[0], "34", 2, 0);
	report("merged", recv(sv[1], buf, sizeof buf, 0));
	report("send empty", send(sv[0], "", 0, 0));
	out("poll after empty %#x\n", rev(sv[1]));

	/* MSG_WAITALL waits for the second piece from a child. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		write(sv[1], "abc", 3);
		usleep(50000);
		write(sv[1], "def", 3);
		_exit(0);
	}
	report("waitall", recv(sv[0], buf, 6, MSG_WAITALL));
	out("waitall %.6s\n", buf);
	waitpid(pid, NULL, 0);

	/* A blocking read woken by a writer in a child. */
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		usleep(50000);
		write(sv[1], "late", 4);
		_exit(0);
	}
	report("blocking read", read(sv[0], buf, sizeof buf));
	waitpid(pid, NULL, 0);

	/* Half-close: SHUT_WR on 1 is EOF on 0 after the data. */
	write(sv[1], "bye", 3);
	report("shutdown wr", shutdown(sv[1], SHUT_WR));
	out("poll after peer shut wr %#x\n", rev(sv[0]));
	out("poll after own shut wr %#x\n", rev(sv[1]));
	report("read data", read(sv[0], buf, sizeof buf));
	report("read eof", read(sv[0], buf, sizeof buf));
	report("other way", write(sv[0], "ok", 2));
	report("read other way", read(sv[1], buf, sizeof buf));
	pipes = 0;
	report("write after shut wr", write(sv[1], "x", 1));
	out("sigpipe %d\n", pipes);
	report("send nosignal", send(sv[1], "x", 1, MSG_NOSIGNAL));
	out("sigpipe %d\n", pipes);
	report("shutdown bad", shutdown(sv[1], 7));
	struct sockaddr_un to = {AF_UNIX, "x"};
	report("sendto with addr", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&to, sizeof to));
	/* SHUT_RD on 0: 1's sends are already shut; 0 sends EPIPE once 1 shuts rd. */
	report("shutdown rd", shutdown(sv[1], SHUT_RD));
	report("send to shut rd", send(sv[0], "x", 1, MSG_NOSIGNAL));
	out("poll both shut %#x\n", rev(sv[1]));
	close(sv[0]);
	close(sv[1]);

	/* A close is EOF and EPIPE. */
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	write(sv[0], "z", 1);
	close(sv[0]);
	out("poll after close %#x\n", rev(sv[1]));
	report("read before eof", read(sv[1], buf, sizeof buf));
	report("read eof", read(sv[1], buf, sizeof buf));
	report("write to closed", write(sv[1], "x", 1));
	out("sigpipe %d\n", pipes);
	close(sv[1]);

	/* A full buffer: non-blocking writes until EAGAIN, then room again. */
	must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0, "socketpair");
	static char big[65536];
	long total = 0;
	for (int i = 0; i < 1000; i++) {
		ssize_t w = write(sv[0], big, sizeof big);
		if (w < 0) {
			out("full: %s\n", errname(errno));
			break;
		}
		total += w;
	}
	out("filled some %d, bounded %d\n", total > 65536, total < 8 << 20);
	out("poll full %#x\n", rev(sv[0]) & POLLOUT);
	long drained = 0;
	for (;;) {
		ssize_t r = read(sv[1], big, sizeof big);
		if (r <= 0)
			break;
		drained += r;
	}
	out("drained all %d\n", drained == total);
	out("poll drained %#x\n", rev(sv[0]) & POLLOUT);
	close(sv[0]);
	close(sv[1]);
}

static void dgrams(int type, const char *name)
{
	int sv[2];
	char buf[64];
	out("-- %s\n", name);
	must(socketpair(AF_UNIX, type, 0, sv) == 0, "socketpair");
	send(sv[0], "first", 5, 0);
	send(sv[0], "second", 6, 0);
	send(sv[0], "third!", 6, 0);
	send(sv[0], "", 0, 0);
	report("recv 1", recv(sv[1], buf, sizeof buf, 0));
	report("recv 2 short", recv(sv[1], buf, 3, 0));
	out("short %.3s\n", buf);
	report("recv 3 trunc flag", recv(sv[1], buf, 2, MSG_TRUNC));
	report("recv empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	report("recv none", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	send(sv[0], "truncated", 9, 0);
	struct iovec iov = {buf, 4};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	report("recvmsg", recvmsg(sv[1], &m, 0));
	out("msg_flags %#x\n", m.msg_flags);
	send(sv[0], "peek", 4, 0);
	report("peek", recv(sv[1], buf, sizeof buf, MSG_PEEK));
	report("after peek", recv(sv[1], buf, sizeof buf, 0));
	report("shutdown rd", shutdown(sv[1], SHUT_RD));
	report("recv after shut rd", recv(sv[1], buf, sizeof buf, 0));
	out("poll after shut rd %#x\n", rev(sv[1]));
	pipes = 0;
	report("send to shut rd peer", send(sv[0], "x", 1, 0));
	out("sigpipe %d\n", pipes);
	close(sv[0]);
	close(sv[1]);
	must(socketpair(AF_UNIX, type, 0, sv) == 0, "socketpair");
	send(sv[0], "last", 4, 0);
	close(sv[0]);
	report("recv after close", recv(sv[1], buf, sizeof buf, 0));
	if (type == SOCK_SEQPACKET)
		report("recv eof", recv(sv[1], buf, sizeof buf, 0));
	report("send after close", send(sv[1], "x", 1, 0));
	out("sigpipe %d\n", pipes);
	close(sv[1]);
}

static void readiness(void)
{
	int sv[2];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	int ep = epoll_create1(0);
	struct epoll_event ev = {EPOLLIN | EPOLLRDHUP, {.fd = sv[0]}};
	must(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0, "epoll_ctl");
	struct epoll_event got[2];
	report("epoll empty", epoll_wait(ep, got, 2, 0));
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		usleep(50000);
		write(sv[1], "x", 1);
		_exit(0);
	}
	int n = epoll_wait(ep, got, 2, 5000);
	out("epoll woken %d events %#x\n", n, n > 0 ? got[0].events : 0);
	waitpid(pid, NULL, 0);
	fd_set r;
	FD_ZERO(&r);
	FD_SET(sv[0], &r);
	struct timeval tv = {0, 0};
	report("select data", select(sv[0] + 1, &r, NULL, NULL, &tv));
	char c;
	read(sv[0], &c, 1);
	FD_ZERO(&r);
	FD_SET(sv[0], &r);
	report("select empty", select(sv[0] + 1, &r, NULL, NULL, &tv));
	shutdown(sv[1], SHUT_WR);
	n = epoll_wait(ep, got, 2, 0);
	out("epoll rdhup %d events %#x\n", n, n > 0 ? got[0].events : 0);
	close(ep);
	close(sv[0]);
	close(sv[1]);
}

static void options(void)
{
	int sv[2], v;
	socklen_t l;
	must(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair");
	int names[] = {SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_ACCEPTCONN, SO_PASSCRED};
	const char *tags[] = {"SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ERROR", "SO_ACCEPTCONN",
			      "SO_PASSCRED"};
	for (int i = 0; i < 6; i++) {
		v = -1;
		l = sizeof v;
		int r = getsockopt(sv[0], SOL_SOCKET, names[i], &v, &l);
		out("%s: %d %d len %d\n", tags[i], r, v, (int)l);
	}
	struct ucred cr;
	l = sizeof cr;
	report("SO_PEERCRED", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &l));
	out("peercred len %d pid %d uid %d gid %d\n", (int)l, cr.pid == getpid(),
	    cr.uid == geteuid(), cr.gid == getegid());
	l = 2;
	v = 0;
	report("short optlen", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l));
	out("short len %d v %d\n", (int)l, v);
	report("bad opt", getsockopt(sv[0], SOL_SOCKET, 9999, &v, &l));
	l = sizeof v;
	report("level tcp", getsockopt(sv[0], 6, 1, &v, &l));
	int sizes[] = {1000, 10000, 100000, 0};
	for (int i = 0; i < 4; i++) {
		v = sizes[i];
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
		setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
		int s = 0, r = 0;
		l = sizeof s;
		getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &s, &l);
		l = sizeof r;
		getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &r, &l);
		out("bufs %d: snd %d rcv %d\n", sizes[i], s, r);
	}
	v = 1;
	report("set passcred", setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof v));
	report("set short", setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, 2));
	l = sizeof v;
	getsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, &l);
	out("passcred now %d\n", v);

	struct sockaddr_un sa;
	memset(&sa, 0x55, sizeof sa);
	l = sizeof sa;
	report("getsockname", getsockname(sv[0], (struct sockaddr *)&sa, &l));
	out("family %d len %d\n", sa.sun_family, (int)l);
	l = sizeof sa;
	report("getpeername", getpeername(sv[0], (struct sockaddr *)&sa, &l));
	out("family %d len %d\n", sa.sun_family, (int)l);
	int p[2];
	must(pipe(p) == 0, "pipe");
	l = sizeof v;
	report("pipe getsockopt", getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &l));
	report("pipe shutdown", shutdown(p[0], SHUT_RD));
	report("pipe send", send(p[1], "x", 1, 0));
	report("closed getsockopt", getsockopt(99, SOL_SOCKET, SO_TYPE, &v, &l));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static int send_fds(int s, const int *fds, int n, const char *data)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8)];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = {(void *)data, strlen(data)};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl;
	m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return (int)sendmsg(s, &m, 0);
}

/* Receives with a control buffer of `room` bytes; returns the fds got. */
static int recv_fds(int s, int *fds, size_t room, int flags)
{
	char ctl[256];
	char data[64];
	struct iovec iov = {data, sizeof data};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl;
	m.msg_controllen = room;
	ssize_t r = recvmsg(s, &m, flags);
	if (r < 0) {
		out("recvmsg: -1 %s\n", errname(errno));
		return 0;
	}
	out("recvmsg %.*s: controllen %d flags %#x\n", (int)r, data, (int)m.msg_controllen,
	    m.msg_flags);
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		out(" cmsg level %d type %d len %d\n", c->cmsg_level, c->cmsg_type,
		    (int)c->cmsg_len);
		if (c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds + n, CMSG_DATA(c), sizeof(int) * k);
			n += k;
		} else if (c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof u);
			out(" creds pid %d uid %d gid %d\n", u.pid == getpid() || u.pid == getppid(),
			    u.uid == geteuid(), u.gid == getegid());
		}
	}
	return n;
}

static void rights(void)
{
	int sv[2], p[2], fds[8];
	char buf[16];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	must(pipe(p) == 0, "pipe");
	report("send pipe end", send_fds(sv[0], &p[1], 1, "P"));
	int n = recv_fds(sv[1], fds, sizeof buf + 64, 0);
	out("got %d fd, new %d, cloexec %d\n", n, n == 1 && fds[0] != p[1],
	    n == 1 ? !!(fcntl(fds[0], F_GETFD) & FD_CLOEXEC) : -1);
	if (n == 1) {
		write(fds[0], "via", 3);
		close(fds[0]);
	}
	report("read through passed fd", read(p[0], buf, sizeof buf));

	int two[2] = {p[0], p[1]};
	send_fds(sv[0], two, 2, "C");
	n = recv_fds(sv[1], fds, sizeof buf + 64, MSG_CMSG_CLOEXEC);
	out("got %d, cloexec %d %d\n", n, !!(fcntl(fds[0], F_GETFD) & FD_CLOEXEC),
	    !!(fcntl(fds[1], F_GETFD) & FD_CLOEXEC));
	for (int i = 0; i < n; i++)
		close(fds[i]);

	/* A control buffer with room for one of two descriptors. */
	send_fds(sv[0], two, 2, "T");
	n = recv_fds(sv[1], fds, CMSG_LEN(sizeof(int)), 0);
	out("truncated got %d\n", n);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* No control buffer at all. */
	send_fds(sv[0], two, 2, "N");
	n = recv_fds(sv[1], fds, 0, 0);
	out("no room got %d\n", n);

	/* Data after a message with descriptors is not glued to it. */
	send_fds(sv[0], &p[1], 1, "A");
	send(sv[0], "B", 1, 0);
	n = recv_fds(sv[1], fds, 64, 0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	n = recv_fds(sv[1], fds, 64, 0);

	/* Bad descriptors and a bad control message. */
	int bad = 99;
	report("send bad fd", send_fds(sv[0], &bad, 1, "X"));

	/* A socket passed across fork: the child sends its end back. */
	int inner[2];
	must(socketpair(AF_UNIX, SOCK_DGRAM, 0, inner) == 0, "socketpair");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		send_fds(sv[1], &inner[1], 1, "S");
		_exit(0);
	}
	close(inner[1]);
	n = recv_fds(sv[0], fds, 64, 0);
	waitpid(pid, NULL, 0);
	if (n == 1) {
		send(fds[0], "dgram", 5, 0);
		report("through passed socket", recv(inner[0], buf, sizeof buf, 0));
		close(fds[0]);
	}
	close(inner[0]);

	/* Credentials with SO_PASSCRED. */
	int on = 1;
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
	send(sv[0], "cred", 4, 0);
	recv_fds(sv[1], fds, 64, 0);
	send_fds(sv[0], &p[0], 1, "cr+fd");
	n = recv_fds(sv[1], fds, 64, 0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	signal(SIGPIPE, on_pipe);
	pairs();
	stream();
	dgrams(SOCK_DGRAM, "dgram");
	dgrams(SOCK_SEQPACKET, "seqpacket");
	readiness();
	options();
	rights();
	return failures();
}
