/*
 * files: reading the root filesystem (the sandbox runs with --root / in the
 * differential tests): open, read, lseek, pread, fstat/stat/lstat/statx
 * agreeing with each other, getdents64 through opendir/readdir, chdir and
 * getcwd, openat relative to a directory descriptor, readlink, and the
 * errors: ENOENT, ENOTDIR, EISDIR for writing a directory, O_DIRECTORY on
 * a file.
 */
#include "guest.h"
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* struct statx, declared here: musl 1.2.3 has no wrapper. */
struct statx_raw {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, pad0;
	uint64_t ino, size, blocks, attributes_mask;
	struct {
		int64_t sec;
		uint32_t nsec;
		int32_t pad;
	} atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	uint64_t spare[14];
};

int main(int argc, char **argv)
{
	int r;
	(void)argc;
	const char *argv0 = argv[0];
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	must(fd >= 0, "open /etc/passwd");
	char buf[64];
	ssize_t n = read(fd, buf, 5);
	out("read 5: %zd, starts with root: %s\n", n, strncmp(buf, "root:", 5) == 0 ? "yes" : "no");
	off_t end = lseek(fd, 0, SEEK_END);
	struct stat st, st2, lst;
	must(fstat(fd, &st) == 0 && stat("/etc/passwd", &st2) == 0, "stat");
	out("lseek SEEK_END == st_size: %s; fstat == stat: %s\n", end == st.st_size ? "yes" : "no",
	    st.st_ino == st2.st_ino && st.st_size == st2.st_size && st.st_mode == st2.st_mode ? "yes" : "no");
	n = pread(fd, buf, 4, 0);
	out("pread at 0: %zd %.4s, offset kept: %s\n", n, buf, lseek(fd, 0, SEEK_CUR) == end ? "yes" : "no");
	close(fd);
	struct statx_raw sx;
	must(syscall(SYS_statx, AT_FDCWD, "/etc/passwd", 0, 0x7ff, &sx) == 0, "statx");
	out("statx agrees: %s\n", sx.ino == st.st_ino && sx.size == (uint64_t)st.st_size &&
				      makedev(sx.dev_major, sx.dev_minor) == st.st_dev &&
				      sx.mtime.sec == st.st_mtime ? "yes" : "no");

	DIR *d = opendir("/etc");
	must(d != NULL, "opendir");
	int found = 0, dots = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, "passwd") == 0 && e->d_type == DT_REG)
			found = 1;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			dots++;
	}
	out("readdir /etc: passwd found as a regular file: %s, . and ..: %d\n", found ? "yes" : "no", dots);
	int dfd = dirfd(d);
	errno = 0;
	int rel = openat(dfd, "passwd", O_RDONLY);
	out("openat(dirfd of /etc, \"passwd\"): %s\n", rel >= 0 ? "ok" : errname(errno));
	if (rel >= 0)
		close(rel);
	closedir(d);

	must(chdir("/etc") == 0, "chdir");
	char cwd[256];
	out("getcwd after chdir /etc: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
	errno = 0;
	r = open("passwd", O_RDONLY);
	out("relative open of passwd: %s\n", r >= 0 ? "ok" : errname(errno));
	must(lstat("/bin", &lst) == 0, "lstat /bin");
	char link[256] = {0};
	if (S_ISLNK(lst.st_mode)) {
		n = readlink("/bin", link, sizeof link - 1);
		out("/bin is a link to %s\n", n > 0 ? link : errname(errno));
	} else {
		out("/bin is a directory: %s\n", S_ISDIR(lst.st_mode) ? "yes" : "no");
	}

	/* /proc/self: cmdline is argv; maps shows the stack; status the pid. */
	char pbuf[8192];
	int pf = open("/proc/self/cmdline", O_RDONLY);
	n = pf >= 0 ? read(pf, pbuf, sizeof pbuf) : -1;
	out("/proc/self/cmdline is argv: %s\n",
	    n == (ssize_t)strlen(argv0) + 1 && strcmp(pbuf, argv0) == 0 ? "yes" : "no");
	close(pf);
	pf = open("/proc/self/maps", O_RDONLY);
	n = pf >= 0 ? read(pf, pbuf, sizeof pbuf - 1) : -1;
	pbuf[n > 0 ? n : 0] = 0;
	out("/proc/self/maps has a rw-p [stack]: %s\n", strstr(pbuf, "rw-p") && strstr(pbuf, "[stack]") ? "yes" : "no");
	close(pf);
	pf = open("/proc/self/status", O_RDONLY);
	n = pf >= 0 ? read(pf, pbuf, sizeof pbuf - 1) : -1;
	pbuf[n > 0 ? n : 0] = 0;
	char want[64];
	snprintf(want, sizeof want, "\nPid:\t%d\n", (int)getpid());
	out("/proc/self/status has our pid: %s\n", strstr(pbuf, want) ? "match" : "no");
	close(pf);

	errno = 0;
	r = open("/nonexistent/file", O_RDONLY);
	out("open missing: %d %s\n", r, errname(errno));
	errno = 0;
	r = open("/etc/passwd/x", O_RDONLY);
	out("open through a file: %d %s\n", r, errname(errno));
	errno = 0;
	r = open("/etc", O_WRONLY);
	out("open a directory for writing: %d %s\n", r, errname(errno));
	errno = 0;
	r = open("/etc/passwd", O_RDONLY | O_DIRECTORY);
	out("O_DIRECTORY on a file: %d %s\n", r, errname(errno));
	errno = 0;
	r = chdir("/etc/passwd");
	out("chdir to a file: %d %s\n", r, errname(errno));
	return finish();
}
