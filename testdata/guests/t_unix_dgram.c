/*
 * t_unix_dgram: unconnected Unix datagram sockets made by socket(2):
 * sendto/recvfrom with path and abstract addresses (the sender's address
 * as recvfrom and recvmsg see it, none for an unbound sender), ENOTCONN
 * without a destination, ENOENT/ECONNREFUSED/EPROTOTYPE for bad ones,
 * connect to set a default peer (getpeername, EPERM from a third socket
 * to a connected one, AF_UNSPEC to disconnect), a closed peer
 * (ECONNREFUSED, then ENOTCONN), MSG_TRUNC, zero-length datagrams, poll,
 * and a full queue (EAGAIN when non-blocking).
 */
#include "guest.h"

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static socklen_t mk(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

/* An abstract name, unique on the host, of a fixed length. */
static socklen_t mk_abstract(struct sockaddr_un *a, const char *tag)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "t_unix_dgram.%08d.%s", (int)getpid(), tag);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int dgram(const char *path)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	must(s >= 0, "socket");
	if (path) {
		struct sockaddr_un a;
		socklen_t l = mk(&a, path);
		must(bind(s, (struct sockaddr *)&a, l) == 0, "bind");
	}
	return s;
}

static long send_to(int s, const char *msg, const char *path)
{
	struct sockaddr_un a;
	socklen_t l = mk(&a, path);
	return sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, l);
}

/* recvfrom, printing the data and the sender's address. */
static void recv_from(const char *what, int s, int flags)
{
	char buf[64];
	struct sockaddr_un from;
	memset(&from, 0x55, sizeof from);
	socklen_t l = sizeof from;
	long n = recvfrom(s, buf, sizeof buf, flags, (struct sockaddr *)&from, &l);
	if (n < 0) {
		out("%s: -1 %s\n", what, errname(errno));
		return;
	}
	out("%s: %ld '%.*s' from len %d", what, n, (int)(n < 64 ? n : 64), buf, (int)l);
	if (l > 2 && from.sun_path[0])
		out(" path '%s'", from.sun_path);
	else if (l > 2)
		out(" abstract %d", (int)l);
	out("\n");
}

static int rev(int fd)
{
	struct pollfd p = {fd, POLLIN | POLLOUT, 0};
	int r = poll(&p, 1, 0);
	return r < 0 ? -1 : p.revents;
}

