/*
 * args: prints argc, every argv[i] and every envp[i] in order, exactly as
 * received (argv[0] included), then exits 0. Checks the initial stack layout
 * the loader builds (argc/argv/envp) and the sentry's environment handling.
 */
#include <stdio.h>

int main(int argc, char **argv, char **envp)
{
	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	if (argv[argc] != NULL)
		printf("argv[argc] is not NULL\n");
	int n = 0;
	for (char **e = envp; *e; e++, n++)
		printf("envp[%d]=%s\n", n, *e);
	printf("envc=%d\n", n);
	return 0;
}
