/*
 * Unit tests for preload/response.c. Every event is written down as a line
 * of text (body data merged across pieces), so a run can be compared with
 * an expected transcript and with the same input fed in other pieces.
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
#include "pageguard.h"
#include "response.h"

/* ---- the transcript ---------------------------------------------------- */

struct rec {
	struct buf log;
	struct buf body;	/* body data not yet written to log */
	struct response_parser *p;
	bool failed;		/* a feed returned -1 */
};

static void rec_flush(struct rec *r)
{
	if (r->body.len == 0)
		return;
	buf_printf(&r->log, "B:%zu:", r->body.len);
	buf_append(&r->log, r->body.data, r->body.len);
	buf_puts(&r->log, "\n");
	buf_reset(&r->body);
}

static void on_head(void *ctx, const struct response_head *h)
{
	struct rec *r = ctx;
	rec_flush(r);
	buf_printf(&r->log, "H%d 1.%d r=%.*s n=%zu", h->status, h->minor_version,
		   (int)h->reason_len, h->reason, h->n_headers);
	if (h->interim)
		buf_puts(&r->log, " interim");
	if (h->no_body)
		buf_puts(&r->log, " nobody");
	if (h->chunked)
		buf_puts(&r->log, " chunked");
	if (h->has_length)
		buf_printf(&r->log, " cl=%llu", h->content_length);
	if (h->encoded)
		buf_puts(&r->log, " enc");
	if (h->encoding_unknown)
		buf_puts(&r->log, " unk");
	if (h->content_type)
		buf_printf(&r->log, " ct=%.*s", (int)h->content_type_len,
			   h->content_type);
	buf_puts(&r->log, "\n");
	/* the parser says a response is open exactly for final heads */
	assert_int_equal(response_busy(r->p), !h->interim);
	for (size_t i = 0; i < h->n_headers; i++)
		assert_true(h->headers[i].name_len > 0);
}

static void on_body(void *ctx, const char *data, size_t len)
{
	struct rec *r = ctx;
	assert_true(len > 0);
	assert_true(response_busy(r->p));
	buf_append(&r->body, data, len);
}

static void on_end(void *ctx, const char *error)
{
	struct rec *r = ctx;
	rec_flush(r);
	buf_printf(&r->log, "E%s\n", error ? error : "-");
	assert_false(response_busy(r->p));
}

static void on_error(void *ctx, const char *why)
{
	struct rec *r = ctx;
	rec_flush(r);
	buf_printf(&r->log, "X%s\n", why);
}

static const struct response_callbacks cbs = { on_head, on_body, on_end, on_error };

/* A parser whose events go to r's transcript. */
static void rec_open(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->log, SIZE_MAX);
	buf_init(&r->body, SIZE_MAX);
	r->p = response_new(&cbs, r);
	assert_non_null(r->p);
}

static void rec_close(struct rec *r)
{
	response_free(r->p);
	buf_free(&r->log);
	buf_free(&r->body);
}

/* Once a feed has failed, every later one fails too. */
static bool feed_piece(void *ctx, const char *piece, size_t n)
{
	struct rec *r = ctx;
	int rc = response_feed(r->p, piece, n);
	if (r->failed)
		assert_int_equal(rc, -1);
	r->failed = rc < 0;
	return true;
}

/*
 * Run a response stream. expect: one letter per request sent, H for HEAD.
 * split: the first piece's length (0: none); step: later pieces' length
 * (0: the rest at once). Each piece sits right before an unmapped page.
 * eof: NULL for none, "" for an orderly close, else the reason.
 */
static char *run(const char *expect, const char *in, size_t len, size_t split,
		 size_t step, const char *eof)
{
	struct rec r;
	rec_open(&r);
	for (const char *e = expect; *e; e++)
		assert_int_equal(response_expect(r.p, *e == 'H'), 0);
	pageguard_pieces(in, len, split, step, feed_piece, &r);
	if (eof)
		response_eof(r.p, *eof ? eof : NULL);
	rec_flush(&r);
	buf_puts(&r.log, "");
	char *log = buf_steal(&r.log);
	rec_close(&r);
	return log;
}

