/*
 * t_unix_mem: fills the queues of many stream socket pairs (non-blocking
 * writes until EAGAIN) and reports how it stopped: natively every pair
 * fills up (EAGAIN); in a sandbox with a small --memory the queued bytes
 * are charged to it, so a write fails with ENOBUFS first. Then it frees
 * everything and checks that a pair works again.
 */
#include "guest.h"

#include <sys/socket.h>

#define PAIRS 200

int main(void)
{
	static int sv[PAIRS][2];
	static char buf[65536];
	long total = 0;
	int err = 0;
	int pairs = 0;
	for (int i = 0; i < PAIRS && !err; i++) {
		must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]) == 0, "socketpair");
		pairs++;
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
	out("stopped by %s after %d pairs, %ld MiB\n", err ? errname(err) : "EAGAIN only", pairs,
	    total >> 20);
	for (int i = 0; i < pairs; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	int p[2];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0, "socketpair");
	out("after freeing: write %ld\n", (long)write(p[0], buf, 60000));
	return 0;
}
