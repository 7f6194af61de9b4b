/*
 * t_inet_mem: fills the queues of many loopback TCP connections
 * (non-blocking writes until they stop) and reports how it stopped. In a
 * sandbox with a small --memory the queued bytes are charged to it, so a
 * write fails with ENOBUFS before every connection is full. Then it frees
 * everything and checks that a connection works again. Sandbox-only
 * (sentry/tests/inet.rs): natively Linux autotunes loopback buffers to
 * megabytes each, so the fill would take gigabytes of the host's memory.
 */
#include "guest.h"

#include <netinet/in.h>
#include <sys/socket.h>

#define CONNS 300

static int listener(struct sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	must(l >= 0, "socket");
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = 0;
	must(bind(l, (struct sockaddr *)a, sizeof *a) == 0, "bind");
	socklen_t n = sizeof *a;
	must(getsockname(l, (struct sockaddr *)a, &n) == 0, "getsockname");
	must(listen(l, CONNS) == 0, "listen");
	return l;
}

static void pair(int l, const struct sockaddr_in *a, int sv[2])
{
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	must(sv[0] >= 0, "socket");
	if (connect(sv[0], (const struct sockaddr *)a, sizeof *a) != 0)
		must(errno == EINPROGRESS, "connect");
	sv[1] = accept(l, NULL, NULL);
	must(sv[1] >= 0, "accept");
}

int main(void)
{
	static int sv[CONNS][2];
	static char buf[65536];
	struct sockaddr_in a;
	int l = listener(&a);
	long total = 0;
	int err = 0;
	int conns = 0;
	for (int i = 0; i < CONNS && !err; i++) {
		pair(l, &a, sv[i]);
		conns++;
		for (;;) {
			ssize_t w = write(sv[i][0], buf, sizeof buf);
			if (w > 0) {
				total += w;
				continue;
			}
			if (errno != EAGAIN)
				err = errno;
			break;
		}
	}
	out("stopped by %s after %d connections, %ld MiB\n", err ? errname(err) : "EAGAIN only",
	    conns, total >> 20);
	for (int i = 0; i < conns; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	int p[2];
	pair(l, &a, p);
	out("after freeing: write %ld\n", (long)write(p[0], buf, 60000));
	return 0;
}
