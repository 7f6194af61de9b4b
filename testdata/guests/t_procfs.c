/*
 * t_procfs - /proc, /dev and /sys as programs read them: the formats of
 * /proc/self/stat and status (field counts, keys and their order, values
 * that must agree with the syscalls), /proc/self/fd and its links (pipes,
 * /dev/null, reopening a pipe through its link as bash's process
 * substitution does), fdinfo of a pidfd, a zombie child's state, a
 * multithreaded process's task directory, /dev/zero, /dev/full,
 * /dev/urandom, /proc/sys/kernel/pid_max and the CPU lists of /sys.
 * Prints only results that do not depend on the host.
 */
#include "guest.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static char buf[16384];

/* Reads a whole file into buf; returns its length or -errno. */
static int slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int n = 0;
	for (;;) {
		int r = read(fd, buf + n, sizeof buf - 1 - n);
		if (r <= 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	return n;
}

/* The fields of a stat line after the comm: fields[0] is the state. */
static int stat_fields(char **fields, int max)
{
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	int n = 0;
	for (char *tok = strtok(p + 2, " \n"); tok && n < max; tok = strtok(NULL, " \n"))
		fields[n++] = tok;
	return n;
}

/* The value of "Key:\t..." in buf (status), or NULL. */
static const char *status_value(const char *key)
{
	static char val[256];
	size_t k = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, k) && line[k] == ':') {
			const char *v = line + k + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			size_t n = strcspn(v, "\n");
			if (n >= sizeof val)
				n = sizeof val - 1;
			memcpy(val, v, n);
			val[n] = 0;
			return val;
		}
	}
	return NULL;
}

static void self_stat(void)
{
	char *f[64];
	must(slurp("/proc/self/stat") > 0, "read /proc/self/stat");
	int pid = atoi(buf);
	int n = stat_fields(f, 64);
	out("stat: %d fields after comm, state %s\n", n, f[0]);
	check(pid == getpid(), "stat pid");
	check(atoi(f[1]) == getppid(), "stat ppid");
	check(atoi(f[2]) == getpgrp(), "stat pgrp");
	check(atoi(f[3]) == getsid(0), "stat session");
	check(atoi(f[17]) == 1, "stat num_threads");
	char comm[64];
	snprintf(comm, sizeof comm, "%.*s", (int)(strrchr(buf, ')') - strchr(buf, '(') - 1), strchr(buf, '(') + 1);
	must(slurp("/proc/self/comm") > 0, "read comm");
	char want[80];
	snprintf(want, sizeof want, "%s\n", comm);
	check(!strcmp(buf, want), "comm matches stat");
	out("comm: %s", buf);
}

static void on_hup(int sig)
{
	(void)sig;
}

