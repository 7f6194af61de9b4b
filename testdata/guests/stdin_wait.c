/*
 * stdin_wait: blocks on its standard input until the host writes to it,
 * then prints what it read. argv[1] says how it waits: "poll", "epoll",
 * "select" or "read" (a blocking read). It prints "waiting" first, so the
 * caller knows when it is about to block (sentry/tests/stdio_wake.rs).
 */
#include "guest.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "poll";
	out("waiting\n");
	int r = -1;
	if (!strcmp(how, "poll")) {
		struct pollfd p = {0, POLLIN, 0};
		r = poll(&p, 1, -1);
		/* Without POLLHUP: whether the writer has closed the pipe by
		 * now is a race the caller may not control. */
		out("poll %d revents %#x\n", r, p.revents & ~POLLHUP);
	} else if (!strcmp(how, "epoll")) {
		int ep = epoll_create1(0);
		struct epoll_event ev = {EPOLLIN, {.u64 = 0}}, got;
		epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
		r = epoll_wait(ep, &got, 1, -1);
		out("epoll %d events %#x\n", r, got.events & ~EPOLLHUP);
	} else if (!strcmp(how, "select")) {
		fd_set rs;
		FD_ZERO(&rs);
		FD_SET(0, &rs);
		r = select(1, &rs, NULL, NULL, NULL);
		out("select %d\n", r);
	}
	char buf[64] = {0};
	ssize_t n = read(0, buf, sizeof buf - 1);
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	out("got %s\n", n > 0 ? buf : "nothing");
	return 0;
}
