/*
 * t_signals: signal delivery details.
 *  - SA_SIGINFO: kill() gives si_code SI_USER, tgkill()/tkill() SI_TKILL,
 *    sigqueue() SI_QUEUE with its si_value, rt_sigqueueinfo() to ourselves
 *    any negative si_code and our own si_pid, rt_tgsigqueueinfo() to our
 *    own thread too; si_pid/si_uid match the sender (ourselves, or a child
 *    that kill()s us); rt_sigqueueinfo() to another process with si_code
 *    SI_USER or SI_TKILL is EPERM;
 *  - a blocked signal stays pending (sigpending) and is delivered once
 *    unblocked; sigaction() on SIGKILL/SIGSTOP, signal 0 or 65 is EINVAL;
 *  - SA_RESETHAND (in a child): the first delivery runs the handler and
 *    resets it to SIG_DFL, the second kills the child;
 *  - SA_NODEFER: raising the same signal inside the handler re-enters it
 *    (depth 2); without it the second delivery waits for the handler to
 *    return (depth 1); both run the handler twice;
 *  - sigaltstack + SA_ONSTACK: the handler runs on the alternate stack (a
 *    local's address lies in it, sigaltstack() reports SS_ONSTACK, changing
 *    it there is EPERM); without SA_ONSTACK it does not; a too small stack is
 *    ENOMEM, bad flags EINVAL;
 *  - SA_RESTART: a read() on a pipe interrupted by a handled signal is
 *    restarted (and returns the data written later) with SA_RESTART and
 *    fails with EINTR without it; nanosleep() fails with EINTR even with
 *    SA_RESTART. (The signals come from a child every 10 ms.)
 *  - SIGSTOP/SIGTSTP/SIGCONT of a child as seen by waitpid(WUNTRACED|
 *    WCONTINUED), the child's SIGCONT handler runs; SIGTERM to a stopped
 *    child stays pending (it is still stopped 20 ms later) and kills it as
 *    soon as SIGCONT resumes it;
 *  - a signal sent with pthread_kill to a thread spinning in
 *    `while (!flag);` runs the handler in that thread ("handled"); a
 *    process-directed kill() while the main thread blocks the signal is
 *    delivered to the spinning thread.
 */
#include "guest.h"

#include <pthread.h>
#include <stdint.h>

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* --- SA_SIGINFO --- */
static volatile sig_atomic_t info_count, info_code, info_pid, info_uid, info_value, info_signo;

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	info_signo = sig;
	info_code = si->si_code;
	info_pid = si->si_pid;
	info_uid = (sig_atomic_t)si->si_uid;
	info_value = si->si_value.sival_int;
	info_count++;
}

