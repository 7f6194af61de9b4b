/*
 * t_rlimits: resource limits (getrlimit, setrlimit, prlimit64) and their
 * enforcement: RLIMIT_NOFILE (EMFILE, dup2 EBADF, F_DUPFD EINVAL), DATA and
 * AS (ENOMEM from mmap, brk, mremap, mprotect), FSIZE (SIGXFSZ, EFBIG),
 * STACK (the main stack's growth), inheritance across fork and execve, and
 * prlimit64 on another process. Runs as root natively (the harness host) and
 * as root in the sandbox, so the permission checks agree.
 *
 * Modes: no argument runs every check; "show" (after execve) prints the
 * inherited limits and probes NOFILE; "stack N" touches N KiB of stack.
 */
#include "guest.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <poll.h>
#include <sys/epoll.h>

static const char *en(int e)
{
	if (e == EFBIG)
		return "EFBIG";
	if (e == ENFILE)
		return "ENFILE";
	return errname(e);
}

struct rl {
	unsigned long cur, max;
};

#define INF (~0UL)

static long sys_get(int res, void *p)
{
	return syscall(SYS_getrlimit, res, p);
}

static long sys_set(int res, void *p)
{
	return syscall(SYS_setrlimit, res, p);
}

static long sys_prlimit(int pid, int res, void *new, void *old)
{
	return syscall(SYS_prlimit64, pid, res, new, old);
}

static int set2(int res, unsigned long cur, unsigned long max)
{
	struct rl r = { cur, max };
	return sys_set(res, &r) == 0 ? 0 : errno;
}

static struct rl get(int res)
{
	struct rl r = { 0, 0 };
	must(sys_get(res, &r) == 0, "getrlimit");
	return r;
}

/* Sets the soft limit, keeping the hard one (which differs between the
 * host and the sandbox, so it is never printed unless set here). */
static int setsoft(int res, unsigned long cur)
{
	return set2(res, cur, get(res).max);
}

static const char *val(unsigned long v)
{
	static char bufs[4][32];
	static int i;
	char *b = bufs[i++ & 3];
	if (v == INF)
		return "inf";
	snprintf(b, 32, "%lu", v);
	return b;
}

/* Waits for `pid` and describes how it ended. */
static const char *ended(pid_t pid)
{
	static char b[64];
	int st;
	must(waitpid(pid, &st, 0) == pid, "waitpid");
	if (WIFEXITED(st))
		snprintf(b, sizeof b, "exit %d", WEXITSTATUS(st));
	else
		snprintf(b, sizeof b, "signal %s", signame(WTERMSIG(st)));
	return b;
}

