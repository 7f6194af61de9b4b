/*
 * t_threadgroup: a multi-threaded process as one unit. Each case runs in a
 * forked child (a multi-threaded process made with pthreads) and the parent
 * reports the child's wait status:
 *  - exit_group(42) from a non-leader thread ends the whole process with 42
 *    while the leader is blocked in pause();
 *  - the leader calls SYS_exit(3) while another thread still runs: the
 *    process lives on (the thread prints after the leader is gone, and sees
 *    the same getpid()), and waitpid returns only after that last thread is
 *    gone. If the last thread calls exit_group(5) the status is 5; if it
 *    only calls SYS_exit(9) the status is also the last thread's code, 9:
 *    in current kernels do_exit()'s synchronize_group_exit() lets the last
 *    thread to exit set the group exit code ("signal: Guarantee that
 *    SIGNAL_GROUP_EXIT is set on process exit", around Linux 5.19); older
 *    kernels reported the leader's 3;
 *  - SIGSEGV in a non-leader thread (no handler) kills the whole group:
 *    "killed by SIGSEGV";
 *  - a child forked by a non-leader thread has the process (the leader's
 *    getpid) as its parent, also after the forking thread has exited, and
 *    the leader can wait for it;
 *  - a process whose threads all spin in `for (;;);` is killed by SIGTERM and
 *    by SIGKILL from its parent; and one where only a non-leader thread spins
 *    while the leader waits in pause().
 */
#include "guest.h"

#include <pthread.h>
#include <stdint.h>

static int ready_pipe[2];

static void tell_ready(void)
{
	char b = 'r';
	if (write(ready_pipe[1], &b, 1) != 1)
		syscall(SYS_exit_group, 97);
}

static void wait_ready(int n)
{
	for (int i = 0; i < n; i++) {
		char b;
		ssize_t r;
		do {
			r = read(ready_pipe[0], &b, 1);
		} while (r < 0 && errno == EINTR);
		must(r == 1, "read ready byte");
	}
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int e = pthread_create(&t, NULL, fn, arg);
	if (e != 0) {
		out("FATAL: pthread_create: %s\n", errname(e));
		syscall(SYS_exit_group, 99);
	}
	return t;
}

/* Fork a child that runs body() and never returns; report its status. */
static int run_case(const char *label, void (*body)(void))
{
	must(pipe(ready_pipe) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		close(ready_pipe[0]);
		body();
		syscall(SYS_exit_group, 98); /* not reached */
	}
	close(ready_pipe[1]);
	int st = wait_for(c);
	close(ready_pipe[0]);
	out("%s: %s\n", label, describe_status(st));
	return st;
}

/* --- exit_group from a non-leader thread --- */
static void *exit_group_thread(void *arg)
{
	(void)arg;
	sleep_ms(10);
	syscall(SYS_exit_group, 42);
	return NULL;
}

static void exit_group_body(void)
{
	spawn(exit_group_thread, NULL);
	for (;;)
		pause();
}

/* --- leader exits first --- */
static pid_t leader_pid;
static int last_uses_exit_group;

static void *survivor(void *arg)
{
	(void)arg;
	sleep_ms(50); /* the leader is gone by now */
	out("  survivor thread: still running after the leader's exit, getpid %s\n",
	    getpid() == leader_pid ? "same" : "DIFFERENT");
	sleep_ms(20);
	if (last_uses_exit_group)
		syscall(SYS_exit_group, 5);
	syscall(SYS_exit, 9);
	return NULL;
}

static void leader_exits_body(void)
{
	leader_pid = getpid();
	spawn(survivor, NULL);
	syscall(SYS_exit, 3);
}

/* --- SIGSEGV in a non-leader thread --- */
static void *segv_thread(void *arg)
{
	(void)arg;
	sleep_ms(10);
	store_to_null();
	return NULL;
}