static void install_info(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	must(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

static const char *code_name(int code)
{
	static char buf[16];
	switch (code) {
	case SI_USER: return "SI_USER";
	case SI_TKILL: return "SI_TKILL";
	case SI_QUEUE: return "SI_QUEUE";
	case SI_KERNEL: return "SI_KERNEL";
	default:
		snprintf(buf, sizeof buf, "%d", code);
		return buf;
	}
}

static void report_info(const char *what, pid_t sender, int with_value)
{
	out("%s: count %d, %s, si_code %s, si_pid %s, si_uid %s", what, (int)info_count,
	    signame(info_signo), code_name(info_code), info_pid == sender ? "match" : "MISMATCH",
	    (uid_t)info_uid == getuid() ? "match" : "MISMATCH");
	if (with_value)
		out(", si_value %d\n", (int)info_value);
	else
		out("\n");
	check(info_count == 1 && info_pid == sender, what);
	info_count = 0;
}

static void siginfo_cases(void)
{
	install_info(SIGUSR1);
	pid_t me = getpid();

	kill(me, SIGUSR1);
	report_info("kill(self)", me, 0);

	syscall(SYS_tgkill, me, gettid_(), SIGUSR1);
	report_info("tgkill(self)", me, 0);

	syscall(SYS_tkill, gettid_(), SIGUSR1);
	report_info("tkill(self)", me, 0);

	union sigval v;
	v.sival_int = 1234;
	sigqueue(me, SIGUSR1, v);
	report_info("sigqueue(self, 1234)", me, 1);

	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = -7;
	si.si_pid = me;
	si.si_uid = getuid();
	si.si_value.sival_int = 99;
	errno = 0;
	long r = syscall(SYS_rt_sigqueueinfo, me, SIGUSR1, &si);
	out("rt_sigqueueinfo(self, si_code -7): %ld\n", r);
	report_info("  received", me, 1);

	si.si_code = SI_QUEUE;
	si.si_value.sival_int = 98;
	r = syscall(SYS_rt_tgsigqueueinfo, me, gettid_(), SIGUSR1, &si);
	out("rt_tgsigqueueinfo(self, SI_QUEUE): %ld\n", r);
	report_info("  received", me, 1);

	/* from a child */
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	wait_for(c);
	report_info("kill from a child", c, 0);

	/* rt_sigqueueinfo to another process needs a negative si_code */
	int p[2];
	must(pipe(p) == 0, "pipe");
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		char b;
		close(p[1]);
		while (read(p[0], &b, 1) < 0 && errno == EINTR) {
		}
		_exit(0);
	}
	close(p[0]);
	si.si_code = SI_USER;
	errno = 0;
	show("rt_sigqueueinfo(child, si_code SI_USER)", syscall(SYS_rt_sigqueueinfo, c, SIGUSR2, &si));
	si.si_code = SI_TKILL;
	errno = 0;
	show("rt_sigqueueinfo(child, si_code SI_TKILL)", syscall(SYS_rt_sigqueueinfo, c, SIGUSR2, &si));
	si.si_code = SI_KERNEL;
	errno = 0;
	show("rt_sigqueueinfo(child, si_code SI_KERNEL)", syscall(SYS_rt_sigqueueinfo, c, SIGUSR2, &si));
	close(p[1]);
	int st = wait_for(c);
	out("  that child: %s\n", describe_status(st));

	/* blocked -> pending -> delivered on unblock */
	sigset_t set, old, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	kill(me, SIGUSR1);
	sigpending(&pend);
	out("blocked SIGUSR1: handler ran %d, pending %s\n", (int)info_count,
	    sigismember(&pend, SIGUSR1) ? "yes" : "no");
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigpending(&pend);
	out("after unblocking: handler ran %d, pending %s\n", (int)info_count,
	    sigismember(&pend, SIGUSR1) ? "yes" : "no");
	info_count = 0;
	signal(SIGUSR1, SIG_DFL);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	errno = 0;
	show("sigaction(SIGKILL, SIG_IGN)", sigaction(SIGKILL, &sa, NULL));
	errno = 0;
	show("sigaction(SIGSTOP, SIG_IGN)", sigaction(SIGSTOP, &sa, NULL));
	errno = 0;
	show("rt_sigaction(0)", syscall(SYS_rt_sigaction, 0, NULL, &sa, 8));
	errno = 0;
	show("rt_sigaction(65)", syscall(SYS_rt_sigaction, 65, NULL, &sa, 8));
	errno = 0;
	show("rt_sigaction(SIGUSR1, sigsetsize 4)", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &sa, 4));
	errno = 0;
	show("rt_sigaction(SIGKILL) query", syscall(SYS_rt_sigaction, SIGKILL, NULL, &sa, 8));
}

/* --- SA_RESETHAND --- */
static volatile sig_atomic_t reset_count;

static void on_reset(int sig)
{
	(void)sig;
	reset_count++;
}

