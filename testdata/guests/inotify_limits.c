/*
 * inotify_limits: the sandbox's inotify limits (sandbox only: a native run
 * would count the host user's other instances and watches). Prints how
 * many instances inotify_init1 makes before EMFILE, and how many watches
 * (one per file) inotify_add_watch takes before ENOSPC, next to the values
 * /proc/sys/fs/inotify shows (sentry/tests/inotify.rs).
 */
#include "guest.h"

#include <sys/inotify.h>
#include <sys/stat.h>

static int sysctl(const char *file)
{
	char path[96], buf[32] = {0};
	snprintf(path, sizeof path, "/proc/sys/fs/inotify/%s", file);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	read(fd, buf, sizeof buf - 1);
	close(fd);
	return atoi(buf);
}

int main(void)
{
	int max_instances = sysctl("max_user_instances");
	int max_watches = sysctl("max_user_watches");
	out("max_user_instances %d max_user_watches %d\n", max_instances, max_watches);
	static int fds[1024];
	int n = 0;
	while (n < 1024) {
		int fd = inotify_init1(IN_CLOEXEC);
		if (fd < 0) {
			out("instances: %d, then %s\n", n, errname(errno));
			break;
		}
		fds[n++] = fd;
	}
	for (int i = 1; i < n; i++)
		close(fds[i]);
	/* A closed instance gives its place back. */
	int again = inotify_init1(0);
	out("after closing: %s\n", again >= 0 ? "ok" : errname(errno));
	close(again);

	char dir[] = "/tmp/inotify_limits.XXXXXX";
	must(mkdtemp(dir) != NULL, "mkdtemp");
	int in = fds[0], watches = 0, err = 0;
	char path[128];
	for (int i = 0; i < max_watches + 10; i++) {
		snprintf(path, sizeof path, "%s/%d", dir, i);
		int f = open(path, O_CREAT | O_WRONLY, 0600);
		close(f);
		if (inotify_add_watch(in, path, IN_MODIFY) < 0) {
			err = errno;
			break;
		}
		watches++;
	}
	out("watches: %d, then %s\n", watches, errname(err));
	snprintf(path, sizeof path, "%s/0", dir);
	out("same file again: %s\n", inotify_add_watch(in, path, IN_OPEN) > 0 ? "ok" : errname(errno));
	inotify_rm_watch(in, 1);
	snprintf(path, sizeof path, "%s/%d", dir, watches);
	out("after rm_watch: %s\n", inotify_add_watch(in, path, IN_OPEN) > 0 ? "ok" : errname(errno));
	return failures() ? 1 : 0;
}
