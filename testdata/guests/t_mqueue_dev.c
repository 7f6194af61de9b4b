/*
 * t_mqueue_dev: /dev/mqueue shows the sandbox's POSIX message queues, as
 * a mounted mqueue file system does on Linux: a directory (mode 1777) with
 * a regular file per queue (the queue's mode) that reads as the status
 * line of mqueue_read_file ("QSIZE:%-10lu NOTIFY:%-5d SIGNO:%-5d
 * NOTIFY_PID:%-6d"); a queue gone with mq_unlink is gone from it.
 * (Sandbox only: the test hosts mount no mqueue file system.)
 */
#include "guest.h"

#include <dirent.h>
#include <mqueue.h>
#include <sys/stat.h>

static void showq(const char *path)
{
	char buf[256] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		out("open %s: %s\n", path, errname(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	/* The owner's pid as PID. */
	char *p = strstr(buf, "NOTIFY_PID:");
	if (p && atoi(p + 11) == getpid()) {
		char rest[256];
		char *end = p + 11;
		while (*end >= '0' && *end <= '9')
			end++;
		snprintf(rest, sizeof rest, "PID%s", end);
		strcpy(p + 11, rest);
	}
	out("%s (%zd bytes): %s", path, n, buf);
}

static void list(void)
{
	DIR *d = opendir("/dev/mqueue");
	if (!d) {
		out("opendir: %s\n", errname(errno));
		return;
	}
	char names[8][64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 8)
		if (e->d_name[0] != '.') {
			snprintf(names[n], sizeof names[n], "%.40s%s", e->d_name,
				 e->d_type == DT_REG ? "" : "?");
			n++;
		}
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];
			strcpy(t, names[j]);
			strcpy(names[j], names[j - 1]);
			strcpy(names[j - 1], t);
		}
	char line[600] = "";
	for (int i = 0; i < n; i++) {
		strcat(line, " ");
		strcat(line, names[i]);
	}
	out("/dev/mqueue:%s\n", line);
}

int main(void)
{
	struct stat st;
	int r = stat("/dev/mqueue", &st);
	out("stat /dev/mqueue: %d dir %d mode %o\n", r, S_ISDIR(st.st_mode), st.st_mode & 07777);
	list();
	struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
	umask(0);
	mqd_t q = mq_open("/t_mqueue_dev", O_RDWR | O_CREAT | O_EXCL, 0640, &a);
	mqd_t q2 = mq_open("/t_mqueue_dev.2", O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	list();
	r = stat("/dev/mqueue/t_mqueue_dev", &st);
	out("stat queue: %d regular %d mode %o\n", r, S_ISREG(st.st_mode), st.st_mode & 07777);
	showq("/dev/mqueue/t_mqueue_dev");
	mq_send(q, "abc", 3, 0);
	mq_send(q, "de", 2, 1);
	struct sigevent se = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
	mq_notify(q2, &se);
	showq("/dev/mqueue/t_mqueue_dev");
	showq("/dev/mqueue/t_mqueue_dev.2");
	mq_unlink("/t_mqueue_dev");
	r = stat("/dev/mqueue/t_mqueue_dev", &st);
	out("after mq_unlink: %d %s\n", r, r ? errname(errno) : "");
	list();
	mq_close(q);
	mq_close(q2);
	mq_unlink("/t_mqueue_dev.2");
	list();
	return failures();
}
