/*
 * buf: a growable byte buffer with a hard cap (curl's dynbuf "toobig").
 *
 * Every buffer the engine grows from untrusted input is a struct buf, so no
 * input can make the library allocate without bound.  The data is always
 * NUL-terminated (one byte past len) so text can be handed to C string
 * functions, but it may also hold NUL bytes of its own.
 */
#ifndef RESPAN_BUF_H
#define RESPAN_BUF_H

#include <stddef.h>

struct buf {
	char *data;	/* NULL until the first append */
	size_t len;	/* bytes in use, not counting the terminating NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* len may never exceed this */
};

/* Prepare an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Release the memory and leave the buffer empty (still usable). */
void buf_free(struct buf *b);

/* Forget the contents but keep the allocation. */
void buf_reset(struct buf *b);

/*
 * Make room for n more bytes plus the terminating NUL, so a writer can fill
 * data + len itself (then add to len and terminate). Returns 0, -E2BIG past
 * max, or -ENOMEM.
 */
int buf_reserve(struct buf *b, size_t n);

/*
 * Append n bytes. Returns 0, -E2BIG when the cap would be exceeded (nothing
 * is appended then), or -ENOMEM.
 */
int buf_append(struct buf *b, const void *p, size_t n);

/* Append a NUL-terminated string; same returns as buf_append. */
int buf_puts(struct buf *b, const char *s);

/* Append printf-style; same returns as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Drop the first n bytes (n > len drops everything). */
void buf_consume(struct buf *b, size_t n);

/*
 * Hand the contents to the caller (who frees them with free()) and leave the
 * buffer empty. Returns NULL for an empty buffer that never allocated.
 */
char *buf_steal(struct buf *b);

#endif
