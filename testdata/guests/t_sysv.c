/*
 * t_sysv: SysV IPC. Shared memory: shmget (IPC_PRIVATE and keys,
 * IPC_CREAT/IPC_EXCL, size checks), shmat (kernel-chosen, given, SHM_RND,
 * SHM_RDONLY), sharing across fork, shm_nattch as processes attach, fork
 * and exit, shmdt, shmctl (IPC_STAT, IPC_SET, IPC_RMID while attached,
 * IPC_INFO). Every object made is removed; keys are derived from the pid
 * so parallel runs never collide. Prints errno names and facts only.
 */
#include "guest.h"

#include <signal.h>
#include <sys/ipc.h>
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

static void info(void)
{
	struct shminfo si;
	long r = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
	out("IPC_INFO ok=%d shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", r >= 0,
	    (unsigned long)si.shmmax, (unsigned long)si.shmmin, (unsigned long)si.shmmni,
	    (unsigned long)si.shmseg, (unsigned long)si.shmall);
	errno = 0;
	show("bad cmd", shmctl(0, 999, NULL));
}

int main(void)
{
	private_segment();
	addresses();
	keys();
	shared_counter();
	info();
	return finish();
}
