/*
 * chunked: an incremental decoder of HTTP/1.1 chunked transfer coding
 * (RFC 9112 section 7.1) that never modifies its input, so the same bytes can
 * be passed on unchanged while the decoded data goes to the log.
 */
#ifndef RESPAN_CHUNKED_H
#define RESPAN_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Receives each run of decoded data (a view into the input). */
typedef void (*chunked_data_fn)(void *ctx, const char *data, size_t len);

struct chunked {
	int state;		/* private */
	unsigned long long remaining;	/* bytes left in the current chunk */
	size_t line_len;	/* bytes of the current size/trailer line seen */
	bool done;		/* the last chunk and trailers have been read */
};

/* Reset to the start of a chunked body. */
void chunked_init(struct chunked *c);

/*
 * Feed len bytes. Decoded data goes to fn (which may be NULL). Returns the
 * number of bytes that belong to the chunked body (less than len only when
 * the body ended inside this input: c->done is then true and the rest
 * belongs to whatever follows), or -1 when the input is not valid chunked
 * coding (a size line or trailer longer than 4 KiB included).
 */
ssize_t chunked_feed(struct chunked *c, const char *in, size_t len,
		     chunked_data_fn fn, void *ctx);

#endif