static void get_after_set(void)
{
	out("-- get after set\n");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid != 0) {
		out("child: %s\n", ended(pid));
		return;
	}
	out("set NOFILE 100/200: %s\n", en(set2(RLIMIT_NOFILE, 100, 200)));
	struct rl r = get(RLIMIT_NOFILE);
	out("NOFILE %s/%s\n", val(r.cur), val(r.max));
	/* glibc/musl getrlimit and prlimit see the same. */
	struct rlimit lr;
	must(getrlimit(RLIMIT_NOFILE, &lr) == 0, "libc getrlimit");
	out("libc NOFILE %s/%s\n", val(lr.rlim_cur), val(lr.rlim_max));
	/* Root may raise the hard limit again (CAP_SYS_RESOURCE). */
	out("soft > hard: %s\n", en(set2(RLIMIT_NOFILE, 10, 5)));
	out("NOFILE past nr_open: %s\n", en(set2(RLIMIT_NOFILE, 10, 1048577)));
	out("NOFILE at nr_open: %s\n", en(set2(RLIMIT_NOFILE, 100, 1048576)));
	r = get(RLIMIT_NOFILE);
	out("NOFILE %s/%s\n", val(r.cur), val(r.max));
	struct rl x;
	out("get resource 16: %s\n", sys_get(16, &x) ? en(errno) : "ok");
	out("get resource -1: %s\n", sys_get(-1, &x) ? en(errno) : "ok");
	out("set resource 16: %s\n", en(set2(16, 1, 1)));
	out("get bad pointer: %s\n", sys_get(RLIMIT_NOFILE, (void *)8) ? en(errno) : "ok");
	out("set bad pointer: %s\n", sys_set(RLIMIT_NOFILE, (void *)8) ? en(errno) : "ok");
	out("prlimit no pid: %s\n", sys_prlimit(0x3fffffff, RLIMIT_NOFILE, NULL, &x) ? en(errno) : "ok");
	out("prlimit bad resource: %s\n", sys_prlimit(0, 99, NULL, &x) ? en(errno) : "ok");
	out("prlimit bad new: %s\n", sys_prlimit(0, RLIMIT_NOFILE, (void *)8, &x) ? en(errno) : "ok");
	/* The set happens before the old value is written back. */
	struct rl n = { 50, 200 };
	out("prlimit bad old: %s\n", sys_prlimit(0, RLIMIT_NOFILE, &n, (void *)8) ? en(errno) : "ok");
	r = get(RLIMIT_NOFILE);
	out("NOFILE %s/%s\n", val(r.cur), val(r.max));
	struct rl old = { 0, 0 };
	n.cur = 60;
	out("prlimit self: %s\n", sys_prlimit(getpid(), RLIMIT_NOFILE, &n, &old) ? en(errno) : "ok");
	out("old %s/%s\n", val(old.cur), val(old.max));
	out("prlimit get only: %s\n", sys_prlimit(0, RLIMIT_NOFILE, NULL, &old) ? en(errno) : "ok");
	out("now %s/%s\n", val(old.cur), val(old.max));
	out("prlimit neither: %s\n", sys_prlimit(0, RLIMIT_NOFILE, NULL, NULL) ? en(errno) : "ok");
	/* Lowering the hard limit is always allowed; raising it needs
	 * CAP_SYS_RESOURCE, which neither the host's root nor the guest has. */
	out("lower hard: %s\n", en(set2(RLIMIT_NOFILE, 100, 150)));
	out("raise hard: %s\n", en(set2(RLIMIT_NOFILE, 100, 151)));
	out("raise soft to hard: %s\n", en(set2(RLIMIT_NOFILE, 150, 150)));
	r = get(RLIMIT_NOFILE);
	out("NOFILE %s/%s\n", val(r.cur), val(r.max));
	_exit(0);
}

/* Stored limits: each resource takes a value and gives it back (in a child:
 * some of these would hamper the rest of the test). */
static void stored(void)
{
	out("-- stored\n");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		static const int res[] = { RLIMIT_CPU, RLIMIT_CORE, RLIMIT_RSS, RLIMIT_NPROC,
					   RLIMIT_MEMLOCK, RLIMIT_LOCKS, RLIMIT_SIGPENDING,
					   RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_RTPRIO,
					   RLIMIT_RTTIME };
		for (unsigned i = 0; i < sizeof res / sizeof res[0]; i++) {
			unsigned long v = 1000 + i;
			int e = set2(res[i], v, v + 1);
			struct rl r = get(res[i]);
			out("resource %d: %s %s/%s\n", res[i], en(e), val(r.cur), val(r.max));
		}
		_exit(0);
	}
	out("child: %s\n", ended(pid));
}