static void resethand(void)
{
	no_core_dumps();
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		on_signal(SIGUSR1, on_reset, SA_RESETHAND);
		kill(getpid(), SIGUSR1);
		struct sigaction now;
		sigaction(SIGUSR1, NULL, &now);
		out("  child: SA_RESETHAND handler ran %d time(s), now %s\n", (int)reset_count,
		    now.sa_handler == SIG_DFL ? "SIG_DFL" : "not SIG_DFL");
		kill(getpid(), SIGUSR1);
		out("  child: survived the second SIGUSR1\n");
		_exit(0);
	}
	int st = wait_for(c);
	out("SA_RESETHAND child: %s\n", describe_status(st));
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "resethand");
}

/* --- SA_NODEFER --- */
static volatile sig_atomic_t nd_depth, nd_max, nd_count;

static void on_nodefer(int sig)
{
	nd_depth++;
	if (nd_depth > nd_max)
		nd_max = nd_depth;
	nd_count++;
	if (nd_count == 1)
		kill(getpid(), sig);
	nd_depth--;
}

static void nodefer(void)
{
	nd_depth = nd_max = nd_count = 0;
	on_signal(SIGUSR2, on_nodefer, SA_NODEFER);
	kill(getpid(), SIGUSR2);
	out("SA_NODEFER: handler ran %d times, max depth %d\n", (int)nd_count, (int)nd_max);
	check(nd_count == 2 && nd_max == 2, "nodefer");

	nd_depth = nd_max = nd_count = 0;
	on_signal(SIGUSR2, on_nodefer, 0);
	kill(getpid(), SIGUSR2);
	out("without SA_NODEFER: handler ran %d times, max depth %d\n", (int)nd_count, (int)nd_max);
	check(nd_count == 2 && nd_max == 1, "no nodefer");
	signal(SIGUSR2, SIG_DFL);
}

/* --- sigaltstack --- */
#define ALT_SIZE (64 * 1024)
static char altstack[ALT_SIZE] __attribute__((aligned(16)));
static volatile sig_atomic_t on_alt, alt_flag_seen, alt_change_errno, alt_ran;

static void on_altsig(int sig)
{
	(void)sig;
	volatile char local = 0;
	char *p = (char *)&local;
	on_alt = p >= altstack && p < altstack + ALT_SIZE;
	stack_t cur;
	sigaltstack(NULL, &cur);
	alt_flag_seen = (cur.ss_flags & SS_ONSTACK) != 0;
	stack_t other = {.ss_sp = altstack, .ss_size = ALT_SIZE / 2, .ss_flags = 0};
	errno = 0;
	alt_change_errno = sigaltstack(&other, NULL) == 0 ? 0 : errno;
	alt_ran = 1;
}

static void altstack_cases(void)
{
	stack_t ss = {.ss_sp = altstack, .ss_size = 1024, .ss_flags = 0};
	errno = 0;
	show("sigaltstack(1024 bytes)", sigaltstack(&ss, NULL));
	ss.ss_size = ALT_SIZE;
	ss.ss_flags = 0x1234;
	errno = 0;
	show("sigaltstack(bad flags)", sigaltstack(&ss, NULL));
	ss.ss_flags = 0;
	must(sigaltstack(&ss, NULL) == 0, "sigaltstack");
	stack_t cur;
	sigaltstack(NULL, &cur);
	out("sigaltstack query: sp %s, size %d, flags %d\n",
	    cur.ss_sp == altstack ? "match" : "MISMATCH", (int)cur.ss_size, cur.ss_flags);

	on_signal(SIGUSR1, on_altsig, SA_ONSTACK);
	alt_ran = 0;
	kill(getpid(), SIGUSR1);
	out("SA_ONSTACK: ran %d, on the alternate stack: %s, SS_ONSTACK: %s, changing it: %s\n",
	    (int)alt_ran, on_alt ? "yes" : "no", alt_flag_seen ? "yes" : "no",
	    errname(alt_change_errno));
	check(on_alt && alt_flag_seen && alt_change_errno == EPERM, "onstack");

	on_signal(SIGUSR1, on_altsig, 0);
	alt_ran = 0;
	kill(getpid(), SIGUSR1);
	out("without SA_ONSTACK: ran %d, on the alternate stack: %s, SS_ONSTACK: %s\n",
	    (int)alt_ran, on_alt ? "yes" : "no", alt_flag_seen ? "yes" : "no");
	check(!on_alt && !alt_flag_seen, "not onstack");
	signal(SIGUSR1, SIG_DFL);

	stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
	check(sigaltstack(&off, NULL) == 0, "disable");
	sigaltstack(NULL, &cur);
	out("after SS_DISABLE: flags %s\n", cur.ss_flags == SS_DISABLE ? "SS_DISABLE" : "other");
}

