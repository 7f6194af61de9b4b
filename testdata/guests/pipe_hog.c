/*
 * pipe_hog [CHILDREN]: each child fills up to 400 nonblocking pipes until
 * they are full (EAGAIN), counting what it buffered, and stops early when a
 * write or pipe() fails with ENOMEM or EMFILE/ENFILE. The parent prints
 * the totals, then "holding" and keeps every pipe full (the children
 * stopped) until its stdin reaches end of file, so a test can measure the sentry while the pipes
 * are held. Under `sentry --memory`, pipe pages count against the cap: the
 * writes get ENOMEM instead of the sentry growing without bound.
 */
#include "guest.h"

#include <sys/mman.h>

struct report {
	long bytes;
	int pipes;
	int enomem;
};

static struct report fill(void)
{
	struct report r = {0, 0, 0};
	static char page[4096];
	memset(page, 'x', sizeof page);
	for (int i = 0; i < 400; i++) {
		int p[2];
		if (pipe2(p, O_NONBLOCK) != 0) {
			if (errno == ENOMEM)
				r.enomem = 1;
			break;
		}
		r.pipes++;
		for (;;) {
			ssize_t w = write(p[1], page, sizeof page);
			if (w > 0) {
				r.bytes += w;
				continue;
			}
			if (errno == ENOMEM)
				r.enomem = 1;
			break;
		}
		if (r.enomem)
			break;
	}
	return r;
}

int main(int argc, char **argv)
{
	int children = argc > 1 ? atoi(argv[1]) : 1;
	if (children < 1 || children > 64)
		children = 1;
	/* Reports go through shared memory mapped (and touched) before any
	 * pipe is filled, and each child says it is done by stopping itself:
	 * nothing needs memory once the cap is reached. */
	struct report *reports = mmap(NULL, 64 * sizeof(struct report),
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	must(reports != MAP_FAILED, "mmap");
	memset(reports, 0, 64 * sizeof(struct report));
	pid_t pids[64];
	for (int i = 0; i < children; i++) {
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			reports[i] = fill();
			kill(getpid(), SIGSTOP);
			_exit(0);
		}
		pids[i] = pid;
	}
	long bytes = 0;
	int pipes = 0, enomem = 0;
	for (int i = 0; i < children; i++) {
		int st;
		must(waitpid(pids[i], &st, WUNTRACED) == pids[i] && WIFSTOPPED(st),
		     "child stopped");
		bytes += reports[i].bytes;
		pipes += reports[i].pipes;
		enomem += reports[i].enomem;
	}
	out("children %d: %d pipes, %ld KiB buffered, %d saw ENOMEM\n", children,
	    pipes, bytes / 1024, enomem);
	out("holding\n");
	char buf[64];
	while (read(0, buf, sizeof buf) > 0)
		;
	for (int i = 0; i < children; i++) {
		kill(pids[i], SIGKILL);
		wait_for(pids[i]);
	}
	return failures() ? 1 : 0;
}
