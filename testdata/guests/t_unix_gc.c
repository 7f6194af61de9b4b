/*
 * t_unix_gc: Unix sockets that hold each other through SCM_RIGHTS (a
 * sent over itself into b's queue, b over itself into a's) stay alive
 * after every descriptor is closed, with a bound socket riding along;
 * the garbage collector frees them when another Unix socket is released,
 * which frees the bound name. Also SCM_RIGHTS of a socket over its own
 * pair, received back and used.
 */
#include "guest.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static int send_fd(int via, int fd)
{
	char c = 'x';
	struct iovec iov = {&c, 1};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	return (int)sendmsg(via, &mh, 0);
}

static int recv_fd(int via)
{
	char c;
	struct iovec iov = {&c, 1};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
	if (recvmsg(via, &mh, 0) < 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

int main(void)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "t_unix_gc.%08d", (int)getpid());
	socklen_t al = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);

	/* A socket sent over its own pair comes back and still works. */
	int sv[2];
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	out("send own end: %d\n", send_fd(sv[0], sv[0]));
	int back = recv_fd(sv[1]);
	out("received: %d\n", back >= 0);
	out("write via received: %ld\n", (long)write(back, "hi", 2));
	char buf[8];
	out("read: %ld\n", (long)read(sv[1], buf, sizeof buf));
	close(back);
	close(sv[0]);
	close(sv[1]);

	/* The cycle, with a bound socket in it. */
	for (int round = 0; round < 3; round++) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		must(bind(s, (struct sockaddr *)&a, al) == 0, "bind");
		must(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair");
		check(send_fd(sv[0], s) == 1, "send s");
		check(send_fd(sv[0], sv[0]) == 1, "send a over a");
		check(send_fd(sv[1], sv[1]) == 1, "send b over b");
		close(s);
		close(sv[0]);
		close(sv[1]);
		/* Releasing another Unix socket runs the collector (Linux
		 * runs it from a work queue: wait for it). */
		int freed = 0;
		for (int i = 0; i < 300 && !freed; i++) {
			close(socket(AF_UNIX, SOCK_STREAM, 0));
			int t = socket(AF_UNIX, SOCK_STREAM, 0);
			if (bind(t, (struct sockaddr *)&a, al) == 0)
				freed = 1;
			else
				usleep(10000);
			close(t);
		}
		out("round %d: name freed %d\n", round, freed);
	}
	return failures();
}
