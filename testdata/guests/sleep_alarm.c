/*
 * sleep_alarm: sleeping, alarms and the signal mask.
 *  - nanosleep(10 ms) sleeps at least 10 ms; bad timespecs -> EINVAL;
 *  - clock_nanosleep: relative, TIMER_ABSTIME (wakes at/after the target),
 *    an absolute time in the past returns at once;
 *  - alarm(): returns the seconds left of the previous alarm; pending alarms
 *    are not inherited by a fork child; alarm(1) + pause() runs the SIGALRM
 *    handler and pause() fails with EINTR after ~1 s; a child with the
 *    default SIGALRM action is killed by it (runs concurrently: ~1 s total);
 *  - sigprocmask: a blocked SIGUSR1 stays pending (sigpending), is delivered
 *    on unblock, standard signals coalesce while real-time ones queue,
 *    SIGKILL cannot be blocked, sigsuspend() with a child's signal, and
 *    sigtimedwait() fetching a pending signal or timing out.
 */
#include "guest.h"

static volatile sig_atomic_t alrm, usr1, usr2, rt;
static void on_alrm(int s) { (void)s; alrm++; }
static void on_usr1(int s) { (void)s; usr1++; }
static void on_usr2(int s) { (void)s; usr2++; }
static void on_rt(int s) { (void)s; rt++; }

static long long now_ns(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleeps(void)
{
	long long t0 = now_ns(CLOCK_MONOTONIC);
	struct timespec ts = {0, 10 * 1000 * 1000};
	int r = nanosleep(&ts, NULL);
	long long dt = now_ns(CLOCK_MONOTONIC) - t0;
	out("nanosleep(10ms)=%d, slept >= 10ms: %s\n", r, dt >= 10000000 ? "yes" : "NO");
	check(r == 0 && dt >= 10000000, "nanosleep");

	struct timespec bad = {0, 1000000000};
	errno = 0;
	show("nanosleep(tv_nsec=1e9)", nanosleep(&bad, NULL));
	struct timespec neg = {-1, 0};
	errno = 0;
	show("nanosleep(tv_sec=-1)", nanosleep(&neg, NULL));

	t0 = now_ns(CLOCK_MONOTONIC);
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	dt = now_ns(CLOCK_MONOTONIC) - t0;
	out("clock_nanosleep(MONOTONIC, 10ms)=%d, slept >= 10ms: %s\n", r,
	    dt >= 10000000 ? "yes" : "NO");
	check(r == 0 && dt >= 10000000, "clock_nanosleep relative");

	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 20 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_nsec -= 1000000000;
		abs.tv_sec++;
	}
	long long target = (long long)abs.tv_sec * 1000000000LL + abs.tv_nsec;
	r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
	long long after = now_ns(CLOCK_MONOTONIC);
	out("clock_nanosleep(MONOTONIC, TIMER_ABSTIME, now+20ms)=%d, woke after target: %s\n",
	    r, after >= target ? "yes" : "NO");
	check(r == 0 && after >= target, "clock_nanosleep absolute");

	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_sec -= 10;
	t0 = now_ns(CLOCK_MONOTONIC);
	r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &abs, NULL);
	dt = now_ns(CLOCK_MONOTONIC) - t0;
	out("clock_nanosleep(REALTIME, TIMER_ABSTIME, past)=%d, returned at once: %s\n", r,
	    dt < 500000000 ? "yes" : "NO");
}

