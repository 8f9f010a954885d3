/*
 * pageguard: put test input right before an unmapped page, so a parser that
 * reads one byte past its input faults at once (picohttpparser's trick).
 */
#ifndef RESPAN_TEST_PAGEGUARD_H
#define RESPAN_TEST_PAGEGUARD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Copy (data, len) so that its last byte is the last byte of a mapped page
 * followed by an unmapped one. Returns the copy; release with pageguard_free().
 * Aborts the test (cmocka fail) when mmap fails.
 */
const char *pageguard_copy(const void *data, size_t len);
void pageguard_free(const char *p);

/* Takes one piece; returns false to be given no more. */
typedef bool (*pageguard_piece_fn)(void *ctx, const char *piece, size_t n);

/*
 * Hand in[0..len) to fn in pieces: a first piece of split bytes (0: no such
 * piece), then pieces of step bytes each (0: the rest in one). Each piece is
 * a pageguard_copy(), freed when fn returns. No piece is empty, so an empty in
 * gives none.
 */
void pageguard_pieces(const char *in, size_t len, size_t split, size_t step,
		  pageguard_piece_fn fn, void *ctx);

#endif
