#define _GNU_SOURCE
/* Executes each argument (argv = {path}) in a child and prints what
 * happened: the execve errno, the signal that killed it, or its exit
 * status (its own output goes to /dev/null). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		int pipefd[2];
		if (pipe2(pipefd, O_CLOEXEC) != 0)
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			dup2(null, 2);
			char *args[] = {argv[i], NULL};
			execv(argv[i], args);
			int e = errno;
			if (write(pipefd[1], &e, sizeof e) != sizeof e)
				_exit(98);
			_exit(99);
		}
		close(pipefd[1]);
		int e = 0, st;
		ssize_t n = read(pipefd[0], &e, sizeof e);
		close(pipefd[0]);
		waitpid(pid, &st, 0);
		const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		if (n == sizeof e)
			printf("%s: execve failed: %s\n", name, strerror(e));
		else if (WIFSIGNALED(st))
			printf("%s: killed by signal %d\n", name, WTERMSIG(st));
		else
			printf("%s: exit %d\n", name, WEXITSTATUS(st));
	}
	return 0;
}
