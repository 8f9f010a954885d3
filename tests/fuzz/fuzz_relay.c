/*
 * libFuzzer target for the relay's request path (cli/relay/proxy.c,
 * cli/relay/peer.c, and the two stages of cli/relay/pump.c) and its peer
 * check.
 *
 * Input: the bytes a program sends on a connection to the relay. They are
 * classified as pump_run does (proxy_first_bytes); a CONNECT head goes
 * through tunnel_parse, proxy_intercepts and tunnel_retarget. Then all of
 * it (a relay without interception takes every connection as plain HTTP)
 * goes the way pump.c carries plain HTTP: in pieces (sizes drawn from a
 * hash of the input) through the REWRITE_HOST rewriter, whose heads
 * peer_head_refusal judges, and, while none is refused, into an exchange
 * in REWRITE_ROUTER mode, whose output is what the router would get.
 * Every line of the input is also parsed as a line of /proc/net/tcp.
 *
 * Checked beyond no crash, leak or over-read:
 *   - the first-bytes verdict never changes once more bytes come;
 *   - a CONNECT head parsed from a prefix is the one parsed from the whole;
 *     a retargeted head parses as a CONNECT to the router, as long as
 *     itself; only port 443 of a provider host is intercepted;
 *   - peer_head_refusal refuses every head with an Origin header or a Host
 *     other than the relay's own address, and nothing else;
 *   - what reaches the router is HTTP/1.1 the same parser follows without
 *     error, and each of its heads is one of the program's that the check
 *     let through, in order, with Host the router's authority, no Origin,
 *     every credential (headers and key= parameters) the Respan key, and
 *     X-Data-Respan-Params once;
 *   - a parsed /proc/net/tcp line prints back to a line that parses the
 *     same, and matches the connection it describes (IPv4 also in its
 *     IPv4-mapped IPv6 form), and the reverse one only when both ends are
 *     the same.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "exchange.h"
#include "redact.h"
#include "relay/peer.h"
#include "relay/proxy.h"
#include "rewriter.h"
#include "route.h"
#include "tunnel.h"
#include "fuzzmix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "rk-test-relay-0123456789abcdef"
#define PORT 41234u
#define ALIAS "127.1.2.3:41234"

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_relay: %s\n", what);
		abort();
	}
}

/* The relay's configuration, loaded once: a key, params, no file, no log. */
static const struct config *relay_config(void)
{
	static struct config cfg;
	static bool loaded;
	static char *env[] = {
		(char *)"RESPAN_API_KEY=" KEY,
		(char *)"RESPAN_BASE_URL=https://api.respan.ai/api/",
		(char *)"RESPAN_PARAMS={\"customer_identifier\":\"fuzz\"}",
		(char *)"RESPAN_CONFIG=off",
		(char *)"RESPAN_LOG=off",
		(char *)"HOME=/nonexistent/respan-fuzz",
		NULL,
	};
	if (!loaded) {
		must(config_load(&cfg, env) == 0 && cfg.params_b64 != NULL, "config_load");
		loaded = true;
	}
	return &cfg;
}

/* ---- the first bytes and CONNECT ----------------------------------------- */

static void check_first(const char *in, size_t size)
{
	enum proxy_first decided = FIRST_MORE;
	for (size_t k = 0; k <= size && k <= 9; k++) {
		enum proxy_first f = proxy_first_bytes(in, k);
		must(f == FIRST_TLS || f == FIRST_CONNECT || f == FIRST_HTTP || f == FIRST_MORE,
		     "proxy_first_bytes out of range");
		if (decided != FIRST_MORE)
			must(f == decided, "more bytes changed the first-bytes verdict");
		decided = f;
	}
}

