/*
 * t_sysv: SysV IPC. Shared memory: shmget (IPC_PRIVATE and keys,
 * IPC_CREAT/IPC_EXCL, size checks), shmat (kernel-chosen, given, SHM_RND,
 * SHM_RDONLY), sharing across fork, shm_nattch as processes attach, fork
 * and exit, shmdt, shmctl (IPC_STAT, IPC_SET, IPC_RMID while attached,
 * IPC_INFO). Semaphores: semget, semop/semtimedop (NOWAIT, blocking,
 * timeouts, EINTR, EIDRM, SEM_UNDO at exit), semctl. Message
 * queues: types, MSG_EXCEPT, MSG_NOERROR, IPC_NOWAIT, blocking both ways,
 * msg_qbytes, IPC_RMID. Every object made is removed; keys are derived from the pid
 * so parallel runs never collide. Prints errno names and facts only.
 */
#include "guest.h"

#include <signal.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

static unsigned long nattch(int id)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return (unsigned long)-1;
	return (unsigned long)ds.shm_nattch;
}

static void private_segment(void)
{
	errno = 0;
	show("shmget(PRIVATE, 0)", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
	must(id >= 0, "shmget");
	struct shmid_ds ds;
	must(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("new: segsz=%lu nattch=%lu mode=%o cpid_is_me=%d lpid=%d atime=%ld key=%d\n",
	    (unsigned long)ds.shm_segsz, (unsigned long)ds.shm_nattch,
	    (unsigned)ds.shm_perm.mode, ds.shm_cpid == getpid(), ds.shm_lpid,
	    (long)ds.shm_atime, (int)ds.shm_perm.__key);
	out("uid_ok=%d ctime_set=%d\n", ds.shm_perm.uid == geteuid() && ds.shm_perm.cuid == geteuid(),
	    ds.shm_ctime != 0);

	char *a = shmat(id, NULL, 0);
	must(a != (void *)-1, "shmat");
	out("aligned=%d zero=%d\n", ((unsigned long)a & 4095) == 0, a[0] == 0 && a[9999] == 0);
	strcpy(a, "hello segment");
	a[12287] = 'z'; /* the last page is mapped whole */
	must(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("attached: nattch=%lu lpid_is_me=%d atime_set=%d\n", (unsigned long)ds.shm_nattch,
	    ds.shm_lpid == getpid(), ds.shm_atime != 0);

	char *r = shmat(id, NULL, SHM_RDONLY);
	must(r != (void *)-1, "shmat ro");
	out("second view: %s distinct=%d nattch=%lu\n", r, r != a, nattch(id));

	/* A write through the read-only attachment faults. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		no_core_dumps();
		r[0] = 'X';
		_exit(0);
	}
	out("write to SHM_RDONLY: %s\n", describe_status(wait_for(pid)));

	/* fork: the child inherits both attachments; its writes are seen. */
	int p[2], q[2];
	must(pipe(p) == 0 && pipe(q) == 0, "pipe");
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		out("child: %s nattch=%lu\n", a, nattch(id));
		strcpy(a, "written by child");
		char c = 1;
		if (write(p[1], &c, 1) != 1)
			_exit(2);
		/* Stay attached until the parent has looked. */
		if (read(q[0], &c, 1) != 1)
			_exit(3);
		_exit(0);
	}
	char c;
	must(read(p[0], &c, 1) == 1, "read");
	out("parent sees: %s (ro view: %s) nattch_during_fork=%lu\n", a, r, nattch(id));
	must(write(q[1], &c, 1) == 1, "write");
	out("child: %s\n", describe_status(wait_for(pid)));
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	out("after child exit: nattch=%lu\n", nattch(id));

	errno = 0;
	show("shmdt(a+1)", shmdt(a + 1));
	errno = 0;
	show("shmdt(a+4096)", shmdt(a + 4096));
	show("shmdt(r)", shmdt(r));
	out("nattch=%lu\n", nattch(id));
	show("shmdt(a)", shmdt(a));
	errno = 0;
	show("shmdt(a) again", shmdt(a));
	must(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("detached: nattch=%lu lpid_is_me=%d dtime_set=%d\n", (unsigned long)ds.shm_nattch,
	    ds.shm_lpid == getpid(), ds.shm_dtime != 0);

	/* Data survives detach. */
	a = shmat(id, NULL, 0);
	must(a != (void *)-1, "shmat");
	out("reattached: %s %c\n", a, a[12287]);
	must(shmdt(a) == 0, "shmdt");

	/* IPC_SET. */
	must(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	ds.shm_perm.mode = 0640;
	show("IPC_SET", shmctl(id, IPC_SET, &ds));
	must(shmctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("mode=%o\n", (unsigned)ds.shm_perm.mode);

	show("IPC_RMID", shmctl(id, IPC_RMID, NULL));
	errno = 0;
	show("IPC_STAT removed", shmctl(id, IPC_STAT, &ds));
	errno = 0;
	show("shmat removed", (long)shmat(id, NULL, 0));
	errno = 0;
	show("IPC_RMID again", shmctl(id, IPC_RMID, NULL));
}

static void addresses(void)
{
	int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	must(id >= 0, "shmget");
	char *hole = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(hole != MAP_FAILED, "mmap");
	errno = 0;
	show("shmat over a mapping", (long)shmat(id, hole, 0) == (long)hole ? 0 : -1);
	errno = 0;
	show("shmat unaligned", (long)shmat(id, hole + 100, 0));
	must(munmap(hole, 16384) == 0, "munmap");
	char *a = shmat(id, hole + 100, SHM_RND);
	out("SHM_RND: at_hole=%d\n", a == hole);
	if (a != (void *)-1)
		must(shmdt(a) == 0, "shmdt");
	a = shmat(id, hole + 4096, 0);
	out("given address: ok=%d\n", a == hole + 4096);
	if (a != (void *)-1) {
		a[8191] = 1;
		must(shmdt(a) == 0, "shmdt");
	}
	/* A segment attached, split by mprotect, is detached whole. */
	a = shmat(id, NULL, 0);
	must(a != (void *)-1, "shmat");
	must(mprotect(a + 4096, 4096, PROT_READ) == 0, "mprotect");
	out("split: nattch=%lu\n", nattch(id));
	show("shmdt split", shmdt(a));
	out("split detached: nattch=%lu\n", nattch(id));
	must(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID");

	errno = 0;
	show("shmat(-1)", (long)shmat(-1, NULL, 0));
	errno = 0;
	show("shmctl(-1)", shmctl(-1, IPC_STAT, NULL));
}

static void keys(void)
{
	key_t key = 0x53000000 | (getpid() & 0xffffff);
	key_t missing = 0x54000000 | (getpid() & 0xffffff);
	errno = 0;
	show("shmget(missing)", shmget(missing, 4096, 0600));
	int id = shmget(key, 4096, IPC_CREAT | 0600);
	must(id >= 0, "shmget key");
	errno = 0;
	show("IPC_EXCL", shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
	errno = 0;
	show("bigger", shmget(key, 8192, 0600));
	out("same id: %d %d\n", shmget(key, 100, 0600) == id, shmget(key, 0, 0) == id);
	out("with IPC_CREAT: %d\n", shmget(key, 4096, IPC_CREAT | 0600) == id);

	/* IPC_RMID while attached: the segment lives on, keyless. */
	char *a = shmat(id, NULL, 0);
	must(a != (void *)-1, "shmat");
	strcpy(a, "still here");
	show("IPC_RMID attached", shmctl(id, IPC_RMID, NULL));
	struct shmid_ds ds;
	show("IPC_STAT", shmctl(id, IPC_STAT, &ds));
	out("dest=%d key=%d nattch=%lu data=%s\n", (ds.shm_perm.mode & SHM_DEST) != 0,
	    (int)ds.shm_perm.__key, (unsigned long)ds.shm_nattch, a);
	errno = 0;
	show("shmget(key) after rmid", shmget(key, 4096, 0600));
	int id2 = shmget(key, 4096, IPC_CREAT | 0600);
	must(id2 >= 0, "shmget new");
	out("fresh: different=%d\n", id2 != id);
	char *b = shmat(id2, NULL, 0);
	must(b != (void *)-1, "shmat");
	out("fresh data empty=%d old=%s\n", b[0] == 0, a);
	must(shmdt(b) == 0, "shmdt");
	must(shmctl(id2, IPC_RMID, NULL) == 0, "IPC_RMID");
	show("last detach", shmdt(a));
	errno = 0;
	show("IPC_STAT destroyed", shmctl(id, IPC_STAT, &ds));
}

static void shared_counter(void)
{
	int id = shmget(IPC_PRIVATE, sizeof(long) * 2, IPC_CREAT | 0600);
	must(id >= 0, "shmget");
	volatile long *n = shmat(id, NULL, 0);
	must(n != (void *)-1, "shmat");
	must(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID");
	pid_t kids[3];
	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		must(kids[k] >= 0, "fork");
		if (kids[k] == 0) {
			for (int i = 0; i < 1000; i++)
				__atomic_fetch_add(&n[0], 1, __ATOMIC_SEQ_CST);
			_exit(0);
		}
	}
	for (int k = 0; k < 3; k++)
		wait_for(kids[k]);
	out("counter=%ld nattch=%lu\n", n[0], nattch(id));
	must(shmdt((void *)n) == 0, "shmdt");
}

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int semval(int id, int n)
{
	return semctl(id, n, GETVAL);
}

static void wait_count(int id, int n, int cmd, int want)
{
	for (int i = 0; i < 2000 && semctl(id, n, cmd) != want; i++)
		sleep_ms(2);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void semaphores(void)
{
	errno = 0;
	show("semget(0 sems)", semget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	errno = 0;
	show("semget(too many)", semget(IPC_PRIVATE, 40000, IPC_CREAT | 0600));
	int id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	must(id >= 0, "semget");
	struct semid_ds ds;
	union semun u = {.buf = &ds};
	must(semctl(id, 0, IPC_STAT, u) == 0, "IPC_STAT");
	out("sem: nsems=%lu mode=%o otime=%ld ctime_set=%d\n", (unsigned long)ds.sem_nsems,
	    (unsigned)ds.sem_perm.mode, (long)ds.sem_otime, ds.sem_ctime != 0);
	unsigned short all[3] = {9, 9, 9};
	u.array = all;
	must(semctl(id, 0, GETALL, u) == 0, "GETALL");
	out("initial: %u %u %u\n", all[0], all[1], all[2]);
	u.val = 5;
	show("SETVAL 5", semctl(id, 0, SETVAL, u));
	out("GETVAL=%d\n", semval(id, 0));
	u.val = -1;
	errno = 0;
	show("SETVAL -1", semctl(id, 0, SETVAL, u));
	u.val = 40000;
	errno = 0;
	show("SETVAL 40000", semctl(id, 0, SETVAL, u));
	errno = 0;
	u.val = 1;
	show("SETVAL sem 3", semctl(id, 3, SETVAL, u));
	unsigned short set[3] = {1, 0, 2};
	u.array = set;
	show("SETALL", semctl(id, 0, SETALL, u));
	u.array = all;
	must(semctl(id, 0, GETALL, u) == 0, "GETALL");
	out("after SETALL: %u %u %u getpid_is_me=%d\n", all[0], all[1], all[2],
	    semctl(id, 2, GETPID) == getpid());

	struct sembuf op = {1, -1, IPC_NOWAIT};
	errno = 0;
	show("semop(-1 on 0, NOWAIT)", semop(id, &op, 1));
	struct sembuf z = {0, 0, IPC_NOWAIT};
	errno = 0;
	show("semop(wait zero on 1, NOWAIT)", semop(id, &z, 1));
	struct sembuf bad = {3, 1, 0};
	errno = 0;
	show("semop(sem 3)", semop(id, &bad, 1));
	errno = 0;
	show("semop(0 ops)", semop(id, &op, 0));
	/* All or nothing. */
	struct sembuf two[2] = {{0, 1, 0}, {1, -1, IPC_NOWAIT}};
	errno = 0;
	show("semop(+1, -1 NOWAIT)", semop(id, two, 2));
	out("sem0 unchanged=%d\n", semval(id, 0) == 1);
	struct sembuf ok2[2] = {{0, -1, 0}, {2, 3, 0}};
	show("semop(-1, +3)", semop(id, ok2, 2));
	out("now: %d %d %d otime_set=%d\n", semval(id, 0), semval(id, 1), semval(id, 2),
	    (semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}), ds.sem_otime != 0));
	struct timespec ts = {0, 50 * 1000 * 1000};
	struct sembuf blk = {1, -1, 0};
	errno = 0;
	show("semtimedop(50ms)", semtimedop(id, &blk, 1, &ts));
	errno = 0;
	struct sembuf big = {2, 32767, 0};
	show("semop(overflow)", semop(id, &big, 1));

	/* A sleeper is counted in GETNCNT and woken by an increment. */
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct sembuf d = {1, -2, 0};
		long r = semop(id, &d, 1);
		_exit(r == 0 ? 0 : 1);
	}
	wait_count(id, 1, GETNCNT, 1);
	out("GETNCNT=%d\n", semctl(id, 1, GETNCNT));
	struct sembuf inc = {1, 1, 0};
	must(semop(id, &inc, 1) == 0, "semop");
	sleep_ms(20);
	wait_count(id, 1, GETNCNT, 1);
	out("after +1: ncnt=%d val=%d\n", semctl(id, 1, GETNCNT), semval(id, 1));
	must(semop(id, &inc, 1) == 0, "semop");
	int st = wait_for(pid);
	out("waiter: %s val=%d\n", describe_status(st), semval(id, 1));

	/* Wait for zero. */
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct sembuf w = {2, 0, 0};
		_exit(semop(id, &w, 1) == 0 ? 0 : 1);
	}
	wait_count(id, 2, GETZCNT, 1);
	out("GETZCNT=%d\n", semctl(id, 2, GETZCNT));
	u.val = 0;
	must(semctl(id, 2, SETVAL, u) == 0, "SETVAL");
	out("zero waiter: %s\n", describe_status(wait_for(pid)));

	/* A signal interrupts a sleep with EINTR (never restarted). */
	on_signal(SIGUSR1, on_usr1, SA_RESTART);
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct sembuf d = {1, -1, 0};
		errno = 0;
		long r = semop(id, &d, 1);
		out("child semop after signal: %ld %s\n", r, errname(errno));
		_exit(0);
	}
	wait_count(id, 1, GETNCNT, 1);
	kill(pid, SIGUSR1);
	wait_for(pid);

	/* SEM_UNDO: a process's adjustments are undone at its exit. */
	u.val = 2;
	must(semctl(id, 0, SETVAL, u) == 0, "SETVAL");
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct sembuf a[2] = {{0, -1, SEM_UNDO}, {2, 4, SEM_UNDO}};
		if (semop(id, a, 2) != 0)
			_exit(1);
		struct sembuf b = {0, 3, SEM_UNDO};
		if (semop(id, &b, 1) != 0)
			_exit(2);
		out("child: %d %d\n", semval(id, 0), semval(id, 2));
		_exit(0);
	}
	out("undo child: %s\n", describe_status(wait_for(pid)));
	out("after undo: %d %d getpid_is_child=%d\n", semval(id, 0), semval(id, 2),
	    semctl(id, 0, GETPID) == pid);

	/* Removal wakes sleepers with EIDRM. */
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct sembuf d = {1, -1, 0};
		errno = 0;
		long r = semop(id, &d, 1);
		out("sleeper after IPC_RMID: %ld %s\n", r, errname(errno));
		_exit(0);
	}
	wait_count(id, 1, GETNCNT, 1);
	long rm = semctl(id, 0, IPC_RMID);
	wait_for(pid);
	show("IPC_RMID", rm);
	errno = 0;
	show("GETVAL removed", semctl(id, 0, GETVAL));

	/* Keys. */
	key_t key = 0x55000000 | (getpid() & 0xffffff);
	int k = semget(key, 2, IPC_CREAT | 0600);
	must(k >= 0, "semget key");
	errno = 0;
	show("sem IPC_EXCL", semget(key, 2, IPC_CREAT | IPC_EXCL | 0600));
	errno = 0;
	show("sem more", semget(key, 3, 0600));
	out("sem same: %d %d\n", semget(key, 1, 0600) == k, semget(key, 0, 0) == k);
	must(semctl(k, 0, IPC_RMID) == 0, "IPC_RMID");
	errno = 0;
	show("sem removed key", semget(key, 2, 0600));
}

/* Two processes share a segment, guarded by a semaphore used as a lock. */
static void shared_with_semaphore(void)
{
	int sid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	int mid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	must(sid >= 0 && mid >= 0, "ipc");
	union semun u = {.val = 1};
	must(semctl(sid, 0, SETVAL, u) == 0, "SETVAL");
	volatile long *n = shmat(mid, NULL, 0);
	must(n != (void *)-1, "shmat");
	must(shmctl(mid, IPC_RMID, NULL) == 0, "IPC_RMID");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	struct sembuf down = {0, -1, SEM_UNDO}, up = {0, 1, SEM_UNDO};
	for (int i = 0; i < 2000; i++) {
		must(semop(sid, &down, 1) == 0, "down");
		long v = n[0];
		if (i % 100 == 0)
			sched_yield();
		n[0] = v + 1;
		must(semop(sid, &up, 1) == 0, "up");
	}
	if (pid == 0)
		_exit(0);
	out("locked child: %s\n", describe_status(wait_for(pid)));
	out("locked counter=%ld sem=%d\n", n[0], semctl(sid, 0, GETVAL));
	must(shmdt((void *)n) == 0, "shmdt");
	must(semctl(sid, 0, IPC_RMID) == 0, "IPC_RMID");
}

struct tmsg {
	long type;
	char text[64];
};

static void recv_show(int id, long typ, size_t sz, int flags)
{
	struct tmsg m;
	memset(&m, 0, sizeof m);
	errno = 0;
	long r = msgrcv(id, &m, sz, typ, flags);
	int e = errno;
	if (r < 0)
		out("msgrcv(type %ld, %zu)=-1 %s\n", typ, sz, errname(e));
	else
		out("msgrcv(type %ld, %zu)=%ld type=%ld text=%.*s\n", typ, sz, r, m.type, (int)r,
		    m.text);
}

static void send(int id, long type, const char *text)
{
	struct tmsg m = {.type = type};
	strcpy(m.text, text);
	must(msgsnd(id, &m, strlen(text), 0) == 0, "msgsnd");
}

static void queues(void)
{
	int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	must(id >= 0, "msgget");
	struct msqid_ds ds;
	must(msgctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("queue: qnum=%lu qbytes=%lu cbytes=%lu mode=%o\n", (unsigned long)ds.msg_qnum,
	    (unsigned long)ds.msg_qbytes, (unsigned long)ds.__msg_cbytes,
	    (unsigned)ds.msg_perm.mode);
	recv_show(id, 0, 64, IPC_NOWAIT);
	send(id, 3, "three");
	send(id, 1, "one");
	send(id, 2, "two");
	send(id, 1, "one again");
	send(id, 5, "five");
	must(msgctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("queued: qnum=%lu cbytes=%lu lspid_is_me=%d\n", (unsigned long)ds.msg_qnum,
	    (unsigned long)ds.__msg_cbytes, ds.msg_lspid == getpid());
	recv_show(id, 2, 64, 0);
	recv_show(id, -4, 64, 0);
	recv_show(id, 1, 64, MSG_EXCEPT);
	recv_show(id, 9, 64, IPC_NOWAIT);
	recv_show(id, 1, 3, 0);
	recv_show(id, 1, 3, MSG_NOERROR);
	recv_show(id, 0, 64, 0);
	recv_show(id, 0, 64, IPC_NOWAIT);
	struct tmsg m = {.type = 0};
	errno = 0;
	show("msgsnd(type 0)", msgsnd(id, &m, 1, 0));
	m.type = 1;
	errno = 0;
	show("msgsnd(too big)", msgsnd(id, &m, 9000, 0));

	/* A full queue: EAGAIN, then a sender sleeps until a receive. */
	ds.msg_qbytes = 100;
	must(msgctl(id, IPC_SET, &ds) == 0, "IPC_SET");
	memset(m.text, 'x', 60);
	must(msgsnd(id, &m, 60, 0) == 0, "msgsnd");
	errno = 0;
	show("msgsnd(full, NOWAIT)", msgsnd(id, &m, 60, IPC_NOWAIT));
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0)
		_exit(msgsnd(id, &m, 60, 0) == 0 ? 0 : 1);
	sleep_ms(50);
	recv_show(id, 0, 5, MSG_NOERROR);
	int st = wait_for(pid);
	out("blocked sender: %s\n", describe_status(st));
	must(msgctl(id, IPC_STAT, &ds) == 0, "IPC_STAT");
	out("qnum=%lu cbytes=%lu lrpid_is_me=%d\n", (unsigned long)ds.msg_qnum,
	    (unsigned long)ds.__msg_cbytes, ds.msg_lrpid == getpid());
	recv_show(id, 0, 5, MSG_NOERROR);

	/* A receiver sleeps until a matching message arrives. */
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct tmsg r;
		long n = msgrcv(id, &r, sizeof r.text, 7, 0);
		_exit(n == 4 && r.type == 7 && memcmp(r.text, "late", 4) == 0 ? 0 : 1);
	}
	sleep_ms(50);
	send(id, 6, "other");
	send(id, 7, "late");
	st = wait_for(pid);
	out("blocked receiver: %s\n", describe_status(st));
	recv_show(id, 0, 64, IPC_NOWAIT);

	/* Removal wakes a sleeping receiver with EIDRM. */
	pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		struct tmsg r;
		errno = 0;
		long n = msgrcv(id, &r, sizeof r.text, 0, 0);
		_exit(n < 0 && errno == EIDRM ? 0 : 1);
	}
	/* (No count of sleeping receivers exists: give it time to sleep.) */
	sleep_ms(200);
	show("IPC_RMID", msgctl(id, IPC_RMID, NULL));
	st = wait_for(pid);
	out("receiver after IPC_RMID: %s\n", describe_status(st));
	errno = 0;
	show("IPC_STAT removed", msgctl(id, IPC_STAT, &ds));

	key_t key = 0x56000000 | (getpid() & 0xffffff);
	int k = msgget(key, IPC_CREAT | 0600);
	must(k >= 0, "msgget key");
	errno = 0;
	show("msg IPC_EXCL", msgget(key, IPC_CREAT | IPC_EXCL | 0600));
	out("msg same: %d\n", msgget(key, 0) == k);
	must(msgctl(k, IPC_RMID, NULL) == 0, "IPC_RMID");
	errno = 0;
	show("msg removed key", msgget(key, 0));
}

static void info(void)
{
	static const char *const names[] = {"shmmax", "shmall", "shmmni", "sem",
					    "msgmax", "msgmnb", "msgmni"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char path[64], buf[128];
		snprintf(path, sizeof path, "/proc/sys/kernel/%s", names[i]);
		int fd = open(path, O_RDONLY);
		long n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
		if (fd >= 0)
			close(fd);
		buf[n < 0 ? 0 : n] = 0;
		out("%s: %s", path, n < 0 ? "unreadable\n" : buf);
	}
	struct shminfo si;
	long r = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
	out("IPC_INFO ok=%d shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", r >= 0,
	    (unsigned long)si.shmmax, (unsigned long)si.shmmin, (unsigned long)si.shmmni,
	    (unsigned long)si.shmseg, (unsigned long)si.shmall);
	errno = 0;
	show("bad cmd", shmctl(0, 999, NULL));
}

/* `t_sysv memcap`: a child touches all of a 96 MiB segment; its pages are
 * charged to the sandbox's memory cap (the test runs it under 32M). */
static int memcap(void)
{
	int id = shmget(IPC_PRIVATE, 96 << 20, IPC_CREAT | 0600);
	must(id >= 0, "shmget");
	char *p = shmat(id, NULL, 0);
	must(p != (void *)-1, "shmat");
	must(shmctl(id, IPC_RMID, NULL) == 0, "IPC_RMID");
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		memset(p, 1, 96 << 20);
		_exit(0);
	}
	int st = wait_for(pid);
	out("toucher: %s\n", describe_status(st));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "memcap") == 0)
		return memcap();
	private_segment();
	addresses();
	keys();
	shared_counter();
	info();
	semaphores();
	shared_with_semaphore();
	queues();
	return finish();
}
