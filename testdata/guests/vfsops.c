/*
 * vfsops: file operations on a writable root, compared between a native
 * chroot and the sandbox's overlay root (sentry/tests/vfs.rs). It expects
 * the tree that test builds: /etc/passwd, /etc/motd, /data/dir/{a,b},
 * /data/sub/inner/deep, /data/lnk -> ../etc/passwd, /data/loop -> loop,
 * /data/hard and /data/hard2 (one inode), /tmp. It changes files of the
 * lower tree (copy-up), makes and removes names (whiteouts), renames
 * across layers, and prints results and Linux's errno for each error
 * case; nothing that depends on the host (inode numbers, times) is shown.
 * Run it only in a throwaway root.
 */
#include "guest.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/uio.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef SYS_renameat2
#define SYS_renameat2 316
#endif

static void res(const char *what, long r)
{
	if (r < 0)
		out("%s: %s\n", what, errname(errno));
	else
		out("%s: ok\n", what);
}

static const char *kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFSOCK: return "sock";
	default: return "?";
	}
}

static void st(const char *path)
{
	struct stat s;
	if (lstat(path, &s) < 0) {
		out("lstat %s: %s\n", path, errname(errno));
		return;
	}
	if (S_ISDIR(s.st_mode))
		out("lstat %s: %s %04o uid=%u gid=%u\n", path, kind(s.st_mode),
		    (unsigned)(s.st_mode & 07777), (unsigned)s.st_uid, (unsigned)s.st_gid);
	else
		out("lstat %s: %s %04o size=%lld nlink=%lu uid=%u gid=%u\n", path,
		    kind(s.st_mode), (unsigned)(s.st_mode & 07777), (long long)s.st_size,
		    (unsigned long)s.st_nlink, (unsigned)s.st_uid, (unsigned)s.st_gid);
}

static void cat(const char *path)
{
	char buf[512];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		out("cat %s: %s\n", path, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		out("cat %s: read %s\n", path, errname(errno));
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = '|';
		else if (buf[i] == 0)
			buf[i] = '0';
	buf[n] = 0;
	out("cat %s: [%s]\n", path, buf);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of a directory, with `.` and `..` (d_type shown). */
static void ls(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		out("ls %s: %s\n", path, errname(errno));
		return;
	}
	char *names[256];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256) {
		char *s = malloc(300);
		snprintf(s, 300, "%s:%d", e->d_name, e->d_type);
		names[n++] = s;
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	char line[1024] = "";
	for (int i = 0; i < n; i++) {
		strncat(line, " ", sizeof line - strlen(line) - 1);
		strncat(line, names[i], sizeof line - strlen(line) - 1);
		free(names[i]);
	}
	out("ls %s:%s\n", path, line);
}

static void writefile(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | flags, 0644);
	if (fd < 0) {
		out("write %s: %s\n", path, errname(errno));
		return;
	}
	ssize_t w = write(fd, text, strlen(text));
	out("write %s: %zd\n", path, w);
	close(fd);
}

static void files(void)
{
	out("-- create, write, append, truncate\n");
	writefile("/data/new", "hello", O_CREAT | O_EXCL);
	res("O_EXCL again", open("/data/new", O_CREAT | O_EXCL | O_WRONLY, 0644));
	writefile("/data/new", " world\n", O_APPEND);
	cat("/data/new");
	st("/data/new");
	mode_t old = umask(027);
	int fd = creat("/tmp/umasked", 0777);
	res("creat", fd);
	close(fd);
	umask(old);
	st("/tmp/umasked");
	/* A lower file changed: copied up; O_TRUNC empties it. */
	writefile("/etc/passwd", "new-root:x:0:0\n", O_TRUNC);
	cat("/etc/passwd");
	st("/etc/passwd");
	writefile("/etc/motd", "APPENDED\n", O_APPEND);
	cat("/etc/motd");
	res("truncate grow", truncate("/etc/motd", 40));
	st("/etc/motd");
	res("truncate shrink", truncate("/etc/motd", 3));
	cat("/etc/motd");
	res("truncate dir", truncate("/data", 0));
	res("truncate negative", truncate("/etc/motd", -1));
	fd = open("/etc/motd", O_RDONLY);
	res("ftruncate read-only fd", ftruncate(fd, 0));
	close(fd);
	fd = open("/data/pw", O_CREAT | O_RDWR, 0600);
	res("pwrite", pwrite(fd, "XYZ", 3, 10));
	struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
	res("pwritev", pwritev(fd, iov, 2, 2));
	char buf[32] = {0};
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = '.';
	out("pread: %zd [%s]\n", n, buf);
	res("fallocate", fallocate(fd, 0, 0, 8192));
	res("punch", fallocate(fd, 3, 0, 4096));
	n = pread(fd, buf, 4, 10);
	out("after punch: %zd %d\n", n, buf[0]);
	close(fd);
	st("/data/pw");
	res("fsync", 0);
}

