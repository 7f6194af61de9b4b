/*
 * t_creds: user and group ids, supplementary groups, capabilities and the
 * prctl options about them, no_new_privs, dumpable, timer slack,
 * personality, unshare and setns, as root (in a container or not).
 *
 * The host's own capability sets may lack some capabilities, so sets are
 * printed as relations (to the starting permitted set P0, masked to
 * /proc/sys/kernel/cap_last_cap), never as raw values. Every part runs in a
 * child of its own, so each starts as root.
 */
#include "guest.h"

#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_LOWER 3
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define CAP_V1 0x19980330
#define CAP_V3 0x20080522
#define CAP_CHOWN 0
#define CAP_SETPCAP 8
#define CAP_NET_RAW 13
#define CAP_SYS_ADMIN 21

struct cap_hdr {
	unsigned version;
	int pid;
};
struct cap_data {
	unsigned effective, permitted, inheritable;
};

static unsigned long long full_mask, P0;

struct caps {
	unsigned long long e, p, i;
};

static struct caps get_caps(void)
{
	struct cap_hdr h = {CAP_V3, 0};
	struct cap_data d[2];
	memset(d, 0, sizeof d);
	must(syscall(SYS_capget, &h, d) == 0, "capget");
	struct caps c = {
		(d[0].effective | (unsigned long long)d[1].effective << 32) & full_mask,
		(d[0].permitted | (unsigned long long)d[1].permitted << 32) & full_mask,
		(d[0].inheritable | (unsigned long long)d[1].inheritable << 32) & full_mask,
	};
	return c;
}

static int set_caps(unsigned long long e, unsigned long long p, unsigned long long i)
{
	struct cap_hdr h = {CAP_V3, 0};
	struct cap_data d[2] = {
		{(unsigned)e, (unsigned)p, (unsigned)i},
		{(unsigned)(e >> 32), (unsigned)(p >> 32), (unsigned)(i >> 32)},
	};
	return syscall(SYS_capset, &h, d) == 0 ? 0 : errno;
}

/* A capability set, relative to P0. */
static const char *rel(unsigned long long s)
{
	static char buf[4][64];
	static int n;
	char *b = buf[n++ % 4];
	if (s == P0)
		return "P0";
	if (s == 0)
		return "none";
	if (__builtin_popcountll(s) <= 4) {
		int n = snprintf(b, 64, "only");
		for (int i = 0; i < 64; i++)
			if (s >> i & 1)
				n += snprintf(b + n, 64 - (size_t)n, " %d", i);
		return b;
	}
	if ((s & P0) == s) {
		unsigned long long gone = P0 & ~s;
		if (gone == (1ull << CAP_NET_RAW))
			return "P0-NET_RAW";
		if (gone == ((1ull << 0) | (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 4) |
			     (1ull << 9) | (1ull << 27) | (1ull << 32)))
			return "P0-fs";
		snprintf(b, 64, "P0-other(%d)", __builtin_popcountll(gone));
		return b;
	}
	snprintf(b, 64, "%d bits", __builtin_popcountll(s));
	return b;
}

static void show_ids(const char *what)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	struct caps c = get_caps();
	out("%s: uid %u %u %u fsuid %d gid %u %u %u fsgid %d eff %s prm %s inh %s\n", what, r, e,
	    s, setfsuid(-1), rg, eg, sg, setfsgid(-1), rel(c.e), rel(c.p), rel(c.i));
}

static void status_lines(const char *keys)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0) {
		out("status: %s\n", errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char key[32];
		const char *colon = strchr(line, ':');
		if (!colon || colon - line >= (int)sizeof key - 2)
			continue;
		snprintf(key, sizeof key, ",%.*s,", (int)(colon - line), line);
		if (!strstr(keys, key))
			continue;
		if (strncmp(line, "Cap", 3) == 0) {
			unsigned long long v = strtoull(colon + 1, NULL, 16) & full_mask;
			out("status %.*s: %s\n", (int)(colon - line), line, rel(v));
		} else {
			out("status %s\n", line);
		}
	}
}

