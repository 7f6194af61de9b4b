/*
 * t_inet.c - AF_INET/AF_INET6 TCP and UDP on loopback, and NETLINK_ROUTE
 * through getifaddrs(), compared with the host kernel.
 *
 * Every port is ephemeral (bind to port 0, then getsockname), so the
 * native run never collides with anything else on the host; port numbers
 * are never printed, only whether they fall in Linux's ephemeral range.
 *
 * With argument "sandbox" it checks instead what only the sandbox
 * guarantees (no way out: ENETUNREACH; EAFNOSUPPORT for AF_PACKET; lo is
 * the only interface), which a host with a network cannot match.
 */
#include "guest.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int s)
{
	(void)s;
	sigpipes++;
}

static const char *en(int r)
{
	return r < 0 ? errname(errno) : "ok";
}

static int in_range(int port)
{
	return port >= 32768 && port <= 60999;
}

static struct sockaddr_in sin4(const char *ip, int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static struct sockaddr_in6 sin6(const char *ip, int port)
{
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return a;
}

/* "ip:port-in-range" of a socket address, port shown as "eph" or "P<n>"
 * relative to `base` (0: in range or not). */
static const char *showaddr(const void *sa, int base)
{
	static char buf[4][96];
	static int k;
	char *b = buf[k++ % 4];
	char ip[64];
	int port;
	const struct sockaddr *s = sa;
	if (s->sa_family == AF_INET) {
		const struct sockaddr_in *a = sa;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		port = ntohs(a->sin_port);
	} else if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = sa;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		port = ntohs(a->sin6_port);
	} else {
		snprintf(b, 96, "family%d", s->sa_family);
		return b;
	}
	if (port == 0)
		snprintf(b, 96, "%s:0", ip);
	else if (base && port == base)
		snprintf(b, 96, "%s:same", ip);
	else
		snprintf(b, 96, "%s:%s", ip, in_range(port) ? "eph" : "other");
	return b;
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	if (getsockname(fd, (void *)&ss, &l) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static const char *name_of(int fd, int peer, int base)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int r = peer ? getpeername(fd, (void *)&ss, &l) : getsockname(fd, (void *)&ss, &l);
	if (r < 0)
		return errname(errno);
	static char buf[2][128];
	static int k;
	char *b = buf[k++ % 2];
	snprintf(b, 128, "%s len=%d", showaddr(&ss, base), (int)l);
	return b;
}

/* A TCP listener on ip (v4 or v6 by the address's form). */
static int listener(const char *ip, int backlog)
{
	int v6 = strchr(ip, ':') != NULL;
	int l = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	must(l >= 0, "socket");
	int r;
	if (v6) {
		struct sockaddr_in6 a = sin6(ip, 0);
		r = bind(l, (void *)&a, sizeof a);
	} else {
		struct sockaddr_in a = sin4(ip, 0);
		r = bind(l, (void *)&a, sizeof a);
	}
	must(r == 0, "bind");
	must(listen(l, backlog) == 0, "listen");
	return l;
}

static int connect_to(int family, const char *ip, int port, int flags)
{
	int c = socket(family, SOCK_STREAM | flags, 0);
	must(c >= 0, "socket");
	int r;
	if (family == AF_INET6) {
		struct sockaddr_in6 a = sin6(ip, port);
		r = connect(c, (void *)&a, sizeof a);
	} else {
		struct sockaddr_in a = sin4(ip, port);
		r = connect(c, (void *)&a, sizeof a);
	}
	if (r < 0) {
		int e = errno;
		close(c);
		errno = e;
		return -1;
	}
	return c;
}

static void tcp_basics(void)
{
	out("-- tcp basics\n");
	int fresh = socket(AF_INET, SOCK_STREAM, 0);
	out("fresh name %s\n", name_of(fresh, 0, 0));
	out("fresh peer %s\n", name_of(fresh, 1, 0));
	struct pollfd pf = {fresh, POLLIN | POLLOUT | POLLRDHUP, 0};
	poll(&pf, 1, 0);
	out("fresh poll %#x\n", pf.revents);
	char b[16];
	out("fresh read %s\n", en((int)read(fresh, b, 1)));
	out("fresh write %s\n", en((int)send(fresh, "x", 1, MSG_NOSIGNAL)));
	out("fresh accept %s\n", en(accept(fresh, NULL, NULL)));
	out("fresh shutdown %s\n", en(shutdown(fresh, SHUT_RDWR)));
	close(fresh);

	int l = listener("127.0.0.1", 8);
	int port = port_of(l);
	out("listener port in range %d, name %s\n", in_range(port), name_of(l, 0, port));
	int v, r;
	socklen_t vl = sizeof v;
	getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
	out("SO_ACCEPTCONN %d\n", v);
	pf.fd = l;
	pf.events = POLLIN | POLLOUT;
	poll(&pf, 1, 0);
	out("idle listener poll %#x\n", pf.revents);
	int c = connect_to(AF_INET, "127.0.0.1", port, 0);
	out("connect %s\n", c >= 0 ? "ok" : errname(errno));
	poll(&pf, 1, 0);
	out("listener with a connection poll %#x\n", pf.revents);
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	int s = accept(l, (void *)&peer, &pl);
	out("accept %s peer %s len %d\n", en(s), showaddr(&peer, port_of(c)), (int)pl);
	out("client name %s peer %s\n", name_of(c, 0, port), name_of(c, 1, port));
	out("server name %s peer %s\n", name_of(s, 0, port), name_of(s, 1, port_of(c)));
	out("client port in range %d\n", in_range(port_of(c)));

	/* Data, peek, FIONREAD, MSG_DONTWAIT. */
	out("send %d\n", (int)send(c, "hello world", 11, 0));
	int n = 0;
	ioctl(s, FIONREAD, &n);
	out("FIONREAD %d\n", n);
	memset(b, 0, sizeof b);
	r = (int)recv(s, b, 5, MSG_PEEK);
	out("peek %d '%.*s'\n", r, r, b);
	r = (int)recv(s, b, sizeof b, 0);
	out("recv %d '%.*s'\n", r, r, b);
	r = (int)recv(s, b, sizeof b, MSG_DONTWAIT);
	out("recv empty dontwait %s\n", en(r));
	pf.fd = s;
	pf.events = POLLIN | POLLOUT | POLLRDHUP;
	poll(&pf, 1, 0);
	out("connected poll %#x\n", pf.revents);
	/* recvfrom on a stream: no address. */
	send(c, "ab", 2, 0);
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	r = (int)recvfrom(s, b, sizeof b, 0, (void *)&from, &fl);
	out("recvfrom %d addrlen %d\n", r, (int)fl);
	/* MSG_TRUNC on a stream discards. */
	send(c, "xyz", 3, 0);
	r = (int)recv(s, NULL, 2, MSG_TRUNC);
	r = (int)recv(s, b, sizeof b, 0);
	out("after trunc %d '%.*s'\n", r, r, b);
	out("second connect %s\n", en(connect(c, (void *)&peer, sizeof peer)));

	/* MSG_WAITALL with a writer in pieces. */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			usleep(2000);
			send(c, "abcd", 4, 0);
		}
		_exit(0);
	}
	char w[16];
	r = (int)recv(s, w, 16, MSG_WAITALL);
	out("waitall %d '%.*s'\n", r, r, w);
	wait_for(pid);

	/* Half-close: the client shuts its writing; the server sees EOF and
	 * can still answer. */
	out("shutdown wr %s\n", en(shutdown(c, SHUT_WR)));
	poll(&pf, 1, 0);
	out("server poll after peer SHUT_WR %#x\n", pf.revents);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u32 = 7};
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	struct epoll_event got;
	r = epoll_wait(ep, &got, 1, 0);
	out("epoll %d events %#x data %u\n", r, r > 0 ? got.events : 0, r > 0 ? got.data.u32 : 0);
	close(ep);
	r = (int)read(s, b, sizeof b);
	out("server read at EOF %d\n", r);
	out("server writes back %d\n", (int)write(s, "back", 4));
	r = (int)read(c, b, sizeof b);
	out("client reads %d '%.*s'\n", r, r, b);
	out("client send after SHUT_WR %s\n", en((int)send(c, "x", 1, MSG_NOSIGNAL)));
	pf.fd = c;
	poll(&pf, 1, 0);
	out("client poll after own SHUT_WR %#x\n", pf.revents);

	/* Close: EOF, then a write gets through once and the next is EPIPE
	 * with SIGPIPE (the RST). */
	close(c);
	pf.fd = s;
	poll(&pf, 1, 0);
	out("server poll after peer close %#x\n", pf.revents);
	r = (int)read(s, b, sizeof b);
	out("read after close %d\n", r);
	sigpipes = 0;
	r = (int)write(s, "1", 1);
	out("first write after peer close %s\n", en(r));
	r = (int)write(s, "2", 1);
	out("second write %s sigpipes %d\n", en(r), (int)sigpipes);
	poll(&pf, 1, 0);
	out("server poll after RST %#x\n", pf.revents);
	vl = sizeof v;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &vl);
	out("SO_ERROR after RST %s\n", errname(v));
	r = (int)send(s, "3", 1, MSG_NOSIGNAL);
	out("MSG_NOSIGNAL send %s sigpipes %d\n", en(r), (int)sigpipes);
	out("peer of reset socket %s\n", name_of(s, 1, 0));
	close(s);
	close(l);
}