static void self_status(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	raise(SIGUSR1); /* pending for this thread */
	must(slurp("/proc/self/status") > 0, "read /proc/self/status");
	char keys[2048] = "";
	for (char *line = buf; *line;) {
		char *colon = strchr(line, ':');
		char *nl = strchr(line, '\n');
		if (!colon || !nl)
			break;
		strncat(keys, line, colon - line);
		strcat(keys, " ");
		line = nl + 1;
	}
	out("status keys: %s\n", keys);
	check(atoi(status_value("Tgid")) == getpid(), "Tgid");
	check(atoi(status_value("Pid")) == getpid(), "Pid");
	check(atoi(status_value("PPid")) == getppid(), "PPid");
	check(!strcmp(status_value("TracerPid"), "0"), "TracerPid");
	check(atoi(status_value("Uid")) == (int)getuid(), "Uid");
	check(atoi(status_value("Gid")) == (int)getgid(), "Gid");
	check(!strcmp(status_value("Threads"), "1"), "Threads");
	check(!strcmp(status_value("State"), "R (running)"), "State");
	unsigned long long pnd = strtoull(status_value("SigPnd"), NULL, 16);
	unsigned long long blk = strtoull(status_value("SigBlk"), NULL, 16);
	unsigned long long ign = strtoull(status_value("SigIgn"), NULL, 16);
	unsigned long long cgt = strtoull(status_value("SigCgt"), NULL, 16);
	check(pnd & (1ULL << (SIGUSR1 - 1)), "SigPnd has SIGUSR1");
	check(blk & (1ULL << (SIGUSR1 - 1)), "SigBlk has SIGUSR1");
	check(ign & (1ULL << (SIGUSR2 - 1)), "SigIgn has SIGUSR2");
	check(cgt & (1ULL << (SIGHUP - 1)), "SigCgt has SIGHUP");
	check(!(cgt & (1ULL << (SIGTERM - 1))), "SigCgt lacks SIGTERM");
	check(atoi(status_value("VmRSS")) > 0, "VmRSS");
	check(strlen(status_value("SigQ")) >= 3, "SigQ");
	/* The same sets in stat, in decimal. */
	char *f[64];
	must(slurp("/proc/self/stat") > 0, "stat again");
	stat_fields(f, 64);
	check(strtoull(f[29], NULL, 10) & (1ULL << (SIGUSR1 - 1)), "stat blocked");
	check(strtoull(f[30], NULL, 10) & (1ULL << (SIGUSR2 - 1)), "stat sigignore");
	check(strtoull(f[31], NULL, 10) & (1ULL << (SIGHUP - 1)), "stat sigcatch");
	/* Take the pending SIGUSR1 away again. */
	int sig;
	sigwait(&set, &sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	signal(SIGUSR2, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Sorted numeric entries of a directory, printed on one line. */
static int list_numbers(const char *path, int *nums, int max)
{
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
			nums[n++] = atoi(e->d_name);
	closedir(d);
	qsort(nums, n, sizeof *nums, cmp_int);
	return n;
}

static void fds(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	must(p[0] == 3 && p[1] == 4, "pipe at 3 and 4");
	int null = open("/dev/null", O_WRONLY);
	must(null == 5, "/dev/null at 5");
	int nums[64];
	int n = list_numbers("/proc/self/fd", nums, 64);
	char line[256] = "";
	for (int i = 0; i < n; i++)
		snprintf(line + strlen(line), sizeof line - strlen(line), " %d", nums[i]);
	out("fd:%s\n", line);

	char link[256];
	ssize_t l = readlink("/proc/self/fd/3", link, sizeof link - 1);
	must(l > 0, "readlink fd 3");
	link[l] = 0;
	struct stat st;
	fstat(3, &st);
	char want[64];
	snprintf(want, sizeof want, "pipe:[%lu]", (unsigned long)st.st_ino);
	check(!strcmp(link, want), "fd 3 links to its pipe's inode");
	l = readlink("/proc/self/fd/4", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	check(!strcmp(link, want), "both ends show the same pipe");
	out("fd 3: %.6s\n", link);
	l = readlink("/proc/self/fd/5", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	out("fd 5: %s\n", link);
	struct stat ls;
	check(lstat("/proc/self/fd/3", &ls) == 0 && S_ISLNK(ls.st_mode), "fd entry is a link");
	check(stat("/proc/self/fd/3", &ls) == 0 && S_ISFIFO(ls.st_mode), "it leads to a fifo");

	/* Process substitution: reopen the pipe's read end through /dev/fd. */
	must(write(4, "through-the-link", 16) == 16, "write pipe");
	int r = open("/dev/fd/3", O_RDONLY);
	check(r >= 0, "open /dev/fd/3");
	char data[32] = "";
	if (r >= 0) {
		ssize_t got = read(r, data, sizeof data - 1);
		data[got > 0 ? got : 0] = 0;
		close(r);
	}
	out("via /dev/fd/3: %s\n", data);
	int w = open("/proc/self/fd/4", O_WRONLY);
	check(w >= 0, "open /proc/self/fd/4 for writing");
	if (w >= 0) {
		check(write(w, "x", 1) == 1, "write through the reopened end");
		check(read(3, data, 1) == 1 && data[0] == 'x', "read it back");
		close(w);
	}
	/* fdinfo of a pipe. */
	must(slurp("/proc/self/fdinfo/4") > 0, "fdinfo 4");
	out("fdinfo 4: pos %s\n", status_value("pos"));
	out("fdinfo 4: flags %s\n", status_value("flags"));
	close(3);
	close(4);
	close(5);
	errno = 0;
	check(readlink("/proc/self/fd/3", link, sizeof link) < 0 && errno == ENOENT, "closed fd is gone");
}

static void devices(void)
{
	char b[64];
	memset(b, 7, sizeof b);
	int z = open("/dev/zero", O_RDWR);
	must(z >= 0, "open /dev/zero");
	int zeros = read(z, b, sizeof b) == sizeof b;
	for (size_t i = 0; i < sizeof b; i++)
		zeros &= b[i] == 0;
	ssize_t wz = write(z, "abc", 3);
	out("/dev/zero: reads zeros %d, write %zd\n", zeros, wz);
	struct stat st;
	fstat(z, &st);
	out("/dev/zero: chr %d %u:%u\n", S_ISCHR(st.st_mode), major(st.st_rdev), minor(st.st_rdev));
	/* mmap of /dev/zero: zeroed private memory, or memory shared with a child. */
	char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
	char *shr = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
	must(priv != MAP_FAILED && shr != MAP_FAILED, "mmap /dev/zero");
	int clean = priv[0] == 0 && priv[8191] == 0 && shr[0] == 0;
	priv[100] = 1;
	pid_t c = fork();
	if (c == 0) {
		shr[7] = 42;
		priv[100] = 2;
		_exit(0);
	}
	waitpid(c, NULL, 0);
	out("/dev/zero mmap: zeroed %d, shared sees child %d, private kept %d\n", clean, shr[7] == 42,
	    priv[100] == 1);
	munmap(priv, 8192);
	munmap(shr, 4096);
	int wz2 = open("/dev/zero", O_WRONLY);
	errno = 0;
	void *bad = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wz2, 0);
	out("/dev/zero mmap of a write-only fd: %s\n", bad == MAP_FAILED ? errname(errno) : "mapped");
	close(wz2);
	close(z);
	int f = open("/dev/full", O_WRONLY);
	must(f >= 0, "open /dev/full");
	errno = 0;
	ssize_t wr = write(f, "abc", 3);
	out("/dev/full: write %zd %s\n", wr, errname(errno));
	close(f);
	f = open("/dev/full", O_RDONLY);
	memset(b, 7, sizeof b);
	ssize_t got = read(f, b, sizeof b);
	out("/dev/full: read %zd first %d\n", got, b[0]);
	close(f);
	int u = open("/dev/urandom", O_RDONLY);
	must(u >= 0, "open /dev/urandom");
	unsigned char r1[32] = { 0 }, r2[32] = { 0 };
	check(read(u, r1, sizeof r1) == sizeof r1, "urandom read");
	check(read(u, r2, sizeof r2) == sizeof r2, "urandom read 2");
	check(memcmp(r1, r2, sizeof r1) != 0, "urandom differs");
	close(u);
	int rnd = open("/dev/random", O_RDONLY);
	check(rnd >= 0 && read(rnd, r1, 8) == 8, "/dev/random reads");
	close(rnd);
	char link[64];
	ssize_t l = readlink("/dev/fd", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	out("/dev/fd -> %s\n", link);
	l = readlink("/dev/stdin", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	out("/dev/stdin -> %s\n", link);
}

static void sysctl(void)
{
	must(slurp("/proc/sys/kernel/pid_max") > 0, "pid_max");
	char *end;
	long v = strtol(buf, &end, 10);
	out("pid_max: number %d, newline %d\n", v > 300, *end == '\n');
	must(slurp("/proc/sys/kernel/ostype") > 0, "ostype");
	out("ostype: %s", buf);
	check(slurp("/proc/sys/kernel/osrelease") > 0, "osrelease");
	check(slurp("/proc/sys/kernel/random/boot_id") == 37, "boot_id is a uuid");
	check(slurp("/proc/sys/vm/overcommit_memory") == 2, "overcommit_memory");
	cpu_set_t cpus;
	sched_getaffinity(0, sizeof cpus, &cpus);
	int n = CPU_COUNT(&cpus);
	char want[32];
	if (n == 1)
		snprintf(want, sizeof want, "0\n");
	else
		snprintf(want, sizeof want, "0-%d\n", n - 1);
	check(slurp("/sys/devices/system/cpu/online") > 0 && !strcmp(buf, want), "cpu online");
	check(slurp("/sys/devices/system/cpu/possible") > 0, "cpu possible");
	/* mounts: /proc is a proc mount. */
	must(slurp("/proc/self/mounts") > 0, "mounts");
	int proc = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char src[64], dir[256], type[64];
		if (sscanf(line, "%63s %255s %63s", src, dir, type) == 3 && !strcmp(dir, "/proc") &&
		    !strcmp(type, "proc"))
			proc = 1;
	}
	out("mounts: /proc is proc %d\n", proc);
	must(slurp("/proc/uptime") > 0, "uptime");
	double up, idle;
	out("uptime: %d fields\n", sscanf(buf, "%lf %lf", &up, &idle));
	must(slurp("/proc/meminfo") > 0, "meminfo");
	out("meminfo: starts with MemTotal %d\n", !strncmp(buf, "MemTotal:", 9));
	must(slurp("/proc/loadavg") > 0, "loadavg");
	int a, b, c;
	out("loadavg: %d\n", sscanf(buf, "%*f %*f %*f %d/%d %d", &a, &b, &c));
}

static void zombie(void)
{
	pid_t child = fork();
	must(child >= 0, "fork");
	if (child == 0)
		_exit(3);
	int pfd = syscall(SYS_pidfd_open, child, 0);
	check(pfd >= 0, "pidfd_open");
	siginfo_t si;
	must(waitid(P_PID, child, &si, WEXITED | WNOWAIT) == 0, "waitid WNOWAIT");
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	char *f[64];
	must(slurp(path) > 0, "child stat");
	check(atoi(buf) == child, "child pid");
	int n = stat_fields(f, 64);
	out("zombie: %d fields, state %s, exit_code %s\n", n, f[0], f[49]);
	char mine[64] = "", theirs[64] = "";
	if (slurp("/proc/self/comm") > 0)
		snprintf(mine, sizeof mine, "%.63s", buf);
	snprintf(path, sizeof path, "/proc/%d/comm", child);
	if (slurp(path) > 0)
		snprintf(theirs, sizeof theirs, "%.63s", buf);
	out("zombie: comm kept %d\n", mine[0] && !strcmp(mine, theirs));
	snprintf(path, sizeof path, "/proc/%d/status", child);
	must(slurp(path) > 0, "child status");
	out("zombie: State %s, VmRSS %s\n", status_value("State"), status_value("VmRSS") ? "present" : "absent");
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pfd);
	must(slurp(path) > 0, "pidfd fdinfo");
	check(atoi(status_value("Pid")) == child, "pidfd fdinfo Pid");
	check(atoi(status_value("NSpid")) == child, "pidfd fdinfo NSpid");
	out("pidfd: flags %s\n", status_value("flags"));
	char link[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", pfd);
	ssize_t l = readlink(path, link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	out("pidfd link: %s\n", link);
	int status;
	waitpid(child, &status, 0);
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pfd);
	must(slurp(path) > 0, "pidfd fdinfo after reap");
	out("pidfd after reap: Pid %s\n", status_value("Pid"));
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	out("reaped: %s\n", errname(-slurp(path)));
	close(pfd);
}

/* A stopped child shows T, a sleeping one S. */
static void stopped(void)
{
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t child = fork();
	must(child >= 0, "fork");
	if (child == 0) {
		char c;
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	char path[64], *f[64];
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	/* Wait until the child sleeps in its read. */
	char state = '?';
	for (int i = 0; i < 500 && state != 'S'; i++) {
		if (slurp(path) > 0 && stat_fields(f, 64) > 0)
			state = f[0][0];
		if (state != 'S')
			usleep(10000);
	}
	out("stopped: before %c\n", state);
	kill(child, SIGSTOP);
	int st;
	must(waitpid(child, &st, WUNTRACED) == child && WIFSTOPPED(st), "stopped");
	must(slurp(path) > 0, "stat");
	stat_fields(f, 64);
	out("stopped: state %s\n", f[0]);
	snprintf(path, sizeof path, "/proc/%d/status", child);
	must(slurp(path) > 0, "status");
	out("stopped: %s\n", status_value("State"));
	kill(child, SIGCONT);
	close(p[1]);
	waitpid(child, &st, 0);
}

static int gate[2];

static void *sleeper(void *arg)
{
	(void)arg;
	char c;
	while (read(gate[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void threads(void)
{
	must(pipe(gate) == 0, "gate");
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		must(pthread_create(&t[i], NULL, sleeper, NULL) == 0, "pthread_create");
	/* Names: another thread's through /proc (pthread_setname_np writes
	 * /proc/self/task/<tid>/comm), our own through prctl. */
	check(pthread_setname_np(t[0], "worker0") == 0, "pthread_setname_np");
	char saved[32] = "";
	prctl(PR_GET_NAME, saved);
	prctl(PR_SET_NAME, "renamed-main-thread");
	char got[32] = "";
	prctl(PR_GET_NAME, got);
	out("prctl name: %s\n", got);
	int nums[16];
	int n = list_numbers("/proc/self/task", nums, 16);
	out("task: %d entries\n", n);
	int workers = 0;
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/task/%d/comm", nums[i]);
		if (slurp(path) > 0 && !strcmp(buf, "worker0\n"))
			workers++;
	}
	must(slurp("/proc/self/comm") > 0, "comm");
	out("names: %d worker0, main %s", workers, buf);
	prctl(PR_SET_NAME, saved);
	int has_main = 0;
	for (int i = 0; i < n; i++) {
		has_main |= nums[i] == getpid();
		char path[64];
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", nums[i]);
		char *f[64];
		must(slurp(path) > 0, "task stat");
		check(atoi(buf) == nums[i], "task stat pid is the tid");
		check(stat_fields(f, 64) == 50, "task stat fields");
		check(atoi(f[17]) == 3, "task num_threads");
		snprintf(path, sizeof path, "/proc/%d/task/%d/status", getpid(), nums[i]);
		must(slurp(path) > 0, "task status");
		check(atoi(status_value("Pid")) == nums[i], "task status Pid");
		check(atoi(status_value("Tgid")) == getpid(), "task status Tgid");
	}
	check(has_main, "main thread listed");
	must(slurp("/proc/self/status") > 0, "status");
	out("threads: %s\n", status_value("Threads"));
	char link[64];
	ssize_t l = readlink("/proc/thread-self", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	char want[64];
	snprintf(want, sizeof want, "%d/task/%d", getpid(), (int)syscall(SYS_gettid));
	check(!strcmp(link, want), "thread-self");
	check(write(gate[1], "xx", 2) == 2, "open the gate");
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	close(gate[0]);
	close(gate[1]);
}

static void self_links(int argc, char **argv)
{
	must(slurp("/proc/self/cmdline") > 0, "cmdline");
	int ok = 1;
	char *p = buf;
	for (int i = 0; i < argc; i++) {
		ok &= !strcmp(p, argv[i]);
		p += strlen(p) + 1;
	}
	out("cmdline matches argv %d\n", ok);
	char cwd[256], link[256];
	must(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
	ssize_t l = readlink("/proc/self/cwd", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	check(!strcmp(cwd, link), "cwd link");
	l = readlink("/proc/self/root", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	out("root -> %s\n", link);
	char self[32];
	snprintf(self, sizeof self, "%d", getpid());
	l = readlink("/proc/self", link, sizeof link - 1);
	link[l > 0 ? l : 0] = 0;
	check(!strcmp(self, link), "/proc/self");
	struct stat st;
	check(stat("/proc/self/exe", &st) == 0 && S_ISREG(st.st_mode), "exe is a file");
	/* /proc lists this process. */
	int nums[4096];
	int n = list_numbers("/proc", nums, 4096);
	int found = 0;
	for (int i = 0; i < n; i++)
		found |= nums[i] == getpid();
	out("/proc lists me %d\n", found);
	errno = 0;
	check(open("/proc/self/stat", O_RDONLY | O_DIRECTORY) < 0 && errno == ENOTDIR, "O_DIRECTORY");
	check(chdir("/proc/self") == 0, "chdir /proc/self");
	check(slurp("status") > 0, "relative to the /proc dir");
	check(chdir(cwd) == 0, "chdir back");
}

/* The links of /proc/self/fd show the descriptor's access mode (r-x, -wx,
 * rwx, nothing for O_PATH) and size 64; the other magic links lrwxrwxrwx
 * and 0. */
static void fd_link_modes(void)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, "/tmp/t_procfs-fdw-%d", (int)getpid());
	int fds[] = {
		open("/proc/self/status", O_RDONLY),
		open(tmp, O_WRONLY | O_CREAT, 0600),
		open(tmp, O_RDWR),
		open("/proc", O_PATH),
	};
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		char p[64];
		struct stat s;
		snprintf(p, sizeof p, "/proc/self/fd/%d", fds[i]);
		check(lstat(p, &s) == 0, "lstat fd link");
		out("fd link %u: mode %o size %lld nlink %lu\n", i, (unsigned)s.st_mode,
		    (long long)s.st_size, (unsigned long)s.st_nlink);
	}
	const char *other[] = {"/proc/self/cwd", "/proc/self/root", "/proc/self/exe"};
	for (unsigned i = 0; i < sizeof other / sizeof other[0]; i++) {
		struct stat s;
		check(lstat(other[i], &s) == 0, other[i]);
		out("%s: mode %o size %lld\n", other[i], (unsigned)s.st_mode, (long long)s.st_size);
	}
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
		close(fds[i]);
	unlink(tmp);
	/* linkat of an O_TMPFILE file through its fd link: allowed without
	 * O_EXCL, ENOENT with it. */
	for (int excl = 0; excl < 2; excl++) {
		int x = open("/tmp", O_TMPFILE | O_RDWR | (excl ? O_EXCL : 0), 0600);
		check(x >= 0, "O_TMPFILE");
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%d", x);
		int r = linkat(AT_FDCWD, p, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW);
		out("linkat O_TMPFILE%s via fd link: %s\n", excl ? "|O_EXCL" : "",
		    r == 0 ? "ok" : strerror(errno));
		unlink(tmp);
		close(x);
	}
}

int main(int argc, char **argv)
{
	/* Only the standard streams, whatever the test harness leaked. */
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	self_stat();
	self_status();
	fds();
	devices();
	sysctl();
	zombie();
	stopped();
	threads();
	self_links(argc, argv);
	fd_link_modes();
	return failures() != 0;
}
