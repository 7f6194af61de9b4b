/*
 * t_waitid_fields: waitid fills only si_signo, si_errno, si_code, si_pid,
 * si_uid and si_status of the caller's siginfo_t; the padding after
 * si_code and everything after si_status keep their bytes. Also with
 * WNOHANG and nothing to report (the fields are zeroed, the rest kept),
 * and an infop whose struct would leave user space is EFAULT.
 */
#include "guest.h"

static void report_info(const char *what, long r, const siginfo_t *si)
{
	const unsigned char *b = (const unsigned char *)si;
	int kept = 1;
	for (size_t i = 28; i < sizeof *si; i++)
		kept &= b[i] == 0xab;
	out("%s = %s; signo %d code %d status %d; pad %#x; bytes 28.. kept: %s\n", what,
	    r < 0 ? errname(errno) : "ok", si->si_signo, si->si_code, si->si_status, b[12],
	    kept ? "yes" : "no");
}

int main(void)
{
	siginfo_t si;
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0)
		_exit(3);
	memset(&si, 0xab, sizeof si);
	long r = syscall(SYS_waitid, P_PID, c, &si, WEXITED, NULL);
	report_info("waitid(exited child)", r, &si);

	int fds[2];
	must(pipe(fds) == 0, "pipe");
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		char x;
		close(fds[1]);
		(void)read(fds[0], &x, 1);
		_exit(0);
	}
	close(fds[0]);
	memset(&si, 0xab, sizeof si);
	r = syscall(SYS_waitid, P_PID, c, &si, WEXITED | WNOHANG, NULL);
	report_info("waitid(running child, WNOHANG)", r, &si);
	/* The last 16 bytes of user space (x86-64, 47-bit): the struct would
	 * cross the end. */
	r = syscall(SYS_waitid, P_PID, c, (void *)0x7ffffffffff0UL, WEXITED | WNOHANG, NULL);
	out("waitid(infop crossing the end of user space) = %s\n", r < 0 ? errname(errno) : "ok");
	close(fds[1]);
	memset(&si, 0xab, sizeof si);
	r = syscall(SYS_waitid, P_PID, c, &si, WEXITED, NULL);
	report_info("waitid(child after EOF)", r, &si);
	return failures();
}
