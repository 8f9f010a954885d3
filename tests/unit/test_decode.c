/*
 * Unit tests for preload/decode.c. Compressed inputs are made at run time
 * with the encoders of zlib, libbrotlienc and libzstd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "decode.h"
#include "pageguard.h"

/* ---- making test data -------------------------------------------------- */

/* Compress with zlib's deflate: window_bits 15 zlib, -15 raw, 31 gzip. */
static void zlib_make(const struct buf *in, int window_bits, struct buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	uLong bound = deflateBound(&z, (uLong)in->len) + 32;
	char *tmp = malloc(bound);
	assert_non_null(tmp);
	z.next_in = (Bytef *)in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = (Bytef *)tmp;
	z.avail_out = (uInt)bound;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(buf_append(out, tmp, z.total_out), 0);
	deflateEnd(&z);
	free(tmp);
}

static void make_gzip(const struct buf *in, struct buf *out)
{
	zlib_make(in, 16 + 15, out);
}

static void make_zlib(const struct buf *in, struct buf *out)
{
	zlib_make(in, 15, out);
}

static void make_raw(const struct buf *in, struct buf *out)
{
	zlib_make(in, -15, out);
}

static void make_br(const struct buf *in, struct buf *out)
{
	size_t n = BrotliEncoderMaxCompressedSize(in->len) + 16;
	uint8_t *tmp = malloc(n);
	assert_non_null(tmp);
	assert_true(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, in->len,
					  (const uint8_t *)in->data, &n, tmp));
	assert_int_equal(buf_append(out, tmp, n), 0);
	free(tmp);
}

static void make_zstd(const struct buf *in, struct buf *out)
{
	size_t n = ZSTD_compressBound(in->len);
	char *tmp = malloc(n);
	assert_non_null(tmp);
	size_t r = ZSTD_compress(tmp, n, in->data, in->len, 3);
	assert_false(ZSTD_isError(r));
	assert_int_equal(buf_append(out, tmp, r), 0);
	free(tmp);
}

/* Text that compresses, but not to nothing. */
static void make_plain(struct buf *b, size_t n)
{
	uint32_t x = 12345;
	buf_init(b, SIZE_MAX);
	while (b->len < n) {
		x = x * 1103515245u + 12345u;
		char line[64];
		int k = snprintf(line, sizeof(line), "line %u: the quick %s fox\n",
				 x >> 16, (x >> 8) & 1 ? "brown" : "red");
		assert_int_equal(buf_append(b, line, (size_t)k), 0);
	}
}

/* ---- running the decoder ----------------------------------------------- */

static void collect(void *ctx, const char *data, size_t len)
{
	struct buf *out = ctx;
	assert_true(len > 0);
	assert_int_equal(buf_append(out, data, len), 0);
}

/* Feed in pieces of step bytes (0: one piece), each before a guard page. */
static int feed(struct decoder *d, const char *in, size_t len, size_t step,
		struct buf *out)
{
	size_t off = 0;
	do {
		size_t n = len - off;
		if (step && n > step)
			n = step;
		const char *g = pageguard_copy(in + off, n);
		int rc = decode_feed(d, g, n, collect, out);
		pageguard_free(g);
		if (rc < 0)
			return rc;
		off += n;
	} while (off < len);
	return 0;
}

struct coding_case {
	const char *name;
	void (*make)(const struct buf *in, struct buf *out);
};

static const struct coding_case codings[] = {
	{ "gzip", make_gzip },
	{ "x-gzip", make_gzip },
	{ "deflate", make_zlib },
	{ "deflate", make_raw },	/* the IIS quirk */
	{ "br", make_br },
	{ "zstd", make_zstd },
	{ " GZip ", make_gzip },
};

static void roundtrip(const char *name, const struct buf *plain,
		      const struct buf *enc, size_t step)
{
	bool unknown = true;
	struct decoder *d = decode_new(name, strlen(name), &unknown);
	assert_non_null(d);
	assert_false(unknown);
	struct buf out;
	buf_init(&out, SIZE_MAX);
	assert_int_equal(feed(d, enc->data, enc->len, step, &out), 0);
	assert_true(decode_finished(d));
	assert_int_equal(out.len, plain->len);
	assert_memory_equal(out.data, plain->data, plain->len);
	buf_free(&out);
	decode_free(d);
}

static void test_each_coding(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 100, 70000 };
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct buf plain, enc;
		make_plain(&plain, sizes[s]);
		if (sizes[s] == 1)
			plain.len = 1;
		for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
			buf_init(&enc, SIZE_MAX);
			codings[i].make(&plain, &enc);
			roundtrip(codings[i].name, &plain, &enc, 0);
			roundtrip(codings[i].name, &plain, &enc, 7);
			if (sizes[s] <= 100)
				roundtrip(codings[i].name, &plain, &enc, 1);
			buf_free(&enc);
		}
		buf_free(&plain);
	}
}

