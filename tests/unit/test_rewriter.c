/*
 * Unit tests for preload/rewriter.c: the incremental request rewriter.
 *
 * Most tests compare whole outputs: what goes on the wire, and a text log of
 * the callbacks (adjacent on_body calls merged, so that feeding in pieces
 * must give exactly what feeding in one go gives).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pageguard.h"
#include "rewriter.h"

#define KEY "rk-respan-0001"

static char s_key[] = KEY;
static char s_oddkey[] = "rk/+=x%";
static char s_base[] = "https://api.respan.ai/api/";
static char s_host[] = "api.respan.ai";
static char s_path[] = "/api/";
static char s_root[] = "/";
static char s_auth[] = "api.respan.ai";
static char s_auth_port[] = "localhost:8443";
static char s_auth_v6[] = "[::1]:8443";
static char s_host_v6[] = "::1";
static char s_rp[] = "vertex_ai";
static char s_rp_anth[] = "bedrock";
static char s_params[] = "eyJjdXN0b21lcl9pZGVudGlmaWVyIjoidSJ9";

enum {
	CF_RP = 1 << 0,		/* RESPAN_ROUTE_PROVIDER=vertex_ai */
	CF_RP_ANTH = 1 << 1,	/* RESPAN_ROUTE_PROVIDER_ANTHROPIC=bedrock */
	CF_PARAMS = 1 << 2,	/* RESPAN_PARAMS set */
	CF_PORT = 1 << 3,	/* router on localhost:8443 */
	CF_V6 = 1 << 4,		/* router on [::1]:8443 */
	CF_NOKEY = 1 << 5,	/* no RESPAN_API_KEY */
	CF_ODDKEY = 1 << 6,	/* a key that needs percent-encoding */
	CF_ROOT = 1 << 7,	/* router path "/" */
};

static struct config make_cfg(unsigned flags)
{
	struct config c;
	memset(&c, 0, sizeof(c));
	c.api_key = flags & CF_NOKEY ? NULL : flags & CF_ODDKEY ? s_oddkey : s_key;
	c.base_url = s_base;
	c.router_host = s_host;
	c.router_port = 443;
	c.router_path = flags & CF_ROOT ? s_root : s_path;
	c.router_authority = s_auth;
	if (flags & CF_PORT) {
		c.router_port = 8443;
		c.router_authority = s_auth_port;
	}
	if (flags & CF_V6) {
		c.router_host = s_host_v6;
		c.router_port = 8443;
		c.router_authority = s_auth_v6;
	}
	if (flags & CF_RP)
		c.route_provider = s_rp;
	if (flags & CF_RP_ANTH)
		c.route_provider_by_id[PROVIDER_ANTHROPIC] = s_rp_anth;
	if (flags & CF_PARAMS)
		c.params_b64 = s_params;
	c.log_body_max = 1 << 20;
	return c;
}

/* ---- a recorder of callbacks ------------------------------------------- */

struct rec {
	struct buf log;
	struct buf body;	/* on_body data not yet written to log */
	int heads, ends, errors;
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->log, 1 << 24);
	buf_init(&r->body, 1 << 24);
}

static void rec_free(struct rec *r)
{
	buf_free(&r->log);
	buf_free(&r->body);
}

static void rec_body_done(struct rec *r)
{
	if (r->body.len == 0)
		return;
	buf_puts(&r->log, "B ");
	buf_append(&r->log, r->body.data, r->body.len);
	buf_puts(&r->log, "\n");
	buf_reset(&r->body);
}

static void on_head(void *ctx, const struct rewriter_head *h)
{
	struct rec *r = ctx;
	rec_body_done(r);
	r->heads++;
	buf_printf(&r->log, "H %.*s %.*s -> %.*s host=%.*s v=%d p=%d rw=%d cl=%llu ch=%d ex=%d\n",
		   (int)h->method_len, h->method, (int)h->target_len, h->target,
		   (int)h->sent_target_len, h->sent_target,
		   h->host ? (int)h->host_len : 6, h->host ? h->host : "(none)",
		   h->minor_version, (int)h->provider, h->rewritten,
		   h->content_length, h->chunked, h->expect_continue);
	for (size_t i = 0; i < h->n_headers; i++)
		buf_printf(&r->log, "  %.*s: %.*s\n", (int)h->headers[i].name_len,
			   h->headers[i].name, (int)h->headers[i].value_len,
			   h->headers[i].value);
}

static void on_body(void *ctx, const char *data, size_t len)
{
	struct rec *r = ctx;
	assert_true(len > 0);
	buf_append(&r->body, data, len);
}

static void on_end(void *ctx)
{
	struct rec *r = ctx;
	rec_body_done(r);
	r->ends++;
	buf_puts(&r->log, "E\n");
}

static void on_error(void *ctx, const char *why)
{
	struct rec *r = ctx;
	rec_body_done(r);
	r->errors++;
	buf_printf(&r->log, "X %s\n", why);
}

static const struct rewriter_callbacks rec_cb = { on_head, on_body, on_end, on_error };

/* ---- running the rewriter ---------------------------------------------- */

struct run {
	struct config cfg;
	enum rewrite_mode mode;
	enum provider_id provider;
};

/* One rewriter, what it sent and what its callbacks said. */
struct harness {
	struct config cfg;	/* the rewriter's; outlives it */
	struct rewriter *rw;
	struct buf out;
	struct rec rec;
	bool pass;	/* rewriter_passthrough() before the final flush */
};

/* A new rewriter for run; cb is &rec_cb (recording into h->rec) or NULL. */
static void harness_init(struct harness *h, const struct run *run,
			 const struct rewriter_callbacks *cb)
{
	memset(h, 0, sizeof(*h));
	h->cfg = run->cfg;
	buf_init(&h->out, 1 << 24);
	rec_init(&h->rec);
	h->rw = rewriter_new(&h->cfg, run->mode, run->provider, cb, cb ? &h->rec : NULL);
	assert_non_null(h->rw);
}

/* Feed len bytes; every one is taken. */
static void harness_feed(struct harness *h, const char *in, size_t len)
{
	assert_int_equal(rewriter_feed(h->rw, in, len, &h->out), (ssize_t)len);
}