/* --- SA_RESTART --- */
static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

/* Child that signals `parent` every 10 ms until a byte arrives on ctl
 * (or `limit` signals have been sent), then writes `data` (if any) to
 * data_fd and exits. */
static pid_t pester(pid_t parent, int ctl_fd, int limit, const char *data, int data_fd)
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		fcntl(ctl_fd, F_SETFL, O_NONBLOCK);
		for (int i = 0; i < limit; i++) {
			char b;
			sleep_ms(10);
			if (read(ctl_fd, &b, 1) == 1)
				break;
			kill(parent, SIGUSR1);
		}
		sleep_ms(10);
		if (data && write(data_fd, data, strlen(data)) < 0)
			_exit(1);
		_exit(0);
	}
	return c;
}

static void restart_cases(void)
{
	pid_t me = getpid();
	int data[2], ctl[2];
	char buf[16];

	/* without SA_RESTART: EINTR */
	on_signal(SIGUSR1, on_usr1, 0);
	must(pipe(data) == 0 && pipe(ctl) == 0, "pipe");
	usr1_count = 0;
	pid_t c = pester(me, ctl[0], 1000, NULL, -1);
	errno = 0;
	ssize_t n = read(data[0], buf, sizeof buf);
	int e = errno;
	check(write(ctl[1], "s", 1) == 1, "stop");
	wait_for(c);
	out("read() on a pipe, handler without SA_RESTART: %d %s, handler ran: %s\n", (int)n,
	    errname(e), usr1_count > 0 ? "yes" : "no");
	check(n == -1 && e == EINTR, "EINTR");
	close(data[0]);
	close(data[1]);
	close(ctl[0]);
	close(ctl[1]);

	/* with SA_RESTART: restarted, returns the data sent afterwards */
	on_signal(SIGUSR1, on_usr1, SA_RESTART);
	must(pipe(data) == 0 && pipe(ctl) == 0, "pipe");
	usr1_count = 0;
	c = pester(me, ctl[0], 3, "data", data[1]);
	memset(buf, 0, sizeof buf);
	errno = 0;
	n = read(data[0], buf, sizeof buf);
	e = errno;
	wait_for(c);
	if (n < 0)
		out("read() on a pipe, handler with SA_RESTART: -1 %s\n", errname(e));
	else
		out("read() on a pipe, handler with SA_RESTART: %d \"%s\", handler ran: %s\n",
		    (int)n, buf, usr1_count > 0 ? "yes" : "no");
	check(n == 4, "restart");

	/* nanosleep is not restarted, even with SA_RESTART */
	c = pester(me, ctl[0], 1000, NULL, -1);
	struct timespec ts = {2, 0};
	errno = 0;
	int r = nanosleep(&ts, &ts);
	e = errno;
	check(write(ctl[1], "s", 1) == 1, "stop");
	wait_for(c);
	out("nanosleep(2 s), handler with SA_RESTART: %d %s\n", r, errname(e));
	close(data[0]);
	close(data[1]);
	close(ctl[0]);
	close(ctl[1]);
	signal(SIGUSR1, SIG_DFL);
}

/* --- stop / continue --- */
static int cont_pipe[2];

static void on_cont(int sig)
{
	(void)sig;
	if (write(cont_pipe[1], "c", 1) != 1)
		_exit(90);
}

