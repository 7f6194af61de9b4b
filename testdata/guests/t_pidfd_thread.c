/*
 * t_pidfd_thread: pidfds that name threads (PIDFD_THREAD, Linux 6.9+):
 * pidfd_open of a non-leader thread without PIDFD_THREAD is refused; with
 * it, the pidfd is not readable while the thread runs and becomes readable
 * once it exits; pidfd_send_signal through a thread pidfd reaches that very
 * thread; a process pidfd of our own process works too.
 */
#include "guest.h"
#include <poll.h>
#include <pthread.h>

#define PIDFD_THREAD O_EXCL

static volatile pid_t thread_tid;
static volatile pid_t handled_in;
static volatile int stop;

static void on_usr1(int sig)
{
	(void)sig;
	handled_in = (pid_t)syscall(SYS_gettid);
}

static void *worker(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	while (!stop) {
		struct timespec d = {0, 1000 * 1000};
		nanosleep(&d, NULL);
	}
	return NULL;
}

static int readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t t;
	must(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
	while (!thread_tid)
		sched_yield();

	errno = 0;
	long r = syscall(SYS_pidfd_open, thread_tid, 0);
	out("pidfd_open(thread, 0): %s\n", r >= 0 ? "ok" : errname(errno));
	if (r >= 0)
		close((int)r);
	errno = 0;
	long tfd = syscall(SYS_pidfd_open, thread_tid, PIDFD_THREAD);
	out("pidfd_open(thread, PIDFD_THREAD): %s\n", tfd >= 0 ? "ok" : errname(errno));
	must(tfd >= 0, "thread pidfd");
	out("thread pidfd readable while the thread runs: %s\n", readable((int)tfd) ? "yes" : "no");

	errno = 0;
	r = syscall(SYS_pidfd_send_signal, (int)tfd, SIGUSR1, NULL, 0);
	out("pidfd_send_signal(thread pidfd): %ld %s\n", r, errname(errno));
	for (int i = 0; i < 1000 && !handled_in; i++) {
		struct timespec d = {0, 1000 * 1000};
		nanosleep(&d, NULL);
	}
	out("handled by the named thread: %s\n", handled_in == thread_tid ? "match" : "MISMATCH");

	stop = 1;
	pthread_join(t, NULL);
	int ok = 0;
	for (int i = 0; i < 1000 && !(ok = readable((int)tfd)); i++) {
		struct timespec d = {0, 1000 * 1000};
		nanosleep(&d, NULL);
	}
	out("thread pidfd readable after the thread exited: %s\n", ok ? "yes" : "no");

	long pfd = syscall(SYS_pidfd_open, getpid(), 0);
	out("pidfd_open(own process): %s, readable: %s\n", pfd >= 0 ? "ok" : errname(errno),
	    pfd >= 0 && readable((int)pfd) ? "yes" : "no");
	errno = 0;
	r = syscall(SYS_pidfd_send_signal, (int)pfd, 0, NULL, 0);
	out("pidfd_send_signal(own process, 0): %ld %s\n", r, errname(errno));
	return finish();
}