static void test_byte_at_a_time_large(void **state)
{
	(void)state;
	struct buf plain, enc;
	make_plain(&plain, 50000);
	for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		buf_init(&enc, SIZE_MAX);
		codings[i].make(&plain, &enc);
		/* guard pages per byte would be slow: feed the buffer directly */
		bool unknown;
		struct decoder *d = decode_new(codings[i].name,
					       strlen(codings[i].name), &unknown);
		struct buf out;
		buf_init(&out, SIZE_MAX);
		for (size_t k = 0; k < enc.len; k++)
			assert_int_equal(decode_feed(d, enc.data + k, 1, collect,
						     &out), 0);
		assert_true(decode_finished(d));
		assert_int_equal(out.len, plain.len);
		assert_memory_equal(out.data, plain.data, plain.len);
		buf_free(&out);
		decode_free(d);
		buf_free(&enc);
	}
	buf_free(&plain);
}

static void test_identity(void **state)
{
	(void)state;
	static const char *const names[] = { "", "identity", " , identity,", NULL };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool unknown = true;
		struct decoder *d = decode_new(names[i],
					       names[i] ? strlen(names[i]) : 0,
					       &unknown);
		assert_non_null(d);
		assert_false(unknown);
		struct buf out;
		buf_init(&out, SIZE_MAX);
		assert_int_equal(feed(d, "plain text", 10, 3, &out), 0);
		assert_true(decode_finished(d));
		assert_int_equal(out.len, 10);
		assert_memory_equal(out.data, "plain text", 10);
		buf_free(&out);
		decode_free(d);
	}
}

static void test_unknown(void **state)
{
	(void)state;
	static const char *const names[] = {
		"compress", "gzip, compress", "gzipx", "br;q=1",
		"gzip, gzip, gzip, gzip, gzip",	/* more than 4 */
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool unknown = false;
		assert_null(decode_new(names[i], strlen(names[i]), &unknown));
		assert_true(unknown);
	}
	/* the length bounds the value: "gzipXYZ" cut to "gzip" is known */
	bool unknown = true;
	struct decoder *d = decode_new("gzipXYZ", 4, &unknown);
	assert_non_null(d);
	assert_false(unknown);
	decode_free(d);
	/* NULL for unknown is allowed */
	assert_null(decode_new("lzma", 4, NULL));
}

static void test_chain(void **state)
{
	(void)state;
	struct buf plain, g, gb, gbz;
	make_plain(&plain, 20000);
	buf_init(&g, SIZE_MAX);
	buf_init(&gb, SIZE_MAX);
	buf_init(&gbz, SIZE_MAX);
	make_gzip(&plain, &g);
	make_br(&g, &gb);		/* gzip applied first, then br */
	make_zstd(&gb, &gbz);
	roundtrip("gzip, br", &plain, &gb, 0);
	roundtrip("gzip,br", &plain, &gb, 1);
	roundtrip("gzip, identity, br, zstd", &plain, &gbz, 5);
	buf_free(&plain);
	buf_free(&g);
	buf_free(&gb);
	buf_free(&gbz);
}

static void test_gzip_members_and_trailing(void **state)
{
	(void)state;
	struct buf a, b, enc, both;
	make_plain(&a, 3000);
	make_plain(&b, 100);
	buf_init(&enc, SIZE_MAX);
	make_gzip(&a, &enc);
	make_gzip(&b, &enc);	/* appended: a second member */
	buf_init(&both, SIZE_MAX);
	buf_append(&both, a.data, a.len);
	buf_append(&both, b.data, b.len);
	roundtrip("gzip", &both, &enc, 0);
	roundtrip("gzip", &both, &enc, 1);

	/* zero padding after the stream is ignored */
	buf_append(&enc, "\0\0\0\0", 4);
	roundtrip("gzip", &both, &enc, 0);

	/* a second member cut short: not finished */
	bool unknown;
	struct decoder *d = decode_new("gzip", 4, &unknown);
	struct buf out;
	buf_init(&out, SIZE_MAX);
	buf_reset(&enc);
	make_gzip(&a, &enc);
	make_gzip(&b, &enc);
	assert_int_equal(feed(d, enc.data, enc.len - 3, 0, &out), 0);
	assert_false(decode_finished(d));
	decode_free(d);
	buf_free(&out);
	buf_free(&a);
	buf_free(&b);
	buf_free(&enc);
	buf_free(&both);
}

