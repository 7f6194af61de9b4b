/*
 * hello: the smallest libc guest. Prints "hello\n" through stdio (so the
 * stdio buffer must be flushed by exit) and exits 0.
 */
#include <stdio.h>

int main(void)
{
	printf("hello\n");
	return 0;
}
