/*
 * t_tty: terminals and job control. `t_tty none` runs with stdin a pipe
 * and no controlling terminal (a new session); `t_tty pty` runs as the
 * session leader of a pseudo-terminal that is its controlling terminal and
 * its standard streams (sentry/tests/tty.rs sets both up, natively and in
 * the sandbox). Pids are only compared, never printed.
 *
 * none: every terminal ioctl on a pipe is ENOTTY; /dev/tty exists (a
 *   character device 5,0) and opening it is ENXIO.
 * pty:  the terminal's session is ours and our group is in its
 *   foreground; TIOCSCTTY again is 0; /dev/tty opens (5,0); termios and
 *   the window size read back what was set, and a changed size brings one
 *   SIGWINCH (none when unchanged); a background group that changes the
 *   settings is stopped by SIGTTOU, one that reads by SIGTTIN (EIO when
 *   SIGTTIN is ignored), one that writes with TOSTOP by SIGTTOU; with
 *   SIGTTOU ignored a background group may take the foreground; TIOCSPGRP
 *   gives EPERM for a group of another session, ESRCH for no such pid,
 *   EINVAL for a negative one, and accepts a pid of our session that
 *   names no group (Linux's session_of_pgrp); a process of a new session
 *   has no terminal (ENOTTY, /dev/tty ENXIO) and cannot take ours
 *   (TIOCSCTTY EPERM); TIOCNOTTY by another process of the session drops
 *   the terminal for it alone, by the leader for the whole session with
 *   SIGHUP and SIGCONT to the foreground group; a background group that
 *   is orphaned gets EIO instead of stops (ENOTTY from TIOCSPGRP); the
 *   session leader's exit sends SIGHUP to the foreground group.
 */
#include "guest.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

static void report(const char *what, int r)
{
	if (r < 0)
		out("%s: -1 %s\n", what, errname(errno));
	else
		out("%s: %d\n", what, r);
}

static int ioctl_int(int fd, unsigned long req)
{
	int v = 0;
	return ioctl(fd, req, &v);
}

static void no_terminal(void)
{
	struct termios t;
	struct winsize ws;
	int v = 0;
	errno = 0;
	report("isatty(0)", isatty(0));
	out("isatty errno: %s\n", errname(errno));
	report("tcgetattr", tcgetattr(0, &t));
	report("TIOCGWINSZ", ioctl(0, TIOCGWINSZ, &ws));
	report("tcgetpgrp", tcgetpgrp(0));
	report("tcsetpgrp", tcsetpgrp(0, getpgrp()));
	report("tcgetsid", tcgetsid(0));
	report("TIOCSCTTY", ioctl(0, TIOCSCTTY, 0));
	report("TIOCNOTTY", ioctl(0, TIOCNOTTY, 0));
	report("TIOCGSID", ioctl(0, TIOCGSID, &v));
	report("open /dev/tty", open("/dev/tty", O_RDWR));
	errno = 0;
	const char *tn = ttyname(0);
	int tn_errno = errno;
	out("ttyname(0): %s %s\n", tn ? "a name" : "NULL", errname(tn_errno));
	struct stat st;
	if (stat("/dev/tty", &st) == 0)
		out("/dev/tty: chr %d %u,%u\n", S_ISCHR(st.st_mode), major(st.st_rdev),
		    minor(st.st_rdev));
	else
		out("/dev/tty: stat %s\n", errname(errno));
	int null = open("/dev/null", O_RDWR);
	report("tcgetattr /dev/null", tcgetattr(null, &t));
	report("tcgetpgrp /dev/null", tcgetpgrp(null));
}

static volatile sig_atomic_t winch, hup, cont;
static void on_winch(int s)
{
	(void)s;
	winch++;
}
static void on_hup(int s)
{
	(void)s;
	hup++;
}
static void on_cont(int s)
{
	(void)s;
	cont++;
}

/* Waits up to 3 s for *flag to reach n, then a little longer for extras. */
static int await(volatile sig_atomic_t *flag, int n)
{
	for (int i = 0; i < 300 && *flag < n; i++)
		sleep_ms(10);
	sleep_ms(100);
	return *flag;
}

/* Forks a child that moves into a group of its own and runs `fn`; the
 * parent reports how the child ended or stopped, then kills it. */
static void in_background(const char *what, void (*fn)(void))
{
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		setpgid(0, 0);
		fn();
		_exit(0);
	}
	setpgid(c, c);
	int st;
	pid_t r;
	do {
		r = waitpid(c, &st, WUNTRACED);
	} while (r < 0 && errno == EINTR);
	out("%s: %s\n", what, describe_status(st));
	if (WIFSTOPPED(st)) {
		kill(c, SIGKILL);
		out("%s then: %s\n", what, describe_status(wait_for(c)));
	}
}

