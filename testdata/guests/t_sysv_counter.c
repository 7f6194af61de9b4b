/*
 * t_sysv_counter: two processes share a SysV shared memory segment and
 * add to a counter in it, each increment guarded by a SysV semaphore
 * (semop with SEM_UNDO); a second semaphore tells the parent each child
 * is done, and a third starts both children at once. The total must be
 * exact, and the segment's attach count and the semaphore values are
 * checked along the way.
 */
#include "guest.h"

#include <sched.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#define ROUNDS 3000

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static void op(int sem, unsigned short num, short delta)
{
	struct sembuf b = {num, delta, SEM_UNDO};
	while (semop(sem, &b, 1) < 0)
		must(errno == EINTR, "semop");
}

struct shared {
	long counter;
	long by[2];
};

int main(void)
{
	int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	must(shm >= 0, "shmget");
	int sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	must(sem >= 0, "semget");
	unsigned short init[3] = {1, 0, 0}; /* lock, done, go */
	union semun arg = {.array = init};
	must(semctl(sem, 0, SETALL, arg) == 0, "SETALL");
	struct shared *sh = shmat(shm, NULL, 0);
	must(sh != (void *)-1, "shmat");
	sh->counter = 0;

	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		must(kids[k] >= 0, "fork");
		if (kids[k] == 0) {
			struct sembuf go = {2, -1, 0};
			while (semop(sem, &go, 1) < 0)
				must(errno == EINTR, "semop go");
			for (int i = 0; i < ROUNDS; i++) {
				op(sem, 0, -1);
				long v = sh->counter;
				if (i % 97 == 0)
					sched_yield();
				sh->counter = v + 1;
				sh->by[k]++;
				op(sem, 0, 1);
			}
			struct sembuf done = {1, 1, 0};
			semop(sem, &done, 1);
			shmdt(sh);
			_exit(0);
		}
	}
	struct shmid_ds ds;
	shmctl(shm, IPC_STAT, &ds);
	out("attached before start: %d\n", (int)ds.shm_nattch >= 1);
	struct sembuf go = {2, 2, 0};
	must(semop(sem, &go, 1) == 0, "go");
	struct sembuf wait_done = {1, -2, 0};
	while (semop(sem, &wait_done, 1) < 0)
		must(errno == EINTR, "semop done");
	for (int k = 0; k < 2; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		out("child %d exit %d\n", k, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	out("counter %ld (expected %d)\n", sh->counter, 2 * ROUNDS);
	out("each did its share: %d\n", sh->by[0] == ROUNDS && sh->by[1] == ROUNDS);
	out("lock value after: %d\n", semctl(sem, 0, GETVAL));
	shmctl(shm, IPC_STAT, &ds);
	out("attached after: %d\n", (int)ds.shm_nattch);
	must(shmdt(sh) == 0, "shmdt");
	must(shmctl(shm, IPC_RMID, NULL) == 0, "IPC_RMID shm");
	must(semctl(sem, 0, IPC_RMID) == 0, "IPC_RMID sem");
	out("removed\n");
	return failures();
}
