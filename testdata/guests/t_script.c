/*
 * t_script: `#!` scripts in execve (issue 9, "Scripts").
 *
 *   t_script [cd DIR] exec PATH [ARGV0 ARGS...]
 *       execve(PATH, {ARGV0, ARGS..., NULL}, environ); with no ARGV0 the
 *       argv pointer is NULL (an empty argv). On failure prints the errno
 *       name and exits 1.
 *   t_script [cd DIR] execat DIR2 NAME [ARGV0 ARGS...]
 *       the same through execveat(open(DIR2), NAME, ...).
 *   t_script [cd DIR] execatcx DIR2 NAME [ARGV0 ARGS...]
 *       the same with DIR2 opened O_CLOEXEC.
 *   t_script ARGS...   (any other first argument, e.g. as an interpreter)
 *       prints argc, every argv[i], and the last component of AT_EXECFN
 *       and of /proc/self/exe.
 *
 * The scripts themselves are written by the test (sentry/tests/scripts.rs)
 * before the runs, since the sandbox's root is read-only.
 */
#include "guest.h"
#include <sys/auxv.h>

extern char **environ;

static const char *ename(int e)
{
	return e == ELOOP ? "ELOOP" : errname(e);
}

static const char *base(const char *p)
{
	const char *b = p ? strrchr(p, '/') : NULL;
	return b ? b + 1 : p ? p : "(null)";
}

static int show_args(int argc, char **argv)
{
	out("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		out("argv[%d]=<%s>\n", i, argv[i]);
	out("execfn=%s\n", base((const char *)getauxval(AT_EXECFN)));
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	out("exe=%s\n", base(exe));
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (argc > i + 1 && strcmp(argv[i], "cd") == 0) {
		if (chdir(argv[i + 1]) != 0) {
			out("chdir: %s\n", ename(errno));
			return 2;
		}
		i += 2;
	}
	if (argc > i + 1 && strcmp(argv[i], "exec") == 0) {
		char **args = argc > i + 2 ? argv + i + 2 : NULL;
		syscall(SYS_execve, argv[i + 1], args, environ);
		out("execve: %s\n", ename(errno));
		return 1;
	}
	int cx = argc > i + 2 && strcmp(argv[i], "execatcx") == 0;
	if (argc > i + 2 && (cx || strcmp(argv[i], "execat") == 0)) {
		int dir = open(argv[i + 1], O_RDONLY | O_DIRECTORY | (cx ? O_CLOEXEC : 0));
		if (dir < 0) {
			out("open: %s\n", ename(errno));
			return 2;
		}
		char **args = argc > i + 3 ? argv + i + 3 : NULL;
		syscall(SYS_execveat, dir, argv[i + 2], args, environ, 0);
		out("execveat: %s\n", ename(errno));
		return 1;
	}
	return show_args(argc, argv);
}