/* Flush what is held; it all goes out. */
static void harness_finish(struct harness *h)
{
	h->pass = rewriter_passthrough(h->rw);
	assert_int_equal(rewriter_flush(h->rw, &h->out), 0);
	assert_int_equal(rewriter_pending(h->rw), 0);
	rec_body_done(&h->rec);
}

static void harness_free(struct harness *h)
{
	rewriter_free(h->rw);
	buf_free(&h->out);
	rec_free(&h->rec);
}

/*
 * Feed in at the given cut points (ascending, each <= len), then flush.
 * guard: each piece is a copy that ends right before an unmapped page.
 */
static void run_pieces(const struct run *run, const char *in, size_t len,
		       const size_t *cuts, size_t ncuts, bool guard,
		       struct harness *h)
{
	harness_init(h, run, &rec_cb);
	size_t at = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		const char *piece = guard ? pageguard_copy(in + at, end - at) : in + at;
		harness_feed(h, piece, end - at);
		if (guard)
			pageguard_free(piece);
		at = end;
	}
	harness_finish(h);
}

static void run_cuts(const struct run *run, const char *in, size_t len,
		     const size_t *cuts, size_t ncuts, struct harness *h)
{
	run_pieces(run, in, len, cuts, ncuts, false, h);
}

static void run_once(const struct run *run, const char *in, size_t len,
		     struct harness *h)
{
	run_cuts(run, in, len, NULL, 0, h);
}

static void assert_buf_eq(const struct buf *b, const char *want, size_t wlen,
			  const char *what)
{
	if (b->len != wlen || (wlen && memcmp(b->data, want, wlen) != 0))
		fail_msg("%s:\n--- got (%zu)\n%.*s\n--- want (%zu)\n%.*s", what,
			 b->len, (int)b->len, b->data ? b->data : "", wlen,
			 (int)wlen, want);
}

static void assert_same(const struct harness *a, const struct harness *b,
			const char *what)
{
	assert_buf_eq(&a->out, b->out.data, b->out.len, what);
	assert_buf_eq(&a->rec.log, b->rec.log.data, b->rec.log.len, what);
	assert_int_equal(a->pass, b->pass);
}

/* The callbacks seen: heads, ends and errors. */
static void assert_counts(const struct harness *h, int heads, int ends, int errors,
			  const char *what)
{
	if (h->rec.heads != heads || h->rec.ends != ends || h->rec.errors != errors)
		fail_msg("%s: %d heads %d ends %d errors, want %d %d %d\n%s", what,
			 h->rec.heads, h->rec.ends, h->rec.errors, heads, ends, errors,
			 h->rec.log.data ? h->rec.log.data : "");
}

/* ---- head rewriting ---------------------------------------------------- */