static void tcp_reset(void)
{
	out("-- tcp reset on unread data\n");
	int l = listener("127.0.0.1", 4);
	int c = connect_to(AF_INET, "127.0.0.1", port_of(l), 0);
	int s = accept(l, NULL, NULL);
	send(c, "unread", 6, 0);
	close(s);
	char b[8];
	int r = (int)read(c, b, sizeof b);
	out("read after RST %s\n", en(r));
	r = (int)read(c, b, sizeof b);
	out("read again %d\n", r);
	close(c);

	/* Linger 0: an abortive close. */
	c = connect_to(AF_INET, "127.0.0.1", port_of(l), 0);
	s = accept(l, NULL, NULL);
	struct linger lg = {1, 0};
	out("SO_LINGER set %s\n", en(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg)));
	struct linger lg2;
	socklen_t ll = sizeof lg2;
	getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &ll);
	out("SO_LINGER get %d %d len %d\n", lg2.l_onoff, lg2.l_linger, (int)ll);
	close(c);
	r = (int)read(s, b, sizeof b);
	out("read after abortive close %s\n", en(r));
	close(s);

	/* Pending connections are reset when the listener closes. */
	c = connect_to(AF_INET, "127.0.0.1", port_of(l), 0);
	close(l);
	r = (int)read(c, b, sizeof b);
	out("read on a connection its listener dropped %s\n", en(r));
	close(c);
}

