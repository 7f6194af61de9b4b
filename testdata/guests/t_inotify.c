/*
 * t_inotify: inotify_init1, inotify_add_watch, inotify_rm_watch and the
 * events of the sandbox's own files.
 *  - flags: IN_NONBLOCK, IN_CLOEXEC, unknown ones EINVAL; add_watch's
 *    errors (EINVAL, EBADF, ENOENT, ENOTDIR with IN_ONLYDIR, EEXIST with
 *    IN_MASK_CREATE); the same inode gives the same watch descriptor;
 *  - a directory watch sees IN_CREATE, IN_OPEN, IN_MODIFY (identical
 *    consecutive events merged), IN_CLOSE_WRITE, IN_ACCESS,
 *    IN_CLOSE_NOWRITE, IN_ATTRIB, IN_MOVED_FROM/IN_MOVED_TO with one cookie,
 *    IN_DELETE, IN_ISDIR for directories, with names;
 *  - a file watch sees IN_ATTRIB (links), IN_MOVE_SELF, IN_DELETE_SELF and
 *    IN_IGNORED; IN_ONESHOT, IN_MASK_ADD, rm_watch's IN_IGNORED;
 *  - a read-only file of the root (/etc/passwd): open, read, close;
 *  - a buffer too small for an event is EINVAL; FIONREAD; poll, select and
 *    epoll readiness; a blocked read woken by another process;
 *  - the queue stops at max_queued_events with one IN_Q_OVERFLOW;
 *  - directory and file events again in /var/tmp (the sandbox's writable
 *    overlay of the root, where /tmp is a tmpfs).
 */
#include "guest.h"

#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/uio.h>

static char dir[64];
static char pathbuf[4][256];
static int nextbuf;

/* `name` in the test directory (four buffers, so a call can take two). */
static const char *at(const char *name)
{
	char *b = pathbuf[nextbuf++ % 4];
	snprintf(b, sizeof pathbuf[0], "%s/%s", dir, name);
	return b;
}

static void report(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static const char *names(uint32_t m)
{
	static char buf[256];
	static const struct {
		uint32_t bit;
		const char *name;
	} bits[] = {
		{IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
		{IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
		{IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
		{IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"},
		{IN_MOVE_SELF, "MOVE_SELF"}, {IN_UNMOUNT, "UNMOUNT"}, {IN_Q_OVERFLOW, "Q_OVERFLOW"},
		{IN_IGNORED, "IGNORED"}, {IN_ISDIR, "ISDIR"},
	};
	buf[0] = 0;
	for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
		if (m & bits[i].bit) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, bits[i].name);
		}
	return buf;
}

static uint32_t last_cookie;

/* Reads and prints every queued event (the descriptor is non-blocking). */
static int drain(const char *what, int fd)
{
	char buf[4096] __attribute__((aligned(8)));
	int count = 0;
	out("-- %s\n", what);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno != EAGAIN)
				out("read: %s\n", errname(errno));
			break;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			const char *cookie = "0";
			if (e->cookie) {
				cookie = e->cookie == last_cookie ? "same" : "new";
				last_cookie = e->cookie;
			}
			out("wd=%d %s cookie=%s len=%u name=%s\n", e->wd, names(e->mask), cookie,
			    e->len, e->len ? e->name : "");
			p += sizeof *e + e->len;
			count++;
		}
	}
	return count;
}

static void touch_write(const char *p, const char *data)
{
	int f = open(p, O_WRONLY | O_CREAT, 0644);
	must(f >= 0, "open for write");
	must(write(f, data, strlen(data)) == (ssize_t)strlen(data), "write");
	close(f);
}

