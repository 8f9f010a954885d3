/*
 * libFuzzer target for preload/response.c (and through it chunked.c and
 * decode.c).
 *
 * Input layout: byte 0 is the number of requests sent before the response
 * bytes arrive (low 3 bits) and whether the stream ends with response_eof (bit
 * 3: orderly, bit 4: with a reason); byte 1 says which of those requests
 * were HEAD (one bit each); byte 2 seeds the sizes of the pieces the rest is
 * fed in (0: all at once). The rest is what the server sent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	int depth;		/* heads minus ends: must stay 0 or 1 */
	unsigned long long body;
};

static void on_head(void *ctx, const struct response_head *h)
{
	struct sink *s = ctx;
	if (h->status < 100 || h->status > 999 || h->n_headers > RESPONSE_MAX_HEADERS)
		abort();
	/* touch every view so ASan sees a bad one */
	volatile char c = 0;
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *x = &h->headers[i];
		if (x->name_len)
			c ^= x->name[x->name_len - 1];
		if (x->value_len)
			c ^= x->value[x->value_len - 1];
	}
	if (h->reason_len)
		c ^= h->reason[h->reason_len - 1];
	(void)c;
	if (!h->interim)
		s->depth++;
	if (s->depth > 1)
		abort();
}

static void on_body(void *ctx, const char *d, size_t len)
{
	struct sink *s = ctx;
	if (s->depth != 1 || len == 0)
		abort();
	volatile char c = d[0] ^ d[len - 1];
	(void)c;
	s->body += len;
}

static void on_end(void *ctx, const char *error)
{
	struct sink *s = ctx;
	(void)error;
	if (--s->depth != 0)
		abort();
}

static void on_error(void *ctx, const char *why)
{
	(void)ctx;
	if (why == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct response_callbacks cb = { on_head, on_body, on_end,
						   on_error };
	struct sink s = { 0, 0 };

	if (size < 3)
		return 0;
	unsigned flags = data[0], heads = data[1], seed = data[2];
	data += 3;
	size -= 3;

	struct response_parser *p = response_new(&cb, &s);
	if (p == NULL)
		return 0;
	for (unsigned i = 0; i < (flags & 7); i++)
		response_expect(p, (heads >> i) & 1);

	size_t off = 0;
	while (off < size) {
		size_t n = size - off;
		if (seed) {
			/* a small LCG picks piece sizes of 1..64 bytes */
			seed = (seed * 73 + 41) & 0xff;
			size_t want = (seed & 63) + 1;
			if (n > want)
				n = want;
		}
		/* a fresh copy of exactly n bytes, so over-reads are caught */
		char *piece = malloc(n);
		if (piece == NULL)
			break;
		memcpy(piece, data + off, n);
		int rc = response_feed(p, piece, n);
		free(piece);
		if (rc < 0 && response_feed(p, "x", 1) != -1)
			abort();	/* failed must stay failed */
		off += n;
	}
	if (flags & 0x18)
		response_eof(p, (flags & 0x10) ? "fuzz: cut" : NULL);
	response_free(p);
	return 0;
}
