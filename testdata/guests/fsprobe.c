/*
 * fsprobe: a tool for the root-filesystem tests (not a self-checking
 * guest). Each argument is one OP:PATH; the result is printed on one line:
 *   open:P    open(P, O_RDONLY|O_NONBLOCK), then read: what came back
 *   opath:P   open(P, O_PATH|O_NOFOLLOW): read, write, pread, getdents
 *             on it (EBADF on Linux), and fstat's file type
 *   stat:P    stat: file type, permission bits, rdev
 *   lstat:P   the same without following a final link
 *   ls:P      the directory's names (sorted) and whether "..", as
 *             getdents64 shows it, carries P/..'s inode
 *   dotdot:P  whether stat(P/..) is the same inode as stat(P)
 *   cat:P     the first line of P
 *   exe:      readlink("/proc/self/exe")
 *   exec:P    execve(P) in a child: its errno, or its exit status
 *   execat:P  the same through execveat(open(dirname, O_PATH), basename)
 *   exec4:P   four children execve(P) at the same time; their statuses
 *   wait:     read stdin until end of file (so a test can look at the
 *             running sentry), then print "waited"
 * Every run exits 0; the output is compared natively or to fixed text.
 */
#include "guest.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static const char *ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	}
	return "?";
}

static void show_read(int fd)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0) {
		out(" read=%s", errname(errno));
		return;
	}
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			buf[i] = '.';
	out(" read=%zd:%.40s", n, buf);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		out("ls %s: %s\n", p, errname(errno));
		return;
	}
	static char names[512][64];
	char *sorted[512];
	int count = 0;
	unsigned long long dotdot = 0;
	char buf[4096];
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct {
				unsigned long long ino;
				long long off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			if (strcmp(d->name, "..") == 0)
				dotdot = d->ino;
			else if (strcmp(d->name, ".") != 0 && count < 512) {
				snprintf(names[count], sizeof names[count], "%s", d->name);
				sorted[count] = names[count];
				count++;
			}
			off += d->reclen;
		}
	}
	close(fd);
	qsort(sorted, (size_t)count, sizeof sorted[0], cmpstr);
	char up[4096];
	snprintf(up, sizeof up, "%s/..", p);
	struct stat st;
	int same = stat(up, &st) == 0 && st.st_ino == dotdot;
	out("ls %s: ..=%s", p, same ? "ok" : "WRONG");
	for (int i = 0; i < count; i++)
		out(" %s", sorted[i]);
	out("\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *op = argv[i], *p = strchr(op, ':');
		if (!p) {
			out("bad argument %s\n", op);
			continue;
		}
		*p++ = 0;
		struct stat st;
		if (strcmp(op, "open") == 0) {
			int fd = open(p, O_RDONLY | O_NONBLOCK);
			out("open %s:", p);
			if (fd < 0)
				out(" %s", errname(errno));
			else {
				show_read(fd);
				close(fd);
			}
			out("\n");
		} else if (strcmp(op, "opath") == 0) {
			int fd = open(p, O_PATH | O_NOFOLLOW);
			out("opath %s:", p);
			if (fd < 0) {
				out(" %s\n", errname(errno));
				continue;
			}
			show_read(fd);
			char c = 'x', buf[64];
			out(" write=%s", write(fd, &c, 1) < 0 ? errname(errno) : "ok");
			out(" pread=%s", pread(fd, &c, 1, 0) < 0 ? errname(errno) : "ok");
			out(" getdents=%s",
			    syscall(SYS_getdents64, fd, buf, sizeof buf) < 0 ? errname(errno) : "ok");
			if (fstat(fd, &st) == 0)
				out(" fstat=%s", ftype(st.st_mode));
			else
				out(" fstat=%s", errname(errno));
			out("\n");
			close(fd);
		} else if (strcmp(op, "stat") == 0 || strcmp(op, "lstat") == 0) {
			int r = op[0] == 's' ? stat(p, &st) : lstat(p, &st);
			if (r < 0)
				out("%s %s: %s\n", op, p, errname(errno));
			else
				out("%s %s: %s %04o rdev=%u,%u\n", op, p, ftype(st.st_mode),
				    st.st_mode & 07777, major(st.st_rdev), minor(st.st_rdev));
		} else if (strcmp(op, "ls") == 0) {
			ls(p);
		} else if (strcmp(op, "dotdot") == 0) {
			char up[4096];
			snprintf(up, sizeof up, "%s/..", p);
			struct stat a;
			if (stat(p, &st) < 0 || stat(up, &a) < 0)
				out("dotdot %s: %s\n", p, errname(errno));
			else
				out("dotdot %s: %s\n", p, a.st_ino == st.st_ino ? "same" : "parent");
		} else if (strcmp(op, "cat") == 0) {
			int fd = open(p, O_RDONLY);
			char buf[256];
			ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
			if (n < 0)
				out("cat %s: %s\n", p, errname(errno));
			else {
				buf[n] = 0;
				char *nl = strchr(buf, '\n');
				if (nl)
					*nl = 0;
				out("cat %s: %s\n", p, buf);
			}
			if (fd >= 0)
				close(fd);
		} else if (strcmp(op, "exe") == 0) {
			char buf[4096];
			ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
			buf[n > 0 ? n : 0] = 0;
			out("exe: %s\n", n < 0 ? errname(errno) : buf);
		} else if (strcmp(op, "exec") == 0 || strcmp(op, "execat") == 0) {
			int at = op[4] == 'a', dfd = AT_FDCWD;
			char dir[4096], *name = p;
			if (at) {
				snprintf(dir, sizeof dir, "%s", p);
				char *slash = strrchr(dir, '/');
				name = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
				if (slash)
					slash[slash == dir] = 0;
				dfd = open(slash ? dir : ".", O_PATH | O_DIRECTORY);
				must(dfd >= 0, "open dir");
			}
			int pfd[2];
			must(pipe(pfd) == 0, "pipe");
			pid_t c = fork();
			if (c == 0) {
				char *args[] = {p, NULL};
				if (at)
					syscall(SYS_execveat, dfd, name, args, environ, 0);
				else
					execv(p, args);
				int e = errno;
				(void)!write(pfd[1], &e, sizeof e);
				_exit(120);
			}
			close(pfd[1]);
			int e = 0, status = 0;
			ssize_t got = read(pfd[0], &e, sizeof e);
			close(pfd[0]);
			waitpid(c, &status, 0);
			if (at)
				close(dfd);
			if (got == (ssize_t)sizeof e)
				out("%s %s: %s\n", op, p, errname(e));
			else
				out("%s %s: ran, status %d\n", op, p, WEXITSTATUS(status));
		} else if (strcmp(op, "exec4") == 0) {
			pid_t kids[4];
			for (int k = 0; k < 4; k++) {
				kids[k] = fork();
				if (kids[k] == 0) {
					char *args[] = {p, NULL};
					execv(p, args);
					_exit(120);
				}
			}
			out("exec4 %s:", p);
			for (int k = 0; k < 4; k++) {
				int status = 0;
				waitpid(kids[k], &status, 0);
				out(" %d", WEXITSTATUS(status));
			}
			out("\n");
		} else if (strcmp(op, "wait") == 0) {
			char buf[64];
			while (read(0, buf, sizeof buf) > 0)
				;
			out("waited\n");
		} else {
			out("bad op %s\n", op);
		}
	}
	return 0;
}
