/*
 * fuzzmix: the two small mixers the fuzz targets share. FNV-1a digests what
 * a parse produced (to compare two parses of one input); xorshift64 makes
 * piece sizes that are reproducible from the input alone.
 */
#ifndef RESPAN_FUZZMIX_H
#define RESPAN_FUZZMIX_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static inline uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