static int err(long r)
{
	return r < 0 ? errno : 0;
}

#define E(call) errname(err(call))

static void child(void (*f)(void), const char *name)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		f();
		_exit(failures() ? 1 : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		out("FAIL: part %s ended with status 0x%x\n", name, st);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		guest_failures++;
}

static void groups_part(void)
{
	gid_t list[8];
	out("getgroups(0): %d\n", getgroups(0, list));
	gid_t set[] = {100, 5, 3};
	out("setgroups: %s\n", E(setgroups(3, set)));
	int n = getgroups(8, list);
	out("getgroups: %d: %u %u %u\n", n, list[0], list[1], list[2]);
	errno = 0;
	out("getgroups too small: %d %s\n", getgroups(1, list), errname(errno));
	out("getgroups(-1): %s\n", E(syscall(SYS_getgroups, -1, list)));
	out("setgroups(65537): %s\n", E(syscall(SYS_setgroups, 65537, list)));
	out("setgroups(-1): %s\n", E(syscall(SYS_setgroups, -1, list)));
	out("setgroups bad pointer: %s\n", E(syscall(SYS_setgroups, 2, (void *)8)));
	gid_t bad[] = {1, (gid_t)-1};
	out("setgroups with id -1: %s\n", E(setgroups(2, bad)));
	status_lines(",Groups,");
	const char *r0 = E(setgroups(0, NULL));
	out("setgroups(0): %s, now %d\n", r0, getgroups(0, list));
}

static void fsuid_part(void)
{
	out("setfsuid(1234) returns %d\n", setfsuid(1234));
	show_ids("after setfsuid(1234)");
	status_lines(",Uid,CapEff,");
	out("setfsuid(0) returns %d\n", setfsuid(0));
	show_ids("after setfsuid(0)");
	out("setfsgid(77) returns %d\n", setfsgid(77));
	status_lines(",Gid,");
}

static void saved_root_part(void)
{
	out("setresuid(1000, 1001, 0): %s\n", E(setresuid(1000, 1001, 0)));
	show_ids("saved root");
	status_lines(",Uid,CapPrm,CapEff,");
	out("PR_GET_DUMPABLE after an id change: %d\n", prctl(PR_GET_DUMPABLE));
	out("setuid(0) back: %s\n", E(setuid(0)));
	show_ids("euid 0 again");
	out("setresuid(-1, -1, -1): %s\n", E(setresuid(-1, -1, -1)));
	out("setreuid(-1, 1000): %s\n", E(setreuid(-1, 1000)));
	show_ids("after setreuid(-1, 1000)");
	out("seteuid(0): %s\n", E(seteuid(0)));
	show_ids("after seteuid(0)");
}