/* One-shot must match want; every split and byte-at-a-time must match it. */
static void check_all_ways(const char *name, const char *expect, const char *in,
			   size_t len, const char *eof, const char *want)
{
	char *one = run(expect, in, len, 0, 0, eof);
	if (strcmp(one, want) != 0)
		fail_msg("%s: one-shot\n--- got\n%s--- want\n%s", name, one, want);
	for (size_t s = 1; s < len; s++) {
		char *two = run(expect, in, len, s, 0, eof);
		if (strcmp(two, want) != 0)
			fail_msg("%s: split at %zu\n--- got\n%s--- want\n%s",
				 name, s, two, want);
		free(two);
	}
	char *bytes = run(expect, in, len, 0, 1, eof);
	if (strcmp(bytes, want) != 0)
		fail_msg("%s: byte at a time\n--- got\n%s--- want\n%s", name,
			 bytes, want);
	free(bytes);
	free(one);
}

/* ---- framing table ----------------------------------------------------- */

struct tcase {
	const char *name;
	const char *expect;	/* requests sent: G or H each */
	const char *in;
	const char *eof;	/* NULL: none, "": orderly close, else why */
	const char *want;
};

#define OK200 "HTTP/1.1 200 OK\r\n"

static const struct tcase cases[] = {
	{ "content-length", "G",
	  OK200 "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
	  NULL,
	  "H200 1.1 r=OK n=2 cl=5 ct=text/plain\nB:5:hello\nE-\n" },
	{ "content-length 0", "G", OK200 "Content-Length: 0\r\n\r\n", NULL,
	  "H200 1.1 r=OK n=1 cl=0\nE-\n" },
	{ "no request expected: taken as GET", "",
	  OK200 "Content-Length: 2\r\n\r\nhi", NULL,
	  "H200 1.1 r=OK n=1 cl=2\nB:2:hi\nE-\n" },
	{ "chunked", "G",
	  OK200 "Transfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
	  NULL, "H200 1.1 r=OK n=1 chunked\nB:12:hello, world\nE-\n" },
	{ "chunked wins over content-length", "G",
	  OK200 "Content-Length: 100\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	  "2\r\nhi\r\n0\r\n\r\n",
	  NULL, "H200 1.1 r=OK n=2 chunked\nB:2:hi\nE-\n" },
	{ "transfer-encoding not ending in chunked: until close", "G",
	  OK200 "Transfer-Encoding: chunked, identity\r\nContent-Length: 1\r\n\r\nabc",
	  "", "H200 1.1 r=OK n=2\nB:3:abc\nE-\n" },
	{ "close-delimited", "G",
	  "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>all of it",
	  "", "H200 1.0 r=OK n=1 ct=text/html\nB:12:<p>all of it\nE-\n" },
	{ "close-delimited, program exited", "G",
	  "HTTP/1.0 200 OK\r\n\r\npartial", "process exited",
	  "H200 1.0 r=OK n=0\nB:7:partial\nEprocess exited\n" },
	{ "close-delimited, no eof yet", "G", "HTTP/1.0 200 OK\r\n\r\nmore",
	  NULL, "H200 1.0 r=OK n=0\nB:4:more\n" },
	{ "HEAD: no body despite content-length", "HG",
	  OK200 "Content-Length: 100\r\n\r\n" OK200 "Content-Length: 2\r\n\r\nhi",
	  NULL,
	  "H200 1.1 r=OK n=1 nobody cl=100\nE-\n"
	  "H200 1.1 r=OK n=1 cl=2\nB:2:hi\nE-\n" },
	{ "HEAD with chunked", "H",
	  OK200 "Transfer-Encoding: chunked\r\n\r\n", NULL,
	  "H200 1.1 r=OK n=1 nobody chunked\nE-\n" },
	{ "204 and 304", "GGG",
	  "HTTP/1.1 204 No Content\r\n\r\n"
	  "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
	  OK200 "Content-Length: 1\r\n\r\nx",
	  NULL,
	  "H204 1.1 r=No Content n=0 nobody\nE-\n"
	  "H304 1.1 r=Not Modified n=1 nobody cl=50\nE-\n"
	  "H200 1.1 r=OK n=1 cl=1\nB:1:x\nE-\n" },
	{ "100 continue before the final response", "G",
	  "HTTP/1.1 100 Continue\r\n\r\n" OK200 "Content-Length: 2\r\n\r\nok",
	  NULL,
	  "H100 1.1 r=Continue n=0 interim nobody\n"
	  "H200 1.1 r=OK n=1 cl=2\nB:2:ok\nE-\n" },
	{ "103 early hints, twice", "G",
	  "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	  "HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n"
	  OK200 "Content-Length: 0\r\n\r\n",
	  NULL,
	  "H103 1.1 r=Early Hints n=1 interim nobody\n"
	  "H103 1.1 r=Early Hints n=1 interim nobody\n"
	  "H200 1.1 r=OK n=1 cl=0\nE-\n" },
	{ "101 switching protocols: the rest is not ours", "GG",
	  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	  "Connection: Upgrade\r\n\r\n\x81\x05hello" OK200 "\r\n",
	  "",
	  "H101 1.1 r=Switching Protocols n=2 nobody\nE-\n" },
	{ "pipelined, keep-alive", "GGG",
	  OK200 "Content-Length: 3\r\n\r\none"
	  OK200 "Transfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
	  "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nthree",
	  NULL,
	  "H200 1.1 r=OK n=1 cl=3\nB:3:one\nE-\n"
	  "H200 1.1 r=OK n=1 chunked\nB:3:two\nE-\n"
	  "H404 1.1 r=Not Found n=1 cl=5\nB:5:three\nE-\n" },
	{ "bare LF and no reason phrase", "GG",
	  "HTTP/1.1 200\nContent-Length: 2\n\nhi"
	  "HTTP/1.1 201 \r\nContent-Length:0\r\n\r\n",
	  NULL,
	  "H200 1.1 r= n=1 cl=2\nB:2:hi\nE-\n"
	  "H201 1.1 r= n=1 cl=0\nE-\n" },
	{ "blank lines before a status line are skipped", "GG",
	  OK200 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n"
	  OK200 "Content-Length: 1\r\n\r\n!",
	  NULL,
	  "H200 1.1 r=OK n=1 chunked\nE-\n"
	  "H200 1.1 r=OK n=1 cl=1\nB:1:!\nE-\n" },
	{ "repeated equal content-length", "G",
	  OK200 "Content-Length: 2, 2\r\nContent-Length: 2\r\n\r\nhi", NULL,
	  "H200 1.1 r=OK n=2 cl=2\nB:2:hi\nE-\n" },
	{ "values keep inner blanks, lose outer ones", "G",
	  OK200 "Content-Type: \t text/event-stream; charset=utf-8 \t\r\n"
	  "Content-Length: 0\r\n\r\n",
	  NULL,
	  "H200 1.1 r=OK n=2 cl=0 ct=text/event-stream; charset=utf-8\nE-\n" },
	{ "identity is not an encoding", "G",
	  OK200 "Content-Encoding: identity\r\nContent-Length: 2\r\n\r\nhi", NULL,
	  "H200 1.1 r=OK n=2 cl=2\nB:2:hi\nE-\n" },
	{ "unknown encoding: raw body", "G",
	  OK200 "Content-Encoding: compress\r\nContent-Length: 3\r\n\r\n\x1f\x9d\x90",
	  NULL, "H200 1.1 r=OK n=2 cl=3 enc unk\nB:3:\x1f\x9d\x90\nE-\n" },
	{ "gzip declared, empty body", "GG",
	  OK200 "Content-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"
	  "HTTP/1.1 304 Not Modified\r\nContent-Encoding: br\r\n\r\n",
	  NULL,
	  "H200 1.1 r=OK n=2 cl=0 enc\nE-\n"
	  "H304 1.1 r=Not Modified n=1 nobody enc\nE-\n" },
	{ "corrupt gzip: error at the right boundary", "GG",
	  OK200 "Content-Encoding: gzip\r\nContent-Length: 6\r\n\r\nnot gz"
	  OK200 "Content-Length: 2\r\n\r\nok",
	  NULL,
	  "H200 1.1 r=OK n=2 cl=6 enc\nEcontent decoding failed\n"
	  "H200 1.1 r=OK n=1 cl=2\nB:2:ok\nE-\n" },
	{ "eof mid content-length body", "G",
	  OK200 "Content-Length: 10\r\n\r\nhalf", "",
	  "H200 1.1 r=OK n=1 cl=10\nB:4:half\n"
	  "Econnection closed before the response was complete\n" },
	{ "eof mid chunked body, with a reason", "G",
	  OK200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhel", "process exited",
	  "H200 1.1 r=OK n=1 chunked\nB:3:hel\nEprocess exited\n" },
	{ "eof mid head: nothing to report", "G",
	  OK200 "Content-Len", "", "" },
	{ "eof mid head of the second response", "GG",
	  OK200 "Content-Length: 1\r\n\r\n1HTTP/1.1 2", "",
	  "H200 1.1 r=OK n=1 cl=1\nB:1:1\nE-\n" },

	/* not HTTP we can follow (a first response refused whole: refusals) */
	{ "malformed chunked body, then nothing", "GG",
	  OK200 "Transfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n"
	  OK200 "Content-Length: 0\r\n\r\n",
	  "", "H200 1.1 r=OK n=1 chunked\nB:2:hi\nXmalformed chunked body\n" },
	{ "error after a good response", "GG",
	  OK200 "Content-Length: 1\r\n\r\nagarbage\r\n\r\n", NULL,
	  "H200 1.1 r=OK n=1 cl=1\nB:1:a\nE-\nXnot an HTTP/1.x response\n" },
};