static void test_rewrite_table(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		unsigned cf;
		enum rewrite_mode mode;
		enum provider_id p;
		const char *in, *want;
	} cases[] = {
		{ "openai bearer", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
		  "Authorization: Bearer sk-proj-abc\r\nContent-Type: application/json\r\n\r\n",
		  "POST /api/chat/completions HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "Authorization: Bearer " KEY "\r\nContent-Type: application/json\r\n\r\n" },
		{ "anthropic x-api-key", 0, REWRITE_ROUTE, PROVIDER_ANTHROPIC,
		  "POST /v1/messages?beta=true HTTP/1.1\r\nhost: api.anthropic.com\r\n"
		  "x-api-key: sk-ant-xyz\r\nanthropic-version: 2023-06-01\r\n\r\n",
		  "POST /api/anthropic/v1/messages?beta=true HTTP/1.1\r\nhost: api.respan.ai\r\n"
		  "x-api-key: " KEY "\r\nanthropic-version: 2023-06-01\r\n\r\n" },
		{ "anthropic both styles", 0, REWRITE_ROUTE, PROVIDER_ANTHROPIC,
		  "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
		  "Authorization: Bearer sk-ant-oat\r\nX-Api-Key: sk-ant-xyz\r\n\r\n",
		  "POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "Authorization: Bearer " KEY "\r\nX-Api-Key: " KEY "\r\n\r\n" },
		{ "gemini key= only", 0, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "POST /v1beta/models/m:generateContent?key=AIzaSyX&alt=sse HTTP/1.1\r\n"
		  "Host: generativelanguage.googleapis.com\r\n\r\n",
		  "POST /api/google/gemini/v1beta/models/m:generateContent?key=" KEY
		  "&alt=sse HTTP/1.1\r\nHost: api.respan.ai\r\n\r\n" },
		{ "gemini header", 0, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "POST /v1beta/models/m:generateContent HTTP/1.1\r\n"
		  "Host: generativelanguage.googleapis.com\r\nx-goog-api-key: AIzaSyX\r\n\r\n",
		  "POST /api/google/gemini/v1beta/models/m:generateContent HTTP/1.1\r\n"
		  "Host: api.respan.ai\r\nx-goog-api-key: " KEY "\r\n\r\n" },
		{ "gemini header and key=", 0, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "GET /v1beta/models?alt=json&key=AIza HTTP/1.1\r\n"
		  "Host: generativelanguage.googleapis.com\r\nX-Goog-Api-Key: AIza\r\n\r\n",
		  "GET /api/google/gemini/v1beta/models?alt=json&key=" KEY " HTTP/1.1\r\n"
		  "Host: api.respan.ai\r\nX-Goog-Api-Key: " KEY "\r\n\r\n" },
		{ "every key= param", 0, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "GET /v1/x?key=a&key=b&keyx=c&xkey=d&key&=e HTTP/1.1\r\nHost: h\r\n\r\n",
		  "GET /api/google/gemini/v1/x?key=" KEY "&key=" KEY "&keyx=c&xkey=d&key="
		  KEY "&=e HTTP/1.1\r\nHost: api.respan.ai\r\n\r\n" },
		{ "api-key header", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "POST /v1/embeddings HTTP/1.1\r\nHost: api.openai.com\r\napi-key: az\r\n\r\n",
		  "POST /api/embeddings HTTP/1.1\r\nHost: api.respan.ai\r\napi-key: " KEY
		  "\r\n\r\n" },
		{ "openai none", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nAccept: */*\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nAccept: */*\r\n"
		  "Authorization: Bearer " KEY "\r\n\r\n" },
		{ "anthropic none", 0, REWRITE_ROUTE, PROVIDER_ANTHROPIC,
		  "GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n",
		  "GET /api/anthropic/v1/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-api-key: " KEY "\r\n\r\n" },
		{ "gemini none", 0, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "GET /v1beta/models HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n\r\n",
		  "GET /api/google/gemini/v1beta/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-goog-api-key: " KEY "\r\n\r\n" },
		{ "vertexai none", 0, REWRITE_ROUTE, PROVIDER_VERTEXAI,
		  "POST /v1/projects/p/locations/l/publishers/google/models/m:predict HTTP/1.1\r\n"
		  "Host: us-central1-aiplatform.googleapis.com\r\n\r\n",
		  "POST /api/google/vertexai/v1/projects/p/locations/l/publishers/google/"
		  "models/m:predict HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "Authorization: Bearer " KEY "\r\n\r\n" },
		{ "vertexai bearer", 0, REWRITE_ROUTE, PROVIDER_VERTEXAI,
		  "POST /v1/projects/p HTTP/1.1\r\nHost: aiplatform.googleapis.com\r\n"
		  "Authorization: Bearer ya29.token\r\n\r\n",
		  "POST /api/google/vertexai/v1/projects/p HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "Authorization: Bearer " KEY "\r\n\r\n" },
		{ "authorization without scheme", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: sk-abc\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nAuthorization: Bearer "
		  KEY "\r\n\r\n" },
		{ "authorization empty", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization:\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nAuthorization: Bearer "
		  KEY "\r\n\r\n" },
		{ "authorization scheme kept", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n"
		  "AUTHORIZATION:bearer \t sk-x  \r\nauthorization: Basic dTpw\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nAUTHORIZATION: bearer "
		  KEY "\r\nauthorization: Basic " KEY "\r\n\r\n" },
		{ "proxy-authorization kept", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n"
		  "Proxy-Authorization: Basic cHg=\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "Proxy-Authorization: Basic cHg=\r\nAuthorization: Bearer " KEY "\r\n\r\n" },
		{ "host added", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.0\r\nAuthorization: Bearer sk\r\n\r\n",
		  "GET /api/models HTTP/1.0\r\nHost: api.respan.ai\r\n"
		  "Authorization: Bearer " KEY "\r\n\r\n" },
		{ "host case kept", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHOST:api.openai.com:443\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHOST: api.respan.ai\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "router port", CF_PORT, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: localhost:8443\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "router ipv6", CF_V6, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: [::1]:8443\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "router ipv6 host added", CF_V6, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: [::1]:8443\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "router path /", CF_ROOT, REWRITE_ROUTE, PROVIDER_ANTHROPIC,
		  "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: k\r\n\r\n",
		  "POST /anthropic/v1/messages HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: "
		  KEY "\r\n\r\n" },
		{ "route provider global", CF_RP | CF_RP_ANTH, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY
		  "\r\nX-Respan-Route-Provider: vertex_ai\r\n\r\n" },
		{ "route provider per id wins", CF_RP | CF_RP_ANTH, REWRITE_ROUTE,
		  PROVIDER_ANTHROPIC,
		  "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: k\r\n\r\n",
		  "POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-api-key: " KEY "\r\nX-Respan-Route-Provider: bedrock\r\n\r\n" },
		{ "route provider per id only", CF_RP_ANTH, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "GET /v1/models HTTP/1.1\r\nHost: h\r\nx-goog-api-key: k\r\n\r\n",
		  "GET /api/google/gemini/v1/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-goog-api-key: " KEY "\r\n\r\n" },
		{ "params", CF_PARAMS, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY
		  "\r\nX-Data-Respan-Params: eyJjdXN0b21lcl9pZGVudGlmaWVyIjoidSJ9\r\n\r\n" },
		{ "program's respan headers replaced", CF_RP | CF_PARAMS, REWRITE_ROUTE,
		  PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nx-respan-route-provider: mine\r\nHost: h\r\n"
		  "X-DATA-RESPAN-PARAMS: e30=\r\nx-api-key: k\r\nX-Respan-Other: o\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY
		  "\r\nX-Respan-Other: o\r\nX-Respan-Route-Provider: vertex_ai\r\n"
		  "X-Data-Respan-Params: eyJjdXN0b21lcl9pZGVudGlmaWVyIjoidSJ9\r\n\r\n" },
		{ "program's respan headers kept", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nx-respan-route-provider: mine\r\nHost: h\r\n"
		  "X-DATA-RESPAN-PARAMS: e30=\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nx-respan-route-provider: mine\r\n"
		  "Host: api.respan.ai\r\nX-DATA-RESPAN-PARAMS: e30=\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "LF line ends become CRLF", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk\r\n"
		  "User-Agent: x\n\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nAuthorization: Bearer "
		  KEY "\r\nUser-Agent: x\r\n\r\n" },
		{ "other headers byte for byte", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: h\r\nX-Odd:\t  spaced  value \t\r\n"
		  "x-EMPTY:\r\nUser-Agent: caf\xc3\xa9/1\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nX-Odd:\t  spaced  value \t\r\n"
		  "x-EMPTY:\r\nUser-Agent: caf\xc3\xa9/1\r\nx-api-key: " KEY "\r\n\r\n" },
		{ "percent-encoded key", CF_ODDKEY, REWRITE_ROUTE, PROVIDER_GEMINI,
		  "GET /v1/models?key=AIza HTTP/1.1\r\nHost: h\r\nx-goog-api-key: AIza\r\n\r\n",
		  "GET /api/google/gemini/v1/models?key=rk%2F%2B%3Dx%25 HTTP/1.1\r\n"
		  "Host: api.respan.ai\r\nx-goog-api-key: rk/+=x%\r\n\r\n" },
		{ "absolute form", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET https://api.openai.com/v1/models HTTP/1.1\r\nHost: api.openai.com\r\n"
		  "x-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "asterisk form kept", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "OPTIONS * HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk\r\n\r\n",
		  "OPTIONS * HTTP/1.1\r\nHost: api.respan.ai\r\nAuthorization: Bearer " KEY
		  "\r\n\r\n" },
		{ "no provider: no router path", 0, REWRITE_ROUTE, PROVIDER_NONE,
		  "GET /v1/models HTTP/1.1\r\nHost: h\r\nx-api-key: k\r\n\r\n",
		  "GET /v1/models HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "empty line before a request", 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "\r\n\nGET /v1/models HTTP/1.1\r\nHost: h\r\nx-api-key: k\r\n\r\n",
		  "\r\n\nGET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY
		  "\r\n\r\n" },
		{ "router: path and host kept", CF_RP_ANTH, REWRITE_ROUTER, PROVIDER_NONE,
		  "POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-api-key: sk-ant\r\n\r\n",
		  "POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-api-key: " KEY "\r\nX-Respan-Route-Provider: bedrock\r\n\r\n" },
		{ "router: anthropic default", 0, REWRITE_ROUTER, PROVIDER_OPENAI,
		  "POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: localhost\r\n\r\n",
		  "POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: localhost\r\n"
		  "x-api-key: " KEY "\r\n\r\n" },
		{ "router: openai default, no host", 0, REWRITE_ROUTER, PROVIDER_ANTHROPIC,
		  "POST /api/chat/completions HTTP/1.1\r\n\r\n",
		  "POST /api/chat/completions HTTP/1.1\r\nAuthorization: Bearer " KEY
		  "\r\n\r\n" },
		{ "router: key= replaced", 0, REWRITE_ROUTER, PROVIDER_NONE,
		  "GET /api/google/gemini/v1/models?key=AIza HTTP/1.1\r\nHost: r\r\n\r\n",
		  "GET /api/google/gemini/v1/models?key=" KEY " HTTP/1.1\r\nHost: r\r\n\r\n" },
		{ "host only: credentials and headers kept", CF_RP | CF_PARAMS | CF_PORT,
		  REWRITE_HOST, PROVIDER_NONE,
		  "POST /api/google/gemini/v1beta/models/m:generateContent HTTP/1.1\r\n"
		  "Host: 127.0.0.1:40123\r\nx-goog-api-key: AIza\r\n"
		  "X-Respan-Route-Provider: mine\r\n\r\n",
		  "POST /api/google/gemini/v1beta/models/m:generateContent HTTP/1.1\r\n"
		  "Host: localhost:8443\r\nx-goog-api-key: AIza\r\n"
		  "X-Respan-Route-Provider: mine\r\n\r\n" },
		{ "host only: added, no credential added", 0, REWRITE_HOST, PROVIDER_NONE,
		  "GET /api/google/gemini/v1beta/models HTTP/1.0\r\nAccept: */*\r\n\r\n",
		  "GET /api/google/gemini/v1beta/models HTTP/1.0\r\nHost: api.respan.ai\r\n"
		  "Accept: */*\r\n\r\n" },
		{ "host only, then router: gemini style", 0, REWRITE_ROUTER, PROVIDER_NONE,
		  "GET /api/google/gemini/v1beta/models HTTP/1.1\r\nHost: api.respan.ai\r\n\r\n",
		  "GET /api/google/gemini/v1beta/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		  "x-goog-api-key: " KEY "\r\n\r\n" },
		{ "host only without a key", CF_NOKEY, REWRITE_HOST, PROVIDER_NONE,
		  "GET /api/models HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\n\r\n" },
		{ "capture", CF_RP | CF_PARAMS, REWRITE_CAPTURE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk\n\n",
		  "GET /v1/models HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk\n\n" },
		{ "no key: route is capture", CF_NOKEY | CF_RP, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
		  "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n" },
		{ "no key: router is capture", CF_NOKEY, REWRITE_ROUTER, PROVIDER_OPENAI,
		  "GET /api/models HTTP/1.1\r\nHost: r\r\nx-api-key: k\r\n\r\n",
		  "GET /api/models HTTP/1.1\r\nHost: r\r\nx-api-key: k\r\n\r\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run run = { make_cfg(cases[i].cf), cases[i].mode, cases[i].p };
		struct harness res;
		run_once(&run, cases[i].in, strlen(cases[i].in), &res);
		assert_buf_eq(&res.out, cases[i].want, strlen(cases[i].want), cases[i].name);
		assert_counts(&res, 1, 1, 0, cases[i].name);
		assert_false(res.pass);
		harness_free(&res);
	}
}

/* What on_head reports: the program's view and the sent one. */
static void test_head_fields(void **state)
{
	(void)state;
	static const struct {
		unsigned cf;
		enum rewrite_mode mode;
		enum provider_id p;
		const char *in, *log;
	} cases[] = {
		{ CF_RP, REWRITE_ROUTE, PROVIDER_ANTHROPIC,
		  "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: k\r\n"
		  "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
		  "H POST /v1/messages -> /api/anthropic/v1/messages host=api.anthropic.com "
		  "v=1 p=1 rw=1 cl=3 ch=0 ex=1\n"
		  "  Host: api.respan.ai\n  x-api-key: " KEY "\n  Expect: 100-Continue\n"
		  "  Content-Length: 3\n  X-Respan-Route-Provider: vertex_ai\n"
		  "B abc\nE\n" },
		{ 0, REWRITE_ROUTER, PROVIDER_OPENAI,
		  "POST /api/google/vertexai/v1/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "0\r\n\r\n",
		  "H POST /api/google/vertexai/v1/x -> /api/google/vertexai/v1/x host=(none) "
		  "v=0 p=3 rw=1 cl=0 ch=1 ex=0\n"
		  "  Transfer-Encoding: chunked\n  Authorization: Bearer " KEY "\nE\n" },
		{ 0, REWRITE_CAPTURE, PROVIDER_GEMINI,
		  "GET /x HTTP/1.1\nHost:  h  \n\n",
		  "H GET /x -> /x host=h v=1 p=2 rw=0 cl=0 ch=0 ex=0\n  Host: h\nE\n" },
		{ 0, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /v1/models HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " KEY "\r\n\r\n",
		  "H GET /v1/models -> /api/models host=h v=1 p=0 rw=1 cl=0 ch=0 ex=0\n"
		  "  Host: api.respan.ai\n  Authorization: Bearer " KEY "\nE\n" },
		/* Nothing to change: rewritten is false. */
		{ CF_ROOT, REWRITE_ROUTE, PROVIDER_OPENAI,
		  "GET /x HTTP/1.1\r\nHost: api.respan.ai\r\nAuthorization: Bearer " KEY "\r\n\r\n",
		  "H GET /x -> /x host=api.respan.ai v=1 p=0 rw=0 cl=0 ch=0 ex=0\n"
		  "  Host: api.respan.ai\n  Authorization: Bearer " KEY "\nE\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run run = { make_cfg(cases[i].cf), cases[i].mode, cases[i].p };
		struct harness res;
		run_once(&run, cases[i].in, strlen(cases[i].in), &res);
		assert_buf_eq(&res.rec.log, cases[i].log, strlen(cases[i].log), "log");
		harness_free(&res);
	}
}

/* ---- bodies, keep-alive, pipelining ------------------------------------ */

static const char pipelined[] =
	"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
	"Authorization: Bearer sk-1\r\nContent-Length: 11\r\n\r\n{\"a\":\"b\"}\r\n"
	"GET /v1/models?key=zz HTTP/1.1\r\nHost: api.openai.com\r\n\r\n"
	"POST /v1/files HTTP/1.1\r\nHost: api.openai.com\r\nx-api-key: sk-2\r\n"
	"Transfer-Encoding: gzip, chunked\r\n\r\n"
	"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
	"\r\n"
	"POST /v1/responses HTTP/1.0\nAuthorization: Bearer sk-3\nContent-Length: 4\n"
	"Expect: 100-continue\n\nbody"
	"DELETE /v1/files/f HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";

static const char pipelined_out[] =
	"POST /api/chat/completions HTTP/1.1\r\nHost: api.respan.ai\r\n"
	"Authorization: Bearer " KEY "\r\nContent-Length: 11\r\n\r\n{\"a\":\"b\"}\r\n"
	"GET /api/models?key=" KEY " HTTP/1.1\r\nHost: api.respan.ai\r\n\r\n"
	"POST /api/files HTTP/1.1\r\nHost: api.respan.ai\r\nx-api-key: " KEY "\r\n"
	"Transfer-Encoding: gzip, chunked\r\n\r\n"
	"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
	"\r\n"
	"POST /api/responses HTTP/1.0\r\nHost: api.respan.ai\r\nAuthorization: Bearer "
	KEY "\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbody"
	"DELETE /api/files/f HTTP/1.1\r\nHost: api.respan.ai\r\nContent-Length: 0\r\n"
	"Authorization: Bearer " KEY "\r\n\r\n";

static void test_pipelined(void **state)
{
	(void)state;
	struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_OPENAI };
	struct harness res;
	run_once(&run, pipelined, sizeof(pipelined) - 1, &res);
	assert_buf_eq(&res.out, pipelined_out, sizeof(pipelined_out) - 1, "pipelined");
	assert_counts(&res, 5, 5, 0, "pipelined");
	assert_non_null(strstr(res.rec.log.data, "B {\"a\":\"b\"}\r\n\nE\n"));
	assert_non_null(strstr(res.rec.log.data, "B hello world\nE\n"));
	assert_non_null(strstr(res.rec.log.data, "ex=1\n"));
	assert_non_null(strstr(res.rec.log.data, "B body\nE\n"));
	harness_free(&res);

	/* Capture mode: the exact bytes. */
	run.mode = REWRITE_CAPTURE;
	run_once(&run, pipelined, sizeof(pipelined) - 1, &res);
	assert_buf_eq(&res.out, pipelined, sizeof(pipelined) - 1, "capture");
	assert_int_equal(res.rec.heads, 5);
	harness_free(&res);
}

/* Two pieces at every boundary, and byte at a time, in every mode. */
static void test_splits(void **state)
{
	(void)state;
	static const enum rewrite_mode modes[] = { REWRITE_ROUTE, REWRITE_ROUTER, REWRITE_CAPTURE };
	const char *in = pipelined;
	size_t len = sizeof(pipelined) - 1;
	size_t *cuts = malloc(len * sizeof(*cuts));
	assert_non_null(cuts);

	for (size_t m = 0; m < 3; m++) {
		struct run run = { make_cfg(CF_RP | CF_PARAMS), modes[m], PROVIDER_OPENAI };
		struct harness one, split;
		run_once(&run, in, len, &one);
		if (modes[m] == REWRITE_CAPTURE)
			assert_buf_eq(&one.out, in, len, "capture");
		for (size_t k = 0; k <= len; k++) {
			run_cuts(&run, in, len, &k, 1, &split);
			assert_same(&split, &one, "two pieces");
			harness_free(&split);
		}
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		run_cuts(&run, in, len, cuts, len - 1, &split);
		assert_same(&split, &one, "byte at a time");
		harness_free(&split);
		/* Some uneven cuts, including empty pieces. */
		unsigned seed = 7;
		for (int r = 0; r < 200; r++) {
			size_t n = 0, at = 0;
			while (at < len && n < len) {
				seed = seed * 1103515245u + 12345u;
				at += (seed >> 16) % 40;
				cuts[n++] = at < len ? at : len;
			}
			run_cuts(&run, in, len, cuts, n, &split);
			assert_same(&split, &one, "random pieces");
			harness_free(&split);
		}
		harness_free(&one);
	}
	free(cuts);
}

static void test_keepalive(void **state)
{
	(void)state;
	struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_ANTHROPIC };
	struct harness h;
	harness_init(&h, &run, &rec_cb);

	static const char r1[] = "POST /v1/messages HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 2\r\n\r\n";
	harness_feed(&h, r1, sizeof(r1) - 1);
	assert_counts(&h, 1, 0, 0, "first head");
	assert_int_equal(rewriter_pending(h.rw), 0);
	harness_feed(&h, "{", 1);
	harness_feed(&h, "}", 1);
	assert_counts(&h, 1, 1, 0, "first body");
	static const char r2[] = "GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n";
	harness_feed(&h, r2, sizeof(r2) - 1);
	assert_counts(&h, 2, 2, 0, "second request");
	static const char want[] =
		"POST /api/anthropic/v1/messages HTTP/1.1\r\nHost: api.respan.ai\r\n"
		"Content-Length: 2\r\nx-api-key: " KEY "\r\n\r\n{}"
		"GET /api/anthropic/v1/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		"x-api-key: " KEY "\r\n\r\n";
	assert_buf_eq(&h.out, want, sizeof(want) - 1, "keep-alive");
	rec_body_done(&h.rec);
	assert_non_null(strstr(h.rec.log.data, "B {}\nE\n"));
	harness_free(&h);
}

static void test_expect_continue(void **state)
{
	(void)state;
	struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_OPENAI };
	struct harness h;
	harness_init(&h, &run, &rec_cb);

	static const char head[] = "POST /v1/files HTTP/1.1\r\nHost: h\r\n"
				   "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n";
	harness_feed(&h, head, sizeof(head) - 1);
	/* The head goes at once; the body comes after the server's 100. */
	assert_counts(&h, 1, 0, 0, "head");
	assert_non_null(strstr(h.rec.log.data, " ex=1\n"));
	assert_int_equal(rewriter_pending(h.rw), 0);
	size_t head_len = h.out.len;
	harness_feed(&h, "hello", 5);
	assert_int_equal(h.out.len, head_len + 5);
	assert_memory_equal(h.out.data + head_len, "hello", 5);
	assert_counts(&h, 1, 1, 0, "body");
	harness_free(&h);
}

static void test_chunked_body(void **state)
{
	(void)state;
	static const struct {
		const char *body, *decoded;
	} cases[] = {
		{ "0\r\n\r\n", "" },
		{ "3\r\nabc\r\n0\r\n\r\n", "abc" },
		{ "A\r\n0123456789\r\n1;a=b;c\r\nX\r\n0\r\n\r\n", "0123456789X" },
		{ "2\r\nhi\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n", "hi" },
	};
	static const char head[] = "POST /v1/x HTTP/1.1\r\nHost: h\r\nx-api-key: k\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	static const char sent_head[] = "POST /api/x HTTP/1.1\r\nHost: api.respan.ai\r\n"
					"x-api-key: " KEY "\r\n"
					"Transfer-Encoding: chunked\r\n\r\n";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char in[512], want[512], log[256];
		int n = snprintf(in, sizeof(in), "%s%sGET / HTTP/1.1\r\n\r\n", head,
				 cases[i].body);
		snprintf(want, sizeof(want), "%s%sGET /api/ HTTP/1.1\r\nHost: api.respan.ai"
			 "\r\nAuthorization: Bearer " KEY "\r\n\r\n", sent_head, cases[i].body);
		struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_OPENAI };
		struct harness one, split;
		run_once(&run, in, (size_t)n, &one);
		assert_buf_eq(&one.out, want, strlen(want), "chunked");
		if (cases[i].decoded[0])
			snprintf(log, sizeof(log), "\nB %s\nE\nH GET", cases[i].decoded);
		else
			snprintf(log, sizeof(log), "\nE\nH GET");
		assert_non_null(strstr(one.rec.log.data, log));
		for (size_t k = 0; k <= (size_t)n; k++) {
			run_cuts(&run, in, (size_t)n, &k, 1, &split);
			assert_same(&split, &one, "chunked split");
			harness_free(&split);
		}
		harness_free(&one);
	}
}

static void test_content_length_bodies(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *body;
		int ends;
	} cases[] = {
		{ "POST /v1/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "", 1 },
		{ "POST /v1/x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "abc", 1 },
		{ "POST /v1/x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		  "abc", 1 },
		{ "POST /v1/x HTTP/1.1\r\nContent-Length:  4 \r\n\r\nab", "ab", 0 },
		/* A GET with a body is still framed by its Content-Length. */
		{ "GET /v1/x HTTP/1.1\r\nContent-Length: 2\r\n\r\n\r\nGET", "\r\n", 1 },
		{ "GET /v1/x HTTP/1.1\r\n\r\n", "", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run run = { make_cfg(0), REWRITE_CAPTURE, PROVIDER_OPENAI };
		struct harness res;
		const char *in = cases[i].in;
		run_once(&run, in, strlen(in), &res);
		assert_buf_eq(&res.out, in, strlen(in), "capture");
		assert_int_equal(res.rec.ends, cases[i].ends);
		assert_int_equal(res.rec.errors, 0);
		if (cases[i].body[0]) {
			char want[64];
			snprintf(want, sizeof(want), "\nB %s\n", cases[i].body);
			assert_non_null(strstr(res.rec.log.data, want));
		} else {
			assert_null(strstr(res.rec.log.data, "\nB "));
		}
		harness_free(&res);
	}
}

/* ---- what is not HTTP/1.1 we can follow -------------------------------- */

static void test_malformed_table(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;	/* 0: strlen */
	} cases[] = {
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0 },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0 },
		{ "\0\0\0\0", 4 },
		{ "GET / HTTP/2\r\n\r\n", 0 },
		{ "GET / HTTP/1.2\r\n\r\n", 0 },
		{ "GET / http/1.1\r\n\r\n", 0 },
		{ "GET / HTTP/1.1 \r\n\r\n", 0 },
		{ "GET / HTTP/1.11\r\n\r\n", 0 },
		{ "GET /\r\n\r\n", 0 },
		{ "GET  / HTTP/1.1\r\n\r\n", 0 },
		{ " GET / HTTP/1.1\r\n\r\n", 0 },
		{ "G@T / HTTP/1.1\r\n\r\n", 0 },
		{ "GET /a\tb HTTP/1.1\r\n\r\n", 0 },
		{ "GET /a\x7f HTTP/1.1\r\n\r\n", 0 },
		{ "\rGET / HTTP/1.1\r\nAuthorization: Bearer sk\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nName : v\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\n: v\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26 },
		{ "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nX\x80: a\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "0\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nabcde", 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx", 0 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip"
		  "\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0 },
		/* A valid head whose chunked body is not. */
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc", 0 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 0 },
	};
	static const enum rewrite_mode modes[] = { REWRITE_ROUTE, REWRITE_CAPTURE };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		size_t len = cases[i].len ? cases[i].len : strlen(in);
		bool body_error = strstr(in, "\r\n\r\n") && strstr(in, "chunked\r\n\r\n") &&
				  !strstr(in, "Content-Length") && !strstr(in, "gzip");
		for (size_t m = 0; m < 2; m++) {
			struct run run = { make_cfg(0), modes[m], PROVIDER_OPENAI };
			struct harness one, split;
			run_once(&run, in, len, &one);
			if (one.rec.errors != 1 || !one.pass)
				fail_msg("case %zu: not refused: %s", i, one.rec.log.data);
			if (!body_error || modes[m] == REWRITE_CAPTURE)
				assert_buf_eq(&one.out, in, len, "passed through");
			if (!body_error)
				assert_int_equal(one.rec.heads, 0);
			for (size_t k = 0; k <= len; k++) {
				run_cuts(&run, in, len, &k, 1, &split);
				assert_same(&split, &one, "malformed split");
				harness_free(&split);
			}
			harness_free(&one);
		}
	}
}

/* A stream found not to be HTTP stays passed through, and a valid request
 * before the bad one is still rewritten. */
static void test_malformed_after_valid(void **state)
{
	(void)state;
	static const char in[] = "GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n"
				 "GET / HTTP/1.1\r\nX : y\r\n\r\n"
				 "GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char want[] =
		"GET /api/models HTTP/1.1\r\nHost: api.respan.ai\r\n"
		"Authorization: Bearer " KEY "\r\n\r\n"
		"GET / HTTP/1.1\r\nX : y\r\n\r\n"
		"GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n";
	struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_OPENAI };
	struct harness res;
	run_once(&run, in, sizeof(in) - 1, &res);
	assert_buf_eq(&res.out, want, sizeof(want) - 1, "after valid");
	assert_counts(&res, 1, 1, 1, "after valid");
	assert_true(res.pass);
	harness_free(&res);
}

/* A TLS record or other binary is let go at its first byte, not held. */
static void test_not_http_released_at_once(void **state)
{
	(void)state;
	struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_OPENAI };
	struct harness h;
	harness_init(&h, &run, &rec_cb);
	harness_feed(&h, "GE", 2);
	assert_int_equal(rewriter_pending(h.rw), 2);
	assert_int_equal(h.out.len, 0);
	harness_feed(&h, "\x16", 1);
	assert_int_equal(rewriter_pending(h.rw), 0);
	assert_buf_eq(&h.out, "GE\x16", 3, "released");
	assert_true(rewriter_passthrough(h.rw));
	assert_int_equal(h.rec.errors, 1);
	harness_feed(&h, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_buf_eq(&h.out, "GE\x16GET / HTTP/1.1\r\n\r\n", 21, "still passthrough");
	assert_int_equal(h.rec.heads, 0);
	assert_int_equal(h.rec.errors, 1);
	harness_free(&h);
}

/* Build "GET / HTTP/1.1\r\nX-Pad: aaa...\r\n\r\n" of exactly total bytes. */
static char *big_head(size_t total)
{
	static const char pre[] = "GET / HTTP/1.1\r\nX-Pad: ";
	static const char post[] = "\r\n\r\n";
	char *p = malloc(total + 1);
	assert_non_null(p);
	size_t pad = total - (sizeof(pre) - 1) - (sizeof(post) - 1);
	memcpy(p, pre, sizeof(pre) - 1);
	memset(p + sizeof(pre) - 1, 'a', pad);
	memcpy(p + total - (sizeof(post) - 1), post, sizeof(post));
	return p;
}

static void test_head_cap(void **state)
{
	(void)state;
	struct run run = { make_cfg(0), REWRITE_CAPTURE, PROVIDER_OPENAI };
	size_t cuts[80];
	for (size_t i = 0; i < 80; i++)
		cuts[i] = (i + 1) * 1000;

	/* Exactly the cap: accepted, in one piece and in many. */
	char *in = big_head(REWRITE_HEAD_MAX);
	struct harness res;
	run_once(&run, in, REWRITE_HEAD_MAX, &res);
	assert_int_equal(res.rec.heads, 1);
	assert_int_equal(res.rec.errors, 0);
	assert_buf_eq(&res.out, in, REWRITE_HEAD_MAX, "at cap");
	harness_free(&res);
	run_cuts(&run, in, REWRITE_HEAD_MAX, cuts, 65, &res);
	assert_int_equal(res.rec.heads, 1);
	harness_free(&res);
	free(in);

	/* One byte over: refused and released unchanged. */
	in = big_head(REWRITE_HEAD_MAX + 1);
	run.mode = REWRITE_ROUTE;
	run_once(&run, in, REWRITE_HEAD_MAX + 1, &res);
	assert_int_equal(res.rec.heads, 0);
	assert_int_equal(res.rec.errors, 1);
	assert_true(res.pass);
	assert_buf_eq(&res.out, in, REWRITE_HEAD_MAX + 1, "over cap");
	assert_non_null(strstr(res.rec.log.data, "64 KiB"));
	harness_free(&res);
	run_cuts(&run, in, REWRITE_HEAD_MAX + 1, cuts, 65, &res);
	assert_int_equal(res.rec.errors, 1);
	assert_buf_eq(&res.out, in, REWRITE_HEAD_MAX + 1, "over cap, pieces");
	harness_free(&res);

	/* Held up to the cap, released by the byte that goes over it (and no
	 * callbacks at all). */
	harness_init(&res, &run, NULL);
	harness_feed(&res, in, REWRITE_HEAD_MAX);
	assert_int_equal(rewriter_pending(res.rw), REWRITE_HEAD_MAX);
	assert_int_equal(res.out.len, 0);
	harness_feed(&res, in + REWRITE_HEAD_MAX, 1);
	assert_int_equal(rewriter_pending(res.rw), 0);
	assert_true(rewriter_passthrough(res.rw));
	assert_buf_eq(&res.out, in, REWRITE_HEAD_MAX + 1, "released");
	harness_free(&res);
	free(in);
}

static void test_header_count_cap(void **state)
{
	(void)state;
	for (int n = REWRITE_MAX_HEADERS; n <= REWRITE_MAX_HEADERS + 1; n++) {
		struct buf in;
		buf_init(&in, 1 << 20);
		buf_puts(&in, "GET /v1/models HTTP/1.1\r\n");
		for (int i = 0; i < n; i++)
			buf_printf(&in, "X-H%d: %d\r\n", i, i);
		buf_puts(&in, "\r\n");
		struct run run = { make_cfg(CF_RP | CF_PARAMS), REWRITE_ROUTE,
				   PROVIDER_OPENAI };
		struct harness res;
		run_once(&run, in.data, in.len, &res);
		if (n == REWRITE_MAX_HEADERS) {
			/* All 128 kept, plus Host, credential and Respan's two. */
			assert_int_equal(res.rec.heads, 1);
			assert_non_null(strstr(res.rec.log.data, "  X-H127: 127\n"
					       "  Authorization: Bearer " KEY "\n"
					       "  X-Respan-Route-Provider: vertex_ai\n"
					       "  X-Data-Respan-Params: "));
			assert_non_null(strstr(res.rec.log.data, "\n  Host: api.respan.ai\n"));
		} else {
			assert_int_equal(res.rec.errors, 1);
			assert_buf_eq(&res.out, in.data, in.len, "too many headers");
		}
		harness_free(&res);
		buf_free(&in);
	}
}

/* ---- flush, guard pages, full buffers ---------------------------------- */

static void test_flush(void **state)
{
	(void)state;
	struct run run = { make_cfg(0), REWRITE_ROUTE, PROVIDER_OPENAI };
	struct harness h;
	harness_init(&h, &run, &rec_cb);
	assert_int_equal(rewriter_flush(h.rw, &h.out), 0);	/* nothing held */
	assert_int_equal(h.out.len, 0);
	assert_false(rewriter_passthrough(h.rw));
	static const char part[] = "POST /v1/x HTTP/1.1\r\nAuthorization: Bear";
	harness_feed(&h, part, sizeof(part) - 1);
	assert_int_equal(rewriter_pending(h.rw), sizeof(part) - 1);
	assert_int_equal(h.out.len, 0);

	/* A full out: the held bytes stay held. */
	struct buf tiny;
	buf_init(&tiny, 4);
	assert_int_equal(rewriter_flush(h.rw, &tiny), -E2BIG);
	assert_int_equal(rewriter_pending(h.rw), sizeof(part) - 1);
	buf_free(&tiny);

	assert_int_equal(rewriter_flush(h.rw, &h.out), 0);
	assert_int_equal(rewriter_pending(h.rw), 0);
	assert_buf_eq(&h.out, part, sizeof(part) - 1, "flushed");
	/* The rest of that head cannot be rewritten now: it passes. */
	assert_true(rewriter_passthrough(h.rw));
	harness_feed(&h, "er x\r\n\r\n", 8);
	assert_int_equal(h.out.len, sizeof(part) - 1 + 8);
	assert_int_equal(h.rec.heads, 0);
	harness_free(&h);
	rewriter_free(NULL);
}

/* Every piece ends right before an unmapped page: any over-read faults. */
static void test_guard_pages(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		pipelined,
		"GET / HTTP/1.1\r\nX: y\r\n\r",
		"GET / HTTP/1.1\r\nX: y\r",
		"GET / HTTP/1.1\r",
		"GET / HTTP/1.",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"GET / HTTP/1.1\r\nX : y\r\n\r\n",
	};
	for (size_t m = 0; m < 2; m++) {
		struct run run = { make_cfg(0), m ? REWRITE_CAPTURE : REWRITE_ROUTE,
				   PROVIDER_OPENAI };
		for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
			size_t len = strlen(inputs[i]);
			struct harness one;
			run_once(&run, inputs[i], len, &one);
			for (size_t k = 0; k <= len; k++) {
				struct harness g;
				run_pieces(&run, inputs[i], len, &k, 1, true, &g);
				assert_same(&g, &one, "guard");
				harness_free(&g);
			}
			harness_free(&one);
		}
	}
}

