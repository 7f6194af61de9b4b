/*
 * t_unix_path: Unix sockets bound to paths in the file system: bind makes
 * a socket inode (S_IFSOCK, umask, listed by getdents with DT_SOCK,
 * EADDRINUSE when the name exists, ENOENT/ENOTDIR for a bad directory),
 * the sun_path length rules (a name cut by addrlen, 108 bytes with no
 * NUL, EINVAL for bad lengths), connect by path (relative, through a
 * symlink, a hard link or after a rename; ENOENT, ECONNREFUSED for a file
 * that is not a socket or whose socket is closed, EPROTOTYPE for another
 * type, EACCES for a user without write permission), getsockname and
 * getpeername, open giving ENXIO, and unlink removing only the name.
 *
 * With arguments (`t_unix_path PATH`), only binds PATH and reports it (the
 * sandbox-only tests use it for read-only mounts).
 */
#include "guest.h"

#include <dirent.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static socklen_t mk(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static int bind_to(int s, const char *path)
{
	struct sockaddr_un a;
	socklen_t l = mk(&a, path);
	return bind(s, (struct sockaddr *)&a, l);
}

static int connect_to(int s, const char *path)
{
	struct sockaddr_un a;
	socklen_t l = mk(&a, path);
	return connect(s, (struct sockaddr *)&a, l);
}

static void show_name(const char *what, int s, int peer)
{
	struct sockaddr_un got;
	memset(&got, 0x55, sizeof got);
	socklen_t l = sizeof got;
	int r = peer ? getpeername(s, (struct sockaddr *)&got, &l) : getsockname(s, (struct sockaddr *)&got, &l);
	if (r < 0) {
		out("%s: -1 %s\n", what, errname(errno));
		return;
	}
	out("%s: len %d family %d path '%.*s'\n", what, (int)l, got.sun_family,
	    l > 2 ? (int)strnlen(got.sun_path, l - 2) : 0, got.sun_path);
}

/* Accepts and closes every pending connection. */
static void drain(int s)
{
	int fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	int a;
	while ((a = accept(s, NULL, NULL)) >= 0)
		close(a);
	fcntl(s, F_SETFL, fl);
}

