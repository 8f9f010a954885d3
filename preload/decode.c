#define ZLIB_CONST
#include "decode.h"
#include "http.h"

#include <brotli/decode.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define DECODE_MAX_CODINGS 4
#define DECODE_CHUNK 16384
#define DECODE_DEFAULT_LIMIT (256ULL << 20)
/*
 * RFC 9659: zstd as an HTTP content coding uses windows of at most 8 MB, and
 * a decoder in someone else's process must not allocate the 128 MiB that
 * libzstd would otherwise allow.
 */
#define DECODE_ZSTD_WINDOW_LOG 23

enum coding { CODING_GZIP, CODING_DEFLATE, CODING_BR, CODING_ZSTD };

/* One coding of the chain. Library state is created on the first byte, so
 * decoders for empty bodies cost one allocation. */
struct stage {
	enum coding coding;
	bool started;
	bool finished;		/* the stream reached its proper end */
	bool trailing;		/* bytes after the end: ignored, as browsers do */
	unsigned char probe[2];	/* deflate: the first bytes, to tell zlib from raw */
	size_t probe_len;
	z_stream z;
	BrotliDecoderState *br;
	ZSTD_DCtx *zs;
	char *out;
	unsigned long long produced;
};

struct decoder {
	struct stage st[DECODE_MAX_CODINGS];	/* st[0] is decoded first */
	size_t n;
	unsigned long long out_max;
	unsigned long long emitted;
	bool failed;
	decode_out_fn fn;	/* during decode_feed only */
	void *ctx;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Returns the coding, -1 for identity (nothing to do), -2 when unknown. */
static int coding_of(const char *p, size_t n)
{
	if (http_token_is(p, n, "gzip") || http_token_is(p, n, "x-gzip"))
		return CODING_GZIP;
	if (http_token_is(p, n, "deflate"))
		return CODING_DEFLATE;
	if (http_token_is(p, n, "br"))
		return CODING_BR;
	if (http_token_is(p, n, "zstd"))
		return CODING_ZSTD;
	if (n == 0 || http_token_is(p, n, "identity"))
		return -1;
	return -2;
}

void decode_set_limit(struct decoder *d, unsigned long long out_max)
{
	d->out_max = out_max;
}

struct decoder *decode_new(const char *encoding, size_t len, bool *unknown)
{
	int codings[DECODE_MAX_CODINGS];
	size_t n = 0;
	size_t i = 0;

	if (unknown)
		*unknown = false;
	while (encoding && i < len) {
		size_t start = i;
		while (i < len && encoding[i] != ',')
			i++;
		size_t end = i++;
		while (start < end && is_blank(encoding[start]))
			start++;
		while (end > start && is_blank(encoding[end - 1]))
			end--;
		int c = coding_of(encoding + start, end - start);
		if (c == -1)
			continue;
		if (c == -2 || n == DECODE_MAX_CODINGS) {
			if (unknown)
				*unknown = true;
			return NULL;
		}
		codings[n++] = c;
	}

	struct decoder *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	/* Codings are listed in the order they were applied: undo the last first. */
	for (size_t k = 0; k < n; k++)
		d->st[k].coding = (enum coding)codings[n - 1 - k];
	d->n = n;
	d->out_max = DECODE_DEFAULT_LIMIT;
	return d;
}

void decode_free(struct decoder *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		struct stage *s = &d->st[i];
		if (s->started && (s->coding == CODING_GZIP ||
				   s->coding == CODING_DEFLATE))
			inflateEnd(&s->z);
		if (s->br)
			BrotliDecoderDestroyInstance(s->br);
		if (s->zs)
			ZSTD_freeDCtx(s->zs);
		free(s->out);
	}
	free(d);
}

static int stage_feed(struct decoder *d, size_t i, const char *in, size_t len);

/* Output of stage i goes on to the next stage, or out. */
static int pass_on(struct decoder *d, size_t i, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	struct stage *s = &d->st[i];
	/* Intermediate output counts too: a bomb may sit inside another coding. */
	s->produced += len;
	if (s->produced > d->out_max && i + 1 < d->n)
		return -1;
	return stage_feed(d, i + 1, data, len);
}

static int emit(struct decoder *d, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	unsigned long long room =
		d->emitted < d->out_max ? d->out_max - d->emitted : 0;
	bool over = (unsigned long long)len > room;
	if (over)
		len = (size_t)room;
	d->emitted += len;
	if (len && d->fn)
		d->fn(d->ctx, data, len);
	return over ? -1 : 0;
}

static int zlib_start(struct stage *s, int window_bits)
{
	memset(&s->z, 0, sizeof(s->z));
	if (inflateInit2(&s->z, window_bits) != Z_OK)
		return -1;
	s->started = true;
	return 0;
}