static void names(void)
{
	out("-- mkdir, link, symlink, unlink, rmdir\n");
	res("mkdir", mkdir("/data/made", 0755));
	res("mkdir again", mkdir("/data/made", 0755));
	res("mkdir trailing slash", mkdir("/data/made2/", 0700));
	res("mkdir no parent", mkdir("/data/none/x", 0755));
	res("mkdir over file", mkdir("/etc/passwd/x", 0755));
	res("mkdir /", mkdir("/", 0755));
	st("/data/made2");
	res("link lower file", link("/data/dir/a", "/data/a-link"));
	st("/data/a-link");
	st("/data/dir/a");
	res("link dir", link("/data/dir", "/data/dir-link"));
	res("link existing", link("/data/dir/a", "/data/dir/b"));
	st("/data/hard");
	res("unlink one of two links", unlink("/data/hard2"));
	st("/data/hard");
	res("symlink", symlink("../etc/motd", "/data/sl"));
	char t[64] = {0};
	out("readlink: %zd %s\n", readlink("/data/sl", t, sizeof t - 1), t);
	st("/data/sl");
	res("symlink existing", symlink("x", "/data/sl"));
	res("symlink empty", symlink("", "/data/sl2"));
	res("dangling create", symlink("created-through", "/data/dangle"));
	writefile("/data/dangle", "via link\n", O_CREAT);
	cat("/data/created-through");
	res("O_CREAT|O_EXCL on link", open("/data/dangle", O_CREAT | O_EXCL | O_WRONLY, 0644));
	res("unlink lower", unlink("/data/dir/b"));
	res("unlink again", unlink("/data/dir/b"));
	res("unlink dir", unlink("/data/dir"));
	res("unlink file/", unlink("/etc/motd/"));
	res("rmdir non-empty", rmdir("/data/sub"));
	res("rmdir file", rmdir("/etc/passwd"));
	res("rmdir .", rmdir("/data/made/."));
	res("rmdir ..", rmdir("/data/made/.."));
	res("rmdir /", rmdir("/"));
	res("unlink deep", unlink("/data/sub/inner/deep"));
	res("rmdir inner", rmdir("/data/sub/inner"));
	res("rmdir sub", rmdir("/data/sub"));
	st("/data/sub");
	res("mkdir over whiteout", mkdir("/data/sub", 0711));
	ls("/data/sub");
	res("mknod fifo", mknod("/data/fifo", S_IFIFO | 0640, 0));
	st("/data/fifo");
	res("mknod reg", mknod("/data/regnode", S_IFREG | 0600, 0));
	st("/data/regnode");
	res("mknod dir", mknod("/data/dirnode", S_IFDIR | 0600, 0));
	ls("/data");
	ls("/data/dir");
}

static void renames(void)
{
	out("-- rename\n");
	res("rename lower file", rename("/etc/motd", "/data/motd2"));
	cat("/data/motd2");
	st("/etc/motd");
	res("rename lower dir", rename("/data/dir", "/data/dir2"));
	ls("/data/dir2");
	cat("/data/dir2/a");
	st("/data/dir");
	res("dir onto file", rename("/data/dir2", "/data/new"));
	res("file onto dir", rename("/data/new", "/data/dir2"));
	res("dir onto non-empty dir", rename("/data/made", "/data/dir2"));
	res("dir into itself", rename("/data/dir2", "/data/dir2/x"));
	res("missing", rename("/data/nothing", "/data/x"));
	res("noreplace", syscall(SYS_renameat2, AT_FDCWD, "/data/new", AT_FDCWD, "/data/pw",
				 RENAME_NOREPLACE));
	res("exchange", syscall(SYS_renameat2, AT_FDCWD, "/data/new", AT_FDCWD, "/data/pw",
				RENAME_EXCHANGE));
	cat("/data/new");
	res("exchange missing", syscall(SYS_renameat2, AT_FDCWD, "/data/new", AT_FDCWD,
					"/data/nope", RENAME_EXCHANGE));
	res("rename onto empty dir", rename("/data/made", "/data/made2"));
	res("rename file over file", rename("/data/regnode", "/data/new"));
	st("/data/new");
	res("rename to same link", rename("/data/hard", "/data/hard"));
	res("rename /", rename("/", "/data/root"));
	res("rename dir over lower dir", rename("/data/dir2", "/etc"));
	ls("/data");
}