/*
 * Responses to one GET that are refused at once, with no eof: the transcript
 * is the one error line "X<why>\n", however the input is cut.
 */
#define REFUSAL_INPUTS 6

static const struct {
	const char *why;
	struct {
		const char *name, *in;
	} inputs[REFUSAL_INPUTS];	/* up to the first NULL name */
} refusals[] = {
	{ "not an HTTP/1.x response", {
		{ "not http", "SSH-2.0-OpenSSH\r\n\r\n" },
		{ "http/2 preface", "PRI * HTTP/2.0\r\n" },
	} },
	{ "malformed status line", {
		{ "http/2 status line", "HTTP/2 200\r\n\r\n" },
		{ "two-digit status", "HTTP/1.1 20 OK\r\n\r\n" },
		{ "four-digit status", "HTTP/1.1 2000 OK\r\n\r\n" },
		{ "status below 100", "HTTP/1.1 099 Odd\r\n\r\n" },
		{ "no space after status", "HTTP/1.1 200OK\r\n\r\n" },
		{ "control byte in reason", "HTTP/1.1 200 O\001K\r\n\r\n" },
	} },
	{ "obsolete line folding in a response header", {
		{ "obs-fold", OK200 "X-A: one\r\n two\r\n\r\n" },
	} },
	{ "malformed response header", {
		{ "header without colon", OK200 "Content-Length 5\r\n\r\nhello" },
		{ "space before colon", OK200 "Content-Length : 5\r\n\r\nhello" },
		{ "empty header name", OK200 ": 5\r\n\r\n" },
		{ "bare CR in a value", OK200 "X-A: a\rb\r\n\r\n" },
	} },
	{ "invalid Content-Length in a response", {
		{ "invalid content-length", OK200 "Content-Length: 5x\r\n\r\nhello" },
		{ "conflicting content-lengths",
		  OK200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" },
	} },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		check_all_ways(c->name, c->expect, c->in, strlen(c->in), c->eof,
			       c->want);
	}
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		char want[128];
		snprintf(want, sizeof(want), "X%s\n", refusals[i].why);
		for (size_t k = 0; k < REFUSAL_INPUTS && refusals[i].inputs[k].name; k++) {
			const char *in = refusals[i].inputs[k].in;
			check_all_ways(refusals[i].inputs[k].name, "G", in, strlen(in),
				       NULL, want);
		}
	}
}

