/*
 * t_inotify_deleted: when an inotify watch on a file sees it go, and
 * writes that do not go through write(2).
 *  - unlink of a file still open: IN_ATTRIB at the unlink, then
 *    IN_CLOSE_WRITE, IN_DELETE_SELF and IN_IGNORED at its last close
 *    (a dup keeps it, a fork's copy too); unlink of a file nobody has
 *    open: IN_ATTRIB, IN_DELETE_SELF and IN_IGNORED at once; a rename
 *    over an open file: its IN_DELETE_SELF waits for the close too;
 *  - IN_MODIFY for sendfile, splice and copy_file_range into a watched
 *    file (and IN_ACCESS on the copy's source).
 *  Run in /tmp (a tmpfs in the sandbox) and in /var/tmp (the root's
 *  writable overlay).
 */
#include "guest.h"

#include <sys/inotify.h>
#include <sys/sendfile.h>

static int in;

static void drain(const char *what)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(in, buf, sizeof buf);
	char line[512];
	int len = snprintf(line, sizeof line, "%s:", what);
	for (char *p = buf; n > 0 && p < buf + n && len < 400;) {
		struct inotify_event *e = (struct inotify_event *)p;
		len += snprintf(line + len, sizeof line - len, " wd%d:%#x", e->wd, e->mask);
		p += sizeof *e + e->len;
	}
	out("%s\n", line);
}

static void deleted(const char *dir)
{
	char a[128], b[128], c[128];
	snprintf(a, sizeof a, "%s/t_inotify_deleted.a.%d", dir, (int)getpid());
	snprintf(b, sizeof b, "%s/t_inotify_deleted.b.%d", dir, (int)getpid());
	snprintf(c, sizeof c, "%s/t_inotify_deleted.c.%d", dir, (int)getpid());
	out("-- %s\n", dir);
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int wa = inotify_add_watch(in, a, IN_ALL_EVENTS);
	out("watch a: %d\n", wa);
	int d = dup(fd);
	out("unlink: %d\n", unlink(a));
	drain("unlink of an open file");
	close(fd);
	drain("one of two descriptors closed");
	pid_t pid = fork();
	if (pid == 0) {
		close(d);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	drain("the child's copy closed");
	close(d);
	drain("last close");

	close(open(b, O_RDWR | O_CREAT | O_TRUNC, 0600));
	int wb = inotify_add_watch(in, b, IN_ALL_EVENTS);
	out("watch b: %d\n", wb - wa);
	out("unlink: %d\n", unlink(b));
	drain("unlink of a closed file");

	close(open(c, O_RDWR | O_CREAT | O_TRUNC, 0600));
	fd = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	wb = inotify_add_watch(in, b, IN_DELETE_SELF | IN_ATTRIB);
	out("rename over b: %d\n", rename(c, b));
	drain("b replaced while open");
	close(fd);
	drain("b's last close");
	unlink(b);
	drain("unlink of the new b (not watched)");
}

static void writes(const char *dir)
{
	char a[128], s[128];
	snprintf(a, sizeof a, "%s/t_inotify_deleted.w.%d", dir, (int)getpid());
	snprintf(s, sizeof s, "%s/t_inotify_deleted.s.%d", dir, (int)getpid());
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int sfd = open(s, O_RDWR | O_CREAT | O_TRUNC, 0600);
	write(sfd, "hello world", 11);
	inotify_add_watch(in, a, IN_MODIFY | IN_ACCESS);
	int ws = inotify_add_watch(in, s, IN_ACCESS);
	out("watch source: %d\n", ws > 0);
	off_t o = 0;
	out("sendfile: %zd\n", sendfile(fd, sfd, &o, 5));
	drain("sendfile");
	loff_t x = 0, y = 5;
	out("copy_file_range: %zd\n", copy_file_range(sfd, &x, fd, &y, 5, 0));
	drain("copy_file_range");
	int p[2];
	pipe(p);
	write(p[1], "xyz", 3);
	out("splice: %zd\n", splice(p[0], NULL, fd, NULL, 3, 0));
	drain("splice");
	close(p[0]);
	close(p[1]);
	close(fd);
	close(sfd);
	unlink(a);
	unlink(s);
	drain("cleanup");
}

int main(void)
{
	in = inotify_init1(IN_NONBLOCK);
	deleted("/tmp");
	writes("/tmp");
	close(in);
	in = inotify_init1(IN_NONBLOCK);
	deleted("/var/tmp");
	writes("/var/tmp");
	return failures();
}