static void alarms(void)
{
	on_signal(SIGALRM, on_alrm, 0);
	out("alarm(5) -> %u\n", alarm(5));

	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		unsigned left = alarm(0); /* the parent's alarm is not inherited */
		signal(SIGALRM, SIG_DFL);
		alarm(1);
		for (;;)
			pause();
		_exit(left);
	}

	out("alarm(1) -> %u\n", alarm(1));
	long long t0 = now_ns(CLOCK_MONOTONIC);
	errno = 0;
	int r = pause();
	int e = errno;
	long long dt = now_ns(CLOCK_MONOTONIC) - t0;
	out("pause()=%d %s, SIGALRM handler ran %d time(s), waited >= 0.9s: %s\n", r, errname(e),
	    (int)alrm, dt >= 900000000LL ? "yes" : "NO");
	check(r == -1 && e == EINTR && alrm == 1, "alarm + pause");
	/* 0, or 1 when the timer's callback, which sent the signal, is still
	 * running on another CPU: Linux then counts the timer as active and
	 * reports 1 us left, rounded up to 1 s (seen natively under load). */
	unsigned left = alarm(0);
	out("alarm(0) after it fired -> %s\n", left <= 1 ? "0 or 1" : "more");

	int st = wait_for(c);
	out("child with default SIGALRM: %s\n", describe_status(st));
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM, "SIGALRM kills");
	signal(SIGALRM, SIG_DFL);
}

static void masks(void)
{
	on_signal(SIGUSR1, on_usr1, 0);
	on_signal(SIGUSR2, on_usr2, 0);
	on_signal(SIGRTMIN + 1, on_rt, 0);
	sigset_t set, old, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 1);
	must(sigprocmask(SIG_BLOCK, &set, &old) == 0, "sigprocmask");
	out("SIGUSR1 blocked before: %d\n", sigismember(&old, SIGUSR1));
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGRTMIN + 1);
	kill(getpid(), SIGRTMIN + 1);
	kill(getpid(), SIGRTMIN + 1);
	sigemptyset(&pend);
	sigpending(&pend);
	out("blocked: handler ran %d; pending SIGUSR1=%d SIGRTMIN+1=%d SIGUSR2=%d\n", (int)usr1,
	    sigismember(&pend, SIGUSR1), sigismember(&pend, SIGRTMIN + 1),
	    sigismember(&pend, SIGUSR2));
	sigset_t cur;
	must(sigprocmask(SIG_UNBLOCK, &set, &cur) == 0, "sigprocmask");
	out("unblocked: SIGUSR1 handler ran %d time(s) (standard signals coalesce), "
	    "SIGRTMIN+1 %d time(s) (real-time signals queue)\n",
	    (int)usr1, (int)rt);
	out("old mask had SIGUSR1=%d\n", sigismember(&cur, SIGUSR1));
	check(usr1 == 1 && rt == 3, "delivery on unblock");

	sigemptyset(&set);
	sigaddset(&set, SIGKILL);
	sigaddset(&set, SIGSTOP);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	out("after blocking SIGKILL/SIGSTOP/SIGUSR2: blocked SIGKILL=%d SIGSTOP=%d SIGUSR2=%d\n",
	    sigismember(&cur, SIGKILL), sigismember(&cur, SIGSTOP), sigismember(&cur, SIGUSR2));

	/* sigsuspend: SIGUSR2 is blocked; a child sends it while we wait */
	pid_t parent = getpid();
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		sleep_ms(10);
		kill(parent, SIGUSR2);
		_exit(0);
	}
	sigset_t empty;
	sigemptyset(&empty);
	errno = 0;
	int r = sigsuspend(&empty);
	int e = errno;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	out("sigsuspend()=%d %s, SIGUSR2 handler ran %d, mask restored (SIGUSR2 blocked): %d\n",
	    r, errname(e), (int)usr2, sigismember(&cur, SIGUSR2));
	wait_for(c);

	/* sigtimedwait */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGUSR1);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	struct timespec ts = {1, 0};
	r = sigtimedwait(&set, &si, &ts);
	out("sigtimedwait: %s, si_code SI_USER: %s, handler not run: %s\n", signame(r),
	    si.si_code == SI_USER ? "yes" : "NO", usr1 == 1 ? "yes" : "NO");
	struct timespec shortts = {0, 10 * 1000 * 1000};
	errno = 0;
	show("sigtimedwait with nothing pending (10 ms)", sigtimedwait(&set, &si, &shortts));

	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	signal(SIGRTMIN + 1, SIG_DFL);
}

int main(void)
{
	signal(SIGCHLD, SIG_DFL);
	sleeps();
	alarms();
	masks();
	return finish();
}