static bool same_target(const struct tunnel_target *a, const struct tunnel_target *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void check_connect(const struct config *cfg, const char *in, size_t size, uint64_t seed)
{
	struct tunnel_target whole, part;
	enum tunnel_result r = tunnel_parse(in, size, &whole);
	/* proxy_read_head peeks at what has come so far: any prefix. */
	for (int i = 0; i < 8; i++) {
		size_t k = (size_t)(next(&seed) % (size + 1));
		enum tunnel_result rk = tunnel_parse(in, k, &part);
		if (rk == TUNNEL_CONNECT)
			must(r == TUNNEL_CONNECT && same_target(&part, &whole) &&
			     part.head_len == whole.head_len, "a prefix parsed as another CONNECT");
		if (r == TUNNEL_CONNECT && k >= whole.head_len)
			must(rk == TUNNEL_CONNECT, "a prefix holding the head did not parse");
	}
	if (r != TUNNEL_CONNECT)
		return;
	must(whole.head_len > 0 && whole.head_len <= size && whole.port != 0 &&
	     whole.host[0] != '\0', "CONNECT target");
	if (proxy_intercepts(cfg, &whole))
		must(whole.port == 443 &&
		     route_lookup_host(cfg, whole.host, strlen(whole.host)) != PROVIDER_NONE,
		     "intercepted a tunnel that is no provider's");

	/* As the socket layer asks its proxy for the router: host:port. */
	struct buf out;
	struct tunnel_target again;
	char authority[300];
	snprintf(authority, sizeof(authority), strchr(cfg->router_host, ':') ? "[%s]:%u" : "%s:%u",
		 cfg->router_host, cfg->router_port);
	buf_init(&out, SIZE_MAX);
	if (tunnel_retarget(in, whole.head_len, authority, &out) == 0) {
		must(tunnel_parse(out.data, out.len, &again) == TUNNEL_CONNECT &&
		     strcmp(again.host, cfg->router_host) == 0 &&
		     again.port == cfg->router_port && again.head_len == out.len,
		     "a retargeted CONNECT is not one to the router");
	}
	buf_reset(&out);
	if (tunnel_retarget(in, whole.head_len, "[::1]:8443", &out) == 0)
		must(tunnel_parse(out.data, out.len, &again) == TUNNEL_CONNECT &&
		     strcmp(again.host, "::1") == 0 && again.port == 8443,
		     "a CONNECT retargeted to [::1]:8443");
	buf_free(&out);
}

/* ---- plain HTTP: the two stages -------------------------------------------- */

struct seen {
	uint64_t target;	/* target_digest of the request-target */
	bool passed;		/* the check let it through */
};

struct stage1 {
	const char *refusal;	/* the first refusal, as pump.c keeps it */
	struct seen *heads;
	size_t n, cap;
};

/*
 * A request-target's digest with the value of every key= query parameter
 * left out (the router's copy carries the Respan key there); keys_ok says
 * whether each such value is the Respan key.
 */
static uint64_t target_digest(const char *t, size_t n, bool *keys_ok)
{
	const char *q = memchr(t, '?', n), *end = t + n;
	uint64_t h = fnv(0xcbf29ce484222325ULL, t, q ? (size_t)(q - t) : n);
	*keys_ok = true;
	for (const char *p = q ? q + 1 : NULL; p;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		if (kend - p == 3 && memcmp(p, "key", 3) == 0) {
			size_t vn = eq ? (size_t)(stop - eq - 1) : 0;
			*keys_ok &= vn == strlen(KEY) && memcmp(eq + 1, KEY, vn) == 0;
			h = fnv(h, "&key", 4);
		} else {
			h = fnv(fnv(h, "&", 1), p, (size_t)(stop - p));
		}
		p = amp ? amp + 1 : NULL;
	}
	return h;
}

static bool header_is(const struct http_header *h, const char *name)
{
	return http_token_is(h->name, h->name_len, name);
}

/* The relay's own address as a Host, as peer.h words it. */
static bool relay_host(const char *h, size_t n)
{
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };
	char port[8];
	int pn = snprintf(port, sizeof(port), ":%u", PORT);
	if (n == strlen(ALIAS) && memcmp(h, ALIAS, n) == 0)
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t k = strlen(names[i]);
		if (n >= k && strncasecmp(h, names[i], k) == 0 &&
		    (n == k || (n - k == (size_t)pn && memcmp(h + k, port, (size_t)pn) == 0)))
			return true;
	}
	return false;
}

