/* A dynamically linked guest: dlopen/dlsym of a shared library with
 * thread-local variables, used from several threads, and a symbol an
 * LD_PRELOAD library may provide. Prints only deterministic text. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static __thread int main_tls = 5;
static int (*get)(void);
static void (*set)(int);

static void *worker(void *arg)
{
	int v = (int)(long)arg;
	int before = get();
	set(v);
	sched_yield();
	return (void *)(long)(before * 1000 + get());
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		puts("usage: dyn_tls LIBRARY");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		puts("dlopen failed");
		return 1;
	}
	get = (int (*)(void))dlsym(h, "tls_get");
	set = (void (*)(int))dlsym(h, "tls_set");
	if (!get || !set) {
		puts("dlsym failed");
		return 1;
	}
	printf("main_tls %d\n", main_tls);
	printf("library tls %d\n", get());
	set(42);
	printf("after set %d\n", get());
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)((i + 1) * 10));
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		printf("thread %d: %ld\n", i, (long)r);
	}
	printf("main after threads %d\n", get());
	printf("missing symbol %s\n", dlsym(h, "no_such_symbol") ? "found" : "absent");
	const char *(*probe)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "preload_probe");
	printf("preload %s\n", probe ? probe() : "none");
	printf("dlclose %d\n", dlclose(h));
	return 0;
}