static void stop_cont(void)
{
	must(pipe(cont_pipe) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		close(cont_pipe[0]);
		on_signal(SIGCONT, on_cont, SA_RESTART);
		if (write(cont_pipe[1], "r", 1) != 1)
			_exit(90);
		for (;;)
			pause();
	}
	close(cont_pipe[1]);
	char b = 0;
	must(read(cont_pipe[0], &b, 1) == 1 && b == 'r', "child ready");

	int st;
	kill(c, SIGSTOP);
	pid_t r = waitpid(c, &st, WUNTRACED);
	out("SIGSTOP: %s %s\n", r == c ? "match" : "MISMATCH", describe_status(st));
	kill(c, SIGCONT);
	r = waitpid(c, &st, WCONTINUED);
	out("SIGCONT: %s %s\n", r == c ? "match" : "MISMATCH", describe_status(st));
	b = 0;
	ssize_t n = read(cont_pipe[0], &b, 1);
	out("child's SIGCONT handler ran: %s\n", n == 1 && b == 'c' ? "yes" : "no");

	kill(c, SIGTSTP);
	r = waitpid(c, &st, WUNTRACED);
	out("SIGTSTP: %s %s\n", r == c ? "match" : "MISMATCH", describe_status(st));
	/* a stopped process does not act on SIGTERM: it stays pending */
	kill(c, SIGTERM);
	sleep_ms(20);
	r = waitpid(c, &st, WNOHANG | WUNTRACED | WCONTINUED);
	out("SIGTERM while stopped, 20 ms later: waitpid(WNOHANG) %d\n", (int)r);
	check(r == 0, "sigterm waits while stopped");
	kill(c, SIGCONT);
	st = wait_for(c);
	out("then SIGCONT: %s\n", describe_status(st));
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "sigterm after SIGCONT");
	close(cont_pipe[0]);
}

/* --- spinning thread --- */
static volatile sig_atomic_t spin_flag, spin_started;
static volatile pid_t handler_tid;

static void on_spin(int sig)
{
	(void)sig;
	handler_tid = gettid_();
	spin_flag = 1;
}

static void *spin(void *arg)
{
	*(pid_t *)arg = gettid_();
	spin_started = 1;
	while (!spin_flag)
		;
	return NULL;
}

static void spinning_thread(void)
{
	pthread_t t;
	pid_t tid = 0;

	on_signal(SIGUSR1, on_spin, 0);
	spin_flag = spin_started = 0;
	handler_tid = 0;
	must(pthread_create(&t, NULL, spin, &tid) == 0, "pthread_create");
	while (!spin_started)
		sleep_ms(1);
	sleep_ms(10);
	int e = pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	out("pthread_kill to a spinning thread: %s, %s, handler ran in that thread: %s\n",
	    e == 0 ? "ok" : errname(e), spin_flag ? "handled" : "NOT handled",
	    handler_tid == tid ? "match" : "MISMATCH");
	check(spin_flag && handler_tid == tid, "pthread_kill");

	/* process-directed, the main thread blocks it */
	on_signal(SIGUSR2, on_spin, 0);
	spin_flag = spin_started = 0;
	handler_tid = 0;
	must(pthread_create(&t, NULL, spin, &tid) == 0, "pthread_create");
	sigset_t set, old, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	while (!spin_started)
		sleep_ms(1);
	sleep_ms(10);
	kill(getpid(), SIGUSR2);
	pthread_join(t, NULL);
	sigpending(&pend);
	out("kill(getpid()) while main blocks it: %s, handler ran in the spinning thread: %s, "
	    "still pending: %s\n",
	    spin_flag ? "handled" : "NOT handled", handler_tid == tid ? "match" : "MISMATCH",
	    sigismember(&pend, SIGUSR2) ? "yes" : "no");
	check(spin_flag && handler_tid == tid, "process-directed");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	siginfo_cases();
	resethand();
	nodefer();
	altstack_cases();
	restart_cases();
	stop_cont();
	spinning_thread();
	return finish();
}
