/*
 * t_tcp_oob: TCP urgent data and TCP_INFO on loopback.
 *  - send(MSG_OOB): the last byte sent is urgent; the receiver's normal
 *    reads stop before it (SIOCATMARK then says 1), recv(MSG_OOB) takes
 *    it once (EINVAL after, and when there is none), normal reads step
 *    over it; poll shows POLLPRI while it is unread; a normal read past
 *    an unread urgent byte forgets it; MSG_PEEK leaves it;
 *  - SO_OOBINLINE: the urgent byte stays in the stream, reads still
 *    stop at the mark, recv(MSG_OOB) is EINVAL; a new urgent byte drops
 *    an older one still waiting at the mark once inline is off again;
 *  - MSG_OOB on UDP: EOPNOTSUPP to send, EINVAL to receive;
 *  - TCP_INFO: state, and plausible loopback values (rtt between 0 and
 *    a second, rto of at least 200 ms, the MSS and path MTU of lo, an
 *    initial congestion window of 10 or more, unlimited ssthresh...).
 */
#include "guest.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
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

static char buf[64];

static int mark(int s)
{
	int m = -1;
	if (ioctl(s, SIOCATMARK, &m) != 0)
		return -errno;
	return m;
}

static void pollpri(int s, const char *what)
{
	struct pollfd p = {.fd = s, .events = POLLIN | POLLPRI};
	poll(&p, 1, 0);
	out("%s: poll %#x atmark %d\n", what, p.revents, mark(s));
}

static void pair(int *c, int *s)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof a;
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&a, &len);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	connect(*c, (struct sockaddr *)&a, sizeof a);
	*s = accept(l, NULL, NULL);
	close(l);
}

static void rd(int s, const char *what, int flags)
{
	memset(buf, 0, sizeof buf);
	errno = 0;
	long r = recv(s, buf, sizeof buf, flags | MSG_DONTWAIT);
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld \"%s\"\n", what, r, buf);
}

static void settle(void)
{
	usleep(20000);
}

static void oob(void)
{
	int c, s;
	pair(&c, &s);
	pollpri(s, "none");
	rd(s, "recv oob with none", MSG_OOB);
	R("send ab", send(c, "ab", 2, 0));
	R("send oob X", send(c, "X", 1, MSG_OOB));
	R("send cd", send(c, "cd", 2, 0));
	settle();
	pollpri(s, "urgent queued");
	rd(s, "recv", 0);
	pollpri(s, "at the mark");
	rd(s, "peek oob", MSG_OOB | MSG_PEEK);
	rd(s, "recv oob", MSG_OOB);
	rd(s, "recv oob again", MSG_OOB);
	pollpri(s, "urgent read");
	rd(s, "recv", 0);
	pollpri(s, "drained");
	R("send oob Y alone", send(c, "Y", 1, MSG_OOB));
	settle();
	pollpri(s, "only an urgent byte");
	rd(s, "recv steps over it", 0);
	rd(s, "recv oob after", MSG_OOB);
	R("send oob 3 bytes", send(c, "klm", 3, MSG_OOB));
	settle();
	rd(s, "recv", 0);
	rd(s, "recv oob", MSG_OOB);
	int on = 1;
	setsockopt(s, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
	R("send e", send(c, "e", 1, 0));
	R("send oob Z", send(c, "Z", 1, MSG_OOB));
	R("send f", send(c, "f", 1, 0));
	settle();
	pollpri(s, "inline");
	rd(s, "recv oob inline", MSG_OOB);
	rd(s, "recv inline", 0);
	pollpri(s, "inline at mark");
	rd(s, "recv inline", 0);
	R("send oob PQ", send(c, "PQ", 2, MSG_OOB));
	settle();
	rd(s, "recv inline", 0);
	on = 0;
	setsockopt(s, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
	R("send oob RS", send(c, "RS", 2, MSG_OOB));
	settle();
	pollpri(s, "new urgent over an old one");
	rd(s, "recv", 0);
	rd(s, "recv oob", MSG_OOB);
	rd(s, "recv", 0);
	R("send gh oob", send(c, "gh", 2, MSG_OOB));
	R("send ij", send(c, "ij", 2, 0));
	settle();
	errno = 0;
	long r = recv(s, buf, sizeof buf, MSG_WAITALL);
	out("waitall stops at the mark: %ld\n", r);
	rd(s, "recv", 0);
	close(c);
	close(s);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 1);
	rd(l, "recv oob on a listener", MSG_OOB);
	close(l);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	bind(u, (struct sockaddr *)&a, sizeof a);
	socklen_t al = sizeof a;
	getsockname(u, (struct sockaddr *)&a, &al);
	R("udp send oob", sendto(u, "x", 1, MSG_OOB, (struct sockaddr *)&a, sizeof a));
	rd(u, "udp recv oob", MSG_OOB);
	close(u);
}

static void info(void)
{
	int c, s;
	pair(&c, &s);
	R("send", send(c, "hello", 5, 0));
	settle();
	recv(s, buf, sizeof buf, 0);
	for (int i = 0; i < 2; i++) {
		int fd = i ? s : c;
		struct tcp_info ti;
		memset(&ti, 0xff, sizeof ti);
		socklen_t tl = sizeof ti;
		R("TCP_INFO", getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl));
		out("%s: state %d len ok %d rtt ok %d rttvar ok %d rto ok %d ato ok %d "
		    "snd_mss ok %d rcv_mss ok %d pmtu %u advmss %u cwnd ok %d "
		    "ssthresh %s reordering ok %d options ts %d wscale ok %d\n",
		    i ? "server" : "client", ti.tcpi_state, tl >= 104,
		    ti.tcpi_rtt > 0 && ti.tcpi_rtt < 1000000,
		    ti.tcpi_rttvar > 0 && ti.tcpi_rttvar < 1000000,
		    ti.tcpi_rto >= 200000 && ti.tcpi_rto < 1000000,
		    ti.tcpi_ato < 1000000,
		    ti.tcpi_snd_mss > 0 && ti.tcpi_snd_mss <= 65483,
		    ti.tcpi_rcv_mss > 0 && ti.tcpi_rcv_mss <= 65483, ti.tcpi_pmtu,
		    ti.tcpi_advmss, ti.tcpi_snd_cwnd >= 10 && ti.tcpi_snd_cwnd < 1000,
		    ti.tcpi_snd_ssthresh >= 0x7fffffff ? "unlimited" : "set",
		    /* The host seeds a new connection's reordering from what
		     * its TCP metrics cache learnt of earlier connections to
		     * the same address (up to tcp_max_reordering), so a native
		     * run reads 3 or more depending on the machine's history. */
		    ti.tcpi_reordering >= 3 && ti.tcpi_reordering <= 300,
		    !!(ti.tcpi_options & TCPI_OPT_TIMESTAMPS),
		    ti.tcpi_snd_wscale > 0 && ti.tcpi_rcv_wscale > 0);
	}
	close(c);
	close(s);
	int n = socket(AF_INET, SOCK_STREAM, 0);
	struct tcp_info ti;
	socklen_t tl = sizeof ti;
	R("TCP_INFO unconnected", getsockopt(n, IPPROTO_TCP, TCP_INFO, &ti, &tl));
	out("unconnected: state %d rtt %u pmtu %u advmss %u\n", ti.tcpi_state, ti.tcpi_rtt,
	    ti.tcpi_pmtu, ti.tcpi_advmss);
	close(n);
}

int main(void)
{
	oob();
	info();
	return failures();
}