static void tcp_connect_errors(void)
{
	out("-- connect errors\n");
	/* A port with no listener: take one, then free it. */
	int l = listener("127.0.0.1", 1);
	int port = port_of(l);
	close(l);
	int c = connect_to(AF_INET, "127.0.0.1", port, 0);
	out("connect to closed port %s\n", c >= 0 ? "ok" : errname(errno));

	/* Non-blocking: EINPROGRESS, then SO_ERROR. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = sin4("127.0.0.1", port);
	int r = connect(c, (void *)&a, sizeof a);
	out("nonblocking connect to closed port %s\n", en(r));
	struct pollfd pf = {c, POLLIN | POLLOUT, 0};
	poll(&pf, 1, 1000);
	out("poll %#x\n", pf.revents);
	int v = -1;
	socklen_t vl = sizeof v;
	getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl);
	out("SO_ERROR %s\n", errname(v));
	getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl);
	out("SO_ERROR again %s\n", errname(v));
	close(c);

	l = listener("127.0.0.1", 4);
	port = port_of(l);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	a = sin4("127.0.0.1", port);
	r = connect(c, (void *)&a, sizeof a);
	out("nonblocking connect %s\n", en(r));
	pf.fd = c;
	pf.events = POLLOUT;
	poll(&pf, 1, 1000);
	out("poll %#x\n", pf.revents);
	getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl);
	out("SO_ERROR %s\n", errname(v));
	out("connect again %s\n", en(connect(c, (void *)&a, sizeof a)));
	out("and again %s\n", en(connect(c, (void *)&a, sizeof a)));
	int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	out("accept4 %s nonblock %d cloexec %d\n", en(s), (fcntl(s, F_GETFL) & O_NONBLOCK) != 0,
	    (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
	fcntl(l, F_SETFL, O_NONBLOCK);
	out("accept on empty queue %s\n", en(accept(l, NULL, NULL)));
	close(c);
	close(s);

	/* Wildcard destination means loopback. */
	c = connect_to(AF_INET, "0.0.0.0", port, 0);
	out("connect to 0.0.0.0 %s peer %s\n", en(c), c >= 0 ? name_of(c, 1, port) : "-");
	s = accept(l, NULL, NULL);
	close(c);
	close(s);
	/* Bad addresses. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	a = sin4("127.0.0.1", port);
	out("short address %s\n", en(connect(c, (void *)&a, sizeof a - 1)));
	struct sockaddr_in6 a6 = sin6("::1", port);
	out("v6 address on v4 socket %s\n", en(connect(c, (void *)&a6, sizeof a6)));
	a = sin4("198.51.100.7", 0);
	out("bind to a foreign address %s\n", en(bind(c, (void *)&a, sizeof a)));
	close(c);
	close(l);
	out("listen on udp %s\n", en(listen(socket(AF_INET, SOCK_DGRAM, 0), 1)));
}

static void tcp_addresses(void)
{
	out("-- addresses\n");
	/* A wildcard listener: the accepted socket is named after where the
	 * client connected. */
	int l = listener("0.0.0.0", 4);
	int port = port_of(l);
	out("wildcard listener %s\n", name_of(l, 0, port));
	int c = connect_to(AF_INET, "127.0.0.2", port, 0);
	int s = accept(l, NULL, NULL);
	out("via 127.0.0.2: server name %s client name %s\n", name_of(s, 0, port), name_of(c, 0, port));
	close(c);
	close(s);

	/* Bound source address. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin4("127.0.0.3", 0);
	out("bind source %s\n", en(bind(c, (void *)&a, sizeof a)));
	a = sin4("127.0.0.1", port);
	out("connect %s\n", en(connect(c, (void *)&a, sizeof a)));
	s = accept(l, NULL, NULL);
	out("server peer %s\n", name_of(s, 1, port_of(c)));
	close(c);
	close(s);

	/* Listen without bind: an ephemeral port. */
	int u = socket(AF_INET, SOCK_STREAM, 0);
	out("listen unbound %s name %s\n", en(listen(u, 1)), name_of(u, 0, 0));
	close(u);
	close(l);

	/* IPv6. */
	l = listener("::1", 4);
	port = port_of(l);
	out("v6 listener %s\n", name_of(l, 0, port));
	c = connect_to(AF_INET6, "::1", port, 0);
	s = accept(l, NULL, NULL);
	out("v6 connect %s server peer %s client name %s\n", en(c), name_of(s, 1, port_of(c)), name_of(c, 0, port));
	close(c);
	close(s);
	c = connect_to(AF_INET, "127.0.0.1", port, 0);
	out("v4 to a ::1 listener %s\n", c >= 0 ? "ok" : errname(errno));
	if (c >= 0)
		close(c);
	close(l);

	/* A v6 wildcard listener takes v4 too, unless IPV6_V6ONLY. */
	l = listener("::", 4);
	port = port_of(l);
	int v;
	socklen_t vl = sizeof v;
	getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl);
	out("V6ONLY default %d\n", v);
	c = connect_to(AF_INET, "127.0.0.1", port, 0);
	s = accept(l, NULL, NULL);
	out("v4 to [::]: %s server name %s peer %s\n", en(c), name_of(s, 0, port), name_of(s, 1, port_of(c)));
	close(c);
	close(s);
	c = connect_to(AF_INET6, "::ffff:127.0.0.1", port, 0);
	out("v4-mapped from a v6 socket %s name %s\n", en(c), c >= 0 ? name_of(c, 0, port) : "-");
	if (c >= 0)
		close(c);
	s = accept(l, NULL, NULL);
	close(s);
	close(l);

	l = socket(AF_INET6, SOCK_STREAM, 0);
	v = 1;
	out("set V6ONLY %s\n", en(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v)));
	struct sockaddr_in6 a6 = sin6("::", 0);
	bind(l, (void *)&a6, sizeof a6);
	listen(l, 4);
	port = port_of(l);
	out("set V6ONLY after bind %s\n", en(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v)));
	c = connect_to(AF_INET, "127.0.0.1", port, 0);
	out("v4 to a v6-only [::] %s\n", c >= 0 ? "ok" : errname(errno));
	c = connect_to(AF_INET6, "::1", port, 0);
	out("v6 to a v6-only [::] %s\n", c >= 0 ? "ok" : errname(errno));
	close(c);
	close(l);
	/* A v4 address on a v6 socket's bind. */
	l = socket(AF_INET6, SOCK_STREAM, 0);
	a6 = sin6("::ffff:127.0.0.1", 0);
	out("bind v4-mapped %s name %s\n", en(bind(l, (void *)&a6, sizeof a6)), name_of(l, 0, 0));
	close(l);
}