static void test_truncated(void **state)
{
	(void)state;
	struct buf plain, enc;
	make_plain(&plain, 5000);
	for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		buf_init(&enc, SIZE_MAX);
		codings[i].make(&plain, &enc);
		static const size_t cuts[] = { 1, 4, 0 };
		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			size_t cut = cuts[c] ? cuts[c] : enc.len / 2;
			bool unknown;
			struct decoder *d = decode_new(codings[i].name,
						       strlen(codings[i].name),
						       &unknown);
			struct buf out;
			buf_init(&out, SIZE_MAX);
			assert_int_equal(feed(d, enc.data, enc.len - cut, 0,
					      &out), 0);
			assert_false(decode_finished(d));
			/* what came out is a prefix of the plain text */
			assert_true(out.len <= plain.len);
			if (out.len)
				assert_memory_equal(out.data, plain.data, out.len);
			buf_free(&out);
			decode_free(d);
		}
		buf_free(&enc);
	}
	buf_free(&plain);

	/* nothing fed at all: not finished either */
	bool unknown;
	struct decoder *d = decode_new("br", 2, &unknown);
	assert_false(decode_finished(d));
	decode_free(d);
}

static void test_corrupt(void **state)
{
	(void)state;
	struct buf plain, enc;
	make_plain(&plain, 5000);

	static const struct {
		const char *name;
		void (*make)(const struct buf *in, struct buf *out);
		size_t flip;	/* from the end: 0 flips the first byte */
	} cases[] = {
		{ "gzip", make_gzip, 0 },	/* bad magic */
		{ "gzip", make_gzip, 5 },	/* CRC */
		{ "deflate", make_zlib, 2 },	/* Adler-32 */
		{ "zstd", make_zstd, 0 },	/* bad magic */
		{ "br", make_br, 0 },		/* window bits */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&enc, SIZE_MAX);
		cases[i].make(&plain, &enc);
		size_t at = cases[i].flip ? enc.len - cases[i].flip : 0;
		enc.data[at] = (char)(enc.data[at] ^ (cases[i].name[0] == 'b' ?
						       0x3f : 0x55));
		for (size_t step = 0; step <= 1; step++) {
			bool unknown;
			struct decoder *d = decode_new(cases[i].name,
						       strlen(cases[i].name),
						       &unknown);
			struct buf out;
			buf_init(&out, SIZE_MAX);
			if (feed(d, enc.data, enc.len, step ? 13 : 0, &out) != -1)
				fail_msg("corrupt case %zu step %zu decoded", i,
					 step);
			assert_false(decode_finished(d));
			/* failed stays failed */
			size_t had = out.len;
			assert_int_equal(decode_feed(d, "x", 1, collect, &out), -1);
			assert_int_equal(out.len, had);
			buf_free(&out);
			decode_free(d);
		}
		buf_free(&enc);
	}

	/* raw deflate with an invalid block type */
	bool unknown;
	struct decoder *d = decode_new("deflate", 7, &unknown);
	assert_int_equal(decode_feed(d, "\xff\xff\xff\xff", 4, NULL, NULL), -1);
	decode_free(d);
	buf_free(&plain);
}

static void test_bomb_limit(void **state)
{
	(void)state;
	struct buf zeros, enc;
	buf_init(&zeros, SIZE_MAX);
	char *z = calloc(1, 8 << 20);
	assert_int_equal(buf_append(&zeros, z, 8 << 20), 0);
	free(z);

	for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		buf_init(&enc, SIZE_MAX);
		codings[i].make(&zeros, &enc);
		assert_true(enc.len < 100000);
		bool unknown;
		struct decoder *d = decode_new(codings[i].name,
					       strlen(codings[i].name), &unknown);
		decode_set_limit(d, 1 << 20);
		struct buf out;
		buf_init(&out, SIZE_MAX);
		assert_int_equal(decode_feed(d, enc.data, enc.len, collect, &out),
				 -1);
		assert_int_equal(out.len, 1 << 20);	/* up to the limit */
		assert_false(decode_finished(d));
		buf_free(&out);
		decode_free(d);

		/* the same stream is fine with the limit at its size */
		d = decode_new(codings[i].name, strlen(codings[i].name), &unknown);
		decode_set_limit(d, 8 << 20);
		assert_int_equal(decode_feed(d, enc.data, enc.len, NULL, NULL), 0);
		assert_true(decode_finished(d));
		decode_free(d);
		buf_free(&enc);
	}

	/* A bomb inside another coding is stopped at the inner stage too. */
	struct buf g, gg;
	buf_init(&g, SIZE_MAX);
	buf_init(&gg, SIZE_MAX);
	make_gzip(&zeros, &g);
	make_gzip(&g, &gg);
	bool unknown;
	struct decoder *d = decode_new("gzip, gzip", 10, &unknown);
	decode_set_limit(d, 4096);
	assert_int_equal(decode_feed(d, gg.data, gg.len, NULL, NULL), -1);
	decode_free(d);
	buf_free(&g);
	buf_free(&gg);
	buf_free(&zeros);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_coding),
		cmocka_unit_test(test_byte_at_a_time_large),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_gzip_members_and_trailing),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_bomb_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