static void flags_and_errors(void)
{
	report("init1 bad flags", inotify_init1(0x10));
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	must(in >= 0, "inotify_init1");
	out("cloexec %d nonblock %d\n", fcntl(in, F_GETFD) & FD_CLOEXEC,
	    (fcntl(in, F_GETFL) & O_NONBLOCK) != 0);
	char b[64];
	report("read empty", read(in, b, sizeof b));
	int plain = inotify_init();
	out("init plain ok %d cloexec %d\n", plain >= 0, fcntl(plain, F_GETFD) & FD_CLOEXEC);
	close(plain);

	report("mask 0", inotify_add_watch(in, dir, 0));
	report("bad fd", inotify_add_watch(99, dir, IN_ALL_EVENTS));
	report("not inotify", inotify_add_watch(1, dir, IN_ALL_EVENTS));
	report("missing", inotify_add_watch(in, at("missing"), IN_ALL_EVENTS));
	touch_write(at("file"), "x");
	report("onlydir on file", inotify_add_watch(in, at("file"), IN_ONLYDIR | IN_OPEN));
	report("add|create", inotify_add_watch(in, dir, IN_OPEN | IN_MASK_ADD | IN_MASK_CREATE));
	int wd = inotify_add_watch(in, dir, IN_CREATE);
	report("watch dir", wd);
	report("again same wd", inotify_add_watch(in, dir, IN_DELETE));
	report("mask_create existing", inotify_add_watch(in, dir, IN_DELETE | IN_MASK_CREATE));
	report("onlydir on dir", inotify_add_watch(in, dir, IN_DELETE | IN_ONLYDIR));
	report("rm_watch", inotify_rm_watch(in, wd));
	report("rm_watch again", inotify_rm_watch(in, wd));
	report("rm_watch bad fd", inotify_rm_watch(1, 1));
	drain("after rm_watch", in);
	report("next wd", inotify_add_watch(in, dir, IN_CREATE));
	unlink(at("file"));
	close(in);
}

