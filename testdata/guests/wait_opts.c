/*
 * wait_opts: the wait family and its options.
 *  - WNOHANG on a running child returns 0; the child's later exit is reaped;
 *  - ECHILD from waitpid/wait/waitid with no children; EINVAL for bad flags;
 *  - WNOWAIT (waitid) leaves the child waitable;
 *  - waitid P_PID / P_ALL / P_PGID with WEXITED and the siginfo fields
 *    (si_signo, si_code CLD_EXITED/CLD_KILLED/CLD_STOPPED/CLD_CONTINUED,
 *    si_status; si_pid is compared with fork's result, printed as "match");
 *  - WUNTRACED/WSTOPPED and WCONTINUED with kill(SIGSTOP)/kill(SIGCONT);
 *  - __WCLONE/__WALL with children from a raw clone() whose exit signal is
 *    0 or SIGUSR1 (not SIGCHLD), and __WCLONE on a normal child;
 *  - a blocking waitpid interrupted by a signal handler fails with EINTR,
 *    and is transparently restarted with SA_RESTART.
 * Output never contains pids.
 */
#include "guest.h"

static volatile sig_atomic_t usr1_count, usr2_count;
static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}
static void on_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

static pid_t fork_exit(int code)
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0)
		_exit(code);
	return c;
}

/* Child that waits (in pause) until it is killed. */
static pid_t fork_pauser(void)
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		for (;;)
			pause();
	}
	return c;
}

static void print_si(const char *what, const siginfo_t *si, pid_t expect)
{
	const char *code;
	switch (si->si_code) {
	case CLD_EXITED: code = "CLD_EXITED"; break;
	case CLD_KILLED: code = "CLD_KILLED"; break;
	case CLD_DUMPED: code = "CLD_DUMPED"; break;
	case CLD_STOPPED: code = "CLD_STOPPED"; break;
	case CLD_CONTINUED: code = "CLD_CONTINUED"; break;
	default: code = "other"; break;
	}
	char status[32];
	if (si->si_code == CLD_EXITED)
		snprintf(status, sizeof status, "%d", si->si_status);
	else
		snprintf(status, sizeof status, "%s", signame(si->si_status));
	out("%s: si_signo=%s si_code=%s si_status=%s si_pid=%s\n", what,
	    signame(si->si_signo), code, status,
	    si->si_pid == expect ? "match" : "MISMATCH");
	check(si->si_pid == expect, "si_pid");
}

static void wnohang(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		char b;
		close(p[1]);
		while (read(p[0], &b, 1) > 0) {
		}
		_exit(5);
	}
	close(p[0]);
	int st = -1;
	pid_t r = waitpid(c, &st, WNOHANG);
	out("WNOHANG, child running: ret=%d\n", (int)r);
	check(r == 0, "WNOHANG returns 0");
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int wr = waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG);
	out("waitid WNOHANG, child running: ret=%d si_pid=%d\n", wr, (int)si.si_pid);
	close(p[1]);
	st = wait_for(c);
	out("after closing the pipe: child %s\n", describe_status(st));
	check(WIFEXITED(st) && WEXITSTATUS(st) == 5, "child status 5");
}

static void no_children(void)
{
	int st;
	errno = 0;
	pid_t r = waitpid(-1, &st, 0);
	out("no children: waitpid(-1)=%d %s\n", (int)r, errname(errno));
	errno = 0;
	r = waitpid(-1, &st, WNOHANG);
	out("no children: waitpid(-1, WNOHANG)=%d %s\n", (int)r, errname(errno));
	errno = 0;
	r = wait(NULL);
	out("no children: wait()=%d %s\n", (int)r, errname(errno));
	siginfo_t si;
	errno = 0;
	int w = waitid(P_ALL, 0, &si, WEXITED);
	out("no children: waitid(P_ALL)=%d %s\n", w, errname(errno));
	errno = 0;
	r = waitpid(-1, &st, 0x1000000 /* WNOWAIT: invalid for wait4 */);
	out("waitpid with WNOWAIT=%d %s\n", (int)r, errname(errno));
	errno = 0;
	w = waitid(P_ALL, 0, &si, WNOHANG /* no WEXITED etc. */);
	out("waitid without WEXITED/WSTOPPED/WCONTINUED=%d %s\n", w, errname(errno));
}