static void drop_root_part(void)
{
	out("setuid(-1): %s\n", E(syscall(SYS_setuid, -1)));
	out("setuid(1000): %s\n", E(syscall(SYS_setuid, 1000)));
	show_ids("as 1000");
	out("setuid(0): %s\n", E(syscall(SYS_setuid, 0)));
	out("setgid(5): %s\n", E(syscall(SYS_setgid, 5)));
	gid_t g = 1;
	out("setgroups: %s\n", E(syscall(SYS_setgroups, 1, &g)));
	out("setreuid(1000, 1000): %s\n", E(syscall(SYS_setreuid, 1000, 1000)));
	out("setresuid(2000, -1, -1): %s\n", E(syscall(SYS_setresuid, 2000, -1, -1)));
	out("setreuid(2000, -1): %s\n", E(syscall(SYS_setreuid, 2000, -1)));
	int f0 = setfsuid(0);
	out("setfsuid(0) returns %d, then %d\n", f0, setfsuid(-1));
	out("capset to raise: %s\n", errname(set_caps(1ull << CAP_CHOWN, 1ull << CAP_CHOWN, 0)));
	out("PR_CAPBSET_DROP: %s\n", E(prctl(PR_CAPBSET_DROP, CAP_NET_RAW)));
	out("PR_GET_DUMPABLE: %d\n", prctl(PR_GET_DUMPABLE));
	/* si_uid of a signal this process sends itself. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, NULL);
	kill(getpid(), SIGUSR1);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	sigwaitinfo(&s, &si);
	out("kill's si_uid: %u\n", si.si_uid);
	status_lines(",Uid,Gid,CapPrm,CapEff,");
}

static void keepcaps_part(void)
{
	out("PR_GET_KEEPCAPS: %d\n", prctl(PR_GET_KEEPCAPS));
	out("PR_SET_KEEPCAPS 2: %s\n", E(prctl(PR_SET_KEEPCAPS, 2)));
	const char *k = E(prctl(PR_SET_KEEPCAPS, 1));
	out("PR_SET_KEEPCAPS 1: %s, now %d\n", k, prctl(PR_GET_KEEPCAPS));
	out("setresuid(1000, 1000, 1000): %s\n", E(setresuid(1000, 1000, 1000)));
	show_ids("kept caps");
	struct caps c = get_caps();
	out("capset effective = permitted: %s\n", errname(set_caps(c.p, c.p, 0)));
	show_ids("effective again");
	out("setuid(0) with CAP_SETUID: %s\n", E(syscall(SYS_setuid, 0)));
	show_ids("root again");
}

static void gid_part(void)
{
	out("setgid(50): %s\n", E(setgid(50)));
	show_ids("setgid(50)");
	out("setregid(-1, 60): %s\n", E(setregid(-1, 60)));
	show_ids("setregid(-1, 60)");
	out("setresgid(1, 2, 3): %s\n", E(setresgid(1, 2, 3)));
	int g9 = setfsgid(9);
	out("setfsgid(9) returns %d, then %d\n", g9, setfsgid(-1));
	show_ids("setresgid(1, 2, 3)");
	out("setregid(-1, -1): %s\n", E(setregid(-1, -1)));
	out("setgid(-1): %s\n", E(syscall(SYS_setgid, -1)));
	status_lines(",Gid,");
}

static void capget_part(void)
{
	struct cap_hdr h = {0, 0};
	struct cap_data d[2];
	const char *r = E(syscall(SYS_capget, &h, NULL));
	out("capget bad version, no data: %s, version %#x\n", r, h.version);
	h.version = 0x12345678;
	r = E(syscall(SYS_capget, &h, d));
	out("capget bad version: %s, version %#x\n", r, h.version);
	h.version = 0x12345678;
	r = E(syscall(SYS_capset, &h, d));
	out("capset bad version: %s, version %#x\n", r, h.version);
	h.version = CAP_V1;
	memset(d, 0xff, sizeof d);
	r = E(syscall(SYS_capget, &h, d));
	out("capget v1: %s, effective is P0's low word %d, second word untouched %d\n", r,
	    d[0].effective == (unsigned)P0, d[1].effective == 0xffffffffu);
	h.version = CAP_V3;
	h.pid = -1;
	out("capget pid -1: %s\n", E(syscall(SYS_capget, &h, d)));
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	h.pid = gone;
	out("capget of a reaped pid: %s\n", E(syscall(SYS_capget, &h, d)));
	h.pid = getppid();
	r = E(syscall(SYS_capget, &h, d));
	out("capget of the parent: %s, eff %s\n", r,
	    rel((d[0].effective | (unsigned long long)d[1].effective << 32) & full_mask));
	h.pid = getppid();
	out("capset of the parent: %s\n", E(syscall(SYS_capset, &h, d)));
	h.pid = getpid();
	out("capget bad data pointer: %s\n", E(syscall(SYS_capget, &h, (void *)8)));
	out("capset effective beyond permitted: %s\n",
	    errname(set_caps(P0, P0 & ~(1ull << CAP_NET_RAW), 0)));
	out("capset drop NET_RAW: %s\n",
	    errname(set_caps(P0 & ~(1ull << CAP_NET_RAW), P0 & ~(1ull << CAP_NET_RAW), 0)));
	show_ids("dropped NET_RAW");
	status_lines(",CapPrm,CapEff,");
	out("capset raise it again: %s\n", errname(set_caps(P0, P0, 0)));
	unsigned long long p = P0 & ~(1ull << CAP_NET_RAW);
	out("capset inheritable SYS_ADMIN: %s\n", errname(set_caps(p, p, 1ull << CAP_SYS_ADMIN)));
	r = E(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0));
	out("ambient raise SYS_ADMIN: %s, is set %d\n", r,
	    (int)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0));
	out("ambient raise NET_RAW (not permitted): %s\n",
	    E(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0)));
	out("ambient bad op: %s\n", E(prctl(PR_CAP_AMBIENT, 9, 0, 0, 0)));
	status_lines(",CapInh,CapAmb,");
	r = E(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	out("ambient clear all: %s, is set %d\n", r,
	    (int)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0));
	/* Without CAP_SETPCAP, inheritable may not grow beyond permitted. */
	unsigned long long q = p & ~(1ull << CAP_SETPCAP) & ~(1ull << CAP_CHOWN);
	out("capset drop SETPCAP and CHOWN: %s\n", errname(set_caps(q, q, 0)));
	out("capset inheritable CHOWN without SETPCAP: %s\n",
	    errname(set_caps(q, q, 1ull << CAP_CHOWN)));
	out("PR_CAPBSET_DROP without SETPCAP: %s\n", E(prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN)));
}

