/*
 * vfork: vfork semantics as Linux implements them.
 *  - The child runs first and the parent stays suspended until the child
 *    calls _exit (the child sleeps 50 ms before setting a flag; the parent
 *    must see the flag as soon as vfork returns to it).
 *  - The child shares the parent's memory: a global written by the child is
 *    visible to the parent. (POSIX calls this undefined behaviour; Linux,
 *    which never copies the address space for vfork, makes it visible, and
 *    that is what the sandbox must reproduce.)
 *  - The parent sees the child's _exit(3) (then _exit(4)) status.
 * Two rounds, to check a second vfork works just like the first. (Only the
 * libc wrapper is used: both glibc and musl implement vfork() with the
 * SYS_vfork syscall; calling it through syscall() would be wrong because the
 * child would return from, and clobber, the wrapper's stack frame.)
 */
#include "guest.h"

static volatile int child_done;
static volatile int shared_var;

static void round_(const char *how, int code)
{
	child_done = 0;
	shared_var = 1;
	pid_t c = vfork();
	if (c < 0) {
		out("%s: vfork failed errno=%s\n", how, errname(errno));
		_exit(99);
	}
	if (c == 0) {
		/* Only async-signal-safe calls in the vfork child. */
		static const char msg[] = "child: running, parent suspended\n";
		write(1, msg, sizeof msg - 1);
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		shared_var = 42;
		child_done = 1;
		_exit(code);
	}
	out("%s: parent resumed, child ran first: %s\n", how, child_done ? "yes" : "NO");
	out("%s: variable written by child: %d\n", how, shared_var);
	check(child_done == 1, "parent suspended until child _exit");
	check(shared_var == 42, "vfork child shares memory");
	int st = wait_for(c);
	out("%s: child %s\n", how, describe_status(st));
	check(WIFEXITED(st) && WEXITSTATUS(st) == code, "child status");
}

int main(void)
{
	round_("round 1", 3);
	round_("round 2", 4);
	return finish();
}
