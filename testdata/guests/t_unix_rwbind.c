/*
 * t_unix_rwbind DIR: Unix sockets bound to paths in DIR (in the tests, a
 * `:rw` host bind in the sandbox, a scratch directory natively).
 *  - a stream listener at DIR/s: the path is a socket file (lstat), a
 *    second bind there gives EADDRINUSE, a child connects by path and
 *    talks to the accepted socket, getsockname/getpeername name it;
 *  - a datagram socket at DIR/d receives a sendto by path;
 *  - after unlink, connecting by path gives ENOENT; a socket file whose
 *    socket closed refuses connections (ECONNREFUSED).
 */
#include "guest.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define R(what, call)                                                  \
	do {                                                           \
		errno = 0;                                             \
		long r_ = (long)(call);                                \
		if (r_ < 0)                                            \
			out("%s: -1 %s\n", what, errname(errno));      \
		else                                                   \
			out("%s: %ld\n", what, r_);                    \
	} while (0)

static socklen_t at(struct sockaddr_un *a, const char *dir, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *dir = argv[1];
	struct sockaddr_un a, d, got;
	socklen_t al = at(&a, dir, "s");
	socklen_t dl = at(&d, dir, "d");
	unlink(a.sun_path);
	unlink(d.sun_path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	R("bind", bind(l, (struct sockaddr *)&a, al));
	struct stat st;
	R("lstat", lstat(a.sun_path, &st));
	out("is a socket: %d, mode %o\n", S_ISSOCK(st.st_mode), (unsigned)(st.st_mode & 0777) & ~0022);
	int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
	R("second bind", bind(l2, (struct sockaddr *)&a, al));
	R("listen", listen(l, 4));
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, al) != 0)
			_exit(10);
		char buf[8];
		write(c, "ping", 4);
		if (read(c, buf, sizeof buf) != 4 || memcmp(buf, "pong", 4) != 0)
			_exit(11);
		socklen_t gl = sizeof got;
		getpeername(c, (struct sockaddr *)&got, &gl);
		_exit(strcmp(got.sun_path, a.sun_path) == 0 ? 0 : 12);
	}
	int s = accept(l, NULL, NULL);
	char buf[8] = {0};
	R("read", read(s, buf, sizeof buf));
	out("got %s\n", buf);
	R("write", write(s, "pong", 4));
	int status;
	waitpid(pid, &status, 0);
	out("child status %d\n", WEXITSTATUS(status));
	socklen_t gl = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &gl);
	out("accepted's name is the path: %d\n", strcmp(got.sun_path, a.sun_path) == 0);
	int ds = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("bind datagram", bind(ds, (struct sockaddr *)&d, dl));
	int dc = socket(AF_UNIX, SOCK_DGRAM, 0);
	R("sendto by path", sendto(dc, "dg", 2, 0, (struct sockaddr *)&d, dl));
	R("recv", recv(ds, buf, sizeof buf, MSG_DONTWAIT));
	close(s);
	close(l);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	R("connect after close", connect(c, (struct sockaddr *)&a, al));
	R("unlink", unlink(a.sun_path));
	R("connect after unlink", connect(c, (struct sockaddr *)&a, al));
	R("unlink datagram", unlink(d.sun_path));
	close(ds);
	close(dc);
	close(c);
	close(l2);
	return failures();
}
