/*
 * Unit tests for preload/chunked.c: the same decoded bytes and the same body
 * boundary whatever pieces the input comes in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "chunked.h"
#include "pageguard.h"

static void collect(void *ctx, const char *data, size_t len)
{
	struct buf *out = ctx;
	assert_true(len > 0);
	assert_int_equal(buf_append(out, data, len), 0);
}

/* One decoder being fed by pageguard_pieces(). */
struct feed {
	struct chunked c;
	struct buf *out;
	ssize_t total;	/* bytes consumed */
	bool failed;
};

static bool feed_piece(void *ctx, const char *piece, size_t n)
{
	struct feed *f = ctx;
	ssize_t r = chunked_feed(&f->c, piece, n, collect, f->out);
	if (r < 0) {
		f->failed = true;
		return false;
	}
	assert_true((size_t)r <= n);
	f->total += r;
	if (f->c.done)
		return false;
	assert_int_equal((size_t)r, n);	/* all taken until done */
	return true;
}

/*
 * Feed in[0..len) in pieces of `step` bytes (0: one piece, else also a first
 * piece of `split` bytes). Each piece is a guarded copy, so reading past it
 * faults. Returns the bytes consumed in total, or -1.
 */
static ssize_t run(const char *in, size_t len, size_t split, size_t step,
		   struct buf *out, bool *done)
{
	struct feed f = { .out = out };
	chunked_init(&f.c);
	pageguard_pieces(in, len, split, step, feed_piece, &f);
	if (f.failed)
		return -1;
	*done = f.c.done;
	return f.total;
}

/* run() in one piece (step 0) or byte at a time (step 1), into a scratch
 * buffer: just the bytes consumed, or -1. */
static ssize_t consumed(const char *in, size_t len, size_t step)
{
	struct buf out;
	bool done = false;
	buf_init(&out, 1 << 20);
	ssize_t r = run(in, len, 0, step, &out, &done);
	buf_free(&out);
	return r;
}

struct ok_case {
	const char *in;
	const char *want;	/* decoded */
	const char *rest;	/* the tail of in that follows the body */
	bool done;
};

static const struct ok_case ok_cases[] = {
	{ "0\r\n\r\n", "", "", true },
	{ "5\r\nhello\r\n0\r\n\r\n", "hello", "", true },
	{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nHTTP/1.1 200",
	  "hello world", "HTTP/1.1 200", true },
	{ "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", "", true },
	{ "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", "", true },
	{ "0005\r\nhello\r\n000\r\n\r\n", "hello", "", true },
	/* extensions are skipped, blanks before ';' allowed */
	{ "5;name=value\r\nhello\r\n0;x=\"q;s\"\r\n\r\n", "hello", "", true },
	{ "5 ; a=b\r\nhello\r\n0\r\n\r\n", "hello", "", true },
	{ "5  \r\nhello\r\n0\r\n\r\n", "hello", "", true },
	/* trailers */
	{ "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: two\r\n\r\nrest",
	  "abc", "rest", true },
	/* bare LF everywhere a CRLF is due */
	{ "3\nabc\n0\nX: y\n\nrest", "abc", "rest", true },
	{ "3\r\nabc\n0\r\n\n", "abc", "", true },
	/* data containing CR LF and NUL */
	{ "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", "", true },
	/* incomplete: everything taken, not done */
	{ "5\r\nhel", "hel", "", false },
	{ "5\r\nhello\r\n0\r\n", "hello", "", false },
	{ "5\r\nhello\r\n0\r\nX: 1\r\n", "hello", "", false },
	{ "ffffffffffffffff\r\nab", "ab", "", false },
	{ "", "", "", false },
};

static void check_ok(const struct ok_case *tc, size_t split, size_t step)
{
	struct buf out;
	bool done = false;
	size_t len = strlen(tc->in);

	buf_init(&out, 1 << 20);
	ssize_t r = run(tc->in, len, split, step, &out, &done);
	size_t body_len = len - strlen(tc->rest);

	assert_true(len >= strlen(tc->rest));
	assert_string_equal(tc->in + body_len, tc->rest);
	if (r != (ssize_t)body_len || done != tc->done ||
	    out.len != strlen(tc->want) ||
	    memcmp(out.data ? out.data : "", tc->want, out.len) != 0)
		fail_msg("case \"%s\" split %zu step %zu: got %zd done %d \"%.*s\"",
			 tc->in, split, step, r, done, (int)out.len,
			 out.data ? out.data : "");
	buf_free(&out);
}

