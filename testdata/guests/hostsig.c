/*
 * hostsig: a guest for the host-signal tests (sentry/tests/hostsig.rs),
 * which send signals to the sentry process with kill(2) and read what the
 * guest prints. Each mode prints "ready" once its handlers are in place,
 * so the test never signals too early.
 *
 *   handlers  handlers for SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
 *             SIGUSR2, SIGWINCH, SIGCONT and SIGTSTP; each signal taken
 *             prints "got NAME code=C pid0=P" (si_code, and whether si_pid
 *             is 0) then "ready"; SIGTERM then exits 42.
 *   plain     no handler but SIGWINCH's (prints "winch: alive", exits 7);
 *             as the sandbox's init, SIGTERM and SIGINT without handlers
 *             must not kill it.
 *   yes       writes "y\n" to stdout until a write fails, then prints the
 *             errno on stderr and exits 3 (reached only when SIGPIPE does
 *             not kill it).
 *   yes-ign   the same with SIGPIPE ignored.
 *   yes-hnd   the same with a SIGPIPE handler; prints whether it ran, exits 4.
 *
 * Without arguments it prints one line and exits 0 (the native sanity run).
 */
#include "guest.h"

static volatile sig_atomic_t queue_signo[64];
static volatile sig_atomic_t queue_code[64];
static volatile sig_atomic_t queue_pid0[64];
static volatile sig_atomic_t queued;

static const int forwarded[] = { SIGINT,  SIGTERM,  SIGHUP,  SIGQUIT, SIGUSR1,
				 SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP };
#define NFORWARDED (int)(sizeof forwarded / sizeof forwarded[0])

static void record(int s, siginfo_t *si, void *uc)
{
	(void)uc;
	if (queued < 64) {
		queue_signo[queued] = s;
		queue_code[queued] = si->si_code;
		queue_pid0[queued] = si->si_pid == 0;
		queued++;
	}
}

static int handlers(void)
{
	sigset_t block, wait_mask;
	sigemptyset(&block);
	for (int i = 0; i < NFORWARDED; i++)
		sigaddset(&block, forwarded[i]);
	/* Taken only inside sigsuspend: no signal can slip in between the
	 * check and the sleep. */
	must(sigprocmask(SIG_BLOCK, &block, &wait_mask) == 0, "sigprocmask");
	for (int i = 0; i < NFORWARDED; i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = record;
		sa.sa_flags = SA_SIGINFO;
		sigfillset(&sa.sa_mask);
		must(sigaction(forwarded[i], &sa, NULL) == 0, "sigaction");
	}
	out("ready\n");
	int done = 0;
	for (;;) {
		sigsuspend(&wait_mask);
		while (done < queued) {
			int s = queue_signo[done];
			out("got %s code=%d pid0=%d\n", signame(s), (int)queue_code[done],
			    (int)queue_pid0[done]);
			done++;
			if (s == SIGTERM) {
				out("exiting\n");
				return 42;
			}
			out("ready\n");
		}
	}
}

static void on_winch(int s)
{
	(void)s;
	static const char msg[] = "winch: alive\n";
	ssize_t w = write(1, msg, sizeof msg - 1);
	(void)w;
	_exit(7);
}

static int plain(void)
{
	signal(SIGWINCH, on_winch);
	out("ready\n");
	for (;;)
		pause();
	return 0;
}

static volatile sig_atomic_t pipe_handler_ran;

static void on_pipe(int s)
{
	(void)s;
	pipe_handler_ran = 1;
}

static int yes(int mode)
{
	if (mode == 1)
		signal(SIGPIPE, SIG_IGN);
	if (mode == 2)
		signal(SIGPIPE, on_pipe);
	for (;;) {
		ssize_t w = write(1, "y\n", 2);
		if (w < 0) {
			int e = errno;
			char line[128];
			int n = snprintf(line, sizeof line, "write: %s, handler ran: %d\n",
					 errname(e), (int)pipe_handler_ran);
			ssize_t r = write(2, line, (size_t)n);
			(void)r;
			return mode == 2 ? 4 : 3;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		out("hostsig: no mode given, nothing to do\n");
		return 0;
	}
	if (!strcmp(argv[1], "handlers"))
		return handlers();
	if (!strcmp(argv[1], "plain"))
		return plain();
	if (!strcmp(argv[1], "yes"))
		return yes(0);
	if (!strcmp(argv[1], "yes-ign"))
		return yes(1);
	if (!strcmp(argv[1], "yes-hnd"))
		return yes(2);
	out("hostsig: unknown mode %s\n", argv[1]);
	return 2;
}
