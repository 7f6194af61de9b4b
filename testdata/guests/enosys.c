/*
 * enosys: calls each syscall number given in argv with six zero arguments
 * and prints "NR: ret R errno E" for every one that does not fail with
 * ENOSYS; exits 0 when all did. Sandbox only (the host implements them):
 * the sentry's coverage test passes the numbers COVERAGE.md lists as
 * ENOSYS, so a number that is dispatched but listed ENOSYS shows up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		long nr = strtol(argv[i], NULL, 10);
		errno = 0;
		long r = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
		if (r != -1 || errno != ENOSYS) {
			printf("%ld: ret %ld errno %d\n", nr, r, errno);
			bad = 1;
		}
	}
	printf("%d numbers called\n", argc - 1);
	return bad;
}
