/*
 * memfind: memmem for the engine's short searches (a secret in a record
 * field, a member name in a stream event).
 *
 * glibc's memmem builds tables on every call, which costs more than
 * searching the few hundred bytes these calls look at (600 instructions
 * for one 150-byte event). Here memchr looks for one byte of the needle,
 * the caller's choice of the least common one (rare), and each place it
 * is found is compared whole, its first and last bytes first.
 */
#ifndef RESPAN_MEMFIND_H
#define RESPAN_MEMFIND_H

#include <stddef.h>
#include <string.h>

/* Where (needle, len) first occurs in (p, n), or NULL; rare < len. */
static inline const char *memfind(const char *p, size_t n, const char *needle,
				  size_t len, size_t rare)
{
	if (len == 0 || n < len)
		return NULL;
	char c = needle[rare];
	const char *end = p + n - len + rare + 1;	/* past the last place for c */
	for (const char *q = p + rare; (q = memchr(q, c, (size_t)(end - q))) != NULL; q++) {
		const char *at = q - rare;
		if (at[0] == needle[0] && at[len - 1] == needle[len - 1] &&
		    memcmp(at, needle, len) == 0)
			return at;
	}
	return NULL;
}

#endif
