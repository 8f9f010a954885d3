/*
 * guard: put test input right before an unmapped page, so a parser that
 * reads one byte past its input faults at once (picohttpparser's trick).
 */
#ifndef RESPAN_TEST_GUARD_H
#define RESPAN_TEST_GUARD_H

#include <stddef.h>

/*
 * Copy (data, len) so that its last byte is the last byte of a mapped page
 * followed by an unmapped one. Returns the copy; release with guard_free().
 * Aborts the test (cmocka fail) when mmap fails.
 */
const char *guard_copy(const void *data, size_t len);
void guard_free(const char *p);

#endif
