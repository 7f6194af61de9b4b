/* The smallest dynamically linked program: the interpreter tests link it
 * with broken PT_INTERP paths. */
#include <stdio.h>

int main(void)
{
	puts("hello from a dynamic program");
	return 0;
}
