/*
 * t_inet_echo.c - an edge-triggered epoll TCP echo server on 127.0.0.1
 * with 20 forked clients at once, as event-driven servers are written:
 * non-blocking sockets, accept and read until EAGAIN, writes that park on
 * EPOLLOUT when the peer's window is full, EPOLLRDHUP for half-closes.
 */
#include "guest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum { CLIENTS = 20, ROUNDS = 40, MAXCONN = 64 };

struct conn {
	int fd;
	char *pending; /* bytes read but not yet echoed */
	size_t len;
	int rdhup, eof;
};

static struct conn conns[MAXCONN];

static size_t msg_len(int client, int round)
{
	/* 1 byte to ~48 KiB: small requests and ones bigger than a window. */
	return 1 + (size_t)((client * 7919 + round * 104729) % (round % 5 == 0 ? 49152 : 1500));
}

static int client(int port, int id)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c, (void *)&a, sizeof a) < 0)
		return 2;
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	static char out[49152], in[49152];
	for (int r = 0; r < ROUNDS; r++) {
		size_t n = msg_len(id, r);
		for (size_t i = 0; i < n; i++)
			out[i] = (char)(id + r + i);
		size_t done = 0;
		/* Write in pieces while reading, so a big message never
		 * deadlocks against the server's echo. */
		size_t got = 0;
		while (got < n) {
			if (done < n) {
				ssize_t w = send(c, out + done, n - done, MSG_DONTWAIT);
				if (w > 0)
					done += (size_t)w;
				else if (errno != EAGAIN)
					return 3;
			}
			ssize_t k = recv(c, in + got, n - got, done < n ? MSG_DONTWAIT : 0);
			if (k == 0)
				return 4;
			if (k < 0 && errno != EAGAIN)
				return 5;
			if (k > 0)
				got += (size_t)k;
		}
		if (memcmp(in, out, n) != 0)
			return 6;
	}
	shutdown(c, SHUT_WR);
	char b;
	if (read(c, &b, 1) != 0)
		return 7;
	close(c);
	return 0;
}

static void arm(int ep, struct conn *k, int out_too)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (out_too ? EPOLLOUT : 0)};
	ev.data.ptr = k;
	epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
}

/* Writes what is pending; 0 when all of it went. */
static int flush(struct conn *k)
{
	while (k->len > 0) {
		ssize_t w = write(k->fd, k->pending, k->len);
		if (w < 0)
			return errno == EAGAIN ? 1 : -1;
		memmove(k->pending, k->pending + w, k->len - (size_t)w);
		k->len -= (size_t)w;
	}
	return 0;
}

int main(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	must(bind(l, (void *)&a, sizeof a) == 0, "bind");
	must(listen(l, 128) == 0, "listen");
	socklen_t al = sizeof a;
	getsockname(l, (void *)&a, &al);
	int port = ntohs(a.sin_port);

	pid_t pids[CLIENTS];
	for (int i = 0; i < CLIENTS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(l);
			_exit(client(port, i));
		}
	}

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	int accepted = 0, closed = 0, rdhups = 0, parked = 0;
	unsigned long long echoed = 0;
	static char buf[65536];
	while (closed < CLIENTS) {
		struct epoll_event evs[16];
		int n = epoll_wait(ep, evs, 16, 20000);
		if (n <= 0) {
			out("epoll_wait %d %s (accepted %d closed %d)\n", n, errname(errno), accepted, closed);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *k = evs[i].data.ptr;
			if (!k) {
				for (;;) {
					int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
					if (s < 0) {
						check(errno == EAGAIN, "accept until EAGAIN");
						break;
					}
					struct conn *nk = NULL;
					for (int j = 0; j < MAXCONN && !nk; j++)
						if (conns[j].fd == 0)
							nk = &conns[j];
					must(nk != NULL, "a free slot");
					*nk = (struct conn){.fd = s};
					struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
					cev.data.ptr = nk;
					epoll_ctl(ep, EPOLL_CTL_ADD, s, &cev);
					accepted++;
				}
				continue;
			}
			if (evs[i].events & EPOLLRDHUP)
				k->rdhup = 1;
			/* Read until EAGAIN (edge-triggered), echoing as we go. */
			int blocked = 0;
			if (k->len > 0)
				blocked = flush(k);
			while (!blocked && !k->eof) {
				ssize_t r = read(k->fd, buf, sizeof buf);
				if (r == 0) {
					k->eof = 1;
					break;
				}
				if (r < 0) {
					check(errno == EAGAIN, "read until EAGAIN");
					break;
				}
				echoed += (unsigned long long)r;
				k->pending = realloc(k->pending, k->len + (size_t)r);
				memcpy(k->pending + k->len, buf, (size_t)r);
				k->len += (size_t)r;
				blocked = flush(k);
			}
			if (blocked > 0) {
				parked++;
				arm(ep, k, 1);
			} else if (blocked == 0 && k->len == 0) {
				arm(ep, k, 0);
			}
			if (k->eof && k->len == 0) {
				rdhups += k->rdhup;
				epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
				close(k->fd);
				free(k->pending);
				*k = (struct conn){0};
				closed++;
			}
		}
	}
	int ok = 0;
	for (int i = 0; i < CLIENTS; i++) {
		int st = wait_for(pids[i]);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			out("client %d: %s\n", i, describe_status(st));
	}
	unsigned long long want = 0;
	for (int i = 0; i < CLIENTS; i++)
		for (int r = 0; r < ROUNDS; r++)
			want += msg_len(i, r);
	out("accepted %d closed %d clients ok %d\n", accepted, closed, ok);
	out("echoed %llu bytes, expected %llu\n", echoed, want);
	/* Whether the FIN shows as EPOLLRDHUP before read() finds the EOF
	 * depends on timing; t_inet checks EPOLLRDHUP on its own. */
	(void)rdhups;
	(void)parked; /* how often depends on timing: not printed */
	return failures() != 0 || ok != CLIENTS;
}
