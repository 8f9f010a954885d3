/*
 * decode: streaming content decoding for logged bodies (Content-Encoding
 * gzip, x-gzip, deflate (zlib or raw), br, zstd, identity) through zlib,
 * libbrotli and libzstd.
 */
#ifndef RESPAN_DECODE_H
#define RESPAN_DECODE_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*decode_out_fn)(void *ctx, const char *data, size_t len);

struct decoder;

/*
 * A decoder for a Content-Encoding value (len bytes; NULL or empty means
 * identity). A list ("gzip, br") is decoded in reverse order, up to 4
 * codings. Returns NULL for an unknown coding (*unknown is then set) or when
 * out of memory.
 */
struct decoder *decode_new(const char *encoding, size_t len, bool *unknown);

void decode_free(struct decoder *d);

/*
 * Decode len bytes; decoded data goes to fn in pieces. Returns 0, or -1 when
 * the data is corrupt (the decoder then stays failed and emits nothing
 * more). Output is bounded by out_max given to decode_set_limit (default:
 * 256 MiB in total), to stop decompression bombs: past it, returns -1.
 */
int decode_feed(struct decoder *d, const char *in, size_t len,
		decode_out_fn fn, void *ctx);

/* Bound the total decoded output. */
void decode_set_limit(struct decoder *d, unsigned long long out_max);

/* True when the compressed stream reached its proper end. */
bool decode_finished(const struct decoder *d);

#endif
