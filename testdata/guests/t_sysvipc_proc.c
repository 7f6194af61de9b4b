/*
 * t_sysvipc_proc: /proc/sysvipc/{shm,sem,msg} in Linux's format. Each file
 * starts with its header line; the test's own objects (found by id) show
 * their key, mode, size or counts, owners, pids and times. Ids, pids and
 * times differ between runs, so they are printed as checks (equal to the
 * id returned, to getpid(), zero or not), and the fixed-width start of
 * each line is compared with what Linux's format gives.
 */
#include "guest.h"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

/* Finds the line of /proc/sysvipc/<file> whose second field is `id`. */
static int find(const char *file, int id, char *line, size_t size, char *header, size_t hsize)
{
	char path[64], buf[65536];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	char *save = NULL;
	int first = 1;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (first) {
			snprintf(header, hsize, "%s", l);
			first = 0;
			continue;
		}
		int k, i;
		if (sscanf(l, "%d %d", &k, &i) == 2 && i == id) {
			snprintf(line, size, "%s", l);
			return 0;
		}
	}
	return -1;
}

static void fields(const char *line, unsigned long long *v, int max)
{
	const char *p = line;
	for (int i = 0; i < max; i++) {
		char *end;
		if (i == 2) /* perms are octal */
			v[i] = strtoull(p, &end, 8);
		else
			v[i] = strtoull(p, &end, 10);
		p = end;
	}
}

static int key_of(int n)
{
	return 0x7e000000 + ((getpid() & 0xffff) << 4) + n;
}

static void shm(void)
{
	int key = key_of(1);
	int id = shmget(key, 3 * 4096 + 100, IPC_CREAT | IPC_EXCL | 0640);
	must(id >= 0, "shmget");
	char *p = shmat(id, NULL, 0);
	must(p != (void *)-1, "shmat");
	p[0] = 1;
	p[4096] = 1;
	char line[512], header[512], want[128];
	for (int round = 0; round < 2; round++) {
		if (find("shm", id, line, sizeof line, header, sizeof header) < 0) {
			out("shm: no line for the segment\n");
			return;
		}
		if (round == 0)
			out("shm header: [%s]\n", header);
		unsigned long long v[16];
		fields(line, v, 16);
		snprintf(want, sizeof want, "%10d %10d  %4o %21lu ", round ? 0 : key, id,
			 round ? 01640 : 0640, (unsigned long)(3 * 4096 + 100));
		out("shm start matches %d\n", strncmp(line, want, strlen(want)) == 0);
		out("shm perms %llo size %llu cpid me %d lpid me %d nattch %llu uid %llu gid %llu "
		    "cuid %llu cgid %llu atime %d dtime %d ctime %d rss %llu swap %llu\n",
		    v[2], v[3], v[4] == (unsigned long long)getpid(),
		    v[5] == (unsigned long long)getpid(), v[6], v[7], v[8], v[9], v[10],
		    v[11] != 0, v[12] != 0, v[13] != 0, v[14], v[15]);
		/* Removed while attached: SHM_DEST, key 0. */
		shmctl(id, IPC_RMID, NULL);
	}
	shmdt(p);
	out("shm gone after detach %d\n", find("shm", id, line, sizeof line, header, sizeof header) < 0);
}

static void sem(void)
{
	int key = key_of(2);
	int id = semget(key, 3, IPC_CREAT | IPC_EXCL | 0600);
	must(id >= 0, "semget");
	char line[512], header[512], want[128];
	for (int round = 0; round < 2; round++) {
		must(find("sem", id, line, sizeof line, header, sizeof header) == 0, "sem line");
		if (round == 0)
			out("sem header: [%s]\n", header);
		unsigned long long v[10];
		fields(line, v, 10);
		snprintf(want, sizeof want, "%10d %10d  %4o %10u ", key, id, 0600, 3);
		out("sem start matches %d\n", strncmp(line, want, strlen(want)) == 0);
		out("sem perms %llo nsems %llu uid %llu gid %llu cuid %llu cgid %llu otime %d ctime %d\n",
		    v[2], v[3], v[4], v[5], v[6], v[7], v[8] != 0, v[9] != 0);
		struct sembuf op = {0, 1, 0};
		semop(id, &op, 1);
	}
	semctl(id, 0, IPC_RMID);
	out("sem gone %d\n", find("sem", id, line, sizeof line, header, sizeof header) < 0);
}

static void msg(void)
{
	int key = key_of(3);
	int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	must(id >= 0, "msgget");
	struct {
		long type;
		char text[32];
	} m = {1, "0123456789"};
	msgsnd(id, &m, 10, 0);
	m.type = 2;
	msgsnd(id, &m, 20, 0);
	char line[512], header[512], want[128];
	for (int round = 0; round < 2; round++) {
		must(find("msg", id, line, sizeof line, header, sizeof header) == 0, "msg line");
		if (round == 0)
			out("msg header: [%s]\n", header);
		unsigned long long v[14];
		fields(line, v, 14);
		snprintf(want, sizeof want, "%10d %10d  %4o  %10llu %10llu ", key, id, 0600, v[3],
			 v[4]);
		out("msg start matches %d\n", strncmp(line, want, strlen(want)) == 0);
		out("msg perms %llo cbytes %llu qnum %llu lspid me %d lrpid me %d uid %llu gid %llu "
		    "cuid %llu cgid %llu stime %d rtime %d ctime %d\n",
		    v[2], v[3], v[4], v[5] == (unsigned long long)getpid(),
		    v[6] == (unsigned long long)getpid(), v[7], v[8], v[9], v[10], v[11] != 0,
		    v[12] != 0, v[13] != 0);
		msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT);
	}
	msgctl(id, IPC_RMID, NULL);
	out("msg gone %d\n", find("msg", id, line, sizeof line, header, sizeof header) < 0);
}

int main(void)
{
	shm();
	sem();
	msg();
	return failures() ? 1 : 0;
}
