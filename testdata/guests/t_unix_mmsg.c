/*
 * t_unix_mmsg: sendmmsg and recvmmsg on Unix sockets: counts and msg_len,
 * vlen 0, a bad entry after good ones (the count so far) or first (the
 * error), MSG_DONTWAIT, MSG_WAITFORONE, a timeout (the time left written
 * back, EINVAL for a bad one), SO_RCVTIMEO ending a partial batch, and
 * streams.
 */
#include "guest.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

#define N 5
static char bufs[N][32];
static struct iovec iovs[N];
static struct mmsghdr msgs[N];

static void setup_recv(void)
{
	memset(msgs, 0, sizeof msgs);
	memset(bufs, 0, sizeof bufs);
	for (int i = 0; i < N; i++) {
		iovs[i].iov_base = bufs[i];
		iovs[i].iov_len = sizeof bufs[i];
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_len = 12345;
	}
}

static void show_msgs(int n)
{
	for (int i = 0; i < n && i < N; i++)
		out("  [%d] len %u '%.*s' flags %#x\n", i, msgs[i].msg_len, (int)msgs[i].msg_len, bufs[i],
		    msgs[i].msg_hdr.msg_flags);
}

static int send_n(int fd, int n, const char *const *words)
{
	static struct iovec siov[N];
	static struct mmsghdr smsg[N];
	memset(smsg, 0, sizeof smsg);
	for (int i = 0; i < n; i++) {
		siov[i].iov_base = (void *)words[i];
		siov[i].iov_len = strlen(words[i]);
		smsg[i].msg_hdr.msg_iov = &siov[i];
		smsg[i].msg_hdr.msg_iovlen = 1;
	}
	int r = sendmmsg(fd, smsg, (unsigned)n, 0);
	if (r >= 0)
		for (int i = 0; i < r; i++)
			out("  sent[%d] msg_len %u\n", i, smsg[i].msg_len);
	return r;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	int sv[2];
	static const char *const words[] = {"one", "two", "three", "four", "five"};
	must(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair");

	report("sendmmsg 3", send_n(sv[0], 3, words));
	setup_recv();
	int r = recvmmsg(sv[1], msgs, N, MSG_DONTWAIT, NULL);
	report("recvmmsg dontwait", r);
	show_msgs(r);
	report("recvmmsg empty dontwait", recvmmsg(sv[1], msgs, N, MSG_DONTWAIT, NULL));
	report("sendmmsg vlen 0", sendmmsg(sv[0], msgs, 0, 0));
	report("recvmmsg vlen 0", recvmmsg(sv[1], msgs, 0, 0, NULL));

	report("sendmmsg 2", send_n(sv[0], 2, words + 3));
	setup_recv();
	r = recvmmsg(sv[1], msgs, N, MSG_WAITFORONE, NULL);
	report("recvmmsg waitforone", r);
	show_msgs(r);

	/* Truncation: a small buffer. */
	send_n(sv[0], 1, words + 2);
	setup_recv();
	iovs[0].iov_len = 2;
	r = recvmmsg(sv[1], msgs, 1, 0, NULL);
	report("recvmmsg truncated", r);
	show_msgs(r);

	/* A bad entry: after good ones, the count so far; first, the error. */
	struct iovec good = {(void *)"ok", 2};
	struct mmsghdr bad[3];
	memset(bad, 0, sizeof bad);
	bad[0].msg_hdr.msg_iov = &good;
	bad[0].msg_hdr.msg_iovlen = 1;
	bad[1].msg_hdr.msg_iov = (struct iovec *)8;
	bad[1].msg_hdr.msg_iovlen = 1;
	report("sendmmsg bad second", sendmmsg(sv[0], bad, 3, 0));
	report("sendmmsg bad first", sendmmsg(sv[0], bad + 1, 2, 0));
	/* The raw calls: musl's wrappers touch the vector and the timeout. */
	report("sendmmsg bad vector", syscall(SYS_sendmmsg, sv[0], 8L, 1, 0));
	setup_recv();
	r = recvmmsg(sv[1], msgs, N, MSG_DONTWAIT, NULL);
	report("recv after bad", r);
	show_msgs(r);

	/* A timeout: all there, the time left written back. */
	send_n(sv[0], 3, words);
	setup_recv();
	struct timespec to = {2, 0};
	r = recvmmsg(sv[1], msgs, 3, 0, &to);
	report("recvmmsg timeout, all there", r);
	out("time left sane %d\n", to.tv_sec <= 2 && to.tv_sec >= 1 && to.tv_nsec >= 0 && to.tv_nsec < 1000000000);
	struct timespec badto = {0, 1000000000};
	report("recvmmsg bad timeout", recvmmsg(sv[1], msgs, 3, 0, &badto));
	report("recvmmsg bad timeout ptr", syscall(SYS_recvmmsg, sv[1], msgs, 3, 0, 8L));

	/* SO_RCVTIMEO ends a batch that waits for more. */
	struct timeval tv = {0, 200000};
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	send_n(sv[0], 1, words);
	setup_recv();
	to.tv_sec = 5;
	to.tv_nsec = 0;
	double t0 = now();
	r = recvmmsg(sv[1], msgs, 3, 0, &to);
	double dt = now() - t0;
	report("recvmmsg rcvtimeo partial", r);
	out("waited about the rcvtimeo %d\n", dt > 0.15 && dt < 2);
	setup_recv();
	t0 = now();
	r = recvmmsg(sv[1], msgs, 3, 0, NULL);
	dt = now() - t0;
	report("recvmmsg rcvtimeo none", r);
	out("waited about the rcvtimeo %d\n", dt > 0.15 && dt < 2);
	close(sv[0]);
	close(sv[1]);

	/* Streams: each message is one send, received as bytes. */
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	report("sendmmsg stream", send_n(sv[0], 3, words));
	setup_recv();
	r = recvmmsg(sv[1], msgs, N, MSG_DONTWAIT, NULL);
	report("recvmmsg stream", r);
	show_msgs(r);
	close(sv[1]);
	signal(SIGPIPE, SIG_IGN);
	report("sendmmsg to closed", send_n(sv[0], 2, words));
	close(sv[0]);

	/* Seqpacket keeps the boundaries. */
	must(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair");
	send_n(sv[0], 3, words);
	setup_recv();
	r = recvmmsg(sv[1], msgs, N, MSG_DONTWAIT, NULL);
	report("recvmmsg seqpacket", r);
	show_msgs(r);
	report("recvmmsg not a socket", recvmmsg(0, msgs, 1, MSG_DONTWAIT, NULL));
	report("recvmmsg bad fd", recvmmsg(99, msgs, 1, MSG_DONTWAIT, NULL));
	return failures();
}