static void bg_setattr(void)
{
	struct termios t;
	tcgetattr(0, &t);
	int r = tcsetattr(0, TCSANOW, &t);
	out("bg tcsetattr returned %d %s\n", r, errname(errno));
}

static void bg_tcsetpgrp(void)
{
	int r = tcsetpgrp(0, getpgrp());
	out("bg tcsetpgrp returned %d %s\n", r, errname(errno));
}

static void bg_read(void)
{
	char c;
	ssize_t r = read(0, &c, 1);
	out("bg read returned %d %s\n", (int)r, errname(errno));
}

static void bg_read_ignored(void)
{
	signal(SIGTTIN, SIG_IGN);
	char c;
	ssize_t r = read(0, &c, 1);
	out("bg read with SIGTTIN ignored: %d %s\n", (int)r, errname(errno));
}

static void bg_write(void)
{
	ssize_t r = write(1, "bg write\n", 9);
	out("bg write returned %d %s\n", (int)r, r < 0 ? errname(errno) : "");
}

static void bg_write_ignored(void)
{
	signal(SIGTTOU, SIG_IGN);
	ssize_t r = write(1, "bg write with SIGTTOU ignored\n", 30);
	out("returned %d\n", (int)r);
}

/* A child that leads a new session and steals the terminal (TIOCSCTTY 1,
 * as root may): its own group is orphaned (its parent is in another
 * session), so once it is in the background, reading, changing the
 * settings and writing with TOSTOP are EIO rather than stops, and
 * TIOCSPGRP is ENOTTY. */
static int hup_pipe[2];
static void on_hup_report(int s)
{
	(void)s;
	char h = 'H';
	if (write(hup_pipe[1], &h, 1) != 1)
		_exit(4);
	_exit(0);
}

static void orphaned(void)
{
	must(pipe(hup_pipe) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		struct termios t, t2;
		setsid();
		report("orphan: steal the terminal", ioctl(0, TIOCSCTTY, 1));
		report("orphan: fg is ours", tcgetpgrp(0) == getpgrp());
		must(tcgetattr(0, &t) == 0, "tcgetattr");
		t2 = t;
		t2.c_lflag |= TOSTOP;
		report("orphan: tostop", tcsetattr(0, TCSANOW, &t2));
		pid_t b = fork();
		must(b >= 0, "fork");
		if (b == 0) {
			setpgid(0, 0);
			pause();
			_exit(0);
		}
		setpgid(b, b);
		signal(SIGTTOU, SIG_IGN);
		int given = tcsetpgrp(0, b);
		signal(SIGTTOU, SIG_DFL);
		char ch;
		errno = 0;
		int rd = (int)read(0, &ch, 1);
		int rd_errno = errno;
		int wr = (int)write(1, "orphan write\n", 13);
		int wr_errno = errno;
		int set = tcsetattr(0, TCSANOW, &t);
		int set_errno = errno;
		int spgrp = tcsetpgrp(0, getpgrp());
		int spgrp_errno = errno;
		signal(SIGTTOU, SIG_IGN);
		int back = tcsetpgrp(0, getpgrp());
		signal(SIGTTOU, SIG_DFL);
		report("orphan: tcsetattr -tostop", tcsetattr(0, TCSANOW, &t));
		out("orphan: gave the foreground %d, took it back %d\n", given, back);
		out("orphan: read %d %s\n", rd, errname(rd_errno));
		out("orphan: write with TOSTOP %d %s\n", wr, errname(wr_errno));
		out("orphan: tcsetattr %d %s\n", set, errname(set_errno));
		out("orphan: tcsetpgrp %d %s\n", spgrp, errname(spgrp_errno));
		kill(b, SIGKILL);
		wait_for(b);
		/* A last child in the foreground; our exit (the session
		 * leader's) sends it SIGHUP. */
		signal(SIGHUP, on_hup_report); /* inherited: no race */
		b = fork();
		must(b >= 0, "fork");
		if (b == 0) {
			setpgid(0, 0);
			alarm(10);
			for (;;)
				pause();
		}
		setpgid(b, b);
		signal(SIGTTOU, SIG_IGN);
		report("orphan: foreground to the last child", tcsetpgrp(0, b));
		_exit(0);
	}
	out("orphan: %s\n", describe_status(wait_for(c)));
	struct pollfd pfd = {hup_pipe[0], POLLIN, 0};
	char h = 0;
	if (poll(&pfd, 1, 5000) == 1 && read(hup_pipe[0], &h, 1) == 1)
		out("the leader's exit hung up its foreground: %c\n", h);
	else
		out("the leader's exit hung up nothing\n");
}

