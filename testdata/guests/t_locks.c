/*
 * t_locks: flock(2) and fcntl(2) record locks on a file under /tmp.
 * flock belongs to an open file description (dup shares it, a second
 * open does not, the last close releases it); blocking waits end when the
 * holder lets go or a signal comes (EINTR without SA_RESTART). Record
 * locks: F_GETLK shows the conflicting lock with its l_pid, ranges split
 * and merge, closing ANY descriptor of the file drops the process's locks,
 * F_SETLKW waits, two processes waiting for each other get EDEADLK, OFD
 * locks belong to the description and conflict with traditional ones.
 * Prints results and errno names only.
 */
#include "guest.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

static char path[64];

static void res(const char *what, long r)
{
	if (r < 0)
		out("%s: %s\n", what, errname(errno));
	else
		out("%s: ok\n", what);
}

static int lk(int fd, int cmd, int type, off_t start, off_t len)
{
	struct flock l;
	memset(&l, 0, sizeof l);
	l.l_type = (short)type;
	l.l_whence = SEEK_SET;
	l.l_start = start;
	l.l_len = len;
	return fcntl(fd, cmd, &l);
}

/* F_GETLK for [start, start+len) as a write lock: what conflicts. */
static void getlk(const char *what, int fd, int cmd, off_t start, off_t len, pid_t holder)
{
	struct flock l;
	memset(&l, 0, sizeof l);
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	l.l_start = start;
	l.l_len = len;
	if (fcntl(fd, cmd, &l) < 0) {
		out("%s: %s\n", what, errname(errno));
		return;
	}
	if (l.l_type == F_UNLCK) {
		out("%s: unlocked\n", what);
		return;
	}
	out("%s: %s start=%ld len=%ld pid=%s\n", what, l.l_type == F_RDLCK ? "read" : "write",
	    (long)l.l_start, (long)l.l_len,
	    l.l_pid == holder ? "holder" : l.l_pid == -1 ? "-1" : "other");
}

static void put(int fd, char c)
{
	must(write(fd, &c, 1) == 1, "pipe write");
}

static char get(int fd)
{
	char c = 0;
	must(read(fd, &c, 1) == 1, "pipe read");
	return c;
}

static void on_alarm(int s)
{
	(void)s;
}

