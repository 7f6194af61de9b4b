/*
 * t_unix_listen: Unix sockets made by socket(2) in the abstract
 * namespace: bind (EADDRINUSE, autobind), listen (EOPNOTSUPP for
 * datagrams, EINVAL unbound), connect (ECONNREFUSED without a listener
 * or to another type's, EAGAIN on a full backlog when non-blocking,
 * EISCONN twice), accept/accept4 (flags, the peer's address, a blocking
 * accept woken by a child), getsockname/getpeername, SO_ACCEPTCONN and
 * SO_PEERCRED, and what an unconnected socket does.
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

static struct sockaddr_un addr;
static socklen_t addrlen;

static void name(const char *tag)
{
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	/* Unique on the host (the abstract namespace is shared natively), of
	 * a fixed length so that the output does not depend on the pid. */
	int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "t_unix_listen.%08d.%s",
			 (int)getpid(), tag);
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
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
	struct sockaddr_un got;
	socklen_t l;
	int v;

	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	must(c >= 0, "socket");
	l = sizeof got;
	report("getsockname unbound", getsockname(c, (struct sockaddr *)&got, &l));
	out("len %d family %d\n", (int)l, got.sun_family);
	l = sizeof got;
	report("getpeername unconnected", getpeername(c, (struct sockaddr *)&got, &l));
	report("write unconnected", write(c, "x", 1));
	report("read unconnected", read(c, buf, 1));
	out("poll unconnected %#x\n", rev(c));
	report("accept unlistening", accept(c, NULL, NULL));
	report("listen unbound", listen(c, 1));
	l = sizeof v;
	getsockopt(c, SOL_SOCKET, SO_PEERCRED, buf, &l);
	name("srv");
	report("connect nobody", connect(c, (struct sockaddr *)&addr, addrlen));
	struct sockaddr_un path = {AF_UNIX, "/nonexistent/sock"};
	report("connect path", connect(c, (struct sockaddr *)&path, sizeof path));
	struct sockaddr_un bad = {AF_INET, ""};
	report("connect bad family", connect(c, (struct sockaddr *)&bad, sizeof bad));

	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	must(s >= 0, "socket");
	report("bind", bind(s, (struct sockaddr *)&addr, addrlen));
	report("bind again", bind(s, (struct sockaddr *)&addr, addrlen));
	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind in use", bind(s2, (struct sockaddr *)&addr, addrlen));
	close(s2);
	report("connect bound, not listening", connect(c, (struct sockaddr *)&addr, addrlen));
	l = sizeof v;
	getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l);
	out("acceptconn before %d\n", v);
	report("listen", listen(s, 1));
	l = sizeof v;
	getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l);
	out("acceptconn after %d\n", v);
	l = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &l);
	out("bound name len ok %d same %d\n", l == addrlen, memcmp(&got, &addr, addrlen) == 0);
	out("poll listener idle %#x\n", rev(s));

	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	name("dgram");
	bind(d, (struct sockaddr *)&addr, addrlen);
	report("listen dgram", listen(d, 1));
	close(d);

	name("srv");
	int q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	report("connect other type", connect(q, (struct sockaddr *)&addr, addrlen));
	close(q);

	/* Fill the backlog with non-blocking clients. */
	int cl[8], n = 0;
	for (int i = 0; i < 8; i++) {
		cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		int r = connect(cl[i], (struct sockaddr *)&addr, addrlen);
		if (r < 0) {
			out("connect %d: %s\n", i, errname(errno));
			close(cl[i]);
			break;
		}
		n++;
	}
	out("connected %d\n", n);
	out("poll listener pending %#x\n", rev(s));
	l = sizeof got;
	memset(&got, 0x55, sizeof got);
	int a = accept4(s, (struct sockaddr *)&got, &l, SOCK_CLOEXEC | SOCK_NONBLOCK);
	must(a >= 0, "accept4");
	out("accepted: peer len %d family %d cloexec %d nonblock %d\n", (int)l, got.sun_family,
	    !!(fcntl(a, F_GETFD) & FD_CLOEXEC), !!(fcntl(a, F_GETFL) & O_NONBLOCK));
	l = sizeof got;
	getsockname(a, (struct sockaddr *)&got, &l);
	out("accepted name is the listener's %d\n", l == addrlen && memcmp(&got, &addr, addrlen) == 0);
	l = sizeof got;
	getpeername(cl[0], (struct sockaddr *)&got, &l);
	out("client's peer is the listener's %d\n", l == addrlen && memcmp(&got, &addr, addrlen) == 0);
	struct ucred cr;
	l = sizeof cr;
	getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &l);
	out("peercred pid %d uid %d\n", cr.pid == getpid(), cr.uid == geteuid());
	report("client send", send(cl[0], "ping", 4, 0));
	report("server recv", recv(a, buf, sizeof buf, 0));
	report("server send", send(a, "pong!", 5, 0));
	report("client recv", recv(cl[0], buf, sizeof buf, 0));
	report("connect twice", connect(cl[0], (struct sockaddr *)&addr, addrlen));
	/* The raw call: musl's accept4 retries a refused one without flags. */
	report("accept4 bad flags", syscall(SYS_accept4, s, NULL, NULL, 0x1));
	for (int i = 1; i < n; i++) {
		int x = accept(s, NULL, NULL);
		check(x >= 0, "accept");
		close(x);
		/* The client of a closed connection sees EOF. */
		report("client eof", read(cl[i], buf, sizeof buf));
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	report("accept empty", accept(s, NULL, NULL));
	fcntl(s, F_SETFL, 0);
	close(a);
	report("read after server close", read(cl[0], buf, sizeof buf));
	for (int i = 0; i < n; i++)
		close(cl[i]);

	/* A blocking accept woken by a child that connects. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		usleep(50000);
		int k = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(k, (struct sockaddr *)&addr, addrlen) == 0)
			write(k, "child", 5);
		close(k);
		_exit(0);
	}
	a = accept(s, NULL, NULL);
	report("blocking accept", a >= 0 ? 0 : -1);
	report("read from child", read(a, buf, sizeof buf));
	close(a);
	waitpid(pid, NULL, 0);

	/* Seqpacket keeps message boundaries. */
	name("seq");
	int ss = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	bind(ss, (struct sockaddr *)&addr, addrlen);
	listen(ss, 5);
	int sc = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	report("seq connect", connect(sc, (struct sockaddr *)&addr, addrlen));
	int sa = accept(ss, NULL, NULL);
	send(sc, "one", 3, 0);
	send(sc, "two!", 4, 0);
	report("seq recv", recv(sa, buf, sizeof buf, 0));
	report("seq recv", recv(sa, buf, sizeof buf, 0));
	close(sa);
	close(sc);
	close(ss);

	/* Closing the listener frees the name. */
	name("srv");
	close(s);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect after close", connect(c, (struct sockaddr *)&addr, addrlen));
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind after close", bind(s, (struct sockaddr *)&addr, addrlen));
	close(s);
	close(c);

	/* Autobind: a bare family gets a 5-digit abstract name. */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un fam = {AF_UNIX, ""};
	report("autobind", bind(s, (struct sockaddr *)&fam, sizeof(sa_family_t)));
	l = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &l);
	out("autobind len %d abstract %d\n", (int)l, got.sun_path[0] == 0);
	close(s);
	return failures();
}
