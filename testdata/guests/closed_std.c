/*
 * closed_std: run with some standard descriptors closed (`0<&-`). A
 * descriptor the program was started without is absent: read gives
 * EBADF, fcntl(F_GETFD) EBADF, and dup hands out the lowest free number.
 * Prints to stdout (which stays open).
 */
#include "guest.h"
#include <fcntl.h>

int main(void)
{
	char c;
	long r = read(0, &c, 1);
	out("read(0): %s\n", r < 0 ? errname(errno) : r == 0 ? "0 (EOF)" : "data");
	r = fcntl(0, F_GETFD);
	out("fcntl(0, F_GETFD): %s\n", r < 0 ? errname(errno) : "open");
	r = fcntl(2, F_GETFD);
	out("fcntl(2, F_GETFD): %s\n", r < 0 ? errname(errno) : "open");
	out("dup(1) gives fd %d\n", dup(1));
	return 0;
}
