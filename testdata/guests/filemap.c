/*
 * filemap: file-backed memory (issue 9). MAP_PRIVATE of the program itself
 * and of a /tmp file (zeros past the end of the file in its last page,
 * SIGBUS for a page wholly past it, copy-on-write across fork), MAP_SHARED
 * of a /tmp file and of a memfd coherent with read/write and across fork,
 * SIGBUS after a shrinking ftruncate, MAP_POPULATE, msync and mincore
 * errnos, /proc/self/maps lines of file mappings, memfd_create flags and
 * names, and file seals (F_ADD_SEALS / F_GET_SEALS).
 */
#include "guest.h"

#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x1U
#define MFD_ALLOW_SEALING 0x2U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x4U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define PG 4096L

static int memfd(const char *name, unsigned flags)
{
	return (int)syscall(SYS_memfd_create, name, flags);
}

static void res(const char *what, long r)
{
	if (r < 0)
		out("%s: %s\n", what, errname(errno));
	else
		out("%s: ok\n", what);
}

static sigjmp_buf jb;
static volatile int got_sig, got_code;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	siglongjmp(jb, 1);
}

/* Reads one byte at p and says what happened. */
static const char *probe(volatile char *p, int write)
{
	static char buf[64];
	got_sig = 0;
	if (sigsetjmp(jb, 1) == 0) {
		char c = *p;
		if (write)
			*p = c;
		snprintf(buf, sizeof buf, "ok(%d)", c);
		return buf;
	}
	snprintf(buf, sizeof buf, "%s code %d", signame(got_sig), got_code);
	return buf;
}

static char tmpname[64];

static int make_file(const char *tag, long size)
{
	snprintf(tmpname, sizeof tmpname, "/tmp/filemap-%s-%d", tag, (int)getpid());
	int fd = open(tmpname, O_RDWR | O_CREAT | O_TRUNC, 0600);
	must(fd >= 0, "create a /tmp file");
	for (long i = 0; i < size; i++) {
		char c = (char)('a' + i % 26);
		must(pwrite(fd, &c, 1, i) == 1, "fill");
	}
	return fd;
}

static void private_exe(void)
{
	int fd = open("/proc/self/exe", O_RDONLY);
	must(fd >= 0, "open /proc/self/exe");
	unsigned char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	must(m != MAP_FAILED, "mmap exe private");
	unsigned char buf[2 * PG];
	must(pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "pread exe");
	out("exe: magic %s, same as pread %s\n",
	    memcmp(m, "\177ELF", 4) == 0 ? "ELF" : "?",
	    memcmp(m, buf, sizeof buf) == 0 ? "yes" : "no");
	m[0] = 'X';
	unsigned char c;
	must(pread(fd, &c, 1, 0) == 1, "pread exe");
	out("exe: private write stays private: %s\n", c == 0x7f && m[0] == 'X' ? "yes" : "no");
	/* A shared, read-only mapping of a file opened read-only. */
	errno = 0;
	void *w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	out("exe: MAP_SHARED|PROT_WRITE of O_RDONLY: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	unsigned char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
	must(r != MAP_FAILED, "mmap exe shared read-only");
	out("exe: shared read-only magic %s\n", memcmp(r, "\177ELF", 4) == 0 ? "ELF" : "?");
	res("exe: mprotect(PROT_WRITE) of it", mprotect(r, PG, PROT_READ | PROT_WRITE));
	munmap(r, PG);
	/* /proc/self/maps names the program's path and its inode. */
	char exe[256], want[64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	struct stat st;
	must(fstat(fd, &st) == 0, "fstat exe");
	int mf = open("/proc/self/maps", O_RDONLY);
	static char maps[65536];
	n = read(mf, maps, sizeof maps - 1);
	close(mf);
	maps[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof want, "%lx-", (unsigned long)m);
	char *line = strstr(maps, want);
	char *end = line ? strchr(line, '\n') : NULL;
	if (end)
		*end = 0;
	unsigned long ino = 0;
	char perms[8] = "", path[256] = "";
	if (line)
		sscanf(line, "%*x-%*x %7s %*x %*x:%*x %lu %255s", perms, &ino, path);
	out("exe: maps perms %s, inode matches %s, path matches %s\n", perms,
	    ino == (unsigned long)st.st_ino ? "yes" : "no", strcmp(path, exe) == 0 ? "yes" : "no");
	munmap(m, 2 * PG);
	close(fd);
	/* Generated files and devices cannot be mapped. */
	const char *nomap[] = {"/proc/self/maps", "/proc/self/status", "/dev/null"};
	for (int i = 0; i < 3; i++) {
		int g = open(nomap[i], O_RDONLY);
		errno = 0;
		void *p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, g, 0);
		out("mmap of %s: %s\n", nomap[i], p == MAP_FAILED ? errname(errno) : "mapped");
		close(g);
	}
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	void *p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dir, 0);
	out("mmap of a directory: %s\n", p == MAP_FAILED ? errname(errno) : "mapped");
	close(dir);
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0);
	out("mmap of a closed descriptor: %s\n", p == MAP_FAILED ? errname(errno) : "mapped");
	int pp[2];
	must(pipe(pp) == 0, "pipe");
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, pp[0], 0);
	out("mmap of a pipe: %s\n", p == MAP_FAILED ? errname(errno) : "mapped");
	close(pp[0]);
	close(pp[1]);
}

