/*
 * fork_refused [TRIES [MAX]]: calls an unknown syscall (which the sentry
 * logs once), then forks children that wait until the system refuses
 * another fork (EAGAIN or ENOMEM), then asks for TRIES more forks, all
 * refused, and reports how they failed. In the sandbox each refusal comes
 * from a limit of the sentry (vCPUs, tasks) that it logs as a warning: the
 * log must stay short however many times the guest asks. Natively it
 * stops at 200 children (it must not exhaust the host) and reports whatever
 * it saw, so it only prints counts that do not depend on the host. MAX
 * (default 5000, 200 natively) bounds the children.
 */
#include "guest.h"

int main(int argc, char **argv)
{
	int tries = argc > 1 ? atoi(argv[1]) : 10;
	int limit = getpid() == 1 ? 5000 : 200;
	if (argc > 2 && atoi(argv[2]) < limit)
		limit = atoi(argv[2]);
	long u = syscall(999);
	out("syscall 999: %ld %s\n", u, errname(errno));
	int go[2];
	must(pipe(go) == 0, "pipe");
	static pid_t kids[5000];
	int n = 0, refused_err = 0;
	while (n < limit) {
		pid_t pid = fork();
		if (pid < 0) {
			refused_err = errno;
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
	}
	int refused = 0;
	if (refused_err) {
		for (int i = 0; i < tries; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(0);
			if (pid < 0)
				refused++;
			else
				wait_for(pid);
		}
	}
	close(go[1]);
	for (int i = 0; i < n; i++)
		wait_for(kids[i]);
	out("children: %s\n", refused_err ? "until fork was refused" : "limit reached first");
	if (refused_err)
		out("then %d of %d more forks refused\n", refused, tries);
	return 0;
}
