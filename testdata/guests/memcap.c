/*
 * memcap: what a guest sees at the sandbox's memory cap (run it with
 * `sentry run --memory 64M`). Natively (no cap) every step succeeds.
 *   argv[1] == "enomem": a 256 MiB private writable mmap and a 256 MiB brk
 *     growth are refused (ENOMEM, and brk leaves the break unchanged); a 16 MiB one still works.
 *   argv[1] == "oom": a 256 MiB MAP_NORESERVE mapping is accepted, and
 *     touching every page runs out of memory: the guest is killed with
 *     SIGKILL, as by the OOM killer.
 */
#include "guest.h"
#include <sys/mman.h>

#define MIB (1024UL * 1024UL)

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "enomem";
	if (strcmp(mode, "enomem") == 0) {
		errno = 0;
		void *p = mmap(NULL, 256 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("mmap 256M: %s\n", p == MAP_FAILED ? errname(errno) : "ok");
		/* Raw brk: musl's sbrk() refuses any growth by itself. */
		long cur = syscall(SYS_brk, 0);
		long got = syscall(SYS_brk, cur + (long)(256 * MIB));
		out("brk +256M: %s\n", got == cur ? "refused" : "ok");
		void *q = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		must(q != MAP_FAILED, "mmap 16M");
		memset(q, 1, 16 * MIB);
		out("mmap 16M and touch: ok\n");
		return finish();
	}
	char *p = mmap(NULL, 256 * MIB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	must(p != MAP_FAILED, "mmap MAP_NORESERVE");
	out("mmap 256M MAP_NORESERVE: ok\n");
	for (unsigned long i = 0; i < 256 * MIB; i += 4096)
		p[i] = 1;
	out("touched 256M\n");
	return finish();
}
