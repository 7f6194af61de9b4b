/*
 * erofs: the calls that would write a read-only mount, each on a fresh
 * name in an existing directory (/tmp, a read-only bind in the sandbox),
 * as a read-only mount answers them: EROFS. Sandbox only (natively /tmp
 * is writable). Prints
 * "name: errno-name" per call.
 */
#include "guest.h"

static void said(const char *name, long r)
{
	out("%s: %s\n", name, r == 0 ? "ok" : errno == EROFS ? "EROFS" : strerror(errno));
}

int main(void)
{
	const char *p = "/tmp/sentry-erofs-new", *q = "/tmp/sentry-erofs-other";
	said("mkdir", syscall(SYS_mkdir, p, 0755));
	said("mkdirat", syscall(SYS_mkdirat, AT_FDCWD, p, 0755));
	said("symlink", syscall(SYS_symlink, "target", p));
	said("symlinkat", syscall(SYS_symlinkat, "target", AT_FDCWD, p));
	said("link", syscall(SYS_link, "/tmp", p));
	said("linkat", syscall(SYS_linkat, AT_FDCWD, "/tmp", AT_FDCWD, p, 0));
	said("rename", syscall(SYS_rename, q, p));
	said("renameat", syscall(SYS_renameat, AT_FDCWD, q, AT_FDCWD, p));
	said("renameat2", syscall(SYS_renameat2, AT_FDCWD, q, AT_FDCWD, p, 0));
	said("mknodat", syscall(SYS_mknodat, AT_FDCWD, p, 0100644, 0));
	return 0;
}
