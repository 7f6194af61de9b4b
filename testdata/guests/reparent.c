/*
 * reparent: orphan reparenting and parent-death signals.
 *  - The main process P becomes a child subreaper (PR_SET_CHILD_SUBREAPER;
 *    PR_GET_CHILD_SUBREAPER reads it back). P forks C, C forks G, C exits:
 *    G is reparented to P, so G's getppid() changes from C's pid to P's pid
 *    (printed as "match") and P can waitpid() for G directly.
 *  - PR_SET_PDEATHSIG: C forks D; D asks for SIGUSR1 on parent death
 *    (PR_GET_PDEATHSIG reads it back; a child D forks does not inherit it);
 *    when C exits D gets SIGUSR1 and reports through a pipe; P, the
 *    subreaper, then reaps D.
 * Pids are only compared, never printed.
 */
#include "guest.h"
#include <sys/prctl.h>

static int report_fd = -1;
static void on_usr1(int sig)
{
	(void)sig;
	char b = 'U';
	if (write(report_fd, &b, 1) != 1)
		_exit(3);
	_exit(0);
}

static void subreaper(pid_t me)
{
	int go[2], rep[2], chk[2];
	must(pipe(go) == 0 && pipe(rep) == 0 && pipe(chk) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		pid_t cpid = getpid();
		pid_t g = fork();
		must(g >= 0, "fork");
		if (g == 0) {
			close(go[1]);
			int code = 0;
			if (getppid() != cpid)
				code |= 1;
			if (write(chk[1], "c", 1) != 1) /* C may exit now */
				code |= 4;
			read_byte(go[0]); /* wait until P has reaped C */
			if (getppid() != me)
				code |= 2;
			_exit(code);
		}
		if (write(rep[1], &g, sizeof g) != sizeof g)
			_exit(1);
		read_byte(chk[0]); /* G has checked getppid() */
		_exit(0);
	}
	close(go[0]);
	close(rep[1]);
	close(chk[0]);
	close(chk[1]);
	pid_t g = -1;
	must(read(rep[0], &g, sizeof g) == sizeof g, "read grandchild pid");
	int st = wait_for(c);
	out("subreaper: middle child %s\n", describe_status(st));
	check(st == 0, "middle child status");
	check(write(go[1], "x", 1) == 1, "release grandchild");
	int gst = 0;
	pid_t r = waitpid(g, &gst, 0);
	out("subreaper: waitpid(grandchild) %s, %s\n", r == g ? "match" : "MISMATCH",
	    describe_status(gst));
	check(r == g, "subreaper can wait for the orphan");
	if (r == g && WIFEXITED(gst)) {
		out("grandchild: getppid() before = parent: %s\n",
		    WEXITSTATUS(gst) & 1 ? "NO" : "match");
		out("grandchild: getppid() after parent exit = subreaper: %s\n",
		    WEXITSTATUS(gst) & 2 ? "NO" : "match");
		check(WEXITSTATUS(gst) == 0, "grandchild getppid");
	}
	close(go[1]);
	close(rep[0]);
}

static void pdeathsig(void)
{
	int ready[2], rep[2];
	must(pipe(ready) == 0 && pipe(rep) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		pid_t cpid = getpid();
		pid_t d = fork();
		must(d >= 0, "fork");
		if (d == 0) {
			close(ready[0]);
			close(rep[0]);
			report_fd = rep[1];
			on_signal(SIGUSR1, on_usr1, 0);
			prctl(PR_SET_PDEATHSIG, SIGUSR1);
			int v = -1;
			prctl(PR_GET_PDEATHSIG, &v);
			char b = v == SIGUSR1 ? 'G' : 'g';
			if (write(rep[1], &b, 1) != 1)
				_exit(4);
			pid_t e = fork();
			must(e >= 0, "fork");
			if (e == 0) {
				int ev = -1;
				prctl(PR_GET_PDEATHSIG, &ev);
				_exit(ev);
			}
			int est = wait_for(e);
			b = est == 0 ? 'E' : 'e';
			if (write(rep[1], &b, 1) != 1)
				_exit(4);
			if (getppid() != cpid)
				_exit(5);
			if (write(ready[1], "r", 1) != 1)
				_exit(6);
			for (int i = 0; i < 500; i++)
				sleep_ms(10); /* the handler exits */
			_exit(7);
		}
		close(ready[1]);
		read_byte(ready[0]); /* D is armed */
		_exit(0);
	}
	close(ready[0]);
	close(ready[1]);
	close(rep[1]);
	int st = wait_for(c);
	out("pdeathsig: middle child %s\n", describe_status(st));
	char b1 = read_byte(rep[0]);
	char b2 = read_byte(rep[0]);
	char b3 = read_byte(rep[0]);
	out("pdeathsig: PR_GET_PDEATHSIG %s\n", b1 == 'G' ? "is SIGUSR1" : "WRONG");
	out("pdeathsig: fork child inherits it: %s\n", b2 == 'E' ? "no (cleared)" : "YES");
	out("pdeathsig: SIGUSR1 on parent exit: %s\n", b3 == 'U' ? "received" : "NOT received");
	check(b1 == 'G' && b2 == 'E' && b3 == 'U', "pdeathsig");
	int dst = 0;
	pid_t r = waitpid(-1, &dst, 0);
	out("pdeathsig: subreaper reaped the orphan: %s, %s\n", r > 0 ? "yes" : errname(errno),
	    describe_status(dst));
	check(r > 0 && dst == 0, "reap orphan");
	close(rep[0]);
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	int r = prctl(PR_SET_CHILD_SUBREAPER, 1);
	int v = -1;
	prctl(PR_GET_CHILD_SUBREAPER, &v);
	out("PR_SET_CHILD_SUBREAPER=%d, PR_GET_CHILD_SUBREAPER -> %d\n", r, v);
	subreaper(getpid());
	pdeathsig();
	errno = 0;
	pid_t w = waitpid(-1, NULL, WNOHANG);
	out("no children left: %d %s\n", (int)w, errname(errno));
	return finish();
}