static void directory_events(void)
{
	int in = inotify_init1(IN_NONBLOCK);
	must(in >= 0, "inotify_init1");
	int wd = inotify_add_watch(in, dir, IN_ALL_EVENTS);
	report("watch dir", wd);

	int f = open(at("f"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	must(f >= 0, "create f");
	write(f, "hello", 5);
	write(f, "hello", 5);
	write(f, "", 0);
	close(f);
	drain("create, write twice, close", in);

	char b[16];
	f = open(at("f"), O_RDONLY);
	read(f, b, 2);
	read(f, b, 2);
	read(f, b, 0);
	pread(f, b, 2, 0);
	close(f);
	drain("open, read, close", in);

	chmod(at("f"), 0600);
	truncate(at("f"), 1);
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	utimensat(AT_FDCWD, at("f"), ts, 0);
	drain("chmod, truncate, utimensat", in);

	f = open(at("f"), O_WRONLY | O_TRUNC);
	close(f);
	drain("open O_TRUNC", in);

	f = open(at("f"), O_RDONLY);
	drain("open for preadv", in);
	struct iovec iov = {b, 1};
	write(f, "", 0);
	preadv(f, &iov, 1, 0);
	drain("preadv of an empty file", in);
	close(f);
	drain("close after preadv", in);

	mkdir(at("sub"), 0755);
	rename(at("f"), at("g"));
	rename(at("g"), at("sub/g"));
	rename(at("sub/g"), at("g"));
	drain("mkdir, renames", in);

	link(at("g"), at("h"));
	unlink(at("h"));
	unlink(at("g"));
	rmdir(at("sub"));
	symlink("target", at("sym"));
	unlink(at("sym"));
	mknod(at("fifo"), S_IFIFO | 0600, 0);
	unlink(at("fifo"));
	drain("link, unlinks, rmdir, symlink, mknod", in);

	int d = open(dir, O_RDONLY | O_DIRECTORY);
	close(d);
	drain("opendir", in);

	/* A watch on the directory and one on a file in it. */
	touch_write(at("both"), "1");
	drain("both created", in);
	int wf = inotify_add_watch(in, at("both"), IN_MODIFY | IN_CLOSE_WRITE);
	report("watch both", wf);
	touch_write(at("both"), "2");
	drain("both written", in);
	unlink(at("both"));
	drain("both removed", in);
	close(in);
}

static void file_events(void)
{
	int in = inotify_init1(IN_NONBLOCK);
	must(in >= 0, "inotify_init1");
	touch_write(at("a"), "a");
	int wd = inotify_add_watch(in, at("a"), IN_ALL_EVENTS);
	report("watch a", wd);
	link(at("a"), at("a2"));
	unlink(at("a2"));
	rename(at("a"), at("b"));
	touch_write(at("b"), "b");
	drain("link, unlink, rename, write", in);
	unlink(at("b"));
	drain("last unlink", in);
	report("rm_watch after delete", inotify_rm_watch(in, wd));

	/* Replacing a watched file by rename. */
	touch_write(at("c"), "c");
	touch_write(at("d"), "d");
	report("watch d", inotify_add_watch(in, at("d"), IN_ALL_EVENTS));
	rename(at("c"), at("d"));
	drain("rename over watched", in);
	unlink(at("d"));

	/* A watched directory removed. */
	mkdir(at("e"), 0755);
	report("watch e", inotify_add_watch(in, at("e"), IN_ALL_EVENTS));
	touch_write(at("e/x"), "x");
	unlink(at("e/x"));
	rmdir(at("e"));
	drain("rmdir watched", in);

	/* IN_ONESHOT. */
	touch_write(at("o"), "o");
	report("watch oneshot", inotify_add_watch(in, at("o"), IN_MODIFY | IN_ONESHOT));
	touch_write(at("o"), "p");
	touch_write(at("o"), "q");
	drain("oneshot", in);

	/* IN_MASK_ADD, and a mask replaced without it. */
	int w = inotify_add_watch(in, at("o"), IN_OPEN);
	report("watch open", w);
	report("mask add", inotify_add_watch(in, at("o"), IN_CLOSE_NOWRITE | IN_MASK_ADD));
	int f = open(at("o"), O_RDONLY);
	close(f);
	drain("open+close", in);
	report("replace", inotify_add_watch(in, at("o"), IN_CLOSE_NOWRITE));
	f = open(at("o"), O_RDONLY);
	close(f);
	drain("close only", in);
	unlink(at("o"));
	drain("o unlinked", in);

	/* IN_DONT_FOLLOW watches the link itself. */
	touch_write(at("t"), "t");
	symlink("t", at("l"));
	int wt = inotify_add_watch(in, at("t"), IN_ATTRIB);
	int wl = inotify_add_watch(in, at("l"), IN_ATTRIB | IN_DONT_FOLLOW);
	int wl2 = inotify_add_watch(in, at("l"), IN_ATTRIB);
	out("dont_follow: link is %s, followed is %s\n", wl != wt ? "other" : "same",
	    wl2 == wt ? "same" : "other");
	struct timespec ts[2] = {{5, 0}, {6, 0}};
	utimensat(AT_FDCWD, at("l"), ts, AT_SYMLINK_NOFOLLOW);
	chmod(at("t"), 0600);
	drain("dont_follow", in);
	unlink(at("l"));
	unlink(at("t"));
	drain("t, l unlinked", in);
	close(in);
}

static void root_file(void)
{
	int in = inotify_init1(IN_NONBLOCK);
	must(in >= 0, "inotify_init1");
	report("watch /etc/passwd",
	       inotify_add_watch(in, "/etc/passwd", IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE));
	char b[8];
	int f = open("/etc/passwd", O_RDONLY);
	read(f, b, sizeof b);
	close(f);
	/* Other processes of the host (natively) may read /etc/passwd at the
	 * same time and add events of the same kinds: print which kinds came,
	 * not how many. */
	char buf[4096] __attribute__((aligned(8)));
	uint32_t seen = 0;
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			seen |= e->mask;
			p += sizeof *e + e->len;
		}
	out("-- /etc/passwd read\nkinds: open %d access %d close_nowrite %d other %d\n",
	    !!(seen & IN_OPEN), !!(seen & IN_ACCESS), !!(seen & IN_CLOSE_NOWRITE),
	    !!(seen & ~(uint32_t)(IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE)));
	close(in);
}

static void reading_and_readiness(void)
{
	int in = inotify_init1(0);
	must(in >= 0, "inotify_init1");
	inotify_add_watch(in, dir, IN_CREATE | IN_DELETE);
	struct pollfd p = {in, POLLIN, 0};
	out("poll empty %d\n", poll(&p, 1, 0));
	int n = -1;
	ioctl(in, FIONREAD, &n);
	out("FIONREAD empty %d\n", n);
	touch_write(at("r1"), "1");
	unlink(at("r1"));
	ioctl(in, FIONREAD, &n);
	out("FIONREAD two %d\n", n);
	p.revents = 0;
	out("poll %d revents %#x\n", poll(&p, 1, 0), p.revents);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(in, &rs);
	struct timeval tv = {0, 0};
	out("select %d\n", select(in + 1, &rs, NULL, NULL, &tv));
	int ep = epoll_create1(0);
	struct epoll_event ev = {EPOLLIN, {.u64 = 7}}, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev);
	int r = epoll_wait(ep, &got, 1, 0);
	out("epoll %d events %#x data %llu\n", r, got.events, (unsigned long long)got.data.u64);

	char small[16 + 15] __attribute__((aligned(8)));
	report("read 31 bytes", read(in, small, sizeof small));
	char one[32] __attribute__((aligned(8)));
	report("read 32 bytes", read(in, one, sizeof one));
	ioctl(in, FIONREAD, &n);
	out("FIONREAD one %d\n", n);
	char big[256] __attribute__((aligned(8)));
	report("read rest", read(in, big, sizeof big));

	/* A blocked read and epoll_wait woken by another process. */
	pid_t c = fork();
	if (c == 0) {
		usleep(100000);
		touch_write(at("r2"), "2");
		_exit(0);
	}
	r = read(in, big, sizeof big);
	struct inotify_event *e = (struct inotify_event *)big;
	out("blocked read %d: %s %s\n", r, names(e->mask), e->name);
	wait_for(c);
	c = fork();
	if (c == 0) {
		usleep(100000);
		unlink(at("r2"));
		_exit(0);
	}
	r = epoll_wait(ep, &got, 1, 5000);
	out("epoll woken %d\n", r);
	wait_for(c);
	read(in, big, sizeof big);
	close(ep);
	close(in);
}