static void exec_self(const char *mode)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		char *args[] = {"t_creds", (char *)mode, NULL};
		execv("/proc/self/exe", args);
		out("execv: %s\n", errname(errno));
		_exit(2);
	}
	int st;
	waitpid(pid, &st, 0);
	out("exec'd child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void after_exec(void)
{
	show_ids("after exec");
	struct caps c = get_caps();
	out("after exec: permitted has NET_RAW %d, SYS_ADMIN %d; effective is permitted %d\n",
	    (int)(c.p >> CAP_NET_RAW & 1), (int)(c.p >> CAP_SYS_ADMIN & 1), c.e == c.p);
	out("after exec: bounding NET_RAW %d, dumpable %d, no_new_privs %d, personality %#x, "
	    "keepcaps %d\n",
	    prctl(PR_CAPBSET_READ, CAP_NET_RAW), prctl(PR_GET_DUMPABLE),
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), personality(0xffffffff),
	    prctl(PR_GET_KEEPCAPS));
	status_lines(",NoNewPrivs,CapBnd,CapPrm,");
}

static void bounding_part(void)
{
	out("PR_CAPBSET_READ SYS_ADMIN: %d\n", prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN));
	out("PR_CAPBSET_READ last+1: %s\n",
	    E(prctl(PR_CAPBSET_READ, __builtin_popcountll(full_mask))));
	out("PR_CAPBSET_READ -1: %s\n", E(prctl(PR_CAPBSET_READ, -1)));
	const char *r = E(prctl(PR_CAPBSET_DROP, CAP_NET_RAW));
	out("PR_CAPBSET_DROP NET_RAW: %s, read %d\n", r, prctl(PR_CAPBSET_READ, CAP_NET_RAW));
	out("PR_CAPBSET_DROP last+1: %s\n",
	    E(prctl(PR_CAPBSET_DROP, __builtin_popcountll(full_mask))));
	show_ids("after the bounding drop");
	status_lines(",CapBnd,");
	out("PR_SET_KEEPCAPS 1: %s\n", E(prctl(PR_SET_KEEPCAPS, 1)));
	out("PR_SET_DUMPABLE 2: %s\n", E(prctl(PR_SET_DUMPABLE, 2)));
	r = E(prctl(PR_SET_DUMPABLE, 0));
	out("PR_SET_DUMPABLE 0: %s, get %d\n", r, prctl(PR_GET_DUMPABLE));
	out("PR_SET_NO_NEW_PRIVS 0: %s\n", E(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0)));
	out("PR_SET_NO_NEW_PRIVS 1 with arg3: %s\n", E(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0)));
	out("PR_GET_NO_NEW_PRIVS with arg2: %s\n", E(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0)));
	r = E(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	out("PR_SET_NO_NEW_PRIVS 1: %s, get %d\n", r, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	int old = personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC);
	out("personality(ADDR_NO_RANDOMIZE) returns %#x, now %#x\n", old, personality(0xffffffff));
	pid_t pid = fork();
	if (pid == 0) {
		out("forked: bounding NET_RAW %d, dumpable %d, no_new_privs %d, personality %#x\n",
		    prctl(PR_CAPBSET_READ, CAP_NET_RAW), prctl(PR_GET_DUMPABLE),
		    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), personality(0xffffffff));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	exec_self("after-exec");
	out("personality(PER_LINUX) returns %#x\n", personality(PER_LINUX));
	out("personality(0xffffffff) returns %#x\n", personality(0xffffffff));
}

