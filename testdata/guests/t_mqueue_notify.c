/*
 * t_mqueue_notify: mq_notify's registration and SIGEV_THREAD.
 *  - a close of any descriptor of the queue by the registering process
 *    removes its registration (Linux's mqueue_flush_file), a close by
 *    another process does not, nor does a close of another queue; the
 *    owner's exit removes it;
 *  - SIGEV_THREAD through the libc: the function runs in a new thread
 *    with the registered value when a message reaches the empty queue;
 *  - SIGEV_THREAD by hand: the cookie (sigev_value) comes as a 32-byte
 *    datagram to the netlink socket in sigev_signo, its last byte 1
 *    (NOTIFY_WOKENUP); a removed registration sends it with 2
 *    (NOTIFY_REMOVED), by mq_notify(NULL) or by the owner's close; other
 *    descriptors give ENOTSOCK (a pipe), EINVAL (a Unix socket), EBADF.
 */
#include "guest.h"

#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>

static char name[64];

/* The registration as the queue's status line shows it. */
static void status(mqd_t q, const char *what)
{
	char line[128] = {0};
	lseek(q, 0, SEEK_SET);
	read(q, line, sizeof line - 1);
	unsigned long qsize = 0;
	int notify = -1, signo = -1, pid = -1;
	sscanf(line, "QSIZE:%lu NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &qsize, &notify, &signo, &pid);
	out("%s: QSIZE %lu NOTIFY %d SIGNO %d owner %s\n", what, qsize, notify, signo,
	    pid == 0 ? "none" : pid == getpid() ? "me" : "other");
}

static int reg_signal(mqd_t q)
{
	struct sigevent se = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	return mq_notify(q, &se);
}

static void flush(void)
{
	struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	mqd_t q2 = mq_open(name, O_RDWR);
	char other[80];
	snprintf(other, sizeof other, "%s.other", name);
	mqd_t o = mq_open(other, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	mq_unlink(other);
	out("register: %d\n", reg_signal(q));
	status(q, "registered");
	mq_close(o);
	status(q, "another queue closed");
	pid_t pid = fork();
	if (pid == 0) {
		mq_close(q2);
		errno = 0;
		int r = reg_signal(q);
		out("child: close then register: %d %s\n", r, r ? errname(errno) : "");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	status(q, "a child closed its copy");
	mq_close(q2);
	status(q, "the owner closed a second descriptor");
	out("register again: %d\n", reg_signal(q));
	pid = fork();
	if (pid == 0) {
		mq_notify(q, NULL);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	status(q, "a child's mq_notify(NULL)");
	mq_notify(q, NULL);
	pid = fork();
	if (pid == 0) {
		out("child registers: %d\n", reg_signal(q));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	status(q, "the child that registered exited");
	out("register after it: %d\n", reg_signal(q));
	mq_notify(q, NULL);
	mq_close(q);
}

static sem_t ran;
static int ran_with;
static int ran_in_main;
static pthread_t main_thread;

static void fn(union sigval v)
{
	ran_with = v.sival_int;
	ran_in_main = pthread_equal(pthread_self(), main_thread);
	sem_post(&ran);
}

static int wait_ran(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	return sem_timedwait(&ran, &ts);
}

static void libc_thread(void)
{
	struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	sem_init(&ran, 0, 0);
	main_thread = pthread_self();
	struct sigevent se = {.sigev_notify = SIGEV_THREAD};
	se.sigev_notify_function = fn;
	se.sigev_value.sival_int = 42;
	out("SIGEV_THREAD: %d\n", mq_notify(q, &se));
	status(q, "thread registered");
	mq_send(q, "m", 1, 0);
	int r = wait_ran();
	out("thread ran: %d, value %d, in main %d\n", r == 0, ran_with, ran_in_main);
	status(q, "after the notification");
	char buf[16];
	mq_receive(q, buf, sizeof buf, NULL);
	mq_close(q);
	mq_unlink(name);
}

static void call(const char *what, long r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %ld\n", what, r);
}

static void by_hand(void)
{
	struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0); /* NETLINK_ROUTE */
	unsigned char cookie[32];
	for (int i = 0; i < 32; i++)
		cookie[i] = 'a' + i % 26;
	struct sigevent se = {.sigev_notify = SIGEV_THREAD, .sigev_signo = s};
	se.sigev_value.sival_ptr = cookie;
	out("raw SIGEV_THREAD: %ld\n", syscall(SYS_mq_notify, q, &se));
	status(q, "raw registered");
	unsigned char got[64];
	errno = 0;
	long n = recv(s, got, sizeof got, MSG_DONTWAIT);
	out("nothing yet: %ld %s\n", n, errname(errno));
	mq_send(q, "m", 1, 0);
	n = recv(s, got, sizeof got, MSG_DONTWAIT);
	out("notified: %ld bytes, last %d, cookie kept %d\n", n, got[31], memcmp(got, cookie, 31) == 0);
	status(q, "after");
	out("register again: %ld\n", syscall(SYS_mq_notify, q, &se));
	out("unregister: %ld\n", syscall(SYS_mq_notify, q, NULL));
	n = recv(s, got, sizeof got, MSG_DONTWAIT);
	out("removed: %ld bytes, last %d\n", n, got[31]);
	out("register again: %ld\n", syscall(SYS_mq_notify, q, &se));
	mqd_t q2 = mq_open(name, O_RDWR);
	mq_close(q2);
	n = recv(s, got, sizeof got, MSG_DONTWAIT);
	out("owner's close: %ld bytes, last %d\n", n, got[31]);
	int p[2];
	pipe(p);
	se.sigev_signo = p[0];
	call("pipe", syscall(SYS_mq_notify, q, &se));
	int u = socket(AF_UNIX, SOCK_DGRAM, 0);
	se.sigev_signo = u;
	call("unix socket", syscall(SYS_mq_notify, q, &se));
	se.sigev_signo = 999;
	call("bad descriptor", syscall(SYS_mq_notify, q, &se));
	close(p[0]);
	close(p[1]);
	close(u);
	close(s);
	mq_close(q);
	mq_unlink(name);
}

int main(void)
{
	snprintf(name, sizeof name, "/t_mqueue_notify.%d", (int)getpid());
	signal(SIGUSR1, SIG_IGN);
	flush();
	mq_unlink(name);
	libc_thread();
	by_hand();
	return failures();
}