static void wnowait(void)
{
	pid_t c = fork_exit(7);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int w = waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT);
	check(w == 0, "waitid WNOWAIT");
	print_si("waitid(P_PID, WEXITED|WNOWAIT)", &si, c);
	memset(&si, 0, sizeof si);
	w = waitid(P_ALL, 0, &si, WEXITED | WNOWAIT);
	check(w == 0, "waitid WNOWAIT again");
	print_si("again, waitid(P_ALL, WEXITED|WNOWAIT)", &si, c);
	int st = 0;
	pid_t r = waitpid(c, &st, 0);
	out("then waitpid: %s, %s\n", r == c ? "match" : "MISMATCH", describe_status(st));
	check(r == c && WIFEXITED(st) && WEXITSTATUS(st) == 7, "waitpid after WNOWAIT");
	errno = 0;
	r = waitpid(c, &st, WNOHANG);
	out("and again: %d %s\n", (int)r, errname(errno));
}

static void waitid_kinds(void)
{
	siginfo_t si;
	pid_t c = fork_exit(10);
	memset(&si, 0, sizeof si);
	check(waitid(P_PID, (id_t)c, &si, WEXITED) == 0, "waitid P_PID");
	print_si("waitid(P_PID)", &si, c);

	c = fork_exit(11);
	memset(&si, 0, sizeof si);
	check(waitid(P_ALL, 0, &si, WEXITED) == 0, "waitid P_ALL");
	print_si("waitid(P_ALL)", &si, c);

	c = fork_exit(12);
	memset(&si, 0, sizeof si);
	check(waitid(P_PGID, (id_t)getpgrp(), &si, WEXITED) == 0, "waitid P_PGID");
	print_si("waitid(P_PGID, own group)", &si, c);

	/* a child in its own process group is not found via our group */
	int p[2];
	must(pipe(p) == 0, "pipe");
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		char b;
		close(p[1]);
		setpgid(0, 0);
		while (read(p[0], &b, 1) > 0) {
		}
		_exit(13);
	}
	close(p[0]);
	check(setpgid(c, c) == 0, "setpgid(child)");
	errno = 0;
	memset(&si, 0, sizeof si);
	int w = waitid(P_PGID, (id_t)getpgrp(), &si, WEXITED | WNOHANG);
	out("waitid(P_PGID, own group), child elsewhere: %d %s\n", w, errname(errno));
	close(p[1]);
	memset(&si, 0, sizeof si);
	check(waitid(P_PGID, (id_t)c, &si, WEXITED) == 0, "waitid P_PGID child group");
	print_si("waitid(P_PGID, child's group)", &si, c);

	c = fork_pauser();
	kill(c, SIGTERM);
	memset(&si, 0, sizeof si);
	check(waitid(P_PID, (id_t)c, &si, WEXITED) == 0, "waitid killed");
	print_si("waitid, SIGTERM'd child", &si, c);

	c = fork_pauser();
	kill(c, SIGKILL);
	int st = wait_for(c);
	out("waitpid, SIGKILL'd child: %s\n", describe_status(st));
}

static void stop_continue(void)
{
	pid_t c = fork_pauser();
	int st = 0;
	kill(c, SIGSTOP);
	pid_t r = waitpid(c, &st, WUNTRACED);
	out("waitpid(WUNTRACED): %s, %s\n", r == c ? "match" : "MISMATCH", describe_status(st));
	check(r == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "stopped");
	r = waitpid(c, &st, WUNTRACED | WNOHANG);
	out("stop already reported, WNOHANG: %d\n", (int)r);
	kill(c, SIGCONT);
	r = waitpid(c, &st, WCONTINUED);
	out("waitpid(WCONTINUED): %s, %s\n", r == c ? "match" : "MISMATCH", describe_status(st));
	check(r == c && WIFCONTINUED(st), "continued");

	siginfo_t si;
	kill(c, SIGSTOP);
	memset(&si, 0, sizeof si);
	check(waitid(P_PID, (id_t)c, &si, WSTOPPED) == 0, "waitid WSTOPPED");
	print_si("waitid(WSTOPPED)", &si, c);
	kill(c, SIGCONT);
	memset(&si, 0, sizeof si);
	check(waitid(P_PID, (id_t)c, &si, WCONTINUED) == 0, "waitid WCONTINUED");
	print_si("waitid(WCONTINUED)", &si, c);

	kill(c, SIGSTOP);
	memset(&si, 0, sizeof si);
	check(waitid(P_PID, (id_t)c, &si, WSTOPPED) == 0, "waitid WSTOPPED 2");
	kill(c, SIGKILL);
	st = wait_for(c);
	out("SIGKILL while stopped: %s\n", describe_status(st));
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "killed while stopped");
}

