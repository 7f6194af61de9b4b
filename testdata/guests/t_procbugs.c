/*
 * t_procbugs: process-lifecycle corner cases Linux gets right.
 *
 *  - SIGKILL sent to a stopped process kills it (waitid: CLD_KILLED), every
 *    time (a race once let the process resume and exit normally);
 *  - execve from a non-leader thread: the new image has the process's pid
 *    as its tid, is the only thread, and the parent's wait sees the pid;
 *  - __WNOTHREAD: a child forked by another thread is not waitable from
 *    this one; children of an exiting thread go to a live thread of the
 *    same process;
 *  - PR_SET_PDEATHSIG: the signal carries the dying parent's pid (si_pid)
 *    and SI_USER, and it is sent when the parent *thread* exits.
 */
#include "guest.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/prctl.h>

#ifndef __WNOTHREAD
#define __WNOTHREAD 0x20000000
#endif

static void kill_stopped(void)
{
	int killed = 0, other = 0;
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			raise(SIGSTOP);
			_exit(0);
		}
		siginfo_t si;
		memset(&si, 0, sizeof si);
		must(waitid(P_PID, pid, &si, WSTOPPED) == 0, "waitid stopped");
		must(kill(pid, SIGKILL) == 0, "kill");
		memset(&si, 0, sizeof si);
		must(waitid(P_PID, pid, &si, WEXITED) == 0, "waitid exited");
		if (si.si_code == CLD_KILLED && si.si_status == SIGKILL)
			killed++;
		else
			other++;
	}
	out("SIGKILL of a stopped child: %d killed, %d otherwise\n", killed, other);
}

static char self_pid[32];

static void *exec_thread(void *arg)
{
	(void)arg;
	char *args[] = {"t_procbugs", "after-exec", self_pid, NULL};
	execv("/proc/self/exe", args);
	out("execv from a thread: %s\n", errname(errno));
	_exit(3);
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int after_exec(const char *pid)
{
	int same_pid = getpid() == atoi(pid);
	int tid_is_pid = syscall(SYS_gettid) == getpid();
	out("after exec from a thread: same pid %d, tid is pid %d, threads %d\n", same_pid,
	    tid_is_pid, count_threads());
	return same_pid && tid_is_pid ? 42 : 1;
}

static void exec_from_thread(void)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		snprintf(self_pid, sizeof self_pid, "%d", (int)getpid());
		pthread_t th;
		must(pthread_create(&th, NULL, exec_thread, NULL) == 0, "pthread_create");
		for (;;)
			pause();
	}
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	out("exec from a thread: wait sees the pid %d, exited %d, status %d\n", w == pid,
	    WIFEXITED(st), WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/*
 * A child that asks for SIGUSR1 when its parent (thread) dies, says it is
 * ready on `ready`, and reports what the signal carried on `report`.
 * `parent` is the pid the signal must name.
 */
static pid_t pdeath_child(int ready, int report, pid_t parent)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid != 0)
		return pid;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	must(prctl(PR_SET_PDEATHSIG, SIGUSR1) == 0, "PR_SET_PDEATHSIG");
	must(write(ready, "r", 1) == 1, "ready");
	siginfo_t si;
	struct timespec ts = {10, 0};
	int s = sigtimedwait(&block, &si, &ts);
	char line[128];
	int n = snprintf(line, sizeof line, "signo %s, si_pid is the parent %d, si_code %d, si_uid %d",
			 s == SIGUSR1 ? "SIGUSR1" : "none", s == SIGUSR1 && si.si_pid == parent,
			 s == SIGUSR1 ? si.si_code : -1, s == SIGUSR1 ? (int)si.si_uid : -1);
	must(write(report, line, (size_t)n) == n, "report");
	_exit(0);
}

static void read_report(int fd, const char *what)
{
	char line[128];
	ssize_t n = read(fd, line, sizeof line - 1);
	line[n > 0 ? n : 0] = 0;
	out("%s: %s\n", what, line);
}

static void pdeath_process(void)
{
	int ready[2], report[2];
	must(pipe(ready) == 0 && pipe(report) == 0, "pipe");
	pid_t mid = fork();
	must(mid >= 0, "fork");
	if (mid == 0) {
		pdeath_child(ready[1], report[1], getpid());
		char c;
		must(read(ready[0], &c, 1) == 1, "read ready");
		_exit(0);
	}
	waitpid(mid, NULL, 0);
	close(ready[1]);
	close(report[1]);
	read_report(report[0], "pdeath on process exit");
	/* The grandchild was reparented to us (a subreaper). */
	int st;
	pid_t w = wait(&st);
	out("orphan reaped by the subreaper %d\n", w > 0);
	close(ready[0]);
	close(report[0]);
}

struct thread_job {
	int ready[2], report[2];
	pid_t fork1, fork2, orphan;
};

