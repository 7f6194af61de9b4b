/*
 * t_tcp_backlog: non-blocking connects past a listener's full backlog.
 * Linux drops their SYNs and the clients send them again later, so they
 * stay in SYN_SENT: EINPROGRESS, not writable, getpeername ENOTCONN, a
 * second connect EALREADY, send EAGAIN, TCP_INFO state SYN_SENT; once an
 * accept makes room, it gets in (writable, SO_ERROR 0, connect 0) and is
 * accepted. (Two clients only: with more, which of the waiting ones Linux
 * lets in, and whether a client whose handshake ACK was dropped looks
 * established, depends on the timing of their SYN retransmissions.)
 */
#include "guest.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#define R(what, call)                                                  \
	do {                                                           \
		errno = 0;                                             \
		long r_ = (long)(call);                                \
		if (r_ < 0)                                            \
			out("%s: -1 %s\n", what, errname(errno));      \
		else                                                   \
			out("%s: %ld\n", what, r_);                    \
	} while (0)

static struct sockaddr_in a;

static int writable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	poll(&p, 1, ms);
	return p.revents;
}

static void state(int fd, const char *what)
{
	struct tcp_info ti;
	socklen_t tl = sizeof ti;
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	int e = -1;
	socklen_t el = sizeof e;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
	struct sockaddr_in p;
	socklen_t pl = sizeof p;
	int gp = getpeername(fd, (struct sockaddr *)&p, &pl);
	out("%s: state %d poll %#x SO_ERROR %d getpeername %s\n", what, ti.tcpi_state,
	    writable(fd, 0), e, gp == 0 ? "ok" : errname(errno));
}

int main(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(0x7f000001);
	socklen_t len = sizeof a;
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 0);
	getsockname(l, (struct sockaddr *)&a, &len);
	int c[2];
	for (int i = 0; i < 2; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		char what[32];
		snprintf(what, sizeof what, "connect %d", i);
		R(what, connect(c[i], (struct sockaddr *)&a, sizeof a));
		usleep(20000);
	}
	state(c[0], "first");
	state(c[1], "second");
	R("second connects again", connect(c[1], (struct sockaddr *)&a, sizeof a));
	R("second sends", send(c[1], "x", 1, MSG_NOSIGNAL));
	R("first sends", send(c[0], "0", 1, 0));
	int s0 = accept(l, NULL, NULL);
	char b = 0;
	R("accepted first, reads", read(s0, &b, 1));
	out("got %c\n", b);
	/* Linux lets the second in when its SYN is sent again (a second). */
	out("second writable: %#x\n", writable(c[1], 5000));
	state(c[1], "second");
	R("second connects again", connect(c[1], (struct sockaddr *)&a, sizeof a));
	R("second sends", send(c[1], "1", 1, 0));
	int s1 = accept(l, NULL, NULL);
	R("accepted second, reads", read(s1, &b, 1));
	out("got %c\n", b);
	close(s0);
	close(s1);
	for (int i = 0; i < 2; i++)
		close(c[i]);
	close(l);
	return failures();
}