static void slack_part(void)
{
	long def = prctl(PR_GET_TIMERSLACK);
	out("timer slack is the default 50000: %d\n", def == 50000);
	const char *r = E(prctl(PR_SET_TIMERSLACK, 1000));
	out("PR_SET_TIMERSLACK 1000: %s, get %ld\n", r, (long)prctl(PR_GET_TIMERSLACK));
	pid_t pid = fork();
	if (pid == 0) {
		out("forked: slack %ld\n", (long)prctl(PR_GET_TIMERSLACK));
		prctl(PR_SET_TIMERSLACK, 7);
		prctl(PR_SET_TIMERSLACK, 0);
		out("forked: slack after a reset %ld\n", (long)prctl(PR_GET_TIMERSLACK));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	prctl(PR_SET_TIMERSLACK, 0);
	out("reset: slack is the default again %d\n", prctl(PR_GET_TIMERSLACK) == def);
	int sub = -1;
	prctl(PR_GET_CHILD_SUBREAPER, &sub);
	out("PR_GET_CHILD_SUBREAPER: %d\n", sub);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_GET_CHILD_SUBREAPER, &sub);
	out("PR_GET_CHILD_SUBREAPER after set: %d\n", sub);
}

static void *idle_thread(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

static void unshare_part(void)
{
	out("unshare(0): %s\n", E(unshare(0)));
	out("unshare(CLONE_FILES): %s\n", E(unshare(CLONE_FILES)));
	out("unshare(CLONE_FS): %s\n", E(unshare(CLONE_FS)));
	out("unshare(CLONE_SYSVSEM): %s\n", E(unshare(CLONE_SYSVSEM)));
	out("unshare(CLONE_THREAD) single-threaded: %s\n", E(unshare(CLONE_THREAD)));
	out("unshare(CLONE_VM) single-threaded: %s\n", E(unshare(CLONE_VM)));
	out("unshare(CLONE_SIGHAND) single-threaded: %s\n", E(unshare(CLONE_SIGHAND)));
	out("unshare(0x1): %s\n", E(unshare(1)));
	out("unshare(CLONE_PARENT): %s\n", E(unshare(CLONE_PARENT)));
	out("setns(-1, 0): %s\n", E(setns(-1, 0)));
	int fd = open("/dev/null", O_RDONLY);
	out("setns(/dev/null, 0): %s\n", E(setns(fd, 0)));
	out("setns(/dev/null, CLONE_NEWUTS): %s\n", E(setns(fd, CLONE_NEWUTS)));
	/* unshare and clone agree about a new UTS namespace. */
	long cr = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
	if (cr == 0)
		_exit(0);
	int c = cr < 0 ? errno : 0;
	int u = err(unshare(CLONE_NEWUTS));
	out("unshare and clone agree about CLONE_NEWUTS: %d\n", u == c);
	while (wait(NULL) > 0)
		;
	/* A descriptor table shared by CLONE_FILES, then unshared. */
	int shared = open("/dev/null", O_RDONLY), kept = open("/dev/null", O_RDONLY);
	long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		close(shared);
		unshare(CLONE_FILES);
		close(kept);
		_exit(0);
	}
	waitpid((pid_t)pid, NULL, 0);
	out("CLONE_FILES child's close before unshare reaches us %d, after it does not %d\n",
	    fcntl(shared, F_GETFD) < 0, fcntl(kept, F_GETFD) >= 0);
	pthread_t th;
	pthread_create(&th, NULL, idle_thread, NULL);
	out("unshare(CLONE_THREAD) with two threads: %s\n", E(unshare(CLONE_THREAD)));
	out("unshare(CLONE_VM) with two threads: %s\n", E(unshare(CLONE_VM)));
	out("unshare(CLONE_FILES) with two threads: %s\n", E(unshare(CLONE_FILES)));
	_exit(failures() ? 1 : 0);
}