static void *forking_thread(void *arg)
{
	struct thread_job *j = arg;
	j->fork1 = fork();
	if (j->fork1 == 0)
		_exit(7);
	j->fork2 = fork();
	if (j->fork2 == 0)
		_exit(8);
	/* This thread's own child, with __WNOTHREAD. */
	int st = 0;
	pid_t w = waitpid(j->fork2, &st, __WNOTHREAD);
	out("thread waits for its own child with __WNOTHREAD: %d, status %d\n", w == j->fork2,
	    WEXITSTATUS(st));
	j->orphan = pdeath_child(j->ready[1], j->report[1], getpid());
	char c;
	must(read(j->ready[0], &c, 1) == 1, "read ready");
	return NULL;
}

static void thread_children(void)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid != 0) {
		int st;
		waitpid(pid, &st, 0);
		out("thread-children process exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return;
	}
	struct thread_job j;
	memset(&j, 0, sizeof j);
	must(pipe(j.ready) == 0 && pipe(j.report) == 0, "pipe");
	pthread_t th;
	must(pthread_create(&th, NULL, forking_thread, &j) == 0, "pthread_create");
	pthread_join(th, NULL);
	/* The thread is gone: its children now belong to this thread. */
	read_report(j.report[0], "pdeath on thread exit");
	int st = 0;
	pid_t w = waitpid(j.fork1, &st, __WNOTHREAD);
	out("main thread waits for the exited thread's child with __WNOTHREAD: %d, status %d\n",
	    w == j.fork1, WEXITSTATUS(st));
	w = waitpid(j.orphan, &st, __WNOTHREAD);
	out("main thread waits for the orphan with __WNOTHREAD: %d\n", w == j.orphan);
	_exit(0);
}

struct wnothread_job {
	int go[2], done[2];
	pid_t child;
};

static void *forking_thread2(void *arg)
{
	struct wnothread_job *j = arg;
	j->child = fork();
	if (j->child == 0)
		_exit(9);
	must(write(j->go[1], "g", 1) == 1, "go");
	/* Stay alive until the main thread is done. */
	char c;
	must(read(j->done[0], &c, 1) == 1, "done");
	return NULL;
}

static void wnothread(void)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid != 0) {
		int st;
		waitpid(pid, &st, 0);
		return;
	}
	struct wnothread_job j;
	memset(&j, 0, sizeof j);
	must(pipe(j.go) == 0 && pipe(j.done) == 0, "pipe");
	pthread_t th;
	must(pthread_create(&th, NULL, forking_thread2, &j) == 0, "pthread_create");
	char c;
	must(read(j.go[0], &c, 1) == 1, "go");
	/* Let the child exit. */
	usleep(100000);
	errno = 0;
	int st = 0;
	pid_t w = waitpid(j.child, &st, __WNOTHREAD);
	out("main thread waits for a sibling thread's child with __WNOTHREAD: %d, %s\n",
	    (int)w, errname(errno));
	errno = 0;
	w = waitpid(-1, &st, __WNOTHREAD | WNOHANG);
	out("main thread waits for any child with __WNOTHREAD: %d, %s\n", (int)w, errname(errno));
	w = waitpid(j.child, &st, 0);
	out("main thread waits for it without __WNOTHREAD: %d, status %d\n", w == j.child,
	    WEXITSTATUS(st));
	must(write(j.done[1], "d", 1) == 1, "done");
	pthread_join(th, NULL);
	_exit(0);
}

/* SIGCHLD and waitid carry the child's real uid (si_uid). */
static void child_uid(void)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid != 0) {
		waitpid(pid, NULL, 0);
		return;
	}
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGCHLD);
	sigprocmask(SIG_BLOCK, &s, NULL);
	pid_t c = fork();
	if (c == 0) {
		must(setresuid(1000, 1000, 1000) == 0, "setresuid");
		raise(SIGSTOP);
		_exit(4);
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	waitid(P_PID, c, &si, WSTOPPED | WNOWAIT);
	out("waitid of a stopped uid-1000 child: si_uid %u\n", si.si_uid);
	memset(&si, 0, sizeof si);
	sigwaitinfo(&s, &si);
	out("SIGCHLD for its stop: si_uid %u, code %d\n", si.si_uid, si.si_code);
	kill(c, SIGCONT);
	memset(&si, 0, sizeof si);
	sigwaitinfo(&s, &si);
	/* CLD_CONTINUED, or its exit merged into the same pending SIGCHLD. */
	out("SIGCHLD after SIGCONT: si_uid %u\n", si.si_uid);
	memset(&si, 0, sizeof si);
	waitid(P_PID, c, &si, WEXITED);
	out("waitid of its exit: si_uid %u, status %d\n", si.si_uid, si.si_status);
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
		return after_exec(argv[2]);
	must(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "subreaper");
	kill_stopped();
	exec_from_thread();
	wnothread();
	thread_children();
	pdeath_process();
	child_uid();
	return failures() ? 1 : 0;
}