static void nofile(void)
{
	out("-- nofile\n");
	must(setsoft(RLIMIT_NOFILE, 42) == 0, "NOFILE 42");
	int last = -1, fd;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		last = fd;
	out("last fd %d, then %s\n", last, en(errno));
	out("dup: %s\n", dup(0) < 0 ? en(errno) : "ok");
	out("dup2 to 1023: %s\n", dup2(0, 1023) < 0 ? en(errno) : "ok");
	out("dup2 to 42: %s\n", dup2(0, 42) < 0 ? en(errno) : "ok");
	out("dup2 to 41: %s\n", dup2(0, 41) == 41 ? "41" : en(errno));
	out("dup3 to 100: %s\n", dup3(0, 100, O_CLOEXEC) < 0 ? en(errno) : "ok");
	out("F_DUPFD 42: %s\n", fcntl(0, F_DUPFD, 42) < 0 ? en(errno) : "ok");
	out("F_DUPFD_CLOEXEC 50: %s\n", fcntl(0, F_DUPFD_CLOEXEC, 50) < 0 ? en(errno) : "ok");
	out("F_DUPFD 10: %s\n", fcntl(0, F_DUPFD, 10) < 0 ? en(errno) : "ok");
	int p[2];
	out("pipe: %s\n", pipe(p) < 0 ? en(errno) : "ok");
	out("epoll_create1: %s\n", epoll_create1(0) < 0 ? en(errno) : "ok");
	out("memfd_create: %s\n", syscall(SYS_memfd_create, "x", 0) < 0 ? en(errno) : "ok");
	out("pidfd_open: %s\n", syscall(SYS_pidfd_open, getpid(), 0) < 0 ? en(errno) : "ok");
	/* One free slot: a pipe needs two and takes none. */
	close(20);
	out("pipe with one slot: %s\n", pipe(p) < 0 ? en(errno) : "ok");
	fd = open("/dev/null", O_RDONLY);
	out("open into the slot: %d\n", fd);
	struct pollfd pf[43];
	memset(pf, 0, sizeof pf);
	for (int i = 0; i < 43; i++)
		pf[i].fd = -1;
	out("poll 42 fds: %s\n", poll(pf, 42, 0) < 0 ? en(errno) : "ok");
	out("poll 43 fds: %s\n", poll(pf, 43, 0) < 0 ? en(errno) : "ok");
	/* Raising the limit again makes room at once. */
	must(setsoft(RLIMIT_NOFILE, 1024) == 0, "NOFILE 1024");
	fd = open("/dev/null", O_RDONLY);
	out("after raising: fd %d\n", fd);
	out("dup2 to 1023: %s\n", dup2(0, 1023) == 1023 ? "1023" : en(errno));
	out("dup2 to 1024: %s\n", dup2(0, 1024) < 0 ? en(errno) : "ok");
	/* Lowering below open descriptors keeps them open. */
	must(setsoft(RLIMIT_NOFILE, 10) == 0, "NOFILE 10");
	out("fd 1023 still open: %s\n", fcntl(1023, F_GETFD) >= 0 ? "yes" : en(errno));
	out("open at limit 10: %s\n", open("/dev/null", O_RDONLY) < 0 ? en(errno) : "ok");
	for (int i = 3; i < 1024; i++)
		close(i);
	must(setsoft(RLIMIT_NOFILE, 1024) == 0, "NOFILE 1024");
}