/* ---- content coding ---------------------------------------------------- */

static void zlib_make(const char *in, size_t len, int window_bits,
		      struct buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	uLong bound = deflateBound(&z, (uLong)len) + 32;
	char *tmp = malloc(bound);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)tmp;
	z.avail_out = (uInt)bound;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	buf_append(out, tmp, z.total_out);
	deflateEnd(&z);
	free(tmp);
}

static void encode(const char *coding, const char *in, size_t len,
		   struct buf *out)
{
	if (strcmp(coding, "gzip") == 0) {
		zlib_make(in, len, 31, out);
	} else if (strcmp(coding, "deflate") == 0) {
		zlib_make(in, len, 15, out);
	} else if (strcmp(coding, "raw") == 0) {
		zlib_make(in, len, -15, out);
	} else if (strcmp(coding, "br") == 0) {
		size_t n = BrotliEncoderMaxCompressedSize(len) + 16;
		uint8_t *tmp = malloc(n);
		assert_true(BrotliEncoderCompress(9, 22, BROTLI_MODE_TEXT, len,
						  (const uint8_t *)in, &n, tmp));
		buf_append(out, tmp, n);
		free(tmp);
	} else if (strcmp(coding, "zstd") == 0) {
		size_t n = ZSTD_compressBound(len);
		char *tmp = malloc(n);
		size_t r = ZSTD_compress(tmp, n, in, len, 19);
		assert_false(ZSTD_isError(r));
		buf_append(out, tmp, r);
		free(tmp);
	} else {
		fail_msg("no encoder for %s", coding);
	}
}