static int zlib_feed(struct decoder *d, size_t i, const unsigned char *in,
		     size_t len)
{
	struct stage *s = &d->st[i];

	while (len > 0 && !s->trailing) {
		if (s->finished) {
			/* gzip may have several members; anything else after the
			 * end is padding or junk that clients ignore. */
			if (s->coding != CODING_GZIP || in[0] != 0x1f) {
				s->trailing = true;
				break;
			}
			if (inflateReset(&s->z) != Z_OK)
				return -1;
			s->finished = false;
		}
		uInt chunk = len > UINT_MAX ? UINT_MAX : (uInt)len;
		s->z.next_in = in;
		s->z.avail_in = chunk;
		for (;;) {
			s->z.next_out = (Bytef *)s->out;
			s->z.avail_out = DECODE_CHUNK;
			int rc = inflate(&s->z, Z_NO_FLUSH);
			if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
				return -1;
			size_t got = DECODE_CHUNK - s->z.avail_out;
			if (pass_on(d, i, s->out, got) < 0)
				return -1;
			if (rc == Z_STREAM_END) {
				s->finished = true;
				break;
			}
			if (rc == Z_BUF_ERROR || (s->z.avail_in == 0 &&
						  s->z.avail_out != 0))
				break;
		}
		size_t used = chunk - s->z.avail_in;
		if (used == 0 && !s->finished)
			return -1;	/* no progress: never loop forever */
		in += used;
		len -= used;
	}
	return 0;
}

/* RFC 1950 header: deflate method, window <= 32K, check bits. */
static bool zlib_header(const unsigned char *p)
{
	return (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 &&
	       ((unsigned)p[0] * 256 + p[1]) % 31 == 0;
}

static int deflate_feed(struct decoder *d, size_t i, const unsigned char *in,
			size_t len)
{
	struct stage *s = &d->st[i];

	if (!s->started) {
		/* "deflate" is meant to be zlib-wrapped, but old IIS sent raw
		 * deflate: look at the first two bytes to tell them apart. */
		while (s->probe_len < 2 && len > 0) {
			s->probe[s->probe_len++] = *in++;
			len--;
		}
		if (s->probe_len < 2)
			return 0;
		if (zlib_start(s, zlib_header(s->probe) ? MAX_WBITS : -MAX_WBITS) < 0 ||
		    zlib_feed(d, i, s->probe, 2) < 0)
			return -1;
	}
	return zlib_feed(d, i, in, len);
}

static int brotli_feed(struct decoder *d, size_t i, const unsigned char *in,
		       size_t len)
{
	struct stage *s = &d->st[i];

	if (s->br == NULL) {
		s->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		if (s->br == NULL)
			return -1;
		s->started = true;
	}
	if (s->finished) {
		s->trailing = true;
		return 0;
	}
	size_t avail_in = len;
	const uint8_t *next_in = in;
	for (;;) {
		size_t avail_out = DECODE_CHUNK;
		uint8_t *next_out = (uint8_t *)s->out;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(
			s->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
		if (r == BROTLI_DECODER_RESULT_ERROR)
			return -1;
		if (pass_on(d, i, s->out, DECODE_CHUNK - avail_out) < 0)
			return -1;
		if (r == BROTLI_DECODER_RESULT_SUCCESS) {
			s->finished = true;
			s->trailing = avail_in > 0;
			return 0;
		}
		if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
			return 0;
	}
}

static int zstd_feed(struct decoder *d, size_t i, const unsigned char *in,
		     size_t len)
{
	struct stage *s = &d->st[i];

	if (s->zs == NULL) {
		s->zs = ZSTD_createDCtx();
		if (s->zs == NULL)
			return -1;
		s->started = true;
		if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax,
							DECODE_ZSTD_WINDOW_LOG)))
			return -1;
	}
	ZSTD_inBuffer ib = { in, len, 0 };
	for (;;) {
		ZSTD_outBuffer ob = { s->out, DECODE_CHUNK, 0 };
		size_t before = ib.pos;
		size_t r = ZSTD_decompressStream(s->zs, &ob, &ib);
		if (ZSTD_isError(r))
			return -1;
		if (pass_on(d, i, s->out, ob.pos) < 0)
			return -1;
		/* 0: a frame ended and all of it was flushed. Asked again
		 * with no input, libzstd would hint at the next frame's
		 * header instead, so stop here. */
		if (r == 0 || ob.pos || ib.pos != before)
			s->finished = r == 0;
		if (ib.pos == ib.size && (r == 0 || ob.pos < ob.size))
			return 0;
		if (ob.pos == 0 && ib.pos == before)
			return -1;	/* no progress: never loop forever */
	}
}

static int stage_feed(struct decoder *d, size_t i, const char *in, size_t len)
{
	if (i == d->n)
		return emit(d, in, len);
	struct stage *s = &d->st[i];
	const unsigned char *u = (const unsigned char *)in;

	if (len == 0 || s->trailing)
		return 0;
	if (s->out == NULL) {
		s->out = malloc(DECODE_CHUNK);
		if (s->out == NULL)
			return -1;
	}
	switch (s->coding) {
	case CODING_GZIP:
		if (!s->started && zlib_start(s, 16 + MAX_WBITS) < 0)
			return -1;
		return zlib_feed(d, i, u, len);
	case CODING_DEFLATE:
		return deflate_feed(d, i, u, len);
	case CODING_BR:
		return brotli_feed(d, i, u, len);
	case CODING_ZSTD:
		return zstd_feed(d, i, u, len);
	}
	return -1;
}

int decode_feed(struct decoder *d, const char *in, size_t len,
		decode_out_fn fn, void *ctx)
{
	if (d->failed)
		return -1;
	d->fn = fn;
	d->ctx = ctx;
	int rc = stage_feed(d, 0, in, len);
	d->fn = NULL;
	d->ctx = NULL;
	if (rc < 0) {
		d->failed = true;
		return -1;
	}
	return 0;
}

bool decode_finished(const struct decoder *d)
{
	if (d->failed)
		return false;
	for (size_t i = 0; i < d->n; i++)
		if (!d->st[i].finished)
			return false;
	return true;
}
