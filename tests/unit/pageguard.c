#include "pageguard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Every copy gets its own mapping: [data pages][one PROT_NONE page]. */
struct guard_map {
	void *base;
	size_t size;
};

static struct guard_map maps[256];

const char *pageguard_copy(const void *data, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data_pages = (len + page - 1) / page;
	if (data_pages == 0)
		data_pages = 1;
	size_t size = (data_pages + 1) * page;
	char *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		abort();
	if (mprotect(base + data_pages * page, page, PROT_NONE) != 0)
		abort();
	char *p = base + data_pages * page - len;
	if (len)
		memcpy(p, data, len);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		if (maps[i].base == NULL) {
			maps[i].base = base;
			maps[i].size = size;
			return p;
		}
	}
	abort();
}

void pageguard_free(const char *p)
{
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		char *b = maps[i].base;
		if (b && (uintptr_t)p >= (uintptr_t)b &&
		    (uintptr_t)p <= (uintptr_t)b + maps[i].size) {
			munmap(b, maps[i].size);
			maps[i].base = NULL;
			return;
		}
	}
}

void pageguard_pieces(const char *in, size_t len, size_t split, size_t step,
		  pageguard_piece_fn fn, void *ctx)
{
	for (size_t off = 0, n; off < len; off += n) {
		n = len - off;
		if (off == 0 && split)
			n = split;
		else if (step && n > step)
			n = step;
		const char *g = pageguard_copy(in + off, n);
		bool more = fn(ctx, g, n);
		pageguard_free(g);
		if (!more)
			return;
	}
}
