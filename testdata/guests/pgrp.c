/*
 * pgrp: process groups and sessions.
 *  - getpgid(0) == getpgrp() == getpgid(getpid()), getsid(0) == getsid(pid);
 *  - a child moved into its own group with setpgid (by itself and by the
 *    parent, the race-free idiom): getpgid(child) == child pid; a group
 *    leader cannot setsid() (EPERM);
 *  - kill(0, SIGUSR1) from that child reaches itself and its own child (same
 *    group) but not the main process (other group);
 *  - kill(-pgid, SIGUSR2) from the main process reaches both members;
 *  - setsid() in a child: new session and group (ids == its pid), a second
 *    setsid() fails with EPERM, and neither it nor its parent can move it
 *    into the parent's group (EPERM: different session);
 *  - ESRCH for gone processes and groups; EINVAL for a negative pgid.
 * kill(-1, ...) is deliberately never used (natively it would signal every
 * process of the user). Pids are only compared, never printed.
 */
#include "guest.h"

static volatile sig_atomic_t usr1, usr2;
static int report_fd = -1;
static void on_usr1(int s)
{
	(void)s;
	usr1++;
}
static void on_usr2(int s)
{
	(void)s;
	usr2++;
	char b = 'R';
	if (report_fd >= 0 && write(report_fd, &b, 1) != 1)
		_exit(50);
}

static void wait_flag(volatile sig_atomic_t *f)
{
	for (int i = 0; i < 500 && !*f; i++)
		sleep_ms(10);
}

static pid_t gone_pid(void)
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0)
		_exit(0);
	wait_for(c);
	return c;
}

static void basics(void)
{
	out("getpgid(0)==getpgrp(): %s\n", getpgid(0) == getpgrp() ? "yes" : "NO");
	out("getpgid(getpid())==getpgrp(): %s\n", getpgid(getpid()) == getpgrp() ? "yes" : "NO");
	out("getsid(0)==getsid(getpid()): %s\n", getsid(0) == getsid(getpid()) ? "yes" : "NO");
	pid_t gone = gone_pid();
	errno = 0;
	show("getpgid(gone pid)", getpgid(gone));
	errno = 0;
	show("getsid(gone pid)", getsid(gone));
	errno = 0;
	show("setpgid(gone pid, 0)", setpgid(gone, 0));
	errno = 0;
	show("kill(gone pid, 0)", kill(gone, 0));
	errno = 0;
	show("kill(-gone pgid, 0)", kill(-gone, 0));
	errno = 0;
	show("setpgid(0, -1)", setpgid(0, -1));
	errno = 0;
	show("kill(getpid(), 0)", kill(getpid(), 0));
	errno = 0;
	show("kill(0, 0)", kill(0, 0));
}

static void groups(void)
{
	/* ready: children -> main ("c", "g", then "k" after kill(0));
	 * go: main -> child (everyone is set up); rep: SIGUSR2 reports */
	int ready[2], go[2], rep[2];
	must(pipe(ready) == 0 && pipe(go) == 0 && pipe(rep) == 0, "pipe");
	on_signal(SIGUSR1, on_usr1, SA_RESTART);
	on_signal(SIGUSR2, on_usr2, SA_RESTART);
	usr1 = usr2 = 0;

	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		close(ready[0]);
		close(go[1]);
		close(rep[0]);
		report_fd = rep[1];
		int code = 0;
		if (setpgid(0, 0) != 0)
			code |= 1;
		if (getpgrp() != getpid())
			code |= 2;
		errno = 0;
		if (setsid() != -1 || errno != EPERM) /* group leader */
			code |= 4;
		pid_t g = fork();
		must(g >= 0, "fork");
		if (g == 0) {
			if (write(ready[1], "g", 1) != 1)
				_exit(1);
			wait_flag(&usr1);
			wait_flag(&usr2);
			_exit(usr1 == 1 && usr2 == 1 ? 0 : 1);
		}
		if (write(ready[1], "c", 1) != 1)
			code |= 8;
		read_byte(go[0]);
		/* refuse kill(0) if we somehow were not moved out of the
		 * main process's group */
		if (getpgrp() == getpid())
			kill(0, SIGUSR1);
		else
			code |= 16;
		if (write(ready[1], "k", 1) != 1)
			code |= 8;
		wait_flag(&usr2); /* the main process's kill(-pgid) */
		int st = wait_for(g);
		if (st != 0)
			code |= 32;
		if (usr1 != 1 || usr2 != 1)
			code |= 64;
		_exit(code);
	}
	close(ready[1]);
	close(go[0]);
	close(rep[1]);
	setpgid(c, c); /* also done by the child; whoever is first wins */
	out("child's group: getpgid(child)==child: %s\n", getpgid(c) == c ? "yes" : "NO");
	char a = read_byte(ready[0]);
	char b = read_byte(ready[0]);
	out("group members ready: %s\n",
	    (a == 'c' && b == 'g') || (a == 'g' && b == 'c') ? "yes" : "NO");
	if (write(go[1], "p", 1) != 1)
		check(0, "write");
	char k = read_byte(ready[0]);
	out("child did kill(0, SIGUSR1): %s\n", k == 'k' ? "yes" : "NO");
	int r = kill(-c, SIGUSR2);
	out("kill(-pgid, SIGUSR2)=%d\n", r);
	char x = read_byte(rep[0]);
	char y = read_byte(rep[0]);
	out("SIGUSR2 reports from the group: %c%c\n", x, y);
	int st = wait_for(c);
	out("group child: %s (0 = setpgid, setsid EPERM, kill(0) and kill(-pgid) all ok)\n",
	    describe_status(st));
	check(st == 0, "group child");
	sleep_ms(10);
	out("main process got SIGUSR1 from kill(0) in the other group: %s\n", usr1 ? "YES" : "no");
	check(usr1 == 0, "kill(0) stays in the group");
	close(ready[0]);
	close(go[1]);
	close(rep[0]);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

static void sessions(void)
{
	int ready[2], go[2];
	must(pipe(ready) == 0 && pipe(go) == 0, "pipe");
	pid_t parent_pgrp = getpgrp();
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int code = 0;
		pid_t s = setsid();
		if (s != getpid())
			code |= 1;
		if (getsid(0) != getpid() || getpgrp() != getpid())
			code |= 2;
		errno = 0;
		if (setsid() != -1 || errno != EPERM)
			code |= 4;
		errno = 0;
		if (setpgid(0, parent_pgrp) != -1 || errno != EPERM)
			code |= 8;
		if (write(ready[1], "s", 1) != 1)
			code |= 16;
		read_byte(go[0]);
		_exit(code);
	}
	read_byte(ready[0]);
	out("setsid child: getsid(child)==child: %s, getpgid(child)==child: %s\n",
	    getsid(c) == c ? "yes" : "NO", getpgid(c) == c ? "yes" : "NO");
	out("setsid child: in another session than us: %s\n", getsid(c) != getsid(0) ? "yes" : "NO");
	errno = 0;
	show("setpgid(child in another session, our group)", setpgid(c, parent_pgrp));
	if (write(go[1], "g", 1) != 1)
		check(0, "write");
	int st = wait_for(c);
	out("setsid child: %s (0 = setsid ok, second setsid EPERM, setpgid EPERM)\n",
	    describe_status(st));
	check(st == 0, "setsid child");
	close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	basics();
	groups();
	sessions();
	return finish();
}
