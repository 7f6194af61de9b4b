/*
 * init_signals: the sandbox's pid 1 behaves as the init of a pid namespace
 * (Linux's SIGNAL_UNKILLABLE): a signal from inside whose action is the
 * default is dropped, SIGKILL and SIGSTOP included, whichever call sends it
 * (kill, tkill, tgkill, sigqueue, pidfd_send_signal, process-group kills
 * and kill(-1) broadcasts); a handler still runs; a signal blocked meanwhile
 * stays pending and is dropped once unblocked; SIGPIPE from its own write
 * is dropped too. A fault in init itself still kills it: the guest ends
 * with a NULL store and must die of SIGSEGV.
 *
 * Only meaningful as pid 1: run natively (not pid 1) it prints one line
 * and exits 0 without sending anything (it must never signal the host's
 * init or broadcast on the host).
 */
#include "guest.h"

#include <sys/syscall.h>

static volatile int usr2_seen;

static void on_usr2(int s)
{
	(void)s;
	usr2_seen++;
}

/* Runs `send` in a child and reports how the call went there. */
static void from_child(const char *what, int (*send)(void))
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		close(p[0]);
		int r = send();
		int e = r < 0 ? errno : 0;
		must(write(p[1], &e, sizeof e) == sizeof e, "report");
		_exit(0);
	}
	close(p[1]);
	int e = -1;
	if (read(p[0], &e, sizeof e) != sizeof e)
		e = -1;
	close(p[0]);
	int st = wait_for(pid);
	out("%s: %s; child %s; init still here\n", what,
	    e < 0 ? "no report" : e == 0 ? "sent" : errname(e), describe_status(st));
}

static int kill_kill(void) { return kill(1, SIGKILL); }
static int kill_term(void) { return kill(1, SIGTERM); }
static int kill_stop(void) { return kill(1, SIGSTOP); }
static int kill_segv(void) { return kill(1, SIGSEGV); }
static int kill_usr1(void) { return kill(1, SIGUSR1); }
static int tkill_kill(void) { return (int)syscall(SYS_tkill, 1, SIGKILL); }
static int tgkill_term(void) { return (int)syscall(SYS_tgkill, 1, 1, SIGTERM); }
static int queue_usr1(void)
{
	union sigval v = {.sival_int = 7};
	return sigqueue(1, SIGUSR1, v);
}
static int pidfd_kill(void)
{
	int fd = (int)syscall(SYS_pidfd_open, 1, 0);
	if (fd < 0)
		return -1;
	return (int)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
}
static int group_term(void)
{
	/* Init's process group: the child is in it too and dies. */
	return kill(0, SIGTERM);
}
static int pidfd_group_kill(void)
{
	/* PIDFD_SIGNAL_PROCESS_GROUP: init's group (1), this child included
	 * (kill(-1) would be a broadcast, not group 1). */
	int fd = (int)syscall(SYS_pidfd_open, 1, 0);
	if (fd < 0)
		return -1;
	return (int)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 4);
}
static int broadcast_kill(void)
{
	/* Everyone but init and the sender. */
	return kill(-1, SIGKILL);
}
static int kill_usr2(void) { return kill(1, SIGUSR2); }

int main(void)
{
	if (getpid() != 1) {
		out("not pid 1: nothing to check\n");
		return 0;
	}
	no_core_dumps();
	from_child("kill(1, SIGKILL)", kill_kill);
	from_child("kill(1, SIGTERM)", kill_term);
	from_child("kill(1, SIGSTOP)", kill_stop);
	from_child("kill(1, SIGSEGV)", kill_segv);
	from_child("kill(1, SIGUSR1)", kill_usr1);
	from_child("tkill(1, SIGKILL)", tkill_kill);
	from_child("tgkill(1, 1, SIGTERM)", tgkill_term);
	from_child("sigqueue(1, SIGUSR1)", queue_usr1);
	from_child("pidfd_send_signal(SIGKILL)", pidfd_kill);
	from_child("kill(0, SIGTERM)", group_term);
	from_child("pidfd_send_signal(SIGKILL, PIDFD_SIGNAL_PROCESS_GROUP)", pidfd_group_kill);
	from_child("kill(-1, SIGKILL)", broadcast_kill);

	/* A caught signal is delivered. */
	signal(SIGUSR2, on_usr2);
	from_child("kill(1, SIGUSR2) with a handler", kill_usr2);
	out("handler ran %d time(s)\n", usr2_seen);

	/* Blocked: pending, then dropped when unblocked. */
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	from_child("kill(1, SIGTERM) while blocked", kill_term);
	sigpending(&pending);
	out("SIGTERM pending while blocked: %d\n", sigismember(&pending, SIGTERM));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	sigpending(&pending);
	out("after unblocking: pending %d, init still here\n",
	    sigismember(&pending, SIGTERM));

	/* Its own signal: raise() with the default action is dropped too. */
	raise(SIGTERM);
	out("raise(SIGTERM): init still here\n");

	/* SIGPIPE from writing to a pipe nobody reads. */
	int p[2];
	must(pipe(p) == 0, "pipe");
	close(p[0]);
	ssize_t w = write(p[1], "x", 1);
	out("write to a closed pipe: %zd %s; init still here\n", w, errname(errno));

	/* A fault is forced: it kills init, and the sandbox. */
	out("faulting\n");
	store_to_null();
	out("survived a fault\n");
	return 1;
}
