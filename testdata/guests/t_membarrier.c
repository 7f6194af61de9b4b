/* membarrier: QUERY, argument checks, GLOBAL, the PRIVATE_EXPEDITED
 * family with and without registration, GET_REGISTRATIONS, registrations
 * kept by fork and dropped by exec, and barriers while another thread
 * spins in user mode (it must be made to pass a barrier, not waited for). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long mb(int cmd, unsigned flags, int cpu) {
    long r = syscall(SYS_membarrier, cmd, flags, cpu);
    return r < 0 ? -errno : r;
}

static void show(const char *what, int cmd, unsigned flags, int cpu) {
    long r = mb(cmd, flags, cpu);
    if (cmd == 0 || cmd == 512)
        printf("%s: %#lx\n", what, r);
    else
        printf("%s: %ld\n", what, r);
}

static atomic_int stop, spins;

static void *spinner(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "exec") == 0) {
        show("after exec: registrations", 512, 0, 0);
        show("after exec: private expedited", 8, 0, 0);
        return 0;
    }
    show("query", 0, 0, 0);
    show("query with a flag", 0, 1, 0);
    show("global", 1, 0, 0);
    show("global expedited, unregistered", 2, 0, 0);
    show("private expedited, unregistered", 8, 0, 0);
    show("sync core, unregistered", 32, 0, 0);
    show("rseq, unregistered", 128, 0, 0);
    show("registrations", 512, 0, 0);
    show("register private expedited", 16, 0, 0);
    show("private expedited", 8, 0, 0);
    show("private expedited with FLAG_CPU", 8, 1, 0);
    show("sync core, still unregistered", 32, 0, 0);
    show("register sync core", 64, 0, 0);
    show("sync core", 32, 0, 0);
    show("register global expedited", 4, 0, 0);
    show("register rseq", 256, 0, 0);
    show("rseq", 128, 0, 0);
    show("rseq with FLAG_CPU", 128, 1, 0);
    show("rseq with FLAG_CPU and a bad cpu", 128, 1, 100000);
    show("rseq with another flag", 128, 2, 0);
    show("registrations", 512, 0, 0);
    show("unknown command 3", 3, 0, 0);
    show("unknown command 1024", 1024, 0, 0);
    show("negative command", -1, 0, 0);

    pthread_t th;
    pthread_create(&th, NULL, spinner, NULL);
    while (atomic_load(&spins) == 0)
        ;
    long bad = 0;
    for (int i = 0; i < 50; i++) {
        bad += mb(8, 0, 0) != 0;
        bad += mb(32, 0, 0) != 0;
        bad += mb(1, 0, 0) != 0;
    }
    printf("150 barriers beside a spinning thread: %ld failed\n", bad);
    atomic_store(&stop, 1);
    pthread_join(th, NULL);

    pid_t p = fork();
    if (p == 0) {
        show("forked child: registrations", 512, 0, 0);
        show("forked child: private expedited", 8, 0, 0);
        _exit(0);
    }
    waitpid(p, NULL, 0);
    p = fork();
    if (p == 0) {
        execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
        printf("exec: errno %d\n", errno);
        _exit(1);
    }
    int status;
    waitpid(p, &status, 0);
    printf("exec child status %d\n", WEXITSTATUS(status));
    return 0;
}