static void with_terminal(void)
{
	struct termios t, t2;
	struct winsize ws;
	int v = -1;

	report("isatty(0)", isatty(0));
	report("fg is our group", tcgetpgrp(0) == getpgrp());
	report("session is ours", tcgetsid(0) == getsid(0));
	report("we lead it", getsid(0) == getpid());
	must(ioctl(0, TIOCGSID, &v) == 0, "TIOCGSID");
	report("TIOCGSID is ours", v == getsid(0));
	report("TIOCSCTTY again", ioctl(0, TIOCSCTTY, 0));

	/* ttyname: the name /proc/self/fd gives must stat as the descriptor
	 * does (device, inode, device number), under /dev/pts. */
	char name0[64] = "", name1[64] = "";
	if (ttyname_r(0, name0, sizeof name0) != 0)
		name0[0] = '\0';
	if (ttyname_r(1, name1, sizeof name1) != 0)
		name1[0] = '\0';
	struct stat byname, byfd;
	out("ttyname(0) under /dev/pts: %d\n", strncmp(name0, "/dev/pts/", 9) == 0);
	out("ttyname(0) names fd 0: %d\n",
	    stat(name0, &byname) == 0 && fstat(0, &byfd) == 0 &&
		    byname.st_dev == byfd.st_dev && byname.st_ino == byfd.st_ino &&
		    byname.st_rdev == byfd.st_rdev && S_ISCHR(byname.st_mode));
	out("ttyname(1) is ttyname(0): %d\n", strcmp(name0, name1) == 0);
	int byname_fd = open(name0, O_RDWR | O_NOCTTY);
	report("open ttyname(0)", byname_fd >= 0 ? 0 : -1);
	report("isatty(ttyname(0))", isatty(byname_fd));
	close(byname_fd);

	int tty = open("/dev/tty", O_RDWR);
	report("open /dev/tty", tty >= 0 ? 0 : -1);
	struct stat st;
	must(fstat(tty, &st) == 0, "fstat /dev/tty");
	out("/dev/tty: chr %d %u,%u\n", S_ISCHR(st.st_mode), major(st.st_rdev),
	    minor(st.st_rdev));
	report("isatty(/dev/tty)", isatty(tty));
	report("fg via /dev/tty", tcgetpgrp(tty) == getpgrp());
	report("write via /dev/tty", (int)write(tty, "via /dev/tty\n", 13));
	close(tty);

	must(tcgetattr(0, &t) == 0, "tcgetattr");
	report("ECHO", !!(t.c_lflag & ECHO));
	report("ICANON", !!(t.c_lflag & ICANON));
	t2 = t;
	t2.c_lflag &= ~ECHO;
	report("tcsetattr -echo", tcsetattr(0, TCSANOW, &t2));
	must(tcgetattr(0, &t2) == 0, "tcgetattr");
	report("ECHO now", !!(t2.c_lflag & ECHO));
	report("tcsetattr drain", tcsetattr(0, TCSADRAIN, &t));
	report("tcsetattr flush", tcsetattr(0, TCSAFLUSH, &t));
	must(tcgetattr(0, &t2) == 0, "tcgetattr");
	report("ECHO back", !!(t2.c_lflag & ECHO));
	report("tcflush", tcflush(0, TCIFLUSH));
	report("tcdrain", tcdrain(1));
	report("tcflow", tcflow(1, TCOON));
	v = -1;
	report("FIONREAD", ioctl(0, FIONREAD, &v));
	out("bytes waiting: %d\n", v);

	must(ioctl(0, TIOCGWINSZ, &ws) == 0, "TIOCGWINSZ");
	out("winsize %ux%u\n", ws.ws_row, ws.ws_col);
	signal(SIGWINCH, on_winch);
	struct winsize big = {30, 100, 0, 0};
	report("TIOCSWINSZ 30x100", ioctl(0, TIOCSWINSZ, &big));
	out("SIGWINCH after a change: %d\n", await(&winch, 1));
	report("TIOCSWINSZ same", ioctl(0, TIOCSWINSZ, &big));
	out("SIGWINCH after no change: %d\n", await(&winch, 2));
	must(ioctl(1, TIOCGWINSZ, &ws) == 0, "TIOCGWINSZ");
	out("winsize %ux%u\n", ws.ws_row, ws.ws_col);
	struct winsize back = {24, 80, 0, 0};
	ioctl(0, TIOCSWINSZ, &back);
	out("SIGWINCH after restoring: %d\n", await(&winch, 2));

	in_background("bg tcsetattr", bg_setattr);
	in_background("bg tcsetpgrp", bg_tcsetpgrp);
	in_background("bg read", bg_read);
	in_background("bg read, SIGTTIN ignored", bg_read_ignored);
	in_background("bg write without TOSTOP", bg_write);
	t2 = t;
	t2.c_lflag |= TOSTOP;
	report("tcsetattr tostop", tcsetattr(0, TCSANOW, &t2));
	in_background("bg write with TOSTOP", bg_write);
	in_background("bg write with TOSTOP, SIGTTOU ignored", bg_write_ignored);
	report("tcsetattr -tostop", tcsetattr(0, TCSANOW, &t));

	/* A background child with SIGTTOU ignored takes the foreground. */
	int p[2];
	must(pipe(p) == 0, "pipe");
	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		setpgid(0, 0);
		signal(SIGTTOU, SIG_IGN);
		int r = tcsetpgrp(0, getpgrp());
		out("child tcsetpgrp: %d, fg is the child's: %d\n", r,
		    tcgetpgrp(0) == getpgrp());
		char b = 'x';
		if (write(p[1], &b, 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	setpgid(c, c);
	char b;
	must(read(p[0], &b, 1) == 1, "read pipe");
	report("fg is the child's group", tcgetpgrp(0) == c);
	signal(SIGTTOU, SIG_IGN);
	report("tcsetpgrp back (background, SIGTTOU ignored)", tcsetpgrp(0, getpgrp()));
	report("fg is ours again", tcgetpgrp(0) == getpgrp());
	kill(c, SIGKILL);
	wait_for(c);

	/* A pid of our session that names no group is accepted. */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		pause();
		_exit(0);
	}
	report("tcsetpgrp to a member's pid", tcsetpgrp(0, c));
	report("fg is that pid", tcgetpgrp(0) == c);
	report("tcsetpgrp back", tcsetpgrp(0, getpgrp()));
	kill(c, SIGKILL);
	wait_for(c);

	report("tcsetpgrp -1", tcsetpgrp(0, -1));
	report("tcsetpgrp no such pid", tcsetpgrp(0, 4194303));
	report("tcsetpgrp 0", tcsetpgrp(0, 0));
	signal(SIGTTOU, SIG_DFL);

	/* A child in a session of its own. */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		report("child setsid", setsid() == getpid());
		report("child tcgetpgrp", tcgetpgrp(0));
		report("child TIOCGSID", ioctl_int(0, TIOCGSID));
		report("child open /dev/tty", open("/dev/tty", O_RDWR));
		report("child TIOCSCTTY", ioctl(0, TIOCSCTTY, 0));
		report("child TIOCNOTTY", ioctl(0, TIOCNOTTY, 0));
		report("child isatty", isatty(0));
		char x = 'x';
		if (write(p[1], &x, 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	must(read(p[0], &b, 1) == 1, "read pipe");
	report("tcsetpgrp to another session's group", tcsetpgrp(0, c));
	kill(c, SIGKILL);
	wait_for(c);

	/* TIOCNOTTY by a process that does not lead the session. */
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		report("member TIOCNOTTY", ioctl(0, TIOCNOTTY, 0));
		report("member tcgetpgrp after", tcgetpgrp(0));
		report("member open /dev/tty after", open("/dev/tty", O_RDWR));
		report("member TIOCNOTTY again", ioctl(0, TIOCNOTTY, 0));
		_exit(0);
	}
	wait_for(c);
	report("leader still has it", tcgetpgrp(0) == getpgrp());

	/* TIOCNOTTY by the leader: SIGHUP and SIGCONT to the foreground. */
	signal(SIGHUP, on_hup);
	signal(SIGCONT, on_cont);
	report("leader TIOCNOTTY", ioctl(0, TIOCNOTTY, 0));
	out("SIGHUP %d SIGCONT %d\n", await(&hup, 1), await(&cont, 1));
	report("leader tcgetpgrp after", tcgetpgrp(0));
	report("leader open /dev/tty after", open("/dev/tty", O_RDWR));
	report("leader TIOCSCTTY takes it back", ioctl(0, TIOCSCTTY, 0));
	report("fg is ours", tcgetpgrp(0) == getpgrp());
	out("SIGWINCH in all: %d\n", winch);
	orphaned();
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "pty") == 0)
		with_terminal();
	else
		no_terminal();
	out("done\n");
	return failures() ? 1 : 0;
}
