/*
 * exit_signal: the signal a parent gets when a child terminates.
 *  - SIGCHLD with an SA_SIGINFO handler: once per child (children reaped one
 *    at a time), si_code CLD_EXITED and si_status = the exit code;
 *  - a raw clone() child with exit signal SIGUSR2 delivers SIGUSR2 (and no
 *    SIGCHLD) and is reaped with __WALL;
 *  - SIGCHLD set to SIG_IGN: children are reaped automatically, a blocking
 *    wait returns ECHILD once they are all gone;
 *  - SA_NOCLDWAIT with a handler: auto-reaped too (wait -> ECHILD), but on
 *    Linux the handler still runs.
 */
#include "guest.h"

static volatile sig_atomic_t chld_count, usr2_count, last_code, last_status;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	chld_count++;
	last_code = si->si_code;
	last_status = si->si_status;
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

/* Signals from a child's exit are queued before the child becomes waitable,
 * but be lenient with delivery time. */
static void settle(volatile sig_atomic_t *count, int want)
{
	for (int i = 0; i < 100 && *count < want; i++)
		sleep_ms(10);
}

static void chld_handler(int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	must(sigaction(SIGCHLD, &sa, NULL) == 0, "sigaction(SIGCHLD)");
}

int main(void)
{
	/* 1. SIGCHLD handler */
	chld_handler(SA_RESTART);
	for (int i = 0; i < 3; i++) {
		pid_t c = fork();
		must(c >= 0, "fork");
		if (c == 0)
			_exit(30 + i);
		int st = wait_for(c);
		settle(&chld_count, i + 1);
		out("child %d: %s; SIGCHLD count=%d si_code=%s si_status=%d\n", i,
		    describe_status(st), (int)chld_count,
		    last_code == CLD_EXITED ? "CLD_EXITED" : "other", (int)last_status);
	}
	check(chld_count == 3, "one SIGCHLD per child");

	/* 2. exit signal SIGUSR2 */
	on_signal(SIGUSR2, on_usr2, SA_RESTART);
	chld_count = 0;
	long c = syscall(SYS_clone, (unsigned long)SIGUSR2, 0, 0, 0, 0);
	must(c >= 0, "clone");
	if (c == 0)
		syscall(SYS_exit_group, 5);
	int st = 0;
	pid_t r;
	do {
		r = waitpid((pid_t)c, &st, __WALL);
	} while (r < 0 && errno == EINTR);
	settle(&usr2_count, 1);
	out("clone(exit_signal=SIGUSR2): %s, %s; SIGUSR2 count=%d SIGCHLD count=%d\n",
	    r == c ? "match" : "MISMATCH", describe_status(st), (int)usr2_count,
	    (int)chld_count);
	check(usr2_count == 1 && chld_count == 0, "exit signal SIGUSR2");

	/* 3. SIGCHLD ignored: auto-reap */
	signal(SIGCHLD, SIG_IGN);
	for (int i = 0; i < 3; i++) {
		pid_t k = fork();
		must(k >= 0, "fork");
		if (k == 0) {
			sleep_ms(10 * i);
			_exit(1);
		}
	}
	errno = 0;
	r = waitpid(-1, &st, 0);
	out("SIGCHLD=SIG_IGN, 3 children: waitpid(-1)=%d %s\n", (int)r, errname(errno));
	check(r == -1 && errno == ECHILD, "auto-reap with SIG_IGN");

	/* 4. SA_NOCLDWAIT with a handler */
	chld_count = 0;
	chld_handler(SA_NOCLDWAIT | SA_RESTART);
	pid_t k = fork();
	must(k >= 0, "fork");
	if (k == 0)
		_exit(2);
	errno = 0;
	do {
		r = waitpid(-1, &st, 0);
	} while (r < 0 && errno == EINTR);
	int e = errno;
	settle(&chld_count, 1);
	out("SA_NOCLDWAIT: waitpid(-1)=%d %s; handler ran %d time(s)\n", (int)r,
	    errname(e), (int)chld_count);
	check(r == -1 && e == ECHILD, "auto-reap with SA_NOCLDWAIT");

	signal(SIGCHLD, SIG_DFL);
	return finish();
}