static int sync_pipe[2];

static void *uid_thread(void *arg)
{
	(void)arg;
	char c;
	must(read(sync_pipe[0], &c, 1) == 1, "read");
	out("other thread after setuid(1000): uid %d euid %d\n", (int)getuid(), (int)geteuid());
	return NULL;
}

/* The libc makes setuid process-wide by running it on every thread. */
static void threads_part(void)
{
	must(pipe(sync_pipe) == 0, "pipe");
	pthread_t th;
	must(pthread_create(&th, NULL, uid_thread, NULL) == 0, "pthread_create");
	out("setuid(1000) with two threads: %s\n", E(setuid(1000)));
	must(write(sync_pipe[1], "g", 1) == 1, "write");
	pthread_join(th, NULL);
}

int main(int argc, char **argv)
{
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY);
	must(fd >= 0, "cap_last_cap");
	char buf[16] = {0};
	must(read(fd, buf, sizeof buf - 1) > 0, "read cap_last_cap");
	close(fd);
	int last = atoi(buf);
	full_mask = last >= 63 ? ~0ull : (1ull << (last + 1)) - 1;
	P0 = get_caps().p;
	if (argc == 2 && strcmp(argv[1], "ns") == 0) {
		/* Sandbox only (natively, root may create namespaces). */
		long cr = syscall(SYS_clone, CLONE_NEWUTS | CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (cr == 0)
			_exit(0);
		const char *c = cr < 0 ? errname(errno) : "created";
		const char *u = E(unshare(CLONE_NEWUTS | CLONE_NEWUSER));
		int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		const char *sn = E(setns(pidfd, CLONE_NEWUTS));
		out("clone %s, unshare %s, setns on a pidfd %s, with no flags %s\n", c, u, sn,
		    E(setns(pidfd, 0)));
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "after-exec") == 0) {
		after_exec();
		return failures() ? 1 : 0;
	}
	out("uid %d euid %d gid %d egid %d\n", getuid(), geteuid(), getgid(), getegid());
	struct caps c = get_caps();
	out("start: eff is prm %d, inh %s, bounding has SYS_ADMIN %d\n", c.e == c.p, rel(c.i),
	    prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN));
	show_ids("start");
	status_lines(",Uid,Gid,Groups,CapInh,CapPrm,CapEff,CapBnd,CapAmb,NoNewPrivs,");
	child(groups_part, "groups");
	child(fsuid_part, "fsuid");
	child(saved_root_part, "saved root");
	child(drop_root_part, "drop root");
	child(keepcaps_part, "keepcaps");
	child(gid_part, "gid");
	child(capget_part, "capget");
	child(bounding_part, "bounding");
	child(slack_part, "slack");
	child(threads_part, "threads");
	child(unshare_part, "unshare");
	return failures() ? 1 : 0;
}
