/*
 * sandbox_limits MODE: probes the sandbox-wide limits, which only the
 * sentry has (`--max-tasks`, `--max-files`); sandbox only.
 *
 * "tasks": forks children that wait, until fork is refused; prints how
 * many and the errno; then checks that a thread and vfork are refused
 * too, releases the children and forks once more.
 *
 * "files": opens /dev/null until refused (ENFILE past the budget), in the
 * parent and in a child whose inherited copy counts too; then a fork that
 * would copy more descriptors than are left (ENOMEM), and again after
 * closing some.
 */
#include "guest.h"

#include <pthread.h>

static void *nothing(void *arg)
{
	return arg;
}

static int open_until_refused(int *err)
{
	int n = 0;
	while (open("/dev/null", O_RDONLY) >= 0)
		n++;
	*err = errno;
	return n;
}

static void tasks(void)
{
	int go[2];
	must(pipe(go) == 0, "pipe");
	static pid_t kids[10000];
	int n = 0, err = 0;
	for (;;) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			char c;
			close(go[1]);
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		kids[n++] = pid;
		if (n == 10000)
			break;
	}
	out("forked %d, then %s\n", n, errname(err));
	pthread_t th;
	int e = pthread_create(&th, NULL, nothing, NULL);
	out("thread: %s\n", errname(e));
	if (e == 0)
		pthread_join(th, NULL);
	pid_t v = vfork();
	if (v == 0)
		_exit(0);
	out("vfork: %s\n", v < 0 ? errname(errno) : "ok");
	if (v > 0)
		wait_for(v);
	close(go[1]);
	for (int i = 0; i < n; i++)
		wait_for(kids[i]);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	out("after the children: %s\n", pid < 0 ? errname(errno) : "ok");
	if (pid > 0)
		wait_for(pid);
}

static void files(void)
{
	int first[20];
	for (int i = 0; i < 20; i++)
		must((first[i] = open("/dev/null", O_RDONLY)) >= 0, "open");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		int err;
		int n = open_until_refused(&err);
		out("child opened %d, then %s\n", n, err == ENFILE ? "ENFILE" : errname(err));
		_exit(0);
	}
	wait_for(pid);
	int err;
	int n = open_until_refused(&err);
	out("parent opened %d, then %s\n", n, err == ENFILE ? "ENFILE" : errname(err));
	int p[2];
	out("pipe: %s\n", pipe(p) < 0 ? (errno == ENFILE ? "ENFILE" : errname(errno)) : "ok");
	out("dup: %s\n", dup(0) < 0 ? (errno == ENFILE ? "ENFILE" : errname(errno)) : "ok");
	pid = fork();
	if (pid == 0)
		_exit(0);
	out("fork: %s\n", pid < 0 ? errname(errno) : "ok");
	for (int i = 0; i < 20; i++)
		close(first[i]);
	for (int i = 3; i < 3 + 20 + n; i++)
		close(i);
	pid = fork();
	if (pid == 0)
		_exit(0);
	out("fork after closing: %s\n", pid < 0 ? errname(errno) : "ok");
	if (pid > 0)
		wait_for(pid);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "tasks") == 0)
		tasks();
	else if (argc > 1 && strcmp(argv[1], "files") == 0)
		files();
	else
		return 2;
	return failures() ? 1 : 0;
}
