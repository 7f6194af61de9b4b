/*
 * exitcode: exits with atoi(argv[1]) (so the low 8 bits of it). Without an
 * argument it complains on stderr and exits 100.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: exitcode STATUS\n");
		return 100;
	}
	exit(atoi(argv[1]));
}
