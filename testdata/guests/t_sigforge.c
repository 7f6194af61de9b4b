/*
 * t_sigforge: who may queue a siginfo that claims to come from the kernel
 * or from kill/tkill (si_code >= 0, or SI_TKILL). Linux has one rule for
 * rt_sigqueueinfo, rt_tgsigqueueinfo and pidfd_send_signal: only towards
 * the calling thread itself (its tid equals the pid/tid argument, or the
 * pidfd's pid), and never to a process group; EPERM otherwise. SI_QUEUE
 * (negative, not SI_TKILL) may go anywhere.
 *
 * Each call is made from the main thread and from a second thread, with
 * signal 40 blocked everywhere; what was queued is drained with
 * sigtimedwait and counted, so the output shows both the result and where
 * the signal went.
 */
#include "guest.h"
#include <pthread.h>

#define SIG 40
#define PIDFD_THREAD O_EXCL
#ifndef SYS_rt_tgsigqueueinfo
#define SYS_rt_tgsigqueueinfo 297
#endif
#define PIDFD_SIGNAL_THREAD 1
#define PIDFD_SIGNAL_THREAD_GROUP 2
#define PIDFD_SIGNAL_PROCESS_GROUP 4

static const struct {
	int code;
	const char *name;
} codes[] = {
	{SI_USER, "SI_USER"},
	{SI_KERNEL, "SI_KERNEL"},
	{SI_TKILL, "SI_TKILL"},
	{SI_QUEUE, "SI_QUEUE"},
};

static pid_t leader;
static int proc_pidfd;

static siginfo_t info(int code)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIG;
	si.si_code = code;
	si.si_pid = leader;
	si.si_uid = getuid();
	return si;
}

/* Takes every pending SIG this thread can see: "n" and the last si_code. */
static void drain(char *buf, size_t len)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIG);
	struct timespec zero = {0, 0};
	int n = 0, last = 0;
	siginfo_t si;
	while (sigtimedwait(&set, &si, &zero) == SIG) {
		n++;
		last = si.si_code;
	}
	snprintf(buf, len, "queued %d, si_code %d", n, n ? last : 0);
}

static void report(const char *who, const char *call, const char *code, long r)
{
	int e = r < 0 ? errno : 0;
	char got[64];
	drain(got, sizeof got);
	out("%s: %s %s = %s; %s\n", who, call, code, r < 0 ? errname(e) : "ok", got);
}

static long pidfd_send(int fd, siginfo_t *si, unsigned flags)
{
	return syscall(SYS_pidfd_send_signal, fd, SIG, si, flags);
}

static void calls(const char *who)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int thread_pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	check(thread_pidfd >= 0, "pidfd_open(self, PIDFD_THREAD)");
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *c = codes[i].name;
		siginfo_t si = info(codes[i].code);
		report(who, "rt_sigqueueinfo(pid)", c,
		       syscall(SYS_rt_sigqueueinfo, leader, SIG, &si));
		si = info(codes[i].code);
		report(who, "rt_tgsigqueueinfo(pid, own tid)", c,
		       syscall(SYS_rt_tgsigqueueinfo, leader, tid, SIG, &si));
		si = info(codes[i].code);
		report(who, "pidfd_send_signal(process pidfd)", c, pidfd_send(proc_pidfd, &si, 0));
		si = info(codes[i].code);
		report(who, "pidfd_send_signal(process pidfd, SIGNAL_THREAD_GROUP)", c,
		       pidfd_send(proc_pidfd, &si, PIDFD_SIGNAL_THREAD_GROUP));
		si = info(codes[i].code);
		report(who, "pidfd_send_signal(own thread pidfd)", c,
		       pidfd_send(thread_pidfd, &si, 0));
		si = info(codes[i].code);
		report(who, "pidfd_send_signal(own thread pidfd, SIGNAL_THREAD)", c,
		       pidfd_send(thread_pidfd, &si, PIDFD_SIGNAL_THREAD));
		si = info(codes[i].code);
		report(who, "pidfd_send_signal(process pidfd, SIGNAL_PROCESS_GROUP)", c,
		       pidfd_send(proc_pidfd, &si, PIDFD_SIGNAL_PROCESS_GROUP));
		if (tid != leader) {
			si = info(codes[i].code);
			report(who, "rt_tgsigqueueinfo(pid, leader's tid)", c,
			       syscall(SYS_rt_tgsigqueueinfo, leader, leader, SIG, &si));
		}
	}
	/* Without a siginfo the kernel makes one: SI_TKILL towards a thread,
	 * SI_USER otherwise (prepare_kill_siginfo). */
	report(who, "pidfd_send_signal(own thread pidfd, no siginfo)", "-",
	       pidfd_send(thread_pidfd, NULL, 0));
	report(who, "pidfd_send_signal(process pidfd, no siginfo)", "-",
	       pidfd_send(proc_pidfd, NULL, 0));
	close(thread_pidfd);
}

static void *worker(void *arg)
{
	(void)arg;
	calls("thread");
	return NULL;
}

int main(void)
{
	leader = getpid();
	/* Our own process group, so a process-group signal reaches only us
	 * (in the sandbox we are init, already leading our group). */
	if (getpgrp() != leader)
		must(setpgid(0, 0) == 0, "setpgid");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIG);
	must(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block");
	proc_pidfd = (int)syscall(SYS_pidfd_open, leader, 0);
	must(proc_pidfd >= 0, "pidfd_open(self)");

	calls("main");
	pthread_t t;
	must(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
	must(pthread_join(t, NULL) == 0, "pthread_join");
	char got[64];
	drain(got, sizeof got);
	out("main after the thread: %s\n", got);
	return failures();
}
