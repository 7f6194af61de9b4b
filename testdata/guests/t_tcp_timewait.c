/*
 * t_tcp_timewait: the side of a TCP connection that closes first keeps
 * its port in TIME_WAIT: binding that port again gives EADDRINUSE unless
 * both the closed socket and the new one have SO_REUSEADDR; the side
 * that closes second keeps nothing, nor does an abortive close (SO_LINGER
 * with a zero timeout).
 */
#include "guest.h"

#include <netinet/in.h>
#include <stdint.h>
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

static struct sockaddr_in lo = {.sin_family = AF_INET};

/* A connection: the listener (kept or closed), client and server ends,
 * and both ends' addresses. */
static void pair(int reuse, int *c, int *s, struct sockaddr_in *ca, struct sockaddr_in *sa)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
	struct sockaddr_in a = lo;
	socklen_t len = sizeof a;
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&a, &len);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	/* The client's port is ours, below the ephemeral range and different
	 * in each process: natively a freed ephemeral port may be taken at
	 * once by another process's connect (tests run in parallel). */
	static int pairs;
	struct sockaddr_in mine = lo;
	mine.sin_port = htons((uint16_t)(20000 + (getpid() % 2000) * 5 + pairs++));
	bind(*c, (struct sockaddr *)&mine, sizeof mine);
	connect(*c, (struct sockaddr *)&a, sizeof a);
	*s = accept(l, NULL, NULL);
	close(l);
	*sa = a;
	len = sizeof *ca;
	getsockname(*c, (struct sockaddr *)ca, &len);
}

/* Blocks until the peer's FIN (or RST) reached `fd` (a read returns 0 or
 * fails), so the
 * next close is not a simultaneous close, whatever the machine's load. */
static void wait_eof(int fd)
{
	char x;
	while (read(fd, &x, 1) > 0)
		;
}

static void try_bind(const char *what, struct sockaddr_in *a, int reuse, int do_listen)
{
	int n = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(n, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
	errno = 0;
	int r = bind(n, (struct sockaddr *)a, sizeof *a);
	if (r == 0 && do_listen)
		r = listen(n, 1);
	out("%s: %d %s\n", what, r, r ? errname(errno) : "");
	close(n);
}

int main(void)
{
	lo.sin_addr.s_addr = htonl(0x7f000001);
	int c, s;
	struct sockaddr_in ca, sa;

	pair(0, &c, &s, &ca, &sa);
	close(c);
	wait_eof(s);
	close(s);
	usleep(50000);
	try_bind("client closed first: its port", &ca, 0, 0);
	try_bind("same with SO_REUSEADDR (the old socket had none)", &ca, 1, 0);
	try_bind("server closed second: its port", &sa, 0, 1);

	pair(1, &c, &s, &ca, &sa);
	close(s);
	wait_eof(c);
	close(c);
	usleep(50000);
	try_bind("server closed first: listen again", &sa, 0, 1);
	try_bind("same with SO_REUSEADDR", &sa, 1, 1);
	try_bind("client closed second: its port", &ca, 0, 0);

	pair(0, &c, &s, &ca, &sa);
	shutdown(c, SHUT_WR);
	wait_eof(s);
	close(s);
	wait_eof(c);
	close(c);
	usleep(50000);
	try_bind("client shut first, closed last: its port", &ca, 0, 0);
	try_bind("server: its port", &sa, 0, 1);

	pair(0, &c, &s, &ca, &sa);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(s);
	wait_eof(c);
	close(c);
	usleep(50000);
	try_bind("server aborted first: listen again", &sa, 0, 1);
	try_bind("client closed after the reset: its port", &ca, 0, 0);
	return failures();
}
