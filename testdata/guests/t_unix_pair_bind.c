/*
 * t_unix_pair_bind: the ends of a socketpair are ordinary Unix sockets.
 *  - bind on a stream, seqpacket or datagram pair's end succeeds once
 *    (EINVAL the second time); getsockname shows the name and the peer's
 *    getpeername too; connect to it gives ECONNREFUSED (not listening),
 *    listen on it EINVAL;
 *  - sendto with an address on a connected datagram pair goes to that
 *    address; on a stream pair it is EISCONN;
 *  - a third socket's datagram to a bound pair end: EPERM (the end is
 *    connected to its pair); the pair's other end may send to it by name
 *    and the receiver sees the sender's name;
 *  - SO_PEERCRED on a datagram pair; after one end closes the other's
 *    send gives ECONNREFUSED, then ENOTCONN.
 */
#include "guest.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define R(what, call)                                                  \
	do {                                                           \
		errno = 0;                                             \
		long r_ = (long)(call);                                \
		if (r_ < 0)                                            \
			out("%s: -1 %s\n", what, errname(errno));      \
		else                                                   \
			out("%s: %ld\n", what, r_);                    \
	} while (0)

static socklen_t abstract(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "t_unix_pair_bind.%d.%s",
		 (int)getpid(), name);
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sun_path + 1);
}

static void showaddr(const char *what, struct sockaddr_un *a, socklen_t len)
{
	socklen_t base = offsetof(struct sockaddr_un, sun_path);
	if (len <= base) {
		out("%s: unnamed (len %d)\n", what, (int)len);
		return;
	}
	const char *p = a->sun_path + 1;
	const char *dot = strrchr(p, '.');
	out("%s: %s, len %s\n", what, dot ? dot + 1 : "?",
	    len == base + 1 + strlen(p) ? "exact" : len == sizeof *a ? "full" : "other");
}

static void names(const char *what, int me, int peer)
{
	struct sockaddr_un a;
	socklen_t len = sizeof a;
	char buf[64];
	getsockname(me, (struct sockaddr *)&a, &len);
	snprintf(buf, sizeof buf, "%s getsockname", what);
	showaddr(buf, &a, len);
	len = sizeof a;
	getpeername(peer, (struct sockaddr *)&a, &len);
	snprintf(buf, sizeof buf, "%s peer's getpeername", what);
	showaddr(buf, &a, len);
}

static void stream_like(int type, const char *what)
{
	int s[2];
	struct sockaddr_un a;
	char name[32];
	snprintf(name, sizeof name, "%s", what);
	socklen_t al = abstract(&a, name);
	socketpair(AF_UNIX, type, 0, s);
	names(what, s[0], s[1]);
	R("bind", bind(s[0], (struct sockaddr *)&a, al));
	names(what, s[0], s[1]);
	R("bind again", bind(s[0], (struct sockaddr *)&a, al));
	R("listen", listen(s[0], 1));
	int c = socket(AF_UNIX, type, 0);
	R("connect to it", connect(c, (struct sockaddr *)&a, al));
	R("sendto with an address", sendto(s[1], "x", 1, 0, (struct sockaddr *)&a, al));
	R("send", send(s[1], "x", 1, 0));
	char buf[8];
	R("recv", recv(s[0], buf, sizeof buf, 0));
	close(c);
	close(s[0]);
	close(s[1]);
}

static void dgram(void)
{
	int d[2];
	char buf[8];
	struct sockaddr_un other, end, from;
	socklen_t ol = abstract(&other, "other");
	socklen_t el = abstract(&end, "end");
	socketpair(AF_UNIX, SOCK_DGRAM, 0, d);
	int o = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("bind other", bind(o, (struct sockaddr *)&other, ol));
	R("dgram sendto other", sendto(d[0], "to-o", 4, 0, (struct sockaddr *)&other, ol));
	socklen_t fl = sizeof from;
	R("other recvfrom", recvfrom(o, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl));
	showaddr("other's sender", &from, fl);
	R("pair peer recv", recv(d[1], buf, sizeof buf, MSG_DONTWAIT));
	R("dgram bind end", bind(d[1], (struct sockaddr *)&end, el));
	R("dgram bind end again", bind(d[1], (struct sockaddr *)&end, el));
	names("dgram", d[1], d[0]);
	R("other sendto bound end", sendto(o, "y", 1, 0, (struct sockaddr *)&end, el));
	R("pair sendto bound end", sendto(d[0], "zz", 2, 0, (struct sockaddr *)&end, el));
	fl = sizeof from;
	R("end recvfrom", recvfrom(d[1], buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl));
	showaddr("end's sender", &from, fl);
	R("end sends back", send(d[1], "b", 1, 0));
	fl = sizeof from;
	memset(&from, 0, sizeof from);
	R("d0 recvfrom", recvfrom(d[0], buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl));
	showaddr("d0's sender", &from, fl);
	struct ucred cr;
	socklen_t cl = sizeof cr;
	R("SO_PEERCRED", getsockopt(d[0], SOL_SOCKET, SO_PEERCRED, &cr, &cl));
	out("peercred pid is mine: %d\n", cr.pid == getpid());
	close(d[1]);
	R("send after peer closed", send(d[0], "x", 1, 0));
	R("send again", send(d[0], "x", 1, 0));
	close(d[0]);
	close(o);
}

int main(void)
{
	stream_like(SOCK_STREAM, "stream");
	stream_like(SOCK_SEQPACKET, "seqpacket");
	dgram();
	return failures();
}
