/*
 * fork_8mib: the parent fills an 8 MiB heap buffer, forks; the child
 * overwrites all 8 MiB of its copy (verifying the parent's pattern first and
 * its own afterwards) and exits 0; the parent checks the child's status and
 * that its own copy still holds the original pattern ("parent intact").
 */
#include "guest.h"
#include <stdint.h>

#define SIZE (8UL << 20)

static uint32_t pat(size_t i, uint32_t salt)
{
	return (uint32_t)(i * 2654435761u) ^ salt;
}

static size_t count_bad(const uint32_t *b, uint32_t salt)
{
	size_t bad = 0;
	for (size_t i = 0; i < SIZE / 4; i++)
		bad += b[i] != pat(i, salt);
	return bad;
}

int main(void)
{
	uint32_t *buf = malloc(SIZE);
	must(buf != NULL, "malloc 8 MiB");
	for (size_t i = 0; i < SIZE / 4; i++)
		buf[i] = pat(i, 0x11111111);

	pid_t c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		size_t before = count_bad(buf, 0x11111111);
		for (size_t i = 0; i < SIZE / 4; i++)
			buf[i] = pat(i, 0x22222222);
		size_t after = count_bad(buf, 0x22222222);
		out("child: inherited bad=%zu, own bad=%zu\n", before, after);
		_exit(before == 0 && after == 0 ? 0 : 1);
	}
	int st = wait_for(c);
	out("parent: child %s\n", describe_status(st));
	check(st == 0, "child status");
	size_t bad = count_bad(buf, 0x11111111);
	check(bad == 0, "parent data");
	out(bad == 0 ? "parent intact\n" : "parent CORRUPTED\n");
	return finish();
}