/* The writer half of shm_unrelated: a fresh program maps the file by name. */
static int shm_writer(const char *name)
{
	int fd = open(name, O_RDWR);
	if (fd < 0)
		return 2;
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 3;
	int saw = memcmp(m, "parent", 6) == 0;
	memcpy(m + 100, "from-exec", 9);
	return saw ? 0 : 4;
}

static void shm_unrelated(void)
{
	char name[64];
	snprintf(name, sizeof name, "/dev/shm/filemap-u-%d", (int)getpid());
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	must(fd >= 0, "create a /dev/shm file");
	must(ftruncate(fd, PG) == 0, "ftruncate");
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(m != MAP_FAILED, "mmap /dev/shm file");
	memcpy(m, "parent", 6);
	pid_t p = fork();
	if (p == 0) {
		char *argv[] = {"filemap", "writer", name, NULL};
		execv("/proc/self/exe", argv);
		_exit(5);
	}
	int st;
	waitpid(p, &st, 0);
	out("shm: writer exited %d, its store seen: %.9s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, m + 100);
	munmap(m, PG);
	close(fd);
	unlink(name);
}

static void private_tmp(void)
{
	int fd = make_file("priv", 5000);
	char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	must(m != MAP_FAILED, "mmap private");
	int zeros = 1;
	for (long i = 5000; i < 2 * PG; i++)
		zeros &= m[i] == 0;
	out("private: byte 4999 '%c', rest of the last page zero: %s\n", m[4999], zeros ? "yes" : "no");
	out("private: read past the last page: %s\n", probe(m + 2 * PG, 0));
	out("private: write past the last page: %s\n", probe(m + 2 * PG + 100, 1));
	m[0] = 'Z';
	char c;
	must(pread(fd, &c, 1, 0) == 1, "pread");
	out("private: file unchanged by a write to the mapping: %s\n", c == 'a' ? "yes" : "no");
	/* The file's later writes show through pages not yet copied. */
	must(pwrite(fd, "Q", 1, PG) == 1, "pwrite");
	out("private: file write seen in an untouched page: %c\n", m[PG]);
	/* Copy-on-write after fork. */
	pid_t p = fork();
	if (p == 0) {
		m[1] = 'C';
		_exit(m[0] == 'Z' && m[1] == 'C' ? 0 : 1);
	}
	int st;
	waitpid(p, &st, 0);
	out("private: child saw its copy: %s, parent unchanged: %s\n",
	    WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no", m[1] == 'b' ? "yes" : "no");
	/* Offset mapping. */
	char *o = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, PG);
	must(o != MAP_FAILED, "mmap at offset");
	out("private: offset %ld byte 0 '%c' byte 1 '%c'\n", PG, o[0], o[1]);
	res("private: MADV_WIPEONFORK on a file mapping", madvise(o, PG, 18));
	munmap(o, PG);
	/* MADV_DONTNEED drops the private copy: the file shows again. */
	res("private: MADV_DONTNEED", madvise(m, PG, MADV_DONTNEED));
	out("private: after MADV_DONTNEED byte 0 '%c'\n", m[0]);
	munmap(m, 3 * PG);
	close(fd);
	unlink(tmpname);
}

static void shared_tmp(void)
{
	int fd = make_file("shared", 2 * PG);
	char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(m != MAP_FAILED, "mmap shared");
	m[10] = '!';
	char c;
	must(pread(fd, &c, 1, 10) == 1, "pread");
	out("shared: store seen by read: %c\n", c);
	must(pwrite(fd, "W", 1, PG + 5) == 1, "pwrite");
	out("shared: write seen by the mapping: %c\n", m[PG + 5]);
	pid_t p = fork();
	if (p == 0) {
		m[20] = '#';
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	out("shared: child's store seen by the parent: %c\n", m[20]);
	/* A second mapping of the same file sees the same pages. */
	char *m2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
	must(m2 != MAP_FAILED, "mmap again");
	out("shared: second mapping sees %c%c\n", m2[10], m2[20]);
	res("shared: msync MS_SYNC", msync(m, 2 * PG, MS_SYNC));
	/* Shrinking the file takes the page away: SIGBUS. */
	must(ftruncate(fd, 100) == 0, "ftruncate");
	out("shared: after shrink, page 1: %s\n", probe(m + PG, 0));
	out("shared: after shrink, page 0 tail: %s\n", probe(m + 200, 0));
	must(ftruncate(fd, 2 * PG) == 0, "ftruncate up");
	out("shared: after regrow, page 1: %s\n", probe(m + PG, 0));
	/* The open file must be O_RDWR for a writable shared mapping. */
	int ro = open(tmpname, O_RDONLY);
	errno = 0;
	void *w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	out("shared: PROT_WRITE on O_RDONLY: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	out("shared: MAP_PRIVATE|PROT_WRITE on O_RDONLY: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	int ap = open(tmpname, O_RDWR | O_APPEND);
	w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ap, 0);
	out("shared: PROT_WRITE on O_RDWR|O_APPEND: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	if (w != MAP_FAILED)
		munmap(w, PG);
	close(ap);
	int wo = open(tmpname, O_WRONLY);
	w = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wo, 0);
	out("shared: mmap of O_WRONLY: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	close(wo);
	close(ro);
	munmap(m2, PG);
	munmap(m, 2 * PG);
	close(fd);
	unlink(tmpname);
}

/* A thread keeps reading a page of a shared mapping while another process
 * shrinks the file: the reader must get SIGBUS (its vCPU must not keep the
 * old translation). */
static char *spin_map;
static volatile int spin_started;
static sigjmp_buf spin_jb;
static volatile int spin_sig;

static void on_spin_bus(int sig)
{
	spin_sig = sig;
	siglongjmp(spin_jb, 1);
}

static void *spinner(void *arg)
{
	(void)arg;
	if (sigsetjmp(spin_jb, 1) == 0) {
		for (;;) {
			spin_started = 1;
			(void)*(volatile char *)(spin_map + PG);
		}
	}
	return NULL;
}

static void truncate_under_a_thread(void)
{
	int fd = memfd("spin", 0);
	must(ftruncate(fd, 2 * PG) == 0, "ftruncate");
	spin_map = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(spin_map != MAP_FAILED, "mmap");
	spin_map[PG] = 1;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_spin_bus;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, &old);
	pthread_t th;
	must(pthread_create(&th, NULL, spinner, NULL) == 0, "pthread_create");
	while (!spin_started)
		usleep(1000);
	usleep(20000);
	/* Another process shrinks the file, while this one's main thread
	 * only waits for the reader (it does not enter the guest again). */
	int hold[2];
	must(pipe(hold) == 0, "pipe");
	pid_t p = fork();
	if (p == 0) {
		/* Stays alive (no SIGCHLD) until the reader is done. */
		close(hold[1]);
		int r = ftruncate(fd, PG);
		char c;
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(r == 0 ? 0 : 1);
	}
	close(hold[0]);
	pthread_join(th, NULL);
	close(hold[1]);
	int st;
	waitpid(p, &st, 0);
	out("thread: reader of the truncated page got %s\n", signame(spin_sig));
	sigaction(SIGBUS, &old, NULL);
	munmap(spin_map, 2 * PG);
	close(fd);
}

static void memfd_shared(void)
{
	int fd = memfd("filemap", MFD_CLOEXEC);
	must(fd >= 0, "memfd_create");
	out("memfd: cloexec %d, F_GETFL %#x\n", fcntl(fd, F_GETFD), (unsigned)fcntl(fd, F_GETFL));
	char link[128], path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	out("memfd: link %s\n", link);
	struct stat st;
	must(fstat(fd, &st) == 0, "fstat");
	out("memfd: mode %o size %ld\n", (unsigned)st.st_mode, (long)st.st_size);
	must(ftruncate(fd, 4 * PG) == 0, "ftruncate");
	char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(m != MAP_FAILED, "mmap memfd");
	unsigned char vec[4];
	res("memfd: mincore", mincore(m, 4 * PG, vec));
	out("memfd: resident before any write %d%d%d%d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1);
	must(pwrite(fd, "hello", 5, 0) == 5, "pwrite");
	m[2 * PG] = 'x';
	res("memfd: mincore", mincore(m, 4 * PG, vec));
	out("memfd: resident after writes %d%d%d%d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1);
	out("memfd: mapping sees %.5s\n", m);
	pid_t p = fork();
	if (p == 0) {
		memcpy(m + PG, "child", 5);
		_exit(0);
	}
	int status;
	waitpid(p, &status, 0);
	char buf[6] = {0};
	must(pread(fd, buf, 5, PG) == 5, "pread");
	out("memfd: child's store read back %s\n", buf);

	/* /proc/self/maps shows the name, offset and inode. */
	char *o = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
	must(o != MAP_FAILED, "mmap at offset");
	int mf = open("/proc/self/maps", O_RDONLY);
	static char maps[65536];
	n = read(mf, maps, sizeof maps - 1);
	close(mf);
	maps[n > 0 ? n : 0] = 0;
	char want[64];
	snprintf(want, sizeof want, "%lx-", (unsigned long)o);
	char *line = strstr(maps, want);
	if (line) {
		char *end = strchr(line, '\n');
		if (end)
			*end = 0;
		unsigned long a, b, off, ino;
		unsigned maj, min;
		char perms[8], name[128];
		int k = sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %127[^\n]", &a, &b, perms, &off, &maj, &min, &ino, name);
		out("memfd: maps fields %d perms %s offset %lx ino matches %s dev matches %s\n", k, perms, off,
		    ino == (unsigned long)st.st_ino ? "yes" : "no",
		    maj == (unsigned)major(st.st_dev) && min == (unsigned)minor(st.st_dev) ? "yes" : "no");
		char *nm = strstr(line, "/memfd:");
		out("memfd: maps name %s\n", nm ? nm : "(none)");
	} else {
		out("memfd: no maps line\n");
	}
	munmap(o, PG);
	/* MADV_REMOVE punches a hole in the file. */
	memcpy(m + 3 * PG, "gone", 4);
	res("memfd: MADV_REMOVE", madvise(m + 3 * PG, PG, MADV_REMOVE));
	char z[4] = {1, 1, 1, 1};
	must(pread(fd, z, 4, 3 * PG) == 4, "pread");
	out("memfd: after MADV_REMOVE the file reads %s, the mapping %s\n",
	    z[0] == 0 && z[3] == 0 ? "zeros" : "data", m[3 * PG] == 0 ? "zeros" : "data");
	munmap(m, 4 * PG);
	close(fd);
}

static void remap(void)
{
	int fd = memfd("remap", 0);
	must(ftruncate(fd, 3 * PG) == 0, "ftruncate");
	must(pwrite(fd, "R", 1, 2 * PG) == 1, "pwrite");
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(m != MAP_FAILED, "mmap");
	m[0] = 'S';
	/* Reserve room elsewhere so the grown mapping must move. */
	char *m2 = mremap(m, PG, 4 * PG, MREMAP_MAYMOVE);
	must(m2 != MAP_FAILED, "mremap");
	out("remap: first page %c, file page 2 %c, past the end: %s\n", m2[0], m2[2 * PG],
	    probe(m2 + 3 * PG, 0));
	m2[PG] = 'T';
	char c;
	must(pread(fd, &c, 1, PG) == 1, "pread");
	out("remap: store through the grown mapping read back: %c\n", c);
	munmap(m2, 4 * PG);
	close(fd);
}

static void populate(void)
{
	int fd = memfd("pop", 0);
	must(ftruncate(fd, 8 * PG) == 0, "ftruncate");
	char *m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	must(m != MAP_FAILED, "mmap populate");
	unsigned char vec[8];
	mincore(m, 8 * PG, vec);
	int all = 1;
	for (int i = 0; i < 8; i++)
		all &= vec[i] & 1;
	out("populate: all resident %s\n", all ? "yes" : "no");
	munmap(m, 8 * PG);
	close(fd);
}

static void seals(void)
{
	int fd = memfd("sealed", MFD_ALLOW_SEALING);
	must(fd >= 0, "memfd_create");
	out("seals: initial %d\n", fcntl(fd, F_GET_SEALS));
	must(ftruncate(fd, 2 * PG) == 0, "ftruncate");
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(m != MAP_FAILED, "mmap");
	res("seals: F_SEAL_WRITE while mapped writable", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(m, PG);
	m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	res("seals: F_SEAL_WRITE with a private mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(m, PG);
	out("seals: now %d\n", fcntl(fd, F_GET_SEALS));
	res("seals: write", write(fd, "x", 1));
	errno = 0;
	void *w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	out("seals: writable shared mmap: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
	out("seals: read-only shared mmap: %s\n", r == MAP_FAILED ? errname(errno) : "mapped");
	if (r != MAP_FAILED) {
		res("seals: mprotect it writable", mprotect(r, PG, PROT_READ | PROT_WRITE));
		munmap(r, PG);
	}
	w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	out("seals: writable private mmap: %s\n", w == MAP_FAILED ? errname(errno) : "mapped");
	res("seals: add SHRINK", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	res("seals: shrink", ftruncate(fd, PG));
	res("seals: grow", ftruncate(fd, 3 * PG));
	res("seals: add GROW|SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SEAL));
	res("seals: grow", ftruncate(fd, 4 * PG));
	res("seals: write within", pwrite(fd, "y", 1, 0));
	res("seals: shrink", ftruncate(fd, PG));
	res("seals: add after SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	res("seals: unknown seal", fcntl(fd, F_ADD_SEALS, 0x1000));
	out("seals: final %d\n", fcntl(fd, F_GET_SEALS));
	close(fd);

	/* FUTURE_WRITE keeps existing mappings writable. */
	fd = memfd("future", MFD_ALLOW_SEALING);
	must(ftruncate(fd, PG) == 0, "ftruncate");
	m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	res("seals: FUTURE_WRITE while mapped", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	m[0] = 'k';
	char c = 0;
	must(pread(fd, &c, 1, 0) == 1, "pread");
	out("seals: old mapping still writes: %c\n", c);
	res("seals: pwrite", pwrite(fd, "x", 1, 0));
	munmap(m, PG);
	close(fd);

	/* Without MFD_ALLOW_SEALING. */
	fd = memfd("plain", 0);
	out("seals: plain %d\n", fcntl(fd, F_GET_SEALS));
	res("seals: plain add", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	close(fd);
	/* A tmpfs file has seals too (F_SEAL_SEAL), a pipe none. */
	snprintf(tmpname, sizeof tmpname, "/dev/shm/filemap-%d", (int)getpid());
	fd = open(tmpname, O_RDWR | O_CREAT | O_TRUNC, 0600);
	out("seals: /dev/shm file %d\n", fcntl(fd, F_GET_SEALS));
	res("seals: /dev/shm add", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	close(fd);
	unlink(tmpname);
	int pp[2];
	must(pipe(pp) == 0, "pipe");
	res("seals: pipe", fcntl(pp[0], F_GET_SEALS));
	close(pp[0]);
	close(pp[1]);
	/* Read-only descriptor. */
	fd = memfd("ro", MFD_ALLOW_SEALING);
	snprintf(tmpname, sizeof tmpname, "/proc/self/fd/%d", fd);
	int ro = open(tmpname, O_RDONLY);
	if (ro >= 0) {
		res("seals: add through O_RDONLY", fcntl(ro, F_ADD_SEALS, F_SEAL_GROW));
		close(ro);
	}
	close(fd);
	/* NOEXEC_SEAL. */
	fd = memfd("noexec", MFD_NOEXEC_SEAL);
	struct stat st;
	fstat(fd, &st);
	out("seals: noexec seals %d mode %o\n", fcntl(fd, F_GET_SEALS), (unsigned)st.st_mode & 0777);
	res("seals: noexec fchmod 0755", fchmod(fd, 0755));
	res("seals: noexec fchmod 0600", fchmod(fd, 0600));
	fstat(fd, &st);
	out("seals: noexec mode now %o\n", (unsigned)st.st_mode & 0777);
	close(fd);
	fd = memfd("exec", MFD_ALLOW_SEALING);
	res("seals: add EXEC to an executable memfd", fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC));
	out("seals: now %d\n", fcntl(fd, F_GET_SEALS));
	res("seals: fchmod 0644", fchmod(fd, 0644));
	close(fd);
}

static void memfd_errors(void)
{
	errno = 0;
	res("memfd: unknown flag", memfd("x", 0x40));
	res("memfd: EXEC|NOEXEC_SEAL", memfd("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	res("memfd: huge size without HUGETLB", memfd("x", 21U << 26));
	res("memfd: bad name pointer", syscall(SYS_memfd_create, (void *)8, 0));
	char longname[300];
	memset(longname, 'n', sizeof longname);
	longname[250] = 0;
	res("memfd: 250-byte name", memfd(longname, 0));
	longname[249] = 0;
	long fd = memfd(longname, 0);
	res("memfd: 249-byte name", fd);
	if (fd >= 0)
		close((int)fd);
}

static void msync_mincore_errors(void)
{
	char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(m != MAP_FAILED, "mmap anon");
	res("msync: unaligned", msync(m + 1, PG, MS_SYNC));
	res("msync: unknown flag", msync(m, PG, 8));
	res("msync: SYNC|ASYNC", msync(m, PG, MS_SYNC | MS_ASYNC));
	res("msync: ok", msync(m, 4 * PG, MS_ASYNC | MS_INVALIDATE));
	res("msync: zero length", msync(m, 0, MS_SYNC));
	munmap(m + PG, PG);
	res("msync: over a hole", msync(m, 4 * PG, MS_SYNC));
	res("msync: beyond user space", msync((void *)0x7ffffffff000UL, 2 * PG, MS_SYNC));
	unsigned char vec[4];
	res("mincore: unaligned", mincore(m + 1, PG, vec));
	res("mincore: over a hole", mincore(m, 4 * PG, vec));
	res("mincore: bad vector", mincore(m, PG, (unsigned char *)8));
	res("mincore: beyond user space", mincore((void *)0x7ffffffff000UL, 2 * PG, vec));
	res("mincore: zero length", mincore(m, 0, vec));
	char *f = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char v64[64];
	mincore(f, 64 * PG, v64);
	int any = 0;
	for (int i = 0; i < 64; i++)
		any |= v64[i] & 1;
	out("mincore: fresh anonymous mapping resident: %s\n", any ? "some" : "none");
	f[0] = 1;
	f[40 * PG] = 1;
	mincore(f, 64 * PG, v64);
	out("mincore: touched pages resident: %d %d\n", v64[0] & 1, v64[40] & 1);
	munmap(f, 64 * PG);
	munmap(m, 4 * PG);
}

/* Sandbox only (it writes to a file of the root): a file of the read-only
 * lower layer opened for writing is copied up, and a shared mapping of it
 * is coherent with read and write. */
static int copy_up(const char *path)
{
	int fd = open(path, O_RDWR);
	must(fd >= 0, "open for writing");
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	must(m != MAP_FAILED, "mmap shared");
	char first;
	must(pread(fd, &first, 1, 0) == 1, "pread");
	out("copyup: mapping starts with the file: %s\n", m[0] == first ? "yes" : "no");
	m[0] = '@';
	char c;
	must(pread(fd, &c, 1, 0) == 1, "pread");
	must(pwrite(fd, "%", 1, 1) == 1, "pwrite");
	out("copyup: store seen by read: %s, write seen by the mapping: %s\n", c == '@' ? "yes" : "no",
	    m[1] == '%' ? "yes" : "no");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "copyup") == 0)
		return copy_up(argv[2]);
	if (argc == 3 && strcmp(argv[1], "writer") == 0)
		return shm_writer(argv[2]);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	private_exe();
	private_tmp();
	shared_tmp();
	shm_unrelated();
	memfd_shared();
	truncate_under_a_thread();
	remap();
	populate();
	seals();
	memfd_errors();
	msync_mincore_errors();
	return failures() != 0;
}
