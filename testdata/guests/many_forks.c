/*
 * many_forks: process-table churn.
 *  - 200 sequential fork + _exit(i) + waitpid, each status checked;
 *  - 64 concurrent children, all blocked on a pipe until every one of them
 *    exists, then released at once; each exits with its index and is reaped
 *    with wait() (in whatever order) and matched back to its index.
 */
#include "guest.h"

#define SEQ 200
#define CONC 64

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	int bad = 0;
	for (int i = 0; i < SEQ; i++) {
		pid_t c = fork();
		must(c >= 0, "fork");
		if (c == 0)
			_exit(i);
		int st = wait_for(c);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != i)
			bad++;
	}
	out("sequential: %d forks, %d bad statuses\n", SEQ, bad);
	check(bad == 0, "sequential statuses");

	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t pids[CONC];
	for (int i = 0; i < CONC; i++) {
		pids[i] = fork();
		must(pids[i] >= 0, "fork");
		if (pids[i] == 0) {
			char b;
			close(p[1]);
			while (read(p[0], &b, 1) > 0) {
			}
			_exit(i);
		}
	}
	close(p[0]);
	close(p[1]); /* release them all */
	int seen[CONC] = {0};
	int reaped = 0, wrong = 0;
	for (;;) {
		int st;
		pid_t r = wait(&st);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		reaped++;
		int idx = -1;
		for (int i = 0; i < CONC; i++)
			if (pids[i] == r)
				idx = i;
		if (idx < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != idx || seen[idx])
			wrong++;
		else
			seen[idx] = 1;
	}
	out("concurrent: %d children, %d reaped, %d wrong, then wait: %s\n", CONC, reaped,
	    wrong, errname(errno));
	check(reaped == CONC && wrong == 0, "concurrent children");
	return finish();
}