int main(int argc, char **argv)
{
	char buf[256];
	struct stat st;

	if (argc > 1) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		must(s >= 0, "socket");
		report("bind", bind_to(s, argv[1]));
		report("lstat", lstat(argv[1], &st));
		return 0;
	}

	umask(022);
	char dir[] = "/tmp/t_unix_path.XXXXXX";
	must(mkdtemp(dir) != NULL, "mkdtemp");
	must(chdir(dir) == 0, "chdir");

	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	must(s >= 0, "socket");
	show_name("unbound name", s, 0);
	report("bind", bind_to(s, "sock"));
	report("bind again", bind_to(s, "other"));
	report("other not made", lstat("other", &st));
	report("lstat", lstat("sock", &st));
	out("issock %d perm %o size %ld nlink %d\n", S_ISSOCK(st.st_mode), st.st_mode & 07777,
	    (long)st.st_size, (int)st.st_nlink);
	show_name("bound name", s, 0);

	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind in use", bind_to(s2, "sock"));
	int fd = open("file", O_CREAT | O_WRONLY, 0644);
	close(fd);
	report("bind on a file", bind_to(s2, "file"));
	report("bind missing dir", bind_to(s2, "nodir/sock"));
	report("bind under a file", bind_to(s2, "file/sock"));
	report("bind to a dir", bind_to(s2, "."));
	symlink("dangling-target", "dangling");
	report("bind on a dangling link", bind_to(s2, "dangling"));
	report("dangling target not made", lstat("dangling-target", &st));
	close(s2);

	/* Listing. */
	DIR *d = opendir(".");
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, "sock") == 0)
			out("listed sock type %d\n", e->d_type);
	closedir(d);
	report("open socket file", open("sock", O_RDONLY));
	report("open socket file for write", open("sock", O_WRONLY));

	/* Connecting before listen, then to the listener. */
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect not listening", connect_to(c, "sock"));
	report("listen", listen(s, 4));
	report("connect relative", connect_to(c, "sock"));
	show_name("client peer", c, 1);
	show_name("client name", c, 0);
	int a = accept(s, NULL, NULL);
	must(a >= 0, "accept");
	show_name("accepted name", a, 0);
	show_name("accepted peer", a, 1);
	report("send", send(c, "hello", 5, 0));
	report("recv", recv(a, buf, sizeof buf, 0));
	close(a);
	close(c);

	/* An absolute path, a symlink, a hard link, a rename. */
	char abs[200];
	snprintf(abs, sizeof abs, "%s/sock", dir);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect absolute", connect_to(c, abs));
	close(c);
	symlink("sock", "link");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect symlink", connect_to(c, "link"));
	close(c);
	report("hard link", link("sock", "hard"));
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect hard link", connect_to(c, "hard"));
	close(c);
	report("rename", rename("hard", "moved"));
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect renamed", connect_to(c, "moved"));
	close(c);
	drain(s);

	/* Errors of connect. */
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect missing", connect_to(c, "missing"));
	report("connect missing dir", connect_to(c, "nodir/x"));
	report("connect under a file", connect_to(c, "file/x"));
	report("connect a file", connect_to(c, "file"));
	report("connect a dir", connect_to(c, "."));
	mkfifo("fifo", 0644);
	report("connect a fifo", connect_to(c, "fifo"));
	close(c);
	c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	report("connect other type", connect_to(c, "sock"));
	close(c);
	c = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("dgram connect to stream", connect_to(c, "sock"));
	close(c);
	int m = socket(AF_UNIX, SOCK_STREAM, 0);
	mknod("node", S_IFSOCK | 0644, 0);
	report("connect a mknod socket", connect_to(m, "node"));
	report("bind on a mknod socket", bind_to(m, "node"));
	close(m);

	/* Permission: a user without write permission on the socket. */
	chmod(dir, 0777);
	chmod("sock", 0755);
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		int k = socket(AF_UNIX, SOCK_STREAM, 0);
		report("user connect 0755", connect_to(k, "sock"));
		close(k);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	chmod("sock", 0777);
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		int k = socket(AF_UNIX, SOCK_STREAM, 0);
		report("user connect 0777", connect_to(k, "sock"));
		close(k);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	drain(s);
	chmod("sock", 0000);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("root connect 0000", connect_to(c, "sock"));
	close(c);

	/* Unlink removes the name only; the listener lives on. */
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect before unlink", connect_to(c, "sock"));
	report("unlink", unlink("sock"));
	report("connect after unlink", connect_to(s2 = socket(AF_UNIX, SOCK_STREAM, 0), "sock"));
	close(s2);
	a = accept(s, NULL, NULL);
	report("accept after unlink", a >= 0 ? 0 : -1);
	report("send", send(c, "x", 1, 0));
	report("recv", recv(a, buf, sizeof buf, 0));
	show_name("name after unlink", s, 0);
	close(a);
	close(c);
	s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	report("bind the freed path", bind_to(s2, "sock"));
	close(s2);
	report("connect a closed socket's file", connect_to(c = socket(AF_UNIX, SOCK_STREAM, 0), "sock"));
	close(c);
	close(s);
	report("connect moved after close", connect_to(c = socket(AF_UNIX, SOCK_STREAM, 0), "moved"));
	close(c);

	/* Length rules. */
	struct sockaddr_un au;
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	mk(&au, "abcdef");
	report("bind cut by addrlen", bind(s, (struct sockaddr *)&au, offsetof(struct sockaddr_un, sun_path) + 3));
	report("lstat abc", lstat("abc", &st));
	show_name("cut name", s, 0);
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&au, 0, sizeof au);
	au.sun_family = AF_UNIX;
	memset(au.sun_path, 'L', sizeof au.sun_path);
	report("bind 108 bytes no NUL", bind(s, (struct sockaddr *)&au, sizeof au));
	struct sockaddr_storage big;
	socklen_t bl = sizeof big;
	memset(&big, 0, sizeof big);
	report("getsockname", getsockname(s, (struct sockaddr *)&big, &bl));
	out("long name len %d\n", (int)bl);
	listen(s, 1);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("connect 108 bytes", connect(c, (struct sockaddr *)&au, sizeof au));
	close(c);
	close(s);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	mk(&au, "x");
	report("bind len 1", bind(s, (struct sockaddr *)&au, 1));
	report("bind len too big", bind(s, (struct sockaddr *)&au, sizeof au + 1));
	au.sun_family = AF_INET;
	report("bind bad family", bind(s, (struct sockaddr *)&au, sizeof au));
	au.sun_family = AF_UNIX;
	report("connect len 2", connect(s, (struct sockaddr *)&au, 2));
	report("connect empty path", connect_to(s, ""));
	close(s);

	/* A datagram socket bound to a path. */
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	report("dgram bind", bind_to(s, "dsock"));
	report("dgram lstat", lstat("dsock", &st));
	out("dgram issock %d\n", S_ISSOCK(st.st_mode));
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	report("stream connect to dgram", connect_to(c, "dsock"));
	close(c);
	close(s);

	/* Clean up the host's directory (the sandbox's goes with it). */
	d = opendir(".");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlink(e->d_name);
	closedir(d);
	chdir("/");
	report("rmdir", rmdir(dir));
	return failures();
}