/* Raw clone without CLONE_VM: a fork whose exit signal is `sig`. The child
 * must not use libc state that caches the thread id (e.g. raise()). */
static pid_t clone_exit(int sig, int code)
{
	long c = syscall(SYS_clone, (unsigned long)sig, 0, 0, 0, 0);
	must(c >= 0, "clone");
	if (c == 0)
		syscall(SYS_exit_group, code);
	return (pid_t)c;
}

static void clone_children(void)
{
	int st = 0;
	pid_t c = clone_exit(0, 21);
	errno = 0;
	pid_t r = waitpid(c, &st, WNOHANG);
	out("exit_signal 0 child, waitpid without __WCLONE: %d %s\n", (int)r, errname(errno));
	r = waitpid(c, &st, __WCLONE);
	out("exit_signal 0 child, waitpid(__WCLONE): %s, %s\n",
	    r == c ? "match" : "MISMATCH", describe_status(st));
	check(r == c && WIFEXITED(st) && WEXITSTATUS(st) == 21, "__WCLONE");

	on_signal(SIGUSR1, on_usr1, SA_RESTART);
	c = clone_exit(SIGUSR1, 22);
	errno = 0;
	r = waitpid(c, &st, 0);
	out("exit_signal SIGUSR1 child, blocking waitpid without __WCLONE: %d %s\n",
	    (int)r, errname(errno));
	r = waitpid(c, &st, __WALL);
	out("exit_signal SIGUSR1 child, waitpid(__WALL): %s, %s\n",
	    r == c ? "match" : "MISMATCH", describe_status(st));
	check(r == c && WIFEXITED(st) && WEXITSTATUS(st) == 22, "__WALL");
	for (int i = 0; i < 100 && usr1_count == 0; i++)
		sleep_ms(10);
	out("SIGUSR1 received at child exit: %d\n", (int)usr1_count);

	c = fork_exit(23);
	errno = 0;
	r = waitpid(c, &st, __WCLONE);
	out("fork child, waitpid(__WCLONE): %d %s\n", (int)r, errname(errno));
	r = waitpid(c, &st, __WALL);
	out("fork child, waitpid(__WALL): %s, %s\n", r == c ? "match" : "MISMATCH",
	    describe_status(st));
	check(r == c && WIFEXITED(st) && WEXITSTATUS(st) == 23, "fork child __WALL");
}

static void interrupted(void)
{
	/* The child signals us every 10 ms until told to stop through the pipe,
	 * so some signal is sure to arrive while we block in waitpid. */
	on_signal(SIGUSR2, on_usr2, 0);
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t parent = getpid();
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		close(p[1]);
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		for (int i = 0; i < 1000; i++) {
			char b;
			kill(parent, SIGUSR2);
			sleep_ms(10);
			if (read(p[0], &b, 1) == 1)
				_exit(0);
		}
		_exit(1);
	}
	close(p[0]);
	int st;
	errno = 0;
	pid_t r = waitpid(c, &st, 0);
	out("waitpid interrupted by a handler without SA_RESTART: %d %s\n", (int)r,
	    errname(errno));
	check(r == -1 && errno == EINTR, "EINTR");
	check(write(p[1], "x", 1) == 1, "write stop byte");
	close(p[1]);
	st = wait_for(c);
	out("signalling child: %s\n", describe_status(st));

	/* With SA_RESTART the wait is restarted and returns the child. */
	on_signal(SIGUSR2, on_usr2, SA_RESTART);
	usr2_count = 0;
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		for (int i = 0; i < 3; i++) {
			sleep_ms(10);
			kill(parent, SIGUSR2);
		}
		sleep_ms(10);
		_exit(9);
	}
	errno = 0;
	r = waitpid(c, &st, 0);
	if (r < 0) {
		out("waitpid with SA_RESTART handler failed: %s\n", errname(errno));
		check(0, "SA_RESTART waitpid");
		st = wait_for(c);
		r = c;
	}
	out("waitpid with SA_RESTART handler: %s, %s, handler ran: %s\n",
	    r == c ? "match" : "MISMATCH", describe_status(st), usr2_count > 0 ? "yes" : "no");
	signal(SIGUSR2, SIG_DFL);
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	wnohang();
	no_children();
	wnowait();
	waitid_kinds();
	stop_continue();
	clone_children();
	interrupted();
	no_children();
	return finish();
}
