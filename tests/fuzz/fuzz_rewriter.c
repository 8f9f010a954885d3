/*
 * libFuzzer target for preload/rewriter.c.
 *
 * Input: byte 0 picks options, byte 1 the number of cut points (0-15), then
 * two bytes per cut point, then the bytes the program "sends". The payload
 * goes through the rewriter in every mode, once in one piece and once cut
 * at those points. Checked: nothing crashes or over-reads; every feed takes
 * all its bytes; capture mode gives back exactly its input; the pieces give
 * exactly what one piece gives (output and callbacks); a feed refused for a
 * full out changes nothing and succeeds when retried; a rewritten head
 * carries no credential but the Respan key.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewriter.h"

#define FUZZ_KEY "rk-fuzz-key"

static char s_key[] = FUZZ_KEY;
static char s_base[] = "https://api.respan.ai/api/";
static char s_host[] = "api.respan.ai";
static char s_path[] = "/api/";
static char s_auth[] = "api.respan.ai";
static char s_rp[] = "vertex_ai";
static char s_params[] = "e30=";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rec {
	struct buf log;
	bool check_creds;
};

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_rewriter: %s\n", what);
		abort();
	}
}

static void on_head(void *ctx, const struct rewriter_head *h)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "H%zu:%.*s>%.*s|%d%d%d%llu|%d\n", h->n_headers,
		   (int)h->target_len, h->target, (int)h->sent_target_len,
		   h->sent_target, h->rewritten, h->chunked, h->expect_continue,
		   h->content_length, (int)h->provider);
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *f = &h->headers[i];
		buf_append(&r->log, f->name, f->name_len);
		buf_append(&r->log, ":", 1);
		buf_append(&r->log, f->value, f->value_len);
		buf_append(&r->log, "\n", 1);
		if (!r->check_creds)
			continue;
		static const char key[] = FUZZ_KEY;
		size_t k = sizeof(key) - 1;
		if (http_token_is(f->name, f->name_len, "x-api-key") ||
		    http_token_is(f->name, f->name_len, "x-goog-api-key") ||
		    http_token_is(f->name, f->name_len, "api-key"))
			must(f->value_len == k && memcmp(f->value, key, k) == 0,
			     "a credential header without the key");
		if (http_token_is(f->name, f->name_len, "authorization"))
			must(f->value_len >= k &&
			     memcmp(f->value + f->value_len - k, key, k) == 0,
			     "an Authorization without the key");
	}
}

static void on_body(void *ctx, const char *d, size_t len)
{
	struct rec *r = ctx;
	must(len > 0, "empty on_body");
	buf_append(&r->log, d, len);	/* adjacent runs merge by themselves */
}

static void on_end(void *ctx)
{
	struct rec *r = ctx;
	buf_puts(&r->log, "\nE\n");
}

static void on_error(void *ctx, const char *why)
{
	struct rec *r = ctx;
	buf_printf(&r->log, "\nX%s\n", why);
}

static const struct rewriter_callbacks cb = { on_head, on_body, on_end, on_error };

/* Run payload through a fresh rewriter in pieces; out and log are filled. */
static void run(const struct config *cfg, enum rewrite_mode mode,
		const uint8_t *p, size_t len, const size_t *cuts, size_t ncuts,
		size_t tight, struct buf *out, struct rec *rec)
{
	rec->check_creds = mode == REWRITE_ROUTE || mode == REWRITE_ROUTER;
	struct rewriter *rw = rewriter_new(cfg, mode, PROVIDER_ANTHROPIC, &cb, rec);
	must(rw != NULL, "rewriter_new");
	size_t at = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		const char *piece = (const char *)p + at;
		size_t n = end - at;
		if (tight) {
			/* A full out first: nothing may change. */
			size_t before = out->len, logged = rec->log.len;
			size_t pending = rewriter_pending(rw);
			bool pass = rewriter_passthrough(rw);
			out->max = out->len + (tight - 1) % (n + 1);
			ssize_t rc = rewriter_feed(rw, piece, n, out);
			if (rc < 0) {
				must(rc == -E2BIG, "not E2BIG");
				must(out->len == before, "output after E2BIG");
				must(rec->log.len == logged, "callbacks after E2BIG");
				must(rewriter_pending(rw) == pending, "pending after E2BIG");
				must(rewriter_passthrough(rw) == pass, "state after E2BIG");
			} else {
				must((size_t)rc == n, "feed took less (tight)");
				at = end;
				continue;
			}
			out->max = (size_t)1 << 26;
		}
		must(rewriter_feed(rw, piece, n, out) == (ssize_t)n, "feed took less");
		at = end;
	}
	out->max = (size_t)1 << 26;
	must(rewriter_flush(rw, out) == 0, "flush");
	must(rewriter_pending(rw) == 0, "pending after flush");
	rewriter_free(rw);
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	size_t ncuts = data[1] & 15;
	if (size < 2 + 2 * ncuts)
		return 0;
	const uint8_t *p = data + 2 + 2 * ncuts;
	size_t len = size - 2 - 2 * ncuts;
	size_t cuts[16];
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = ((size_t)data[2 + 2 * i] << 8 | data[3 + 2 * i]) % (len + 1);
	qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);
	size_t tight = opt & 0x80 ? (size_t)(opt & 0x7f) + 1 : 0;

	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.api_key = s_key;
	cfg.base_url = s_base;
	cfg.router_host = s_host;
	cfg.router_port = 443;
	cfg.router_path = s_path;
	cfg.router_authority = s_auth;
	if (opt & 1)
		cfg.route_provider = s_rp;
	if (opt & 2)
		cfg.params_b64 = s_params;

	static const enum rewrite_mode modes[] = { REWRITE_ROUTE, REWRITE_ROUTER, REWRITE_CAPTURE,
						 REWRITE_HOST };
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct buf out1, out2;
		struct rec rec1, rec2;
		buf_init(&out1, (size_t)1 << 26);
		buf_init(&out2, (size_t)1 << 26);
		buf_init(&rec1.log, (size_t)1 << 26);
		buf_init(&rec2.log, (size_t)1 << 26);
		run(&cfg, modes[m], p, len, NULL, 0, 0, &out1, &rec1);
		run(&cfg, modes[m], p, len, cuts, ncuts, tight, &out2, &rec2);
		if (modes[m] == REWRITE_CAPTURE)
			must(out1.len == len && (len == 0 || memcmp(out1.data, p, len) == 0),
			     "capture changed the bytes");
		must(out1.len == out2.len &&
		     (out1.len == 0 || memcmp(out1.data, out2.data, out1.len) == 0),
		     "pieces changed the output");
		must(rec1.log.len == rec2.log.len &&
		     (rec1.log.len == 0 || memcmp(rec1.log.data, rec2.log.data,
						  rec1.log.len) == 0),
		     "pieces changed the callbacks");
		buf_free(&out1);
		buf_free(&out2);
		buf_free(&rec1.log);
		buf_free(&rec2.log);
	}
	return 0;
}