/* Some JSON-ish text that is worth compressing. */
static void make_text(struct buf *b)
{
	buf_init(b, SIZE_MAX);
	buf_puts(b, "{\"choices\":[");
	for (int i = 0; i < 40; i++)
		buf_printf(b, "%s{\"index\":%d,\"text\":\"token %d of %d\"}",
			   i ? "," : "", i, i * 7 % 13, 40);
	buf_puts(b, "]}\n");
}

static void test_encoded_bodies(void **state)
{
	(void)state;
	static const struct {
		const char *header;	/* Content-Encoding field lines */
		const char *applied[2];	/* codings in the order applied */
	} codings[] = {
		{ "Content-Encoding: gzip\r\n", { "gzip", NULL } },
		{ "Content-Encoding: x-gzip\r\n", { "gzip", NULL } },
		{ "Content-Encoding: deflate\r\n", { "deflate", NULL } },
		{ "Content-Encoding: deflate\r\n", { "raw", NULL } },
		{ "Content-Encoding: br\r\n", { "br", NULL } },
		{ "Content-Encoding: zstd\r\n", { "zstd", NULL } },
		{ "Content-Encoding: gzip, br\r\n", { "gzip", "br" } },
		{ "Content-Encoding: gzip\r\nContent-Encoding: zstd\r\n",
		  { "gzip", "zstd" } },
	};
	struct buf plain;
	make_text(&plain);

	for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		struct buf enc, tmp;
		buf_init(&enc, SIZE_MAX);
		buf_init(&tmp, SIZE_MAX);
		encode(codings[i].applied[0], plain.data, plain.len, &enc);
		if (codings[i].applied[1]) {
			encode(codings[i].applied[1], enc.data, enc.len, &tmp);
			buf_reset(&enc);
			buf_append(&enc, tmp.data, tmp.len);
		}
		size_t n_ce = strstr(codings[i].header, "zstd\r\n") &&
			      codings[i].applied[1] ? 2 : 1;

		for (int chunked = 0; chunked <= 1; chunked++) {
			struct buf in, want;
			buf_init(&in, SIZE_MAX);
			buf_init(&want, SIZE_MAX);
			buf_puts(&in, OK200);
			buf_puts(&in, codings[i].header);
			if (chunked) {
				buf_puts(&in, "Transfer-Encoding: chunked\r\n\r\n");
				for (size_t off = 0; off < enc.len; off += 97) {
					size_t n = enc.len - off < 97 ? enc.len - off : 97;
					buf_printf(&in, "%zx\r\n", n);
					buf_append(&in, enc.data + off, n);
					buf_puts(&in, "\r\n");
				}
				buf_puts(&in, "0\r\n\r\n");
				buf_printf(&want, "H200 1.1 r=OK n=%zu chunked enc\n",
					   n_ce + 1);
			} else {
				buf_printf(&in, "Content-Length: %zu\r\n\r\n",
					   enc.len);
				buf_append(&in, enc.data, enc.len);
				buf_printf(&want, "H200 1.1 r=OK n=%zu cl=%zu enc\n",
					   n_ce + 1, enc.len);
			}
			/* and a plain response right behind it */
			buf_puts(&in, OK200 "Content-Length: 3\r\n\r\nend");
			buf_printf(&want, "B:%zu:", plain.len);
			buf_append(&want, plain.data, plain.len);
			buf_puts(&want, "\nE-\nH200 1.1 r=OK n=1 cl=3\nB:3:end\nE-\n");

			char name[96];
			snprintf(name, sizeof(name), "coding %zu %s", i,
				 chunked ? "chunked" : "length");
			check_all_ways(name, "GG", in.data, in.len, NULL, want.data);
			buf_free(&in);
			buf_free(&want);
		}
		buf_free(&enc);
		buf_free(&tmp);
	}
	buf_free(&plain);
}

