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
	store_to_null(); /* inline asm: a plain C NULL store gets optimised out */
	out("survived\n");
	return 1;
}
