/*
 * exitcodes: exit statuses and termination signals as seen by the parent.
 *  - 256 children, forked one at a time, exit with 0..255; each is reaped
 *    and must be WIFEXITED with that status (checksum + a few samples);
 *  - exit(256), exit(-1) and exit(1000) keep only the low 8 bits;
 *  - children killed by SIGKILL, SIGTERM, SIGUSR1 (sent to themselves),
 *    SIGABRT (abort()), SIGSEGV (NULL store), SIGFPE (integer division by
 *    zero) and SIGILL (ud2) are WIFSIGNALED with the right WTERMSIG.
 * Core dumps are disabled; WCOREDUMP is never printed (it is host policy).
 */
#include "guest.h"

static int run_child(int how)
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		switch (how) {
		case SIGKILL:
		case SIGTERM:
		case SIGUSR1:
			kill(getpid(), how);
			break;
		case SIGABRT:
			abort();
		case SIGSEGV:
			store_to_null();
			break;
		case SIGFPE:
			divide_by_zero();
			break;
		case SIGILL:
			__asm__ volatile("ud2");
			break;
		}
		_exit(100); /* the signal did not kill us */
	}
	return wait_for(c);
}

int main(void)
{
	no_core_dumps();
	signal(SIGCHLD, SIG_DFL);

	unsigned long sum = 0;
	int bad = 0;
	for (int i = 0; i < 256; i++) {
		pid_t c = fork();
		must(c >= 0, "fork");
		if (c == 0)
			_exit(i);
		int st = wait_for(c);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != i)
			bad++;
		sum = sum * 31 + (unsigned long)WEXITSTATUS(st);
		if (i == 0 || i == 1 || i == 42 || i == 128 || i == 255)
			out("child exit(%d): %s\n", i, describe_status(st));
	}
	out("256 children: mismatches %d, checksum %lu\n", bad, sum);
	check(bad == 0, "exit statuses 0..255");

	static const int wide[] = {256, -1, 1000};
	for (int k = 0; k < 3; k++) {
		pid_t c = fork();
		must(c >= 0, "fork");
		if (c == 0)
			exit(wide[k]);
		int st = wait_for(c);
		out("child exit(%d): %s\n", wide[k], describe_status(st));
		check(WIFEXITED(st) && WEXITSTATUS(st) == (wide[k] & 0xff), "low 8 bits");
	}

	static const int sigs[] = {SIGKILL, SIGTERM, SIGUSR1, SIGABRT, SIGSEGV, SIGFPE, SIGILL};
	for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
		int st = run_child(sigs[k]);
		out("child dying of %s: WIFSIGNALED=%d %s\n", signame(sigs[k]),
		    WIFSIGNALED(st) ? 1 : 0, describe_status(st));
		check(WIFSIGNALED(st) && WTERMSIG(st) == sigs[k], "termination signal");
	}
	return finish();
}