static void segv_body(void)
{
	no_core_dumps();
	spawn(segv_thread, NULL);
	for (;;)
		pause();
}

/* --- fork from a non-leader thread --- */
static int go_pipe[2];

static void *forker(void *arg)
{
	pid_t parent = *(pid_t *)arg;
	pid_t c = fork();
	if (c < 0)
		return (void *)(intptr_t)-1;
	if (c == 0) {
		out("  grandchild: getppid is the process: %s\n",
		    getppid() == parent ? "match" : "MISMATCH");
		/* wait until the forking thread has been joined */
		char b;
		close(go_pipe[1]);
		while (read(go_pipe[0], &b, 1) < 0 && errno == EINTR) {
		}
		out("  grandchild: after the forking thread exited, getppid: %s\n",
		    getppid() == parent ? "match" : "MISMATCH");
		_exit(getppid() == parent ? 6 : 1);
	}
	return (void *)(intptr_t)c;
}

static void fork_in_thread_body(void)
{
	pid_t self = getpid();
	must(pipe(go_pipe) == 0, "pipe");
	pthread_t t = spawn(forker, &self);
	void *ret;
	pthread_join(t, &ret);
	pid_t gc = (pid_t)(intptr_t)ret;
	if (gc <= 0) {
		out("  fork in thread failed\n");
		syscall(SYS_exit_group, 1);
	}
	close(go_pipe[0]);
	close(go_pipe[1]); /* EOF releases the grandchild */
	int st = wait_for(gc);
	out("  leader waits for the thread's child: %s\n", describe_status(st));
	syscall(SYS_exit_group, WIFEXITED(st) && WEXITSTATUS(st) == 6 ? 0 : 1);
}

/* --- spinning threads, killed from outside --- */
static void *spinner(void *arg)
{
	(void)arg;
	tell_ready();
	for (;;)
		;
	return NULL;
}

static void all_spin_body(void)
{
	spawn(spinner, NULL);
	spawn(spinner, NULL);
	tell_ready();
	for (;;)
		;
}

static void thread_spins_body(void)
{
	spawn(spinner, NULL);
	for (;;)
		pause();
}

static int kill_case(const char *label, void (*body)(void), int nready, int sig)
{
	must(pipe(ready_pipe) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		close(ready_pipe[0]);
		body();
		syscall(SYS_exit_group, 98);
	}
	close(ready_pipe[1]);
	wait_ready(nready);
	sleep_ms(10);
	kill(c, sig);
	int st = wait_for(c);
	close(ready_pipe[0]);
	out("%s: %s\n", label, describe_status(st));
	return st;
}

int main(void)
{
	int st = run_case("exit_group(42) from a non-leader thread", exit_group_body);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 42, "exit_group from thread");

	out("leader SYS_exit(3), last thread exit_group(5):\n");
	last_uses_exit_group = 1;
	st = run_case("  parent's waitpid", leader_exits_body);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 5, "leader exit, exit_group");

	out("leader SYS_exit(3), last thread SYS_exit(9):\n");
	last_uses_exit_group = 0;
	st = run_case("  parent's waitpid", leader_exits_body);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 9, "leader exit, last thread exit");

	st = run_case("SIGSEGV in a non-leader thread", segv_body);
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "segv kills group");

	out("fork from a non-leader thread:\n");
	st = run_case("  process", fork_in_thread_body);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork in thread");

	st = kill_case("three spinning threads, SIGTERM", all_spin_body, 3, SIGTERM);
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "spin SIGTERM");
	st = kill_case("three spinning threads, SIGKILL", all_spin_body, 3, SIGKILL);
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "spin SIGKILL");
	st = kill_case("spinning thread, leader in pause, SIGTERM", thread_spins_body, 1, SIGTERM);
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "thread spin SIGTERM");
	st = kill_case("spinning thread, leader in pause, SIGKILL", thread_spins_body, 1, SIGKILL);
	check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "thread spin SIGKILL");
	return finish();
}