static void attrs(void)
{
	out("-- chmod, chown, utimens\n");
	res("chmod lower", chmod("/etc/passwd", 0600));
	res("chmod dir", chmod("/data/dir2", 0700));
	st("/data/dir2");
	res("chown", chown("/data/dir2/a", 1000, 2000));
	st("/data/dir2/a");
	res("chown keep", chown("/data/dir2/a", -1, 3000));
	st("/data/dir2/a");
	res("chmod setuid", chmod("/data/pw", 06755));
	res("chown clears setuid", chown("/data/pw", 0, 0));
	st("/data/pw");
	res("lchown link", lchown("/data/lnk", 7, 8));
	st("/data/lnk");
	st("/etc/passwd");
	struct timespec ts[2] = {{1000000000, 123}, {1100000000, 456000}};
	res("utimensat", utimensat(AT_FDCWD, "/data/dir2/a", ts, 0));
	struct stat s;
	stat("/data/dir2/a", &s);
	out("times: %lld.%ld %lld.%ld\n", (long long)s.st_atim.tv_sec, s.st_atim.tv_nsec,
	    (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
	struct timespec omit[2] = {{5, UTIME_OMIT}, {1200000000, 0}};
	res("utimensat omit", utimensat(AT_FDCWD, "/data/dir2/a", omit, 0));
	stat("/data/dir2/a", &s);
	out("times: %lld.%ld %lld.%ld\n", (long long)s.st_atim.tv_sec, s.st_atim.tv_nsec,
	    (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
	struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
	res("utimensat bad nsec", utimensat(AT_FDCWD, "/data/dir2/a", bad, 0));
	time_t before = time(NULL);
	res("utimensat now", utimensat(AT_FDCWD, "/data/dir2/a", NULL, 0));
	stat("/data/dir2/a", &s);
	out("now: %s\n", s.st_mtim.tv_sec >= before && s.st_mtim.tv_sec <= before + 5 ? "recent" : "wrong");
	struct timeval tv[2] = {{2000, 5}, {3000, 7}};
	res("utimes", utimes("/data/new", tv));
	stat("/data/new", &s);
	out("utimes: %lld.%ld %lld.%ld\n", (long long)s.st_atim.tv_sec, s.st_atim.tv_nsec,
	    (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
	res("access W_OK", access("/etc/passwd", W_OK));
	res("access X_OK", access("/etc/passwd", X_OK));
	res("access missing", access("/nope", F_OK));
}

static void errnos(void)
{
	out("-- errno cases\n");
	res("ENOTDIR", open("/etc/passwd/x", O_RDONLY));
	res("ELOOP", open("/data/loop", O_RDONLY));
	res("O_NOFOLLOW", open("/data/lnk", O_RDONLY | O_NOFOLLOW));
	char name[300];
	memset(name, 'n', sizeof name);
	name[0] = '/';
	name[257] = 0;
	res("ENAMETOOLONG", open(name, O_RDONLY));
	res("dir O_WRONLY", open("/data", O_WRONLY));
	res("file O_DIRECTORY", open("/etc/passwd", O_RDONLY | O_DIRECTORY));
	res("O_CREAT dir/", open("/data/newdir/", O_CREAT | O_WRONLY, 0644));
	res("O_CREAT existing dir", open("/data", O_CREAT | O_RDONLY, 0644));
	res("missing", open("/data/missing", O_RDONLY));
	res("empty path", open("", O_RDONLY));
	int d = open("/data", O_RDONLY | O_DIRECTORY);
	res("openat dirfd", openat(d, "new", O_RDONLY));
	res("openat bad dirfd", openat(99, "new", O_RDONLY));
	int f = open("/data/new", O_RDONLY);
	res("openat file dirfd", openat(f, "x", O_RDONLY));
	res("openat file dirfd absolute", openat(f, "/data/new", O_RDONLY));
	struct stat s;
	res("fstatat AT_EMPTY_PATH", fstatat(f, "", &s, AT_EMPTY_PATH));
	res("fstatat empty", fstatat(f, "", &s, 0));
	res("mkdirat", mkdirat(d, "at-dir", 0755));
	res("unlinkat dir no flag", unlinkat(d, "at-dir", 0));
	res("unlinkat AT_REMOVEDIR", unlinkat(d, "at-dir", AT_REMOVEDIR));
	res("unlinkat bad flag", unlinkat(d, "x", 0x1));
	res("lstat /", lstat("/", &s));
	out("/ is %s\n", kind(s.st_mode));
	res("stat /..", stat("/..", &s));
	int tmp = open("/data", O_TMPFILE | O_RDWR, 0600);
	res("O_TMPFILE", tmp);
	res("O_TMPFILE no write", open("/data", O_TMPFILE | O_RDONLY, 0600));
	if (tmp >= 0) {
		write(tmp, "anon\n", 5);
		fstat(tmp, &s);
		out("tmpfile nlink=%lu\n", (unsigned long)s.st_nlink);
		res("linkat tmpfile", linkat(tmp, "", AT_FDCWD, "/data/from-tmp", AT_EMPTY_PATH));
		cat("/data/from-tmp");
		close(tmp);
	}
	/* With O_EXCL an O_TMPFILE file can never be linked. */
	const char *tdirs[] = {"/data", "/tmp"};
	for (unsigned i = 0; i < 2; i++) {
		int x = open(tdirs[i], O_TMPFILE | O_EXCL | O_RDWR, 0600);
		res("O_TMPFILE|O_EXCL", x);
		char to[64];
		snprintf(to, sizeof to, "%s/from-excl", tdirs[i]);
		res("linkat excl tmpfile", linkat(x, "", AT_FDCWD, to, AT_EMPTY_PATH));
		close(x);
	}
	char cwd[256];
	res("chdir", chdir("/data/dir2"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	cat("a");
	res("chdir ..", chdir("../.."));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("fchdir", fchdir(d));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("rmdir cwd", rmdir("/data/made2"));
	struct statfs sf;
	/* fstat and stat agree on the inode (tar and cp compare them), for a
	 * lower file read, then copied up by a write, and a new file. */
	const char *same[] = {"/data/hard", "/data/dir2/a", "/data/new", "/tmp/umasked"};
	for (unsigned i = 0; i < sizeof same / sizeof same[0]; i++) {
		struct stat a, b;
		int fd = open(same[i], O_RDONLY);
		fstat(fd, &a);
		stat(same[i], &b);
		int w = open(same[i], O_WRONLY | O_APPEND);
		write(w, "", 0);
		struct stat c, e;
		fstat(w, &c);
		stat(same[i], &e);
		out("fstat %s: %s %s\n", same[i],
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev ? "same" : "differ",
		    c.st_ino == e.st_ino && c.st_dev == e.st_dev && c.st_ino == b.st_ino ? "same" : "differ");
		close(fd);
		close(w);
	}
	res("statfs", statfs("/data", &sf));
	res("fstatfs", fstatfs(f, &sf));
	res("fsync", fsync(f));
	res("fdatasync", fdatasync(f));
	close(f);
	close(d);
}

struct how {
	unsigned long long flags, mode, resolve;
};

static long o2(int dirfd, const char *p, unsigned long long flags, unsigned long long resolve)
{
	struct how h = {flags, 0, resolve};
	return syscall(437, dirfd, p, &h, sizeof h);
}

static void edges(void)
{
	out("-- edge cases\n");
	struct stat s;
	res("openat -1 absolute", openat(-1, "/data/new", O_RDONLY));
	res("openat -1 relative", openat(-1, "data/new", O_RDONLY));
	res("openat AT_FDCWD empty", openat(AT_FDCWD, "", O_RDONLY));
	res("fstatat AT_FDCWD empty path", fstatat(AT_FDCWD, "", &s, AT_EMPTY_PATH));
	out("  is %s\n", kind(s.st_mode));
	res("fstatat bad flag", fstatat(AT_FDCWD, "/data", &s, 0x4));
	res("stat trailing slash file", stat("/data/new/", &s));
	res("stat trailing slash link to dir", lstat("/data/dirlink/", &s));
	out("  is %s\n", kind(s.st_mode));
	res("lstat link to dir", lstat("/data/dirlink", &s));
	out("  is %s\n", kind(s.st_mode));
	res("rename file to name/", rename("/data/new", "/data/newx/"));
	res("rename dir to name/", rename("/data/made2x", "/data/made3/"));
	res("mkdir dangling link", mkdir("/data/dangle", 0755));
	res("link to symlink", link("/data/lnk", "/data/lnk-hard"));
	res("lstat of it", lstat("/data/lnk-hard", &s));
	out("  is %s\n", kind(s.st_mode));
	res("linkat follow", linkat(AT_FDCWD, "/data/lnk", AT_FDCWD, "/data/lnk-follow", AT_SYMLINK_FOLLOW));
	res("lstat of it", lstat("/data/lnk-follow", &s));
	out("  is %s\n", kind(s.st_mode));
	res("unlink symlink to dir", unlink("/data/dirlink"));
	res("rmdir symlink", rmdir("/data/lnk"));
	res("chdir file", chdir("/data/new"));
	res("readlink not link", readlink("/data/new", (char[8]){0}, 8));
	res("readlink size 0", readlink("/data/lnk", (char[8]){0}, 0));
	char b[4] = {0};
	out("readlink short: %zd %.4s\n", readlink("/data/lnk", b, 4), b);
	res("truncate through link", truncate("/data/lnk", 5));
	cat("/etc/passwd");
	res("open O_TRUNC read-only", open("/data/pw", O_RDONLY | O_TRUNC));
	st("/data/pw");
	res("symlink in missing dir", symlink("x", "/nope/x"));
	res("mknod bad type", mknod("/data/bad", 0170000 | 0644, 0));
	res("access W_OK missing", access("/nope", W_OK));
	res("faccessat bad mode", faccessat(AT_FDCWD, "/data", 8, 0));
	res("utimensat missing", utimensat(AT_FDCWD, "/nope", NULL, 0));
	res("chmod missing", chmod("/nope", 0644));
	res("chown dangling link", chown("/data/dangling-bad", 0, 0));
	res("lchown dangling link", lchown("/data/dangling-bad", 0, 0));
}

static void openat2s(void)
{
	out("-- openat2\n");
	int d = open("/data", O_RDONLY | O_DIRECTORY);
	res("beneath inside", o2(d, "new", O_RDONLY, 0x08));
	res("beneath ..", o2(d, "../etc/passwd", O_RDONLY, 0x08));
	res("beneath absolute", o2(d, "/etc/passwd", O_RDONLY, 0x08));
	res("beneath link out", o2(d, "lnk", O_RDONLY, 0x08));
	res("beneath in and out", o2(d, "dir2/../new", O_RDONLY, 0x08));
	res("in_root absolute", o2(d, "/new", O_RDONLY, 0x10));
	res("in_root ..", o2(d, "../../new", O_RDONLY, 0x10));
	res("no_symlinks", o2(d, "lnk", O_RDONLY, 0x04));
	res("no_symlinks O_PATH|O_NOFOLLOW", o2(d, "lnk", O_PATH | O_NOFOLLOW, 0x04));
	res("bad resolve", o2(d, "new", O_RDONLY, 0x100));
	res("beneath|in_root", o2(d, "new", O_RDONLY, 0x18));
	struct how h = {O_RDONLY, 0644, 0};
	res("mode without O_CREAT", syscall(437, d, "new", &h, sizeof h));
	res("small size", syscall(437, d, "new", &h, 8));
	unsigned long long big[5] = {O_RDONLY, 0, 0, 0, 1};
	res("nonzero tail", syscall(437, d, "new", big, sizeof big));
	big[4] = 0;
	res("zero tail", syscall(437, d, "new", big, sizeof big));
	res("O_CREAT|O_DIRECTORY", open("/data/cd", O_CREAT | O_DIRECTORY | O_RDONLY, 0644));
	close(d);
}

/* getcwd follows renames of the cwd's ancestors (in the overlay, lower and
 * upper, and in tmpfs, within and across directories). */
static void moved_cwd(void)
{
	out("-- moved cwd\n");
	char cwd[256];
	res("mkdir r1", mkdir("/data/r1", 0755));
	res("mkdir r1/r2", mkdir("/data/r1/r2", 0755));
	res("chdir r2", chdir("/data/r1/r2"));
	res("rename r1", rename("/data/r1", "/data/r1x"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("chdir /etc", chdir("/etc"));
	res("rename lower etc", rename("/etc", "/etc2"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("rename it back", rename("/etc2", "/etc"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("mkdir q1", mkdir("/tmp/q1", 0755));
	res("mkdir q1/q2", mkdir("/tmp/q1/q2", 0755));
	res("mkdir other", mkdir("/tmp/other", 0755));
	res("chdir q2", chdir("/tmp/q1/q2"));
	res("rename q1", rename("/tmp/q1", "/tmp/q1y"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("move q1y", rename("/tmp/q1y", "/tmp/other/q1z"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("rename cwd", rename("/tmp/other/q1z/q2", "/tmp/other/q3"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("rmdir cwd", rmdir("/tmp/other/q3"));
	out("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	res("chdir /", chdir("/"));
}

int main(void)
{
	files();
	names();
	renames();
	attrs();
	errnos();
	edges();
	openat2s();
	moved_cwd();
	ls("/");
	ls("/etc");
	ls("/data");
	return failures() ? 1 : 0;
}