int main(void)
{
	char buf[64];
	struct sockaddr_un a;
	socklen_t l;

	char dir[] = "/tmp/t_unix_dgram.XXXXXX";
	must(mkdtemp(dir) != NULL, "mkdtemp");
	must(chdir(dir) == 0, "chdir");

	int srv = dgram("srv");
	int cli = dgram("cli");
	int anon = dgram(NULL);
	out("poll unbound %#x bound %#x\n", rev(anon), rev(srv));
	report("send unconnected", send(anon, "x", 1, 0));
	report("write unconnected", write(anon, "x", 1));
	report("sendto srv", send_to(cli, "hello", "srv"));
	out("poll srv with data %#x\n", rev(srv));
	recv_from("recvfrom", srv, 0);
	report("sendto from unbound", send_to(anon, "anon", "srv"));
	recv_from("recvfrom unbound sender", srv, 0);
	report("reply", send_to(srv, "reply", "cli"));
	recv_from("client gets reply", cli, 0);
	recv_from("empty nonblocking", srv, MSG_DONTWAIT);
	report("sendto missing", send_to(cli, "x", "missing"));
	int fd = open("file", O_CREAT | O_WRONLY, 0644);
	close(fd);
	report("sendto a file", send_to(cli, "x", "file"));
	int st = socket(AF_UNIX, SOCK_STREAM, 0);
	mk(&a, "stream");
	bind(st, (struct sockaddr *)&a, sizeof a);
	listen(st, 1);
	report("sendto a stream socket", send_to(cli, "x", "stream"));
	close(st);

	/* Abstract names. */
	int ab = socket(AF_UNIX, SOCK_DGRAM, 0);
	l = mk_abstract(&a, "srv");
	report("bind abstract", bind(ab, (struct sockaddr *)&a, l));
	int abc = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un ac;
	socklen_t acl = mk_abstract(&ac, "cli");
	bind(abc, (struct sockaddr *)&ac, acl);
	report("sendto abstract", sendto(abc, "abs", 3, 0, (struct sockaddr *)&a, l));
	recv_from("recvfrom abstract", ab, 0);
	l = mk_abstract(&a, "none");
	report("sendto abstract nobody", sendto(abc, "x", 1, 0, (struct sockaddr *)&a, l));
	close(ab);
	close(abc);

	/* recvmsg sees the sender's name too. */
	send_to(cli, "viamsg", "srv");
	struct iovec iov = {buf, 3};
	struct sockaddr_un from;
	struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
	report("recvmsg truncated", recvmsg(srv, &mh, 0));
	out("msg_namelen %d path '%s' flags %#x\n", (int)mh.msg_namelen, from.sun_path, mh.msg_flags);
	send_to(cli, "trunc!", "srv");
	report("recv MSG_TRUNC", recv(srv, buf, 2, MSG_TRUNC));
	report("zero-length sendto", sendto(cli, "", 0, 0, (struct sockaddr *)&a, mk(&a, "srv")));
	recv_from("zero-length recvfrom", srv, 0);
	send_to(cli, "peek", "srv");
	recv_from("peek", srv, MSG_PEEK);
	recv_from("after peek", srv, 0);

	/* connect sets the default peer. */
	l = mk(&a, "srv");
	report("connect", connect(anon, (struct sockaddr *)&a, l));
	l = sizeof from;
	report("getpeername", getpeername(anon, (struct sockaddr *)&from, &l));
	out("peer len %d path '%s'\n", (int)l, from.sun_path);
	report("send connected", send(anon, "conn", 4, 0));
	report("write connected", write(anon, "wr", 2));
	recv_from("srv gets", srv, 0);
	recv_from("srv gets", srv, 0);
	report("sendto other while connected", send_to(anon, "other", "cli"));
	recv_from("cli gets", cli, MSG_DONTWAIT);
	l = mk(&a, "cli");
	report("connect srv to cli", connect(srv, (struct sockaddr *)&a, l));
	report("third party to connected srv", send_to(anon, "x", "srv"));
	report("cli to srv (its peer)", send_to(cli, "ok", "srv"));
	recv_from("srv gets from its peer", srv, 0);
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	report("disconnect srv", connect(srv, &unspec, sizeof unspec));
	l = sizeof from;
	report("getpeername disconnected", getpeername(srv, (struct sockaddr *)&from, &l));
	report("third party after disconnect", send_to(anon, "y", "srv"));
	recv_from("srv gets", srv, 0);
	report("disconnect anon", connect(anon, &unspec, sizeof unspec));
	report("send disconnected", send(anon, "x", 1, 0));
	report("connect missing", connect(anon, (struct sockaddr *)&a, mk(&a, "missing")));

	/* A peer that closes. */
	int tmp = dgram("tmp");
	l = mk(&a, "tmp");
	report("connect tmp", connect(anon, (struct sockaddr *)&a, l));
	close(tmp);
	report("send to closed peer", send(anon, "x", 1, 0));
	report("send again", send(anon, "x", 1, 0));
	report("sendto closed socket's file", send_to(cli, "x", "tmp"));

	/* A full queue. */
	fcntl(cli, F_SETFL, O_NONBLOCK);
	int n = 0;
	long r = 0;
	while (n < 100000 && (r = send_to(cli, "fill", "srv")) >= 0)
		n++;
	out("filled: stopped %d with %s\n", n < 100000, r < 0 ? errname(errno) : "0");
	out("poll srv full %#x\n", rev(srv) & POLLIN);
	recv_from("drain one", srv, 0);

	close(srv);
	close(cli);
	close(anon);
	unlink("srv");
	unlink("cli");
	unlink("tmp");
	unlink("file");
	unlink("stream");
	chdir("/");
	report("rmdir", rmdir(dir));
	return failures();
}