/* -E2BIG leaves everything as it was: no output, no callback, same state. */
static void test_out_full_retry(void **state)
{
	(void)state;
	struct run run = { make_cfg(CF_PARAMS), REWRITE_ROUTE, PROVIDER_OPENAI };
	const char *in = pipelined;
	size_t len = sizeof(pipelined) - 1;
	struct harness one;
	run_once(&run, in, len, &one);

	static const size_t firsts[] = { 0, 10, 120 };	/* bytes fed beforehand */
	for (size_t f = 0; f < sizeof(firsts) / sizeof(firsts[0]); f++) {
		size_t first = firsts[f];
		for (size_t max = 0; max <= one.out.len + 1; max += (max < 300 ? 1 : 37)) {
			struct harness h;
			harness_init(&h, &run, &rec_cb);
			harness_feed(&h, in, first);
			size_t before = h.out.len, pending = rewriter_pending(h.rw);
			size_t log_before = h.rec.log.len, out_max = h.out.max;
			h.out.max = before + max;
			ssize_t rc = rewriter_feed(h.rw, in + first, len - first, &h.out);
			if (rc < 0) {
				assert_int_equal(rc, -E2BIG);
				assert_int_equal(h.out.len, before);
				assert_int_equal(h.rec.log.len, log_before);
				assert_int_equal(rewriter_pending(h.rw), pending);
				h.out.max = out_max;
				rc = rewriter_feed(h.rw, in + first, len - first, &h.out);
			}
			assert_int_equal(rc, (ssize_t)(len - first));
			harness_finish(&h);
			assert_buf_eq(&h.out, one.out.data, one.out.len, "retried");
			assert_buf_eq(&h.rec.log, one.rec.log.data, one.rec.log.len, "retried log");
			harness_free(&h);
		}
	}
	harness_free(&one);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrite_table),
		cmocka_unit_test(test_head_fields),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_content_length_bodies),
		cmocka_unit_test(test_malformed_table),
		cmocka_unit_test(test_malformed_after_valid),
		cmocka_unit_test(test_not_http_released_at_once),
		cmocka_unit_test(test_head_cap),
		cmocka_unit_test(test_header_count_cap),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_guard_pages),
		cmocka_unit_test(test_out_full_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