static void test_truncated_encoding(void **state)
{
	(void)state;
	struct buf plain, enc, in;
	make_text(&plain);
	buf_init(&enc, SIZE_MAX);
	buf_init(&in, SIZE_MAX);
	encode("gzip", plain.data, plain.len, &enc);

	/* framing says the body is complete, the gzip stream says not */
	buf_puts(&in, OK200 "Content-Encoding: gzip\r\n");
	buf_printf(&in, "Content-Length: %zu\r\n\r\n", enc.len - 4);
	buf_append(&in, enc.data, enc.len - 4);
	char *got = run("G", in.data, in.len, 0, 0, NULL);
	assert_non_null(strstr(got, "\nEcontent decoding incomplete\n"));
	free(got);

	/* close-delimited: a clean close, yet the stream was cut */
	buf_reset(&in);
	buf_puts(&in, "HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n");
	buf_append(&in, enc.data, enc.len / 2);
	got = run("G", in.data, in.len, 0, 0, "");
	assert_non_null(strstr(got, "\nEcontent decoding incomplete\n"));
	free(got);

	/* and the whole stream, close-delimited, is fine */
	buf_reset(&in);
	buf_puts(&in, "HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n");
	buf_append(&in, enc.data, enc.len);
	got = run("G", in.data, in.len, 0, 7, "");
	assert_non_null(strstr(got, "\nE-\n"));
	free(got);

	buf_free(&plain);
	buf_free(&enc);
	buf_free(&in);
}

/* ---- caps and odd uses ------------------------------------------------- */

static void test_head_too_large(void **state)
{
	(void)state;
	size_t n = RESPONSE_HEAD_MAX + 100;
	char *in = malloc(n);
	memcpy(in, OK200 "X-Big: ", 24);
	memset(in + 24, 'a', n - 24);
	char *got = run("G", in, n, 0, 0, NULL);
	assert_string_equal(got, "Xresponse head too large\n");
	free(got);
	got = run("G", in, n, 0, 4000, NULL);
	assert_string_equal(got, "Xresponse head too large\n");
	free(got);

	/* exactly at the cap is fine */
	size_t fit = RESPONSE_HEAD_MAX;
	memcpy(in + fit - 4, "\r\n\r\n", 4);
	got = run("G", in, fit, 0, 1000, NULL);
	assert_string_equal(got, "H200 1.1 r=OK n=1\n");
	free(got);
	free(in);
}

static void test_too_many_headers(void **state)
{
	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		struct buf in;
		buf_init(&in, SIZE_MAX);
		buf_puts(&in, OK200);
		for (int i = 0; i < RESPONSE_MAX_HEADERS - 1 + extra; i++)
			buf_printf(&in, "X-H%d: %d\r\n", i, i);
		buf_puts(&in, "Content-Length: 0\r\n\r\n");
		char *got = run("G", in.data, in.len, 0, 0, NULL);
		if (extra)
			assert_string_equal(got, "Xtoo many response header fields\n");
		else
			assert_string_equal(got, "H200 1.1 r=OK n=128 cl=0\nE-\n");
		free(got);
		buf_free(&in);
	}
}

static void test_expect_limit(void **state)
{
	(void)state;
	struct response_parser *p = response_new(&cbs, NULL);
	for (int i = 0; i < RESPONSE_MAX_PENDING; i++)
		assert_int_equal(response_expect(p, false), 0);
	assert_int_equal(response_expect(p, false), -1);
	response_free(p);
}

static void test_after_eof_and_upgrade(void **state)
{
	(void)state;
	struct rec r;
	rec_open(&r);
	const char *one = OK200 "Content-Length: 1\r\n\r\nx";
	assert_int_equal(response_feed(r.p, one, strlen(one)), 0);
	response_eof(r.p, NULL);
	assert_int_equal(response_feed(r.p, one, strlen(one)), 0);	/* ignored */
	response_eof(r.p, "again");					/* ignored */
	rec_flush(&r);
	assert_string_equal(r.log.data, "H200 1.1 r=OK n=1 cl=1\nB:1:x\nE-\n");
	rec_close(&r);

	/* NULL callbacks are allowed */
	struct response_parser *p = response_new(NULL, NULL);
	assert_int_equal(response_feed(p, one, strlen(one)), 0);
	assert_int_equal(response_feed(p, "junk", 4), -1);
	assert_int_equal(response_feed(p, one, strlen(one)), -1);
	response_eof(p, NULL);
	response_free(p);
	response_free(NULL);
}

static void test_in_response(void **state)
{
	(void)state;
	struct response_parser *p = response_new(NULL, NULL);
	assert_false(response_busy(p));
	response_feed(p, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	assert_false(response_busy(p));
	response_feed(p, OK200 "Content-Length: 4\r\n\r\nab", 41);
	assert_true(response_busy(p));
	response_feed(p, "cd", 2);
	assert_false(response_busy(p));
	response_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_encoded_bodies),
		cmocka_unit_test(test_truncated_encoding),
		cmocka_unit_test(test_head_too_large),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_expect_limit),
		cmocka_unit_test(test_after_eof_and_upgrade),
		cmocka_unit_test(test_in_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