/* In a child: DATA counts private writable mappings that are not stacks. */
static void data(void)
{
	out("-- data\n");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		out("DATA 0: %s\n", en(setsoft(RLIMIT_DATA, 0)));
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("private rw: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("private ro: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		if (m != MAP_FAILED)
			out("mprotect rw: %s\n", mprotect(m, 4096, PROT_READ | PROT_WRITE) ? en(errno) : "ok");
		void *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		out("shared rw: %s\n", s == MAP_FAILED ? en(errno) : "ok");
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
		out("growsdown rw: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		long cur = syscall(SYS_brk, 0);
		long got = syscall(SYS_brk, cur + 65536);
		out("brk grows: %s\n", got == cur + 65536 ? "yes" : "no");
		/* A limit with some room: what fits, fits. */
		must(setsoft(RLIMIT_DATA, INF) == 0, "DATA inf");
		void *big = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		must(big != MAP_FAILED, "64 MiB");
		out("DATA 32M: %s\n", en(setsoft(RLIMIT_DATA, 32 << 20)));
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("over the limit: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		munmap(big, 64 << 20);
		m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("after unmapping: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		m = mmap(NULL, 40 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("40 MiB: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		m = mmap(NULL, 40 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("40 MiB read-only: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		got = syscall(SYS_brk, cur + (40 << 20));
		out("brk 40 MiB: %s\n", got == cur + (40 << 20) ? "yes" : "no");
		_exit(0);
	}
	out("child: %s\n", ended(pid));
}

static void touch_stack(long kib);

/* In a child: AS counts every mapping. */
static void address_space(void)
{
	out("-- as\n");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		out("AS 256M: %s\n", en(setsoft(RLIMIT_AS, 256 << 20)));
		void *m = mmap(NULL, 512 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("512 MiB none: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		m = mmap(NULL, 512 << 20, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		out("512 MiB shared: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		m = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("16 MiB: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		void *r = mremap(m, 16 << 20, 512 << 20, MREMAP_MAYMOVE);
		out("mremap to 512 MiB: %s\n", r == MAP_FAILED ? en(errno) : "ok");
		r = mremap(m, 16 << 20, 32 << 20, MREMAP_MAYMOVE);
		out("mremap to 32 MiB: %s\n", r == MAP_FAILED ? en(errno) : "ok");
		long cur = syscall(SYS_brk, 0);
		long got = syscall(SYS_brk, cur + (512L << 20));
		out("brk 512 MiB: %s\n", got == cur + (512L << 20) ? "yes" : "no");
		got = syscall(SYS_brk, cur + (1 << 20));
		out("brk 1 MiB: %s\n", got == cur + (1 << 20) ? "yes" : "no");
		/* MAP_FIXED over a mapping replaces it: only the growth counts. */
		void *f = mmap(NULL, 128 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		out("128 MiB: %s\n", f == MAP_FAILED ? en(errno) : "ok");
		m = mmap(f, 128 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		out("MAP_FIXED over it: %s\n", m == MAP_FAILED ? en(errno) : "ok");
		_exit(0);
	}
	out("child: %s\n", ended(pid));
	/* Stack growth counts too: AS just above what is mapped stops it. */
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		void *big = mmap(NULL, 200 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		must(big != MAP_FAILED, "200 MiB");
		must(setsoft(RLIMIT_STACK, 64 << 20) == 0, "STACK");
		must(setsoft(RLIMIT_AS, 216 << 20) == 0, "AS");
		touch_stack(64);
		out("small growth: ok\n");
		touch_stack(32 << 10);
		out("32 MiB growth: ok\n");
		_exit(0);
	}
	out("child: %s\n", ended(pid));
}

static volatile int xfsz;

static void on_xfsz(int sig)
{
	(void)sig;
	xfsz++;
}

static void fsize(void)
{
	out("-- fsize\n");
	char path[64];
	snprintf(path, sizeof path, "/tmp/t_rlimits.%d", (int)getpid());
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		signal(SIGXFSZ, on_xfsz);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		must(fd >= 0, "open");
		out("FSIZE 100: %s\n", en(setsoft(RLIMIT_FSIZE, 100)));
		char buf[150];
		memset(buf, 'x', sizeof buf);
		out("write 150: %ld\n", (long)write(fd, buf, 150));
		long w = write(fd, buf, 10);
		out("write at 100: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		out("pwrite at 95: %ld\n", (long)pwrite(fd, buf, 10, 95));
		w = pwrite(fd, buf, 10, 200);
		out("pwrite at 200: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		w = ftruncate(fd, 1000);
		out("ftruncate 1000: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		w = ftruncate(fd, 100);
		out("ftruncate 100: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		w = ftruncate(fd, 50);
		out("ftruncate 50: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		w = truncate(path, 101);
		out("truncate 101: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		int a = open(path, O_WRONLY | O_APPEND);
		out("append 60: %ld\n", (long)write(a, buf, 60));
		w = write(a, buf, 1);
		out("append at 100: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		struct stat st;
		fstat(fd, &st);
		out("size %ld\n", (long)st.st_size);
		char path2[80];
		snprintf(path2, sizeof path2, "%s.src", path);
		int src = open(path2, O_RDWR | O_CREAT | O_TRUNC, 0600);
		must(src >= 0, "open src");
		must(write(src, buf, 20) == 20, "write src");
		loff_t in = 0, at = 95;
		w = syscall(SYS_copy_file_range, src, &in, fd, &at, 20, 0);
		out("copy_file_range at 95: %ld (signals %d)\n", w, xfsz);
		in = 0;
		at = 100;
		w = syscall(SYS_copy_file_range, src, &in, fd, &at, 20, 0);
		out("copy_file_range at 100: %s (signals %d)\n", w < 0 ? en(errno) : "ok", xfsz);
		unlink(path2);
		/* Not a regular file: no limit. */
		int p[2];
		must(pipe(p) == 0, "pipe");
		out("pipe write 150: %ld\n", (long)write(p[1], buf, 150));
		/* With the default action, SIGXFSZ kills (no core: CORE 0). */
		must(setsoft(RLIMIT_CORE, 0) == 0, "CORE 0");
		signal(SIGXFSZ, SIG_DFL);
		w = write(fd, buf, 10);
		out("still alive: %ld\n", w);
		_exit(0);
	}
	out("child: %s\n", ended(pid));
	unlink(path);
}

static void show_exec(void)
{
	struct rl r = get(RLIMIT_NOFILE);
	out("exec: NOFILE %s/%s\n", val(r.cur), val(r.max));
	r = get(RLIMIT_FSIZE);
	out("exec: FSIZE %s/%s\n", val(r.cur), val(r.max));
	r = get(RLIMIT_CORE);
	out("exec: CORE %s/%s\n", val(r.cur), val(r.max));
	int last = -1, fd;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		last = fd;
	out("exec: last fd %d, then %s\n", last, en(errno));
}

static void inherit(const char *self)
{
	out("-- inherit\n");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		must(set2(RLIMIT_NOFILE, 20, 30) == 0, "NOFILE 20");
		must(set2(RLIMIT_FSIZE, 12345, 67890) == 0, "FSIZE");
		must(set2(RLIMIT_CORE, 0, 777) == 0, "CORE");
		pid_t g = fork();
		must(g >= 0, "fork");
		if (g == 0) {
			struct rl r = get(RLIMIT_NOFILE);
			out("fork: NOFILE %s/%s\n", val(r.cur), val(r.max));
			r = get(RLIMIT_FSIZE);
			out("fork: FSIZE %s/%s\n", val(r.cur), val(r.max));
			int last = -1, fd;
			while ((fd = open("/dev/null", O_RDONLY)) >= 0)
				last = fd;
			out("fork: last fd %d, then %s\n", last, en(errno));
			_exit(0);
		}
		out("grandchild: %s\n", ended(g));
		char *argv[] = { (char *)"t_rlimits", (char *)"show", NULL };
		char *envp[] = { NULL };
		execve(self, argv, envp);
		out("execve: %s\n", en(errno));
		_exit(1);
	}
	out("child: %s\n", ended(pid));
	/* The parent's own limits are untouched. */
	struct rl r = get(RLIMIT_NOFILE);
	out("parent: NOFILE %s\n", val(r.cur));
}

static void prlimit_other(void)
{
	out("-- prlimit on a child\n");
	int go[2], back[2];
	must(pipe(go) == 0 && pipe(back) == 0, "pipes");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		char c;
		must(read(go[0], &c, 1) == 1, "read");
		struct rl r = get(RLIMIT_NOFILE);
		out("child sees NOFILE %s/%s\n", val(r.cur), val(r.max));
		int last = -1, fd;
		while ((fd = open("/dev/null", O_RDONLY)) >= 0)
			last = fd;
		out("child: last fd %d, then %s\n", last, en(errno));
		r = get(RLIMIT_STACK);
		out("child sees STACK %s\n", val(r.cur));
		_exit(0);
	}
	struct rl n = { 33, 35 }, old = { 0, 0 };
	out("prlimit child: %s\n", sys_prlimit(pid, RLIMIT_NOFILE, &n, &old) ? en(errno) : "ok");
	out("its old soft %s\n", val(old.cur));
	n.cur = n.max = 4 << 20;
	out("prlimit child STACK: %s\n", sys_prlimit(pid, RLIMIT_STACK, &n, NULL) ? en(errno) : "ok");
	out("prlimit child bad resource: %s\n", sys_prlimit(pid, 16, &n, NULL) ? en(errno) : "ok");
	struct rl mine = get(RLIMIT_NOFILE);
	out("mine NOFILE %s\n", val(mine.cur));
	must(write(go[1], "g", 1) == 1, "write");
	out("child: %s\n", ended(pid));
	out("prlimit reaped: %s\n", sys_prlimit(pid, RLIMIT_NOFILE, NULL, &old) ? en(errno) : "ok");
}

/* RLIMIT_NPROC applies to a non-root user without CAP_SYS_RESOURCE or
 * CAP_SYS_ADMIN: a child that drops to uid 54321 (a uid nothing else on the
 * host runs as) with NPROC 1 cannot fork; as root it could. */
static void nproc(void)
{
	out("-- NPROC\n");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct rl n = { 1, 1 };
		out("set NPROC 1: %s\n", sys_set(RLIMIT_NPROC, &n) ? en(errno) : "ok");
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		out("root forks past it: %s\n", c > 0 ? "yes" : en(errno));
		if (c > 0)
			waitpid(c, NULL, 0);
		out("setuid 54321: %s\n", setuid(54321) ? en(errno) : "ok");
		c = fork();
		if (c == 0)
			_exit(0);
		out("uid 54321 forks: %s\n", c > 0 ? "yes" : en(errno));
		if (c > 0)
			waitpid(c, NULL, 0);
		_exit(0);
	}
	out("child: %s\n", ended(pid));
}

static volatile char sink;

static void touch_stack(long kib)
{
	volatile char buf[16 << 10];
	buf[0] = 1;
	buf[sizeof buf - 1] = 1;
	if (kib > 16)
		touch_stack(kib - 16);
	sink = buf[0] + buf[sizeof buf - 1];
}

static void stack(const char *self)
{
	out("-- stack\n");
	/* The limit in force at execve shapes the new image's stack. */
	static const long depths[] = { 512, 3 << 10 };
	for (unsigned i = 0; i < 2; i++) {
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			must(setsoft(RLIMIT_STACK, 2 << 20) == 0, "STACK 2M");
			char n[16];
			snprintf(n, sizeof n, "%ld", depths[i]);
			char *argv[] = { (char *)"t_rlimits", (char *)"stack", n, NULL };
			char *envp[] = { NULL };
			execve(self, argv, envp);
			_exit(1);
		}
		out("stack %ld KiB under a 2 MiB limit: %s\n", depths[i], ended(pid));
	}
	/* A quarter of the limit (at least 128 KiB) bounds execve's arguments. */
	static char big[2][100 << 10];
	memset(big, 'a', sizeof big);
	big[0][sizeof big[0] - 1] = big[1][sizeof big[1] - 1] = 0;
	static const unsigned long limits[] = { 256 << 10, 1 << 20 };
	for (unsigned i = 0; i < 2; i++) {
		pid_t pid = fork();
		must(pid >= 0, "fork");
		if (pid == 0) {
			must(setsoft(RLIMIT_STACK, limits[i]) == 0, "STACK");
			char *argv[] = { (char *)"t_rlimits", (char *)"stack", (char *)"16", NULL };
			char *envp[] = { big[0], big[1], NULL };
			execve(self, argv, envp);
			out("execve: %s\n", en(errno));
			_exit(1);
		}
		out("200 KiB of environment under a %lu KiB stack limit: %s\n", limits[i] >> 10,
		    ended(pid));
	}
	/* Lowering the limit in a running process stops further growth. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		must(setsoft(RLIMIT_STACK, 1 << 20) == 0, "STACK 1M");
		touch_stack(4 << 10);
		_exit(0);
	}
	out("stack 4 MiB after lowering to 1 MiB: %s\n", ended(pid));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "show") == 0) {
		show_exec();
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "stack") == 0) {
		touch_stack(atol(argv[2]));
		out("touched\n");
		return 0;
	}
	get_after_set();
	stored();
	nofile();
	data();
	address_space();
	fsize();
	inherit("/proc/self/exe");
	prlimit_other();
	nproc();
	stack("/proc/self/exe");
	return failures() ? 1 : 0;
}