static void on_stage1_head(void *ctx, const struct rewriter_head *h)
{
	struct stage1 *s = ctx;
	bool origin = false;
	for (size_t i = 0; i < h->n_headers; i++)
		origin |= header_is(&h->headers[i], "origin");
	const char *why = peer_head_refusal(h, PORT, ALIAS);
	bool ok = !origin && (h->host == NULL || relay_host(h->host, h->host_len));
	must((why == NULL) == ok, ok ? "refused a request of the relay's own"
				     : "let a web page's request through");
	if (why && s->refusal == NULL)
		s->refusal = why;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->heads = realloc(s->heads, s->cap * sizeof(*s->heads));
		must(s->heads != NULL, "realloc");
	}
	bool keys_ok;
	s->heads[s->n].target = target_digest(h->target, h->target_len, &keys_ok);
	s->heads[s->n++].passed = ok;
}

/* What the router got, parsed again: each head checked against stage 1's. */
struct router_side {
	const struct config *cfg;
	const struct stage1 *s1;
	size_t n;
	bool error;
};

static void on_router_head(void *ctx, const struct rewriter_head *h)
{
	struct router_side *r = ctx;
	const char *auth = r->cfg->router_authority, *params = r->cfg->params_b64;
	size_t klen = strlen(KEY), n_params = 0;
	bool keys_ok;
	uint64_t digest = target_digest(h->target, h->target_len, &keys_ok);
	must(r->n < r->s1->n && r->s1->heads[r->n].passed && r->s1->heads[r->n].target == digest,
	     "the router got a head the check did not let through");
	must(keys_ok, "a key= parameter without the key");
	r->n++;
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *f = &h->headers[i];
		must(!header_is(f, "origin"), "an Origin reached the router");
		if (header_is(f, "host"))
			must(http_token_is(f->value, f->value_len, auth), "a Host not the router's");
		if (header_is(f, "x-api-key") || header_is(f, "x-goog-api-key") ||
		    header_is(f, "api-key"))
			must(f->value_len == klen && memcmp(f->value, KEY, klen) == 0,
			     "a credential header without the key");
		if (header_is(f, "authorization"))
			must(f->value_len >= klen &&
			     memcmp(f->value + f->value_len - klen, KEY, klen) == 0,
			     "an Authorization without the key");
		if (header_is(f, "x-data-respan-params")) {
			n_params++;
			must(f->value_len == strlen(params) &&
			     memcmp(f->value, params, f->value_len) == 0, "params not the config's");
		}
	}
	must(h->host != NULL && n_params == 1, "no Host, or params not once");
}

static void on_router_error(void *ctx, const char *why)
{
	struct router_side *r = ctx;
	(void)why;
	r->error = true;
}

static void check_http(const struct config *cfg, const char *in, size_t size, uint64_t seed)
{
	static const struct rewriter_callbacks cb1 = { .on_head = on_stage1_head };
	static const struct rewriter_callbacks cb3 = { .on_head = on_router_head,
						       .on_error = on_router_error };
	struct stage1 s1 = { NULL, NULL, 0, 0 };
	struct redact *red = redact_new();
	struct exchange_ctx xctx = { .cfg = cfg, .log = NULL, .red = red };
	struct exchange_info info = {
		.layer = "relay", .host = cfg->router_host, .port = cfg->router_port,
		.provider = PROVIDER_NONE, .mode = REWRITE_ROUTER,
	};
	struct buf mid, c2r;
	must(red != NULL, "redact_new");
	redact_add(red, KEY, strlen(KEY));
	struct rewriter *hostrw = rewriter_new(cfg, REWRITE_HOST, PROVIDER_NONE, &cb1, &s1);
	struct exchange *x = exchange_new(&xctx, &info);
	must(hostrw && x, "rewriter_new or exchange_new");
	buf_init(&mid, SIZE_MAX);
	buf_init(&c2r, SIZE_MAX);

	/* pump.c's from_client, one read at a time. */
	for (size_t off = 0; off < size;) {
		uint64_t r = next(&seed);
		size_t n = 1 + (size_t)(r & 0x100 ? r % 7 : r % 400);
		if (n > size - off)
			n = size - off;
		buf_reset(&mid);
		must(rewriter_feed(hostrw, in + off, n, &mid) == (ssize_t)n, "stage 1 feed");
		off += n;
		if (s1.refusal)
			break;	/* 403: nothing of this read goes further */
		if (exchange_send(x, mid.data ? mid.data : "", mid.len, &c2r) < 0)
			break;
	}
	exchange_close(x, NULL);
	rewriter_free(hostrw);

	struct router_side rs = { cfg, &s1, 0, false };
	struct rewriter *capture = rewriter_new(cfg, REWRITE_CAPTURE, PROVIDER_NONE, &cb3, &rs);
	struct buf sink;
	buf_init(&sink, SIZE_MAX);
	must(capture != NULL, "rewriter_new");
	must(rewriter_feed(capture, c2r.data ? c2r.data : "", c2r.len, &sink) ==
	     (ssize_t)c2r.len, "router side feed");
	must(!rs.error, "the router got bytes that are not HTTP/1.1");
	rewriter_free(capture);
	buf_free(&sink);
	buf_free(&mid);
	buf_free(&c2r);
	redact_free(red);
	free(s1.heads);
}

