/*
 * exec: execve and what survives it. The program re-executes itself through
 * /proc/self/exe in "child" mode, which reports what it inherited:
 * descriptors without close-on-exec stay open, close-on-exec ones are gone;
 * a handled signal is back to SIG_DFL, an ignored one stays ignored; the
 * signal mask survives; pid and parent are unchanged. A vfork parent
 * resumes when its child execs. Errors: ENOENT, EACCES for a directory and
 * for a file without execute permission, E2BIG for an over-long argument,
 * EFAULT for a bad argv. `exec run PATH` just runs PATH (for the tests of
 * the sandbox's --root).
 */
#include "guest.h"
#include <sys/wait.h>

static void on_usr1(int sig)
{
	(void)sig;
}

static const char *disposition(int sig)
{
	struct sigaction sa;
	sigaction(sig, NULL, &sa);
	if (sa.sa_handler == SIG_DFL)
		return "default";
	if (sa.sa_handler == SIG_IGN)
		return "ignored";
	return "handler";
}

static int child_mode(int argc, char **argv)
{
	int a = atoi(argv[2]), b = atoi(argv[3]);
	out("child: argc=%d mode=%s\n", argc, argv[4]);
	errno = 0;
	int fa = fcntl(a, F_GETFD);
	out("child: close-on-exec fd: %s\n", fa < 0 ? errname(errno) : "open");
	out("child: plain fd: %s\n", fcntl(b, F_GETFD) >= 0 ? "open" : "closed");
	out("child: SIGUSR1 %s, SIGUSR2 %s\n", disposition(SIGUSR1), disposition(SIGUSR2));
	sigset_t m;
	sigprocmask(SIG_BLOCK, NULL, &m);
	out("child: SIGTERM still blocked: %s\n", sigismember(&m, SIGTERM) ? "yes" : "no");
	out("child: pid kept: %s\n", atoi(argv[5]) == getpid() ? "match" : "MISMATCH");
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	const char *base = strrchr(exe, '/');
	out("child: /proc/self/exe is %s\n", base ? base + 1 : "?");
	return 7;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child_mode(argc, argv);
	if (argc > 2 && strcmp(argv[1], "run") == 0) {
		/* exec run PATH: run PATH, or say why not. */
		char *args[] = {argv[2], NULL};
		execv(argv[2], args);
		out("execve %s: %s\n", argv[2], errname(errno));
		return 1;
	}

	int p[2];
	must(pipe2(p, O_CLOEXEC) == 0, "pipe2");
	int plain = dup(p[1]);
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGUSR2, SIG_IGN);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGTERM);
	sigprocmask(SIG_BLOCK, &m, NULL);

	char fa[16], fb[16], pid[16];
	snprintf(fa, sizeof fa, "%d", p[0]);
	snprintf(fb, sizeof fb, "%d", plain);
	for (int v = 0; v < 2; v++) {
		pid_t c = v ? vfork() : fork();
		must(c >= 0, "fork");
		if (c == 0) {
			snprintf(pid, sizeof pid, "%d", (int)getpid());
			char *args[] = {argv[0], "child", fa, fb, v ? "vfork" : "fork", pid, NULL};
			execv("/proc/self/exe", args);
			_exit(99);
		}
		int st = 0;
		waitpid(c, &st, 0);
		out("%s+exec child: %s\n", v ? "vfork" : "fork", describe_status(st));
	}

	char *noargs[] = {"x", NULL};
	errno = 0;
	execv("/nonexistent/program", noargs);
	out("execve of a missing file: %s\n", errname(errno));
	errno = 0;
	execv("/", noargs);
	out("execve of a directory: %s\n", errname(errno));
	errno = 0;
	execv("/etc/passwd", noargs);
	out("execve of a file without x permission: %s\n", errname(errno));
	static char big[200 * 1024];
	memset(big, 'a', sizeof big - 1);
	char *bigargs[] = {"x", big, NULL};
	errno = 0;
	execv("/proc/self/exe", bigargs);
	out("execve with a 200 KiB argument: %s\n", errname(errno));
	errno = 0;
	syscall(SYS_execve, "/proc/self/exe", (char **)8, NULL);
	out("execve with a bad argv: %s\n", errname(errno));
	return finish();
}