static void tcp_ports(void)
{
	out("-- ports\n");
	int a = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	int port = port_of(a);
	out("bind 0 in range %d\n", in_range(port));
	int b = socket(AF_INET, SOCK_STREAM, 0);
	sa = sin4("127.0.0.1", port);
	out("same port %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	sa = sin4("0.0.0.0", port);
	out("wildcard over it %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	sa = sin4("127.0.0.2", port);
	out("another address %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	out("bind twice %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	close(b);
	b = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 s6 = sin6("::", port);
	out("v6 wildcard over v4 %s\n", en(bind(b, (void *)&s6, sizeof s6)));
	close(b);
	b = socket(AF_INET6, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(b, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	out("v6-only wildcard over v4 %s\n", en(bind(b, (void *)&s6, sizeof s6)));
	close(b);
	close(a);

	/* SO_REUSEADDR: both bound, then only one may listen. */
	a = socket(AF_INET, SOCK_STREAM, 0);
	b = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	sa = sin4("127.0.0.1", port_of(a));
	out("reuseaddr bind %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	out("listen a %s\n", en(listen(a, 1)));
	out("listen b %s\n", en(listen(b, 1)));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	out("reuseaddr bind onto a listener %s\n", en(bind(c, (void *)&sa, sizeof sa)));
	close(a);
	close(b);
	close(c);

	/* SO_REUSEPORT: several listeners share the port. */
	a = socket(AF_INET, SOCK_STREAM, 0);
	b = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(a, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	setsockopt(b, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	sa = sin4("127.0.0.1", port_of(a));
	out("reuseport bind %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	out("listen a %s\n", en(listen(a, 8)));
	out("listen b %s\n", en(listen(b, 8)));
	int conns[4], got = 0;
	for (int i = 0; i < 4; i++)
		conns[i] = connect_to(AF_INET, "127.0.0.1", port_of(a), 0);
	fcntl(a, F_SETFL, O_NONBLOCK);
	fcntl(b, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 8; i++) {
		int s = accept(i % 2 ? a : b, NULL, NULL);
		if (s >= 0) {
			got++;
			close(s);
		}
	}
	out("reuseport accepted %d of 4\n", got);
	for (int i = 0; i < 4; i++)
		close(conns[i]);
	close(a);
	close(b);

	/* Established connections keep the port. */
	int l = listener("127.0.0.1", 1);
	port = port_of(l);
	c = connect_to(AF_INET, "127.0.0.1", port, 0);
	int s = accept(l, NULL, NULL);
	close(l);
	a = socket(AF_INET, SOCK_STREAM, 0);
	sa = sin4("127.0.0.1", port);
	out("bind over an established connection %s\n", en(bind(a, (void *)&sa, sizeof sa)));
	close(a);
	a = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	out("with SO_REUSEADDR %s\n", en(bind(a, (void *)&sa, sizeof sa)));
	close(a);
	close(c);
	close(s);
}

static void tcp_options(void)
{
	out("-- options\n");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int v;
	socklen_t vl;
	static const struct {
		int level, name;
		const char *what;
		int set;
	} opts[] = {
		{IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", 5},
		{IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", 30},
		{IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", 10},
		{IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", 4},
		{IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG", 1400},
		{IPPROTO_TCP, TCP_CORK, "TCP_CORK", 1},
		{IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", 3},
		{IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", 1000},
		{IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", 0},
		{SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1},
		{SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", 2},
		{SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", 1},
		{SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", 1},
		{SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", 8192},
		{SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", 1000},
		{SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", 1},
		{SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", 3},
		{IPPROTO_IP, IP_TOS, "IP_TOS", 0x10},
		{IPPROTO_IP, IP_TTL, "IP_TTL", 12},
	};
	for (unsigned i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		vl = sizeof v;
		v = -1;
		int r = getsockopt(s, opts[i].level, opts[i].name, &v, &vl);
		int before = v;
		v = opts[i].set;
		int w = setsockopt(s, opts[i].level, opts[i].name, &v, sizeof v);
		vl = sizeof v;
		v = -1;
		getsockopt(s, opts[i].level, opts[i].name, &v, &vl);
		out("%s get %s %d set %s now %d\n", opts[i].what, en(r), before, en(w), v);
	}
	v = 0;
	out("TCP_KEEPIDLE 0 %s\n", en(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v)));
	v = 200;
	out("TCP_KEEPCNT 200 %s\n", en(setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v)));
	out("short optlen %s\n", en(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, 2)));
	out("unknown option %s\n", en(setsockopt(s, IPPROTO_TCP, 9999, &v, sizeof v)));
	out("v6 option on v4 %s\n", en(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v)));
	vl = sizeof v;
	getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl);
	out("SO_TYPE %d", v);
	getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &vl);
	out(" SO_PROTOCOL %d", v);
	getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &vl);
	out(" SO_DOMAIN %d\n", v);
	struct timeval tv = {0, 40000};
	out("SO_RCVTIMEO set %s\n", en(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv)));
	struct timeval tv2 = {9, 9};
	vl = sizeof tv2;
	getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv2, &vl);
	out("SO_RCVTIMEO get %ld.%06ld len %d\n", (long)tv2.tv_sec, (long)tv2.tv_usec, (int)vl);
	close(s);

	/* SO_RCVTIMEO on a connected socket: EAGAIN after the timeout. */
	int l = listener("127.0.0.1", 1);
	int c = connect_to(AF_INET, "127.0.0.1", port_of(l), 0);
	s = accept(l, NULL, NULL);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char b[4];
	out("recv with SO_RCVTIMEO %s\n", en((int)recv(s, b, 4, 0)));
	vl = sizeof v;
	getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &vl);
	out("accepted TCP_NODELAY %d\n", v);
	close(c);
	close(s);
	close(l);

	int u = socket(AF_INET, SOCK_DGRAM, 0);
	vl = sizeof v;
	out("TCP_NODELAY on udp %s\n", en(getsockopt(u, IPPROTO_TCP, TCP_NODELAY, &v, &vl)));
	vl = sizeof v;
	getsockopt(u, SOL_SOCKET, SO_RCVBUF, &v, &vl);
	out("udp SO_RCVBUF %d\n", v);
	getsockopt(u, SOL_SOCKET, SO_PROTOCOL, &v, &vl);
	out("udp SO_PROTOCOL %d\n", v);
	v = 1;
	out("udp SO_BROADCAST %s\n", en(setsockopt(u, SOL_SOCKET, SO_BROADCAST, &v, sizeof v)));
	close(u);
}

static void tcp_bulk(void)
{
	out("-- bulk\n");
	int l = listener("127.0.0.1", 1);
	int c = connect_to(AF_INET, "127.0.0.1", port_of(l), 0);
	int s = accept(l, NULL, NULL);
	close(l);
	enum { TOTAL = 4 << 20 };
	pid_t pid = fork();
	if (pid == 0) {
		close(s);
		static char buf[65536];
		unsigned sent = 0;
		while (sent < TOTAL) {
			for (unsigned i = 0; i < sizeof buf; i++)
				buf[i] = (char)((sent + i) * 7);
			ssize_t w = write(c, buf, sizeof buf);
			if (w <= 0)
				_exit(1);
			sent += (unsigned)w;
		}
		_exit(0);
	}
	close(c);
	static char buf[100000];
	unsigned got = 0, bad = 0;
	for (;;) {
		ssize_t r = read(s, buf, sizeof buf);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != (char)((got + (unsigned)i) * 7))
				bad++;
		got += (unsigned)r;
	}
	out("bulk got %u bad %u child %s\n", got, bad, describe_status(wait_for(pid)));
	close(s);
}

static void udp(void)
{
	out("-- udp\n");
	int a = socket(AF_INET, SOCK_DGRAM, 0);
	int b = socket(AF_INET, SOCK_DGRAM, 0);
	out("unbound name %s\n", name_of(a, 0, 0));
	struct sockaddr_in sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	int pa = port_of(a);
	out("bound in range %d\n", in_range(pa));
	sa = sin4("127.0.0.1", pa);
	out("sendto %d\n", (int)sendto(b, "one", 3, 0, (void *)&sa, sizeof sa));
	out("sendto %d\n", (int)sendto(b, "second", 6, 0, (void *)&sa, sizeof sa));
	out("sendto empty %d\n", (int)sendto(b, "", 0, 0, (void *)&sa, sizeof sa));
	out("sendto big %d\n", (int)sendto(b, "0123456789abcdef", 16, 0, (void *)&sa, sizeof sa));
	out("sender autobound in range %d\n", in_range(port_of(b)));
	struct pollfd pf = {a, POLLIN | POLLOUT, 0};
	poll(&pf, 1, 0);
	out("poll %#x\n", pf.revents);
	int n = 0;
	ioctl(a, FIONREAD, &n);
	out("FIONREAD %d\n", n);
	char buf[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	int r = (int)recvfrom(a, buf, sizeof buf, MSG_PEEK, (void *)&from, &fl);
	out("peek %d '%.*s' from %s\n", r, r, buf, showaddr(&from, port_of(b)));
	r = (int)recvfrom(a, buf, sizeof buf, 0, (void *)&from, &fl);
	out("recv %d '%.*s' from %s len %d\n", r, r, buf, showaddr(&from, port_of(b)), (int)fl);
	r = (int)recv(a, buf, 2, 0);
	out("short buffer %d '%.*s' (rest dropped)\n", r, r, buf);
	r = (int)recv(a, buf, sizeof buf, 0);
	out("empty datagram %d\n", r);
	struct iovec iov = {buf, 4};
	struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
	r = (int)recvmsg(a, &mh, MSG_TRUNC);
	out("recvmsg MSG_TRUNC %d flags %#x namelen %d from %s\n", r, mh.msg_flags, (int)mh.msg_namelen,
	    showaddr(&from, port_of(b)));
	r = (int)recv(a, buf, sizeof buf, MSG_DONTWAIT);
	out("empty %s\n", en(r));
	out("send unconnected %s\n", en((int)send(a, "x", 1, 0)));
	out("getpeername unconnected %s\n", name_of(a, 1, 0));
	out("shutdown unconnected %s\n", en(shutdown(a, SHUT_RD)));
	r = (int)recv(a, buf, sizeof buf, 0);
	out("recv after SHUT_RD %d\n", r);
	close(a);

	/* connect: a default peer, and a filter. */
	a = socket(AF_INET, SOCK_DGRAM, 0);
	sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	pa = port_of(a);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	sa = sin4("127.0.0.1", pa);
	out("connect %s\n", en(connect(c, (void *)&sa, sizeof sa)));
	out("connected name %s peer %s\n", name_of(c, 0, 0), name_of(c, 1, pa));
	out("send %d\n", (int)send(c, "via connect", 11, 0));
	r = (int)recv(a, buf, sizeof buf, 0);
	out("got %d '%.*s'\n", r, r, buf);
	/* Only the peer's datagrams reach a connected socket. */
	struct sockaddr_in ca = sin4("127.0.0.1", port_of(c));
	sendto(b, "stranger", 8, 0, (void *)&ca, sizeof ca);
	sendto(a, "peer", 4, 0, (void *)&ca, sizeof ca);
	r = (int)recv(c, buf, sizeof buf, 0);
	out("connected socket got %d '%.*s'\n", r, r, buf);
	r = (int)recv(c, buf, sizeof buf, MSG_DONTWAIT);
	out("then %s\n", en(r));
	/* ICMP port unreachable for a connected socket. */
	close(a);
	out("send to a closed port %s\n", en((int)send(c, "x", 1, 0)));
	out("next send %s\n", en((int)send(c, "x", 1, 0)));
	out("and the next %s\n", en((int)send(c, "x", 1, 0)));
	out("recv %s\n", en((int)recv(c, buf, sizeof buf, MSG_DONTWAIT)));
	struct sockaddr uns = {.sa_family = AF_UNSPEC};
	out("disconnect %s peer %s\n", en(connect(c, &uns, sizeof uns)), name_of(c, 1, 0));
	close(c);
	close(b);

	/* EADDRINUSE and SO_REUSEADDR for UDP. */
	a = socket(AF_INET, SOCK_DGRAM, 0);
	b = socket(AF_INET, SOCK_DGRAM, 0);
	sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	sa = sin4("127.0.0.1", port_of(a));
	out("udp same port %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	close(a);
	close(b);
	int one = 1;
	a = socket(AF_INET, SOCK_DGRAM, 0);
	b = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	sa = sin4("127.0.0.1", port_of(a));
	out("udp reuseaddr %s\n", en(bind(b, (void *)&sa, sizeof sa)));
	close(a);
	close(b);

	/* IPv6 UDP, and v4 into a v6 wildcard. */
	a = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 s6 = sin6("::", 0);
	bind(a, (void *)&s6, sizeof s6);
	b = socket(AF_INET6, SOCK_DGRAM, 0);
	s6 = sin6("::1", port_of(a));
	out("v6 sendto %d\n", (int)sendto(b, "six", 3, 0, (void *)&s6, sizeof s6));
	struct sockaddr_in6 f6;
	fl = sizeof f6;
	r = (int)recvfrom(a, buf, sizeof buf, 0, (void *)&f6, &fl);
	out("v6 got %d from %s len %d\n", r, showaddr(&f6, port_of(b)), (int)fl);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	sa = sin4("127.0.0.1", port_of(a));
	sendto(c, "four", 4, 0, (void *)&sa, sizeof sa);
	fl = sizeof f6;
	r = (int)recvfrom(a, buf, sizeof buf, 0, (void *)&f6, &fl);
	out("v4 into [::] got %d from %s\n", r, showaddr(&f6, port_of(c)));
	close(a);
	close(b);
	close(c);

	/* Too big. */
	a = socket(AF_INET, SOCK_DGRAM, 0);
	static char big[70000];
	sa = sin4("127.0.0.1", 9);
	out("65508 bytes %s\n", en((int)sendto(a, big, 65508, 0, (void *)&sa, sizeof sa)));
	close(a);
}

/* A receiver blocked in recv is woken by a datagram from a child. */
static void udp_blocking(void)
{
	out("-- udp blocking\n");
	int a = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = sin4("127.0.0.1", 0);
	bind(a, (void *)&sa, sizeof sa);
	sa = sin4("127.0.0.1", port_of(a));
	pid_t pid = fork();
	if (pid == 0) {
		int b = socket(AF_INET, SOCK_DGRAM, 0);
		for (int i = 0; i < 3; i++) {
			usleep(3000);
			char m[8];
			snprintf(m, sizeof m, "m%d", i);
			sendto(b, m, strlen(m), 0, (void *)&sa, sizeof sa);
		}
		_exit(0);
	}
	for (int i = 0; i < 3; i++) {
		char buf[8];
		int r = (int)recv(a, buf, sizeof buf, 0);
		out("got %d '%.*s'\n", r, r, buf);
	}
	wait_for(pid);
	close(a);
}

static void interfaces(int sandbox)
{
	out("-- interfaces\n");
	struct ifaddrs *ifa;
	if (getifaddrs(&ifa) < 0) {
		out("getifaddrs %s\n", errname(errno));
		return;
	}
	int others = 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, "lo") != 0) {
			others++;
			continue;
		}
		char ip[64] = "-", mask[64] = "-";
		int fam = i->ifa_addr ? i->ifa_addr->sa_family : -1;
		if (fam == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof ip);
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, mask, sizeof mask);
		} else if (fam == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, ip, sizeof ip);
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr, mask, sizeof mask);
		} else if (fam == AF_PACKET) {
			strcpy(ip, "packet");
		}
		out("lo %s %s/%s up %d loopback %d running %d\n",
		    fam == AF_INET ? "inet" : fam == AF_INET6 ? "inet6" : fam == AF_PACKET ? "packet" : "?", ip,
		    mask, !!(i->ifa_flags & IFF_UP), !!(i->ifa_flags & IFF_LOOPBACK),
		    !!(i->ifa_flags & IFF_RUNNING));
	}
	if (sandbox)
		out("other interfaces %d\n", others);
	freeifaddrs(ifa);
	out("if_nametoindex(lo) %u\n", if_nametoindex("lo"));
}

static void sandbox_only(void)
{
	out("-- sandbox\n");
	out("AF_PACKET %s\n", en(socket(AF_PACKET, SOCK_RAW, 0)));
	out("AF_INET SOCK_RAW %s\n", en(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)));
	out("AF_BLUETOOTH %s\n", en(socket(31, SOCK_STREAM, 0)));
	out("AF_INET socketpair %s\n", en(socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0})));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin4("192.0.2.1", 80);
	out("connect out %s\n", en(connect(c, (void *)&a, sizeof a)));
	close(c);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = sin6("2001:db8::1", 80);
	out("connect out v6 %s\n", en(connect(c, (void *)&a6, sizeof a6)));
	close(c);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	a = sin4("8.8.8.8", 53);
	out("udp out %s\n", en((int)sendto(c, "q", 1, 0, (void *)&a, sizeof a)));
	close(c);
	interfaces(1);

	/* /proc/net shows the sandbox's sockets. */
	int l = listener("127.0.0.1", 1);
	int k = connect_to(AF_INET, "127.0.0.1", port_of(l), 0);
	int acc = accept(l, NULL, NULL);
	static char text[8192];
	int fd = open("/proc/net/tcp", O_RDONLY);
	int n = fd >= 0 ? (int)read(fd, text, sizeof text - 1) : -1;
	text[n > 0 ? n : 0] = 0;
	close(fd);
	int listening = 0, established = 0;
	for (char *line = strchr(text, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		char st[4] = "";
		sscanf(line + 1, "%*s %*s %*s %3s", st);
		listening += strcmp(st, "0A") == 0 && strstr(line, "0100007F:") != NULL;
		established += strcmp(st, "01") == 0;
	}
	out("/proc/net/tcp: listening on 127.0.0.1 %d, established %d\n", listening, established);
	fd = open("/proc/net/dev", O_RDONLY);
	n = fd >= 0 ? (int)read(fd, text, sizeof text - 1) : -1;
	text[n > 0 ? n : 0] = 0;
	close(fd);
	out("/proc/net/dev has lo %d\n", strstr(text, "    lo:") != NULL);
	close(k);
	close(acc);
	close(l);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, on_sigpipe);
	if (argc > 1 && strcmp(argv[1], "sandbox") == 0) {
		sandbox_only();
		return failures() != 0;
	}
	tcp_basics();
	tcp_reset();
	tcp_connect_errors();
	tcp_addresses();
	tcp_ports();
	tcp_options();
	tcp_bulk();
	udp();
	udp_blocking();
	interfaces(0);
	return failures() != 0;
}