/* ---- /proc/net/tcp lines ------------------------------------------------ */

static void addr_text(char *out, size_t size, int family, const unsigned char a[16])
{
	size_t words = family == AF_INET ? 1 : 4;
	for (size_t w = 0; w < words; w++) {
		uint32_t v;
		memcpy(&v, a + 4 * w, 4);
		snprintf(out + 8 * w, size - 8 * w, "%08X", v);
	}
}

static void sockaddr_of(struct sockaddr_storage *ss, int family, bool mapped,
			const unsigned char a[16], uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET && !mapped) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a, 4);
		in->sin_port = htons(port);
		return;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	if (family == AF_INET) {
		in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], a, 4);
	} else {
		memcpy(&in6->sin6_addr, a, 16);
	}
	in6->sin6_port = htons(port);
}

static void check_tcp_line(const char *line, size_t len)
{
	struct peer_tcp_line l, again;
	char local[40], remote[40], text[256];
	if (peer_parse_tcp_line(line, len, &l) < 0)
		return;
	must(l.family == AF_INET || l.family == AF_INET6, "tcp line family");
	addr_text(local, sizeof(local), l.family, l.local);
	addr_text(remote, sizeof(remote), l.family, l.remote);
	int n = snprintf(text, sizeof(text), "%4d: %s:%04X %s:%04X %02X 00000000:00000000 "
			 "00:00000000 00000000 %5lu        0 %lu 1 0000000000000000\n", 7, local,
			 l.local_port, remote, l.remote_port, l.state, l.uid, l.inode);
	must(n > 0 && (size_t)n < sizeof(text) && peer_parse_tcp_line(text, (size_t)n, &again) == 0,
	     "a printed tcp line does not parse");
	must(again.family == l.family && memcmp(again.local, l.local, 16) == 0 &&
	     memcmp(again.remote, l.remote, 16) == 0 && again.local_port == l.local_port &&
	     again.remote_port == l.remote_port && again.state == l.state &&
	     again.uid == l.uid && again.inode == l.inode, "a tcp line does not round-trip");

	bool same_ends = memcmp(l.local, l.remote, 16) == 0 && l.local_port == l.remote_port;
	for (int mapped = 0; mapped <= (l.family == AF_INET); mapped++) {
		struct sockaddr_storage peer, self;
		sockaddr_of(&peer, l.family, mapped, l.local, l.local_port);
		sockaddr_of(&self, l.family, mapped, l.remote, l.remote_port);
		must(peer_line_matches(&l, (struct sockaddr *)&peer, (struct sockaddr *)&self) == 1,
		     "a tcp line does not match its own connection");
		must(peer_line_matches(&l, (struct sockaddr *)&self, (struct sockaddr *)&peer) ==
		     same_ends, "a tcp line matches the reverse connection");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact copy, so ASan sees a read past the end. */
	char *in = malloc(size ? size : 1);
	must(in != NULL, "malloc");
	if (size)
		memcpy(in, data, size);
	const struct config *cfg = relay_config();
	uint64_t seed = fnv(0x9e3779b97f4a7c15ULL, in, size) | 1;

	check_first(in, size);
	if (proxy_first_bytes(in, size) == FIRST_CONNECT)
		check_connect(cfg, in, size, seed);
	/* A relay without interception takes every connection as plain HTTP. */
	check_http(cfg, in, size, seed);

	for (size_t at = 0; at < size;) {
		const char *nl = memchr(in + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - in) - at + 1 : size - at;
		check_tcp_line(in + at, len);
		at += len;
	}
	free(in);
	return 0;
}