static void test_ok_one_shot(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
		check_ok(&ok_cases[i], 0, 0);
}

static void test_ok_every_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		size_t len = strlen(ok_cases[i].in);
		for (size_t s = 1; s < len; s++)
			check_ok(&ok_cases[i], s, 0);
	}
}

static void test_ok_byte_at_a_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
		check_ok(&ok_cases[i], 0, 1);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"x\r\n",			/* non-hex size */
		"\r\n",				/* empty size line */
		";ext\r\n",			/* extension without a size */
		" 5\r\nhello\r\n",		/* leading blank */
		"5\r\nhelloX\r\n0\r\n\r\n",	/* no CRLF after data */
		"5\r\nhello\rX",		/* CR without LF after data */
		"5\rX",				/* CR without LF in size line */
		"5 x\r\n",			/* junk after blanks */
		"5g\r\n",			/* junk after the size */
		"5;a\001b\r\n",			/* control byte in an extension */
		"10000000000000000\r\n",	/* 17 hex digits: overflow */
		"0\r\nX: 1\rY\r\n\r\n",		/* CR alone in a trailer */
		"0\r\nX: \001\r\n\r\n",		/* control byte in a trailer */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 0; step <= 1; step++) {
			ssize_t r = consumed(bad[i], strlen(bad[i]), step);
			if (r != -1)
				fail_msg("bad case %zu step %zu: got %zd", i,
					 step, r);
		}
	}
}

static void test_line_caps(void **state)
{
	(void)state;
	char in[10000];

	/* A size line of exactly 4096 bytes is fine, 4097 is not. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = 0;
		in[n++] = '1';
		in[n++] = ';';
		while (n < 4096 + (size_t)extra)
			in[n++] = 'e';
		memcpy(in + n, "\r\nx\r\n0\r\n\r\n", 10);
		n += 10;
		assert_int_equal(consumed(in, n, 0), extra ? -1 : (ssize_t)n);
		assert_int_equal(consumed(in, n, 1), extra ? -1 : (ssize_t)n);
	}

	/* The same for a trailer line. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = 0;
		memcpy(in, "0\r\nX:", 5);
		n = 5;
		while (n < 3 + 4096 + (size_t)extra)
			in[n++] = 'v';
		memcpy(in + n, "\r\n\r\n", 4);
		n += 4;
		assert_int_equal(consumed(in, n, 0), extra ? -1 : (ssize_t)n);
	}
}

static void test_large_chunk_streams(void **state)
{
	(void)state;
	/* A big chunk goes out in runs as it arrives, never buffered. */
	static char data[100000];
	memset(data, 'z', sizeof(data));
	struct chunked c;
	struct buf out;
	buf_init(&out, 1 << 20);
	chunked_init(&c);
	assert_int_equal(chunked_feed(&c, "186a0\r\n", 7, collect, &out), 7);
	for (size_t off = 0; off < sizeof(data); off += 999) {
		size_t n = sizeof(data) - off < 999 ? sizeof(data) - off : 999;
		assert_int_equal(chunked_feed(&c, data + off, n, collect, &out),
				 (ssize_t)n);
		assert_int_equal(out.len, off + n);
	}
	assert_int_equal(chunked_feed(&c, "\r\n0\r\n\r\nX", 8, NULL, NULL), 7);
	assert_true(c.done);
	assert_int_equal(out.len, sizeof(data));
	/* Once done, nothing more belongs to the body. */
	assert_int_equal(chunked_feed(&c, "5\r\n", 3, collect, &out), 0);
	buf_free(&out);
}

static void test_reinit(void **state)
{
	(void)state;
	struct chunked c;
	chunked_init(&c);
	assert_int_equal(chunked_feed(&c, "3\r\nab", 5, NULL, NULL), 5);
	chunked_init(&c);
	assert_false(c.done);
	assert_int_equal(chunked_feed(&c, "0\r\n\r\n", 5, NULL, NULL), 5);
	assert_true(c.done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_one_shot),
		cmocka_unit_test(test_ok_every_split),
		cmocka_unit_test(test_ok_byte_at_a_time),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_line_caps),
		cmocka_unit_test(test_large_chunk_streams),
		cmocka_unit_test(test_reinit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