static void flock_tests(void)
{
	int a = open(path, O_RDWR);
	int b = open(path, O_RDWR);
	must(a >= 0 && b >= 0, "open");
	res("flock a EX", flock(a, LOCK_EX));
	res("flock b EX|NB", flock(b, LOCK_EX | LOCK_NB));
	res("flock b SH|NB", flock(b, LOCK_SH | LOCK_NB));
	int d = dup(a);
	res("flock dup(a) EX (same description)", flock(d, LOCK_EX));
	close(a);
	res("flock b EX|NB after closing a (dup holds it)", flock(b, LOCK_EX | LOCK_NB));
	close(d);
	res("flock b EX|NB after the last close", flock(b, LOCK_EX | LOCK_NB));
	res("flock b SH (convert)", flock(b, LOCK_SH));
	a = open(path, O_RDONLY);
	res("flock a SH|NB (shared)", flock(a, LOCK_SH | LOCK_NB));
	res("flock a EX|NB", flock(a, LOCK_EX | LOCK_NB));
	res("flock bad op", flock(a, 0));
	res("flock bad op 3", flock(a, LOCK_SH | LOCK_EX));
	res("flock a UN", flock(a, LOCK_UN));
	res("flock a UN again", flock(a, LOCK_UN));
	res("flock bad fd", flock(99, LOCK_SH));

	/* A blocking flock interrupted by a signal without SA_RESTART. */
	res("flock b EX", flock(b, LOCK_EX));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	res("flock a EX (blocks, then SIGALRM)", flock(a, LOCK_EX));

	/* A blocking flock that the holder (another process) releases. */
	int p[2], q[2];
	must(pipe(p) == 0 && pipe(q) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int f = open(path, O_RDWR);
		res("child flock EX|NB", flock(f, LOCK_EX | LOCK_NB));
		put(p[1], 'x');
		res("child flock EX (waits for the parent)", flock(f, LOCK_EX));
		put(p[1], 'y');
		_exit(0);
	}
	get(p[0]);
	struct timespec ts = {0, 100000000};
	nanosleep(&ts, NULL);
	out("parent unlocks\n");
	flock(b, LOCK_UN);
	get(p[0]);
	int st;
	waitpid(c, &st, 0);
	/* The child exited: its description is gone, and so is its lock. */
	res("flock b EX|NB after the child exits", flock(b, LOCK_EX | LOCK_NB));
	close(a);
	close(b);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static void record_tests(void)
{
	int fd = open(path, O_RDWR);
	must(fd >= 0, "open");
	int to_child[2], to_parent[2];
	must(pipe(to_child) == 0 && pipe(to_parent) == 0, "pipe");
	pid_t me = getpid();

	res("setlk write [0,100)", lk(fd, F_SETLK, F_WRLCK, 0, 100));
	res("setlk read [200,EOF)", lk(fd, F_SETLK, F_RDLCK, 200, 0));
	res("own getlk", lk(fd, F_GETLK, F_WRLCK, 0, 10));
	getlk("own getlk shows", fd, F_GETLK, 0, 10, me);

	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		int f = open(path, O_RDWR);
		getlk("child getlk [0,10)", f, F_GETLK, 0, 10, me);
		getlk("child getlk [150,250)", f, F_GETLK, 150, 100, me);
		getlk("child getlk [100,200)", f, F_GETLK, 100, 100, me);
		res("child setlk write [50,60)", lk(f, F_SETLK, F_WRLCK, 50, 10));
		res("child setlk read [300,310)", lk(f, F_SETLK, F_RDLCK, 300, 10));
		res("child setlk write [300,310)", lk(f, F_SETLK, F_WRLCK, 300, 10));
		res("child setlk write [100,200)", lk(f, F_SETLK, F_WRLCK, 100, 100));
		put(to_parent[1], 'a');
		get(to_child[0]);
		/* The parent unlocked [40,60): the lock is split. */
		getlk("child getlk [0,100) after split", f, F_GETLK, 0, 100, me);
		getlk("child getlk [40,60) after split", f, F_GETLK, 40, 20, me);
		getlk("child getlk [45,100) after split", f, F_GETLK, 45, 55, me);
		res("child setlk write [50,60)", lk(f, F_SETLK, F_WRLCK, 50, 10));
		put(to_parent[1], 'b');
		get(to_child[0]);
		/* The parent closed another descriptor of the file. */
		getlk("child getlk [0,EOF) after the parent's close", f, F_GETLK, 0, 0, me);
		/* Now wait for a lock the parent takes and releases later. */
		put(to_parent[1], 'c');
		get(to_child[0]);
		res("child setlkw write [0,1) (waits)", lk(f, F_SETLKW, F_WRLCK, 0, 1));
		put(to_parent[1], 'd');
		/* Deadlock: the child holds byte 0 and waits for byte 1. */
		get(to_child[0]);
		res("child setlkw write [1,2) (waits for the parent)",
		    lk(f, F_SETLKW, F_WRLCK, 1, 1));
		_exit(0);
	}
	get(to_parent[0]);
	res("parent unlock [40,60)", lk(fd, F_SETLK, F_UNLCK, 40, 20));
	put(to_child[1], '1');
	get(to_parent[0]);
	int other = open(path, O_RDONLY);
	close(other);
	put(to_child[1], '2');
	get(to_parent[0]);
	/* The child holds [50,60) and [100,200): take byte 0 then let go. */
	res("parent setlk write [0,1)", lk(fd, F_SETLK, F_WRLCK, 0, 1));
	put(to_child[1], '3');
	struct timespec ts = {0, 100000000};
	nanosleep(&ts, NULL);
	out("parent unlocks byte 0\n");
	int u = lk(fd, F_SETLK, F_UNLCK, 0, 1);
	get(to_parent[0]);
	res("parent unlock [0,1)", u);
	res("parent setlk write [1,2)", lk(fd, F_SETLK, F_WRLCK, 1, 1));
	put(to_child[1], '4');
	nanosleep(&ts, NULL);
	nanosleep(&ts, NULL);
	res("parent setlkw write [0,1) (the child waits for the parent)",
	    lk(fd, F_SETLKW, F_WRLCK, 0, 1));
	u = lk(fd, F_SETLK, F_UNLCK, 1, 1);
	int st;
	waitpid(c, &st, 0);
	res("parent unlock [1,2)", u);
	out("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	getlk("getlk after the child's exit", fd, F_GETLK, 0, 0, me);
	close(fd);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void ofd_tests(void)
{
	int a = open(path, O_RDWR);
	int b = open(path, O_RDWR);
	int r = open(path, O_RDONLY);
	int w = open(path, O_WRONLY);
	must(a >= 0 && b >= 0 && r >= 0 && w >= 0, "open");
	pid_t me = getpid();
	res("ofd setlk a write [0,10)", lk(a, F_OFD_SETLK, F_WRLCK, 0, 10));
	res("ofd setlk b write [5,6)", lk(b, F_OFD_SETLK, F_WRLCK, 5, 6));
	getlk("ofd getlk b [0,EOF)", b, F_OFD_GETLK, 0, 0, me);
	res("traditional setlk b write [0,1)", lk(b, F_SETLK, F_WRLCK, 0, 1));
	getlk("traditional getlk b [0,EOF)", b, F_GETLK, 0, 0, me);
	struct flock l;
	memset(&l, 0, sizeof l);
	l.l_type = F_RDLCK;
	l.l_pid = 1;
	res("ofd setlk with l_pid set", fcntl(b, F_OFD_SETLK, &l));
	int d = dup(a);
	close(a);
	res("ofd setlk b after closing a (dup holds it)", lk(b, F_OFD_SETLK, F_WRLCK, 5, 1));
	close(d);
	res("ofd setlk b after the last close", lk(b, F_OFD_SETLK, F_WRLCK, 5, 1));
	res("ofd setlkw b (own lock)", lk(b, F_OFD_SETLKW, F_RDLCK, 0, 100));
	/* Blocking requests that a signal (no SA_RESTART) interrupts. */
	int e = open(path, O_RDWR);
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	res("ofd setlkw write (blocks, then SIGALRM)", lk(e, F_OFD_SETLKW, F_WRLCK, 0, 1));
	setitimer(ITIMER_REAL, &it, NULL);
	res("traditional setlkw write (blocks, then SIGALRM)", lk(e, F_SETLKW, F_WRLCK, 0, 1));
	close(e);

	/* Errors. */
	res("setlk read on O_WRONLY", lk(w, F_SETLK, F_RDLCK, 0, 1));
	res("setlk write on O_RDONLY", lk(r, F_SETLK, F_WRLCK, 0, 1));
	res("setlk unlock on O_RDONLY", lk(r, F_SETLK, F_UNLCK, 0, 1));
	res("setlk bad type", lk(r, F_SETLK, 7, 0, 1));
	res("setlk negative start", lk(r, F_SETLK, F_RDLCK, -1, 1));
	res("setlk negative len", lk(r, F_SETLK, F_RDLCK, 10, -5));
	res("setlk negative len before 0", lk(r, F_SETLK, F_RDLCK, 3, -5));
	res("getlk unlock", lk(r, F_GETLK, F_UNLCK, 0, 1));
	memset(&l, 0, sizeof l);
	l.l_type = F_RDLCK;
	l.l_whence = 9;
	res("setlk bad whence", fcntl(r, F_SETLK, &l));
	res("setlk bad pointer", fcntl(r, F_SETLK, (void *)8));
	/* SEEK_CUR and SEEK_END ranges. */
	must(lseek(r, 20, SEEK_SET) == 20, "lseek");
	memset(&l, 0, sizeof l);
	l.l_type = F_RDLCK;
	l.l_whence = SEEK_CUR;
	l.l_start = 5;
	l.l_len = 3;
	res("setlk SEEK_CUR", fcntl(r, F_SETLK, &l));
	getlk("getlk w after SEEK_CUR lock", w, F_GETLK, 0, 0, me);
	l.l_whence = SEEK_END;
	l.l_start = -2;
	l.l_len = 0;
	res("setlk SEEK_END", fcntl(r, F_SETLK, &l));
	close(a);
	close(b);
	close(r);
	close(w);
}

int main(void)
{
	snprintf(path, sizeof path, "/tmp/t_locks.%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	must(fd >= 0, "create");
	must(write(fd, "0123456789abcdef", 16) == 16, "write");
	close(fd);
	flock_tests();
	record_tests();
	ofd_tests();
	unlink(path);
	return failures() ? 1 : 0;
}
