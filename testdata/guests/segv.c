/*
 * segv: prints "before\n", then stores through a NULL pointer. It must die of
 * SIGSEGV: natively (and in the sentry, which mirrors a shell) that is exit
 * status 128+11 = 139. Core dumps are disabled first so the host never gets a
 * core file. If it somehow survives, it prints "survived" and exits 1.
 */
#include "guest.h"

int main(void)
{
	no_core_dumps();
	out("before\n");
	/* volatile pointer: the compiler cannot prove it is NULL, so it emits a
	 * real store instead of a trap instruction (which would be SIGILL). */
	int *volatile p = NULL;
	*p = 42;
	out("survived\n");
	return 1;
}
