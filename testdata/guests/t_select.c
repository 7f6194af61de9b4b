/*
 * t_select: select and pselect6 on pipes.
 *  - an empty pipe is not readable (timeout 0 returns 0 at once and
 *    clears the set); its write end is writable; data makes it readable;
 *    a closed write end makes the read end readable (EOF);
 *  - a set naming a closed descriptor is EBADF, a negative nfds EINVAL, a
 *    timeval with negative microseconds EINVAL (1000000 of them are a
 *    second);
 *  - a timeout that runs out returns 0 with the time left (0) written
 *    back; NULL sets and a NULL timeout with a ready descriptor work;
 *  - a signal with a handler interrupts select (EINTR); pselect's mask
 *    lets through a signal that was blocked and pending (EINTR, handler
 *    ran, the old mask is back afterwards);
 *  - descriptors past 64 (a second word of the bitmap).
 */
#include "guest.h"

#include <sys/select.h>

static volatile sig_atomic_t got;
static void on_usr1(int s)
{
	(void)s;
	got++;
}

static void report(const char *what, int r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %d\n", what, r);
}

int main(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	fd_set r, w;
	struct timeval tv = {0, 0};

	FD_ZERO(&r);
	FD_SET(p[0], &r);
	report("empty pipe", select(p[0] + 1, &r, NULL, NULL, &tv));
	report("set cleared", FD_ISSET(p[0], &r));

	FD_ZERO(&w);
	FD_SET(p[1], &w);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	report("write end", select(p[1] + 1, &r, &w, NULL, &tv));
	report("writable", FD_ISSET(p[1], &w));
	report("not readable", FD_ISSET(p[0], &r));

	must(write(p[1], "x", 1) == 1, "write");
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	report("with data, no timeout", select(p[0] + 1, &r, NULL, NULL, NULL));
	report("readable", FD_ISSET(p[0], &r));

	FD_ZERO(&r);
	FD_SET(p[0], &r);
	FD_SET(p[1], &r);
	FD_ZERO(&w);
	FD_SET(p[0], &w);
	FD_SET(p[1], &w);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	report("both ends, both sets", select(p[1] + 1, &r, &w, NULL, &tv));
	out("r %d %d w %d %d\n", FD_ISSET(p[0], &r), FD_ISSET(p[1], &r), FD_ISSET(p[0], &w),
	    FD_ISSET(p[1], &w));

	char c;
	must(read(p[0], &c, 1) == 1, "read");
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	report("timeout runs out", select(p[0] + 1, &r, NULL, NULL, &tv));
	/* musl's select keeps its own copy of the timeout: the raw call
	 * shows what the kernel writes back. */
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	report("raw select, timeout runs out",
	       (int)syscall(SYS_select, p[0] + 1, &r, NULL, NULL, &tv));
	out("time left %ld %ld\n", (long)tv.tv_sec, (long)tv.tv_usec);

	FD_ZERO(&r);
	FD_SET(p[0], &r);
	FD_SET(40, &r);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	report("closed descriptor", select(41, &r, NULL, NULL, &tv));
	report("negative nfds", select(-1, NULL, NULL, NULL, &tv));
	tv.tv_usec = 1000000;
	report("1000000 microseconds", select(1, NULL, NULL, NULL, &tv));
	/* The raw syscall, past the C library's own checks. */
	tv.tv_sec = 0;
	tv.tv_usec = 1000000;
	report("raw select, 1000000 microseconds",
	       (int)syscall(SYS_select, 1, NULL, NULL, NULL, &tv));
	out("time left %ld %ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	tv.tv_sec = 0;
	tv.tv_usec = -1;
	report("raw select, negative microseconds",
	       (int)syscall(SYS_select, 1, NULL, NULL, NULL, &tv));
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	FD_SET(40, &r);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	report("raw select, closed descriptor", (int)syscall(SYS_select, 41, &r, NULL, NULL, &tv));

	int high = dup2(p[1], 100);
	must(high == 100, "dup2");
	FD_ZERO(&w);
	FD_SET(100, &w);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	report("descriptor 100", select(101, NULL, &w, NULL, &tv));
	report("100 writable", FD_ISSET(100, &w));
	close(100);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t parent = getpid();
	pid_t k = fork();
	must(k >= 0, "fork");
	if (k == 0) {
		sleep_ms(200);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_sec = 10;
	tv.tv_usec = 0;
	report("interrupted select", select(p[0] + 1, &r, NULL, NULL, &tv));
	report("handler ran", got);
	wait_for(k);

	sigset_t block, old, none;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	raise(SIGUSR1);
	report("blocked, not run", got);
	sigemptyset(&none);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	struct timespec ts = {5, 0};
	report("pselect with the signal let through", pselect(p[0] + 1, &r, NULL, NULL, &ts, &none));
	report("handler ran", got);
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	report("old mask back", sigismember(&now, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);

	close(p[1]);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	ts.tv_sec = 1;
	ts.tv_nsec = 0;
	report("EOF is readable", pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL));
	out("done\n");
	return failures() ? 1 : 0;
}
