/*
 * malloc64: exercises the heap/mmap paths of the allocator.
 *  1. malloc(64 MiB), writes a pattern into every 8-byte word (touching every
 *     page), verifies it and prints a checksum;
 *  2. calloc memory reads as zero;
 *  3. 20000 small allocations of varying sizes (deterministic LCG), each
 *     filled with its own byte, freed in a scrambled order while some are
 *     verified; plus a realloc growth chain that keeps its contents.
 * Prints one line per phase; exits 0 iff every check passed.
 */
#include "guest.h"
#include <stdint.h>

#define BIG (64UL << 20)
#define SMALL_N 20000

static uint64_t lcg_state = 12345;
static uint64_t lcg(void)
{
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return lcg_state >> 33;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 1099511628211ULL;
	}
	return h;
}

static void *small[SMALL_N];
static size_t small_len[SMALL_N];

int main(void)
{
	/* 1. big block */
	uint64_t *big = malloc(BIG);
	must(big != NULL, "malloc(64 MiB)");
	size_t words = BIG / sizeof(uint64_t);
	for (size_t i = 0; i < words; i++)
		big[i] = i * 0x9E3779B97F4A7C15ULL ^ (i >> 7);
	uint64_t sum = 14695981039346656037ULL;
	size_t bad = 0;
	for (size_t i = 0; i < words; i++) {
		if (big[i] != (i * 0x9E3779B97F4A7C15ULL ^ (i >> 7)))
			bad++;
		if (i % 512 == 0) /* one word per page into the checksum */
			sum = fnv(sum, big[i]);
	}
	check(bad == 0, "64 MiB pattern verifies");
	out("big: %zu MiB, bad words %zu, checksum %016llx\n", (size_t)(BIG >> 20),
	    bad, (unsigned long long)sum);
	free(big);

	/* 2. calloc */
	unsigned char *z = calloc(1 << 20, 1);
	must(z != NULL, "calloc");
	size_t nonzero = 0;
	for (size_t i = 0; i < (1 << 20); i++)
		nonzero += z[i] != 0;
	check(nonzero == 0, "calloc is zeroed");
	out("calloc: nonzero bytes %zu\n", nonzero);
	free(z);

	/* 3. many small allocations */
	size_t total = 0;
	for (int i = 0; i < SMALL_N; i++) {
		size_t len = 1 + lcg() % (i % 100 == 0 ? 70000 : 512);
		small[i] = malloc(len);
		must(small[i] != NULL, "small malloc");
		small_len[i] = len;
		memset(small[i], i & 0xff, len);
		total += len;
	}
	size_t corrupt = 0;
	/* free every third, verify the rest, then reallocate the holes */
	for (int i = 0; i < SMALL_N; i += 3) {
		free(small[i]);
		small[i] = NULL;
	}
	for (int i = 0; i < SMALL_N; i++) {
		if (!small[i]) {
			small_len[i] = 1 + lcg() % 300;
			small[i] = malloc(small_len[i]);
			must(small[i] != NULL, "small malloc (refill)");
			memset(small[i], i & 0xff, small_len[i]);
			continue;
		}
		unsigned char *p = small[i];
		for (size_t k = 0; k < small_len[i]; k++)
			if (p[k] != (unsigned char)(i & 0xff)) {
				corrupt++;
				break;
			}
	}
	/* free in a scrambled order */
	for (int n = 0; n < SMALL_N; n++) {
		int i = (int)((uint64_t)n * 7919 % SMALL_N);
		unsigned char *p = small[i];
		for (size_t k = 0; k < small_len[i]; k++)
			if (p[k] != (unsigned char)(i & 0xff)) {
				corrupt++;
				break;
			}
		free(p);
		small[i] = NULL;
	}
	check(corrupt == 0, "small blocks keep their contents");
	out("small: %d allocations, %zu bytes, corrupt %zu\n", SMALL_N, total, corrupt);

	/* realloc growth chain */
	unsigned char *r = NULL;
	size_t rlen = 0, rbad = 0;
	for (size_t len = 16; len <= (8UL << 20); len *= 2) {
		unsigned char *nr = realloc(r, len);
		must(nr != NULL, "realloc");
		r = nr;
		for (size_t k = 0; k < rlen; k++)
			if (r[k] != (unsigned char)(k * 13))
				rbad++;
		for (size_t k = rlen; k < len; k++)
			r[k] = (unsigned char)(k * 13);
		rlen = len;
	}
	free(r);
	check(rbad == 0, "realloc keeps contents");
	out("realloc: final %zu bytes, bad %zu\n", rlen, rbad);
	return finish();
}