static void overflow(void)
{
	int in = inotify_init1(IN_NONBLOCK);
	must(in >= 0, "inotify_init1");
	int fa = open(at("qa"), O_WRONLY | O_CREAT, 0644);
	int fb = open(at("qb"), O_WRONLY | O_CREAT, 0644);
	inotify_add_watch(in, dir, IN_MODIFY);
	int max = 0;
	int pf = open("/proc/sys/fs/inotify/max_queued_events", O_RDONLY);
	char nb[32] = {0};
	if (pf >= 0 && read(pf, nb, sizeof nb - 1) > 0)
		max = atoi(nb);
	close(pf);
	out("max_queued_events %d\n", max);
	for (int i = 0; i < max + 10; i++)
		write(i % 2 ? fb : fa, "x", 1);
	static char buf[65536] __attribute__((aligned(8)));
	int events = 0, overflows = 0, last_overflow = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			events++;
			last_overflow = e->mask == IN_Q_OVERFLOW && e->wd == -1;
			overflows += last_overflow;
			p += sizeof *e + e->len;
		}
	}
	out("queued %d overflow events %d last is overflow %d\n", events, overflows, last_overflow);
	write(fa, "y", 1);
	drain("after overflow", in);
	close(fa);
	close(fb);
	unlink(at("qa"));
	unlink(at("qb"));
	close(in);
}

int main(void)
{
	strcpy(dir, "/tmp/t_inotify.XXXXXX");
	must(mkdtemp(dir) != NULL, "mkdtemp");
	int pf = open("/proc/sys/fs/inotify/max_user_instances", O_RDONLY);
	char nb[32] = {0};
	if (pf >= 0)
		read(pf, nb, sizeof nb - 1);
	out("max_user_instances %s", nb);
	close(pf);
	flags_and_errors();
	directory_events();
	file_events();
	root_file();
	reading_and_readiness();
	overflow();
	rmdir(dir);

	/* The same in a directory of the root's writable overlay. */
	strcpy(dir, "/var/tmp/t_inotify.XXXXXX");
	must(mkdtemp(dir) != NULL, "mkdtemp /var/tmp");
	out("== overlay\n");
	directory_events();
	file_events();
	rmdir(dir);
	return failures() ? 1 : 0;
}
