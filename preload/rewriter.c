#include "rewriter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reqhead.h"
#include "route.h"

/* A sent head may carry up to four headers the program did not write. */
#define PH_MAX (REWRITE_MAX_HEADERS + 4)
_Static_assert(PH_MAX <= REQHEAD_MAX_FIELDS, "reqhead holds a sent head");

enum rw_state { ST_HEAD, ST_BODY_CL, ST_BODY_CHUNKED, ST_PASS };

/*
 * Everything rewriter_feed may change apart from the held bytes, so that one
 * copy taken on entry can be dropped when out cannot grow.
 */
struct rwstate {
	enum rw_state state;
	unsigned long long cl_left;
	struct chunked ch;
	struct reqhead_scan scan;
};

enum ev_type { EV_HEAD, EV_BODY, EV_END, EV_ERROR };

/*
 * Callbacks run only once a whole feed has succeeded, so a failed feed can be
 * retried without the caller seeing anything twice. A head's original bytes
 * (p, len) stay valid until then (in the input or rw->scratch); its sent
 * bytes are an offset into out, which may move while it grows.
 */
struct event {
	enum ev_type type;
	const char *p;		/* head, body data, or the error text */
	size_t len;
	size_t off, slen;	/* EV_HEAD: the sent head in out */
	bool rewritten;
	enum provider_id provider;
};

struct rewriter {
	const struct config *cfg;
	enum rewrite_mode mode;
	bool rewrite;		/* ROUTE/ROUTER with a usable configuration */
	enum provider_id provider;
	struct rewriter_callbacks cb;
	void *ctx;
	struct rwstate st;
	struct buf held;	/* an incomplete head */
	struct buf scratch;	/* held bytes + the rest of the head, this feed */
	struct buf tgt;		/* route_target's output */
	struct event *ev;
	size_t nev, ev_cap;
	bool ev_failed;
	struct reqhead ph, ph_sent;
	const char *ph_of;	/* the head ph holds parsed (views into it) */
	size_t ph_len;
};

/* Appends with a sticky error, so building a head reads top to bottom. */
struct writer {
	struct buf *b;
	int rc;
};

static void put(struct writer *w, const char *p, size_t n)
{
	if (w->rc == 0)
		w->rc = buf_append(w->b, p, n);
}

static void puts_(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

/* The provider a request is for (the router path tells in REWRITE_ROUTER). */
static enum provider_id head_provider(const struct rewriter *rw,
				      const struct reqhead *ph)
{
	if (rw->mode == REWRITE_ROUTER)
		return route_provider_for_router_path(rw->cfg, ph->target,
						      ph->target_len);
	return rw->provider;
}

/* config_route_provider() without linking config.c: per provider wins. */
static const char *route_provider_value(const struct config *cfg,
					enum provider_id id)
{
	const char *v = NULL;
	if (id >= PROVIDER_OPENAI && id < PROVIDER_COUNT)
		v = cfg->route_provider_by_id[id];
	if (!reqhead_value_ok(v))
		v = cfg->route_provider;
	return reqhead_value_ok(v) ? v : NULL;
}

/* Percent-encode all but RFC 3986 unreserved characters. */
static void put_pct(struct writer *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			put(w, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			put(w, e, 3);
		}
	}
}

/* The target with the value of every key= query parameter set to key. */
static void put_target(struct writer *w, const char *t, size_t n,
		       const char *key, bool *had_cred)
{
	const char *q = memchr(t, '?', n);
	if (q == NULL) {
		put(w, t, n);
		return;
	}
	const char *p = q + 1, *end = t + n;
	put(w, t, (size_t)(p - t));
	for (;;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		if (kend - p == 3 && memcmp(p, "key", 3) == 0) {
			*had_cred = true;
			puts_(w, "key=");
			put_pct(w, key);
		} else {
			put(w, p, (size_t)(stop - p));
		}
		if (amp == NULL)
			break;
		put(w, "&", 1);
		p = amp + 1;
	}
}

static void put_field(struct writer *w, const char *name, size_t nlen,
		      const char *scheme, size_t slen, const char *value)
{
	put(w, name, nlen);
	put(w, ": ", 2);
	if (slen) {
		put(w, scheme, slen);
		put(w, " ", 1);
	}
	puts_(w, value);
	put(w, "\r\n", 2);
}

/*
 * Write the head to send for ph (docs/contract.md#routes): the router's target and
 * Host in REWRITE_ROUTE, the Respan key in every credential, Respan's headers.
 * Everything else is copied byte for byte. Returns 0 or buf_append's error.
 */
/* REWRITE_HOST: the head with Host set to the router's authority. */
static int build_host_only(struct rewriter *rw, const struct reqhead *ph,
			   struct buf *out)
{
	struct writer w = { out, 0 };
	const char *authority = rw->cfg->router_authority;

	put(&w, ph->method, ph->method_len);
	put(&w, " ", 1);
	put(&w, ph->target, ph->target_len);
	puts_(&w, ph->minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	if (ph->host < 0)
		put_field(&w, "Host", 4, NULL, 0, authority);
	for (size_t i = 0; i < ph->n; i++) {
		const struct http_header *h = &ph->h[i];
		if ((int)i == ph->host) {
			put_field(&w, h->name, h->name_len, NULL, 0, authority);
		} else {
			put(&w, h->name, ph->line_len[i]);
			put(&w, "\r\n", 2);
		}
	}
	put(&w, "\r\n", 2);
	return w.rc;
}

static int build_head(struct rewriter *rw, const struct reqhead *ph,
		      enum provider_id prov, struct buf *out)
{
	if (rw->mode == REWRITE_HOST)
		return build_host_only(rw, ph, out);

	const struct config *cfg = rw->cfg;
	const char *key = cfg->api_key;
	bool route = rw->mode == REWRITE_ROUTE, had_cred = false;
	const char *rp = route_provider_value(cfg, prov);
	const char *params = reqhead_value_ok(cfg->params_b64) ? cfg->params_b64 : NULL;
	struct writer w = { out, 0 };
	const char *t = ph->target;
	size_t tlen = ph->target_len;

	if (route) {
		buf_reset(&rw->tgt);
		int rc = route_target(cfg, rw->provider, t, tlen, &rw->tgt);
		if (rc == 0) {
			t = rw->tgt.data;
			tlen = rw->tgt.len;
		} else if (rc != -EINVAL) {
			return rc;
		}
		/* -EINVAL ("*", authority form): no router path; keep it. */
	}
	put(&w, ph->method, ph->method_len);
	put(&w, " ", 1);
	put_target(&w, t, tlen, key, &had_cred);
	puts_(&w, ph->minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	if (route && ph->host < 0)
		put_field(&w, "Host", 4, NULL, 0, cfg->router_authority);

	for (size_t i = 0; i < ph->n; i++) {
		const struct http_header *h = &ph->h[i];
		const char *nm = h->name;
		size_t nl = h->name_len;
		if (route && (int)i == ph->host) {
			put_field(&w, nm, nl, NULL, 0, cfg->router_authority);
		} else if (http_token_is(nm, nl, "authorization")) {
			/* Keep the scheme; a bare token is taken as a bearer one. */
			const char *v = h->value;
			size_t s = 0;
			while (s < h->value_len && v[s] != ' ' && v[s] != '\t')
				s++;
			bool scheme = s > 0 && s < h->value_len;
			had_cred = true;
			put_field(&w, nm, nl, scheme ? v : "Bearer",
				  scheme ? s : 6, key);
		} else if (http_token_is(nm, nl, "x-api-key") ||
			   http_token_is(nm, nl, "x-goog-api-key") ||
			   http_token_is(nm, nl, "api-key")) {
			had_cred = true;
			put_field(&w, nm, nl, NULL, 0, key);
		} else if ((rp && http_token_is(nm, nl, "x-respan-route-provider")) ||
			   (params && http_token_is(nm, nl, "x-data-respan-params"))) {
			continue;	/* replaced below */
		} else {
			put(&w, nm, ph->line_len[i]);
			put(&w, "\r\n", 2);
		}
	}
	if (!had_cred) {
		switch (route_cred_style(prov)) {
		case CRED_X_API_KEY:
			put_field(&w, "x-api-key", 9, NULL, 0, key);
			break;
		case CRED_X_GOOG_API_KEY:
			put_field(&w, "x-goog-api-key", 14, NULL, 0, key);
			break;
		case CRED_BEARER:
			put_field(&w, "Authorization", 13, "Bearer", 6, key);
			break;
		}
	}
	if (rp)
		put_field(&w, "X-Respan-Route-Provider", 23, NULL, 0, rp);
	if (params)
		put_field(&w, "X-Data-Respan-Params", 20, NULL, 0, params);
	put(&w, "\r\n", 2);
	return w.rc;
}

static void push_event(struct rewriter *rw, const struct event *e)
{
	if (rw->nev == rw->ev_cap) {
		size_t cap = rw->ev_cap ? rw->ev_cap * 2 : 16;
		struct event *ev = realloc(rw->ev, cap * sizeof(*ev));
		if (ev == NULL) {
			rw->ev_failed = true;
			return;
		}
		rw->ev = ev;
		rw->ev_cap = cap;
	}
	rw->ev[rw->nev++] = *e;
}

static void push(struct rewriter *rw, enum ev_type type, const char *p, size_t len)
{
	struct event e = { .type = type, .p = p, .len = len };
	push_event(rw, &e);
}

static void collect_body(void *ctx, const char *data, size_t len)
{
	push(ctx, EV_BODY, data, len);
}

/*
 * A whole head (p, n) has arrived: write what to send and set up its body.
 * Returns 0, 1 when it is malformed (*why set), or buf_append's error.
 */
static int complete_head(struct rewriter *rw, struct rwstate *st, const char *p,
			 size_t n, struct buf *out, const char **why)
{
	struct reqhead *ph = &rw->ph;

	/* RFC 9112 2.2: servers ignore an empty line before a request; pass it on. */
	if (reqhead_is_empty_line(p, n))
		return buf_append(out, p, n);
	rw->ph_of = NULL;
	if (reqhead_parse(p, n, ph, REWRITE_MAX_HEADERS, why) < 0)
		return 1;
	rw->ph_of = p;		/* ph holds (p, n) parsed, until the next head */
	rw->ph_len = n;
	enum provider_id prov = head_provider(rw, ph);
	size_t off = out->len;
	int rc = rw->rewrite ? build_head(rw, ph, prov, out) : buf_append(out, p, n);
	if (rc < 0)
		return rc;
	struct event e = {
		.type = EV_HEAD, .p = p, .len = n, .off = off,
		.slen = out->len - off, .provider = prov,
	};
	e.rewritten = e.slen != n || memcmp(out->data + off, p, n) != 0;
	push_event(rw, &e);
	if (ph->chunked) {
		st->state = ST_BODY_CHUNKED;
		chunked_init(&st->ch);
	} else if (ph->cl > 0) {
		st->state = ST_BODY_CL;
		st->cl_left = ph->cl;
	} else {
		push(rw, EV_END, NULL, 0);
	}
	return 0;
}

/*
 * In ST_HEAD: scan from *pos for the end of the head (the first *held bytes
 * of which are in rw->held). A complete head is written out; an incomplete
 * one is left for the caller to hold (*tail); a malformed one is released
 * unchanged with everything after it. Returns 0 or buf_append's error.
 */
static int head_step(struct rewriter *rw, struct rwstate *st, const char *in,
		     size_t len, size_t *pos, size_t *held, size_t *tail,
		     struct buf *out)
{
	size_t start = *pos;
	const char *why = NULL;
	int rc;

	/* No more than the head cap allows is looked at. */
	size_t room = *held < REWRITE_HEAD_MAX ? REWRITE_HEAD_MAX - *held : 0;
	size_t look = len - start < room ? len - start : room;
	ssize_t r = reqhead_scan(&st->scan, in + start, look, &why);
	if (r == 0 && look < len - start)
		why = "request head over 64 KiB";
	if (r > 0) {
		const char *p = in + start;
		size_t n = (size_t)r;
		size_t i = start + n - 1;
		if (*held) {
			buf_reset(&rw->scratch);
			if ((rc = buf_append(&rw->scratch, rw->held.data, *held)) < 0 ||
			    (rc = buf_append(&rw->scratch, p, n)) < 0)
				return rc;
			p = rw->scratch.data;
			n = rw->scratch.len;
		}
		rc = complete_head(rw, st, p, n, out, &why);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			*held = 0;
			*pos = i + 1;
			if (st->state == ST_HEAD)
				reqhead_scan_reset(&st->scan);
			return 0;
		}
		/* rc > 0: not a head we can follow (why says so) */
	}
	if (why == NULL) {
		*tail = start;
		*pos = len;
		return 0;
	}
	/* Not HTTP we can follow: let it all go as the program wrote it. */
	if ((rc = buf_append(out, rw->held.data, *held)) < 0 ||
	    (rc = buf_append(out, in + start, len - start)) < 0)
		return rc;
	push(rw, EV_ERROR, why, 0);
	st->state = ST_PASS;
	*held = 0;
	*pos = len;
	return 0;
}

/* In a body: pass it on and see where it ends. Returns 0 or an error. */
static int body_step(struct rewriter *rw, struct rwstate *st, const char *in,
		     size_t len, size_t *pos, struct buf *out)
{
	const char *p = in + *pos;
	size_t n = len - *pos;
	int rc;

	if (st->state == ST_BODY_CL) {
		if (n > st->cl_left)
			n = (size_t)st->cl_left;
		st->cl_left -= n;
		push(rw, EV_BODY, p, n);
	} else {
		ssize_t r = chunked_feed(&st->ch, p, n,
					 rw->cb.on_body ? collect_body : NULL, rw);
		if (r < 0 || (!st->ch.done && (size_t)r != n)) {
			if ((rc = buf_append(out, p, n)) < 0)
				return rc;
			push(rw, EV_ERROR, "bad chunked request body", 0);
			st->state = ST_PASS;
			*pos = len;
			return 0;
		}
		n = (size_t)r;
	}
	if ((rc = buf_append(out, p, n)) < 0)
		return rc;
	*pos += n;
	if ((st->state == ST_BODY_CL && st->cl_left == 0) ||
	    (st->state == ST_BODY_CHUNKED && st->ch.done)) {
		push(rw, EV_END, NULL, 0);
		st->state = ST_HEAD;
		reqhead_scan_reset(&st->scan);
	}
	return 0;
}

static void fire_head(struct rewriter *rw, const struct event *e,
		      const struct buf *out)
{
	const char *why;
	struct reqhead *ph = &rw->ph, *sent = &rw->ph_sent;

	/* Both parsed fine when the event was made; parse again for views
	 * (ph still holds this head's unless another came after it). */
	if ((rw->ph_of != e->p || rw->ph_len != e->len) &&
	    reqhead_parse(e->p, e->len, ph, REWRITE_MAX_HEADERS, &why) < 0)
		return;
	rw->ph_of = e->p;
	rw->ph_len = e->len;
	if (reqhead_parse(out->data + e->off, e->slen, sent, PH_MAX, &why) < 0)
		sent = ph;
	struct rewriter_head h = {
		.method = ph->method,
		.method_len = ph->method_len,
		.target = ph->target,
		.target_len = ph->target_len,
		.sent_target = sent->target,
		.sent_target_len = sent->target_len,
		.host = ph->host >= 0 ? ph->h[ph->host].value : NULL,
		.host_len = ph->host >= 0 ? ph->h[ph->host].value_len : 0,
		.minor_version = ph->minor,
		.headers = sent->h,
		.n_headers = sent->n,
		.chunked = ph->chunked,
		.content_length = ph->chunked ? 0 : ph->cl,
		.expect_continue = ph->expect_continue,
		.rewritten = e->rewritten,
		.provider = e->provider,
	};
	rw->cb.on_head(rw->ctx, &h);
}

static void fire(struct rewriter *rw, const struct buf *out)
{
	for (size_t i = 0; i < rw->nev; i++) {
		const struct event *e = &rw->ev[i];
		switch (e->type) {
		case EV_HEAD:
			if (rw->cb.on_head)
				fire_head(rw, e, out);
			break;
		case EV_BODY:
			if (rw->cb.on_body && e->len)
				rw->cb.on_body(rw->ctx, e->p, e->len);
			break;
		case EV_END:
			if (rw->cb.on_end)
				rw->cb.on_end(rw->ctx);
			break;
		case EV_ERROR:
			if (rw->cb.on_error)
				rw->cb.on_error(rw->ctx, e->p);
			break;
		}
	}
	rw->nev = 0;
}

struct rewriter *rewriter_new(const struct config *cfg, enum rewrite_mode mode,
			enum provider_id provider,
			const struct rewriter_callbacks *cb, void *ctx)
{
	struct rewriter *rw = calloc(1, sizeof(*rw));
	if (rw == NULL)
		return NULL;
	rw->cfg = cfg;
	rw->mode = mode;
	rw->provider = provider;
	if (cb)
		rw->cb = *cb;
	rw->ctx = ctx;
	/*
	 * Without a key (or with values that would break the head) there is
	 * nothing to put in: behave as REWRITE_CAPTURE rather than send a
	 * broken request.
	 */
	if (mode == REWRITE_HOST)
		rw->rewrite = cfg && reqhead_value_ok(cfg->router_authority);
	else
		rw->rewrite = mode != REWRITE_CAPTURE && cfg &&
			      reqhead_value_ok(cfg->api_key) &&
			      (mode == REWRITE_ROUTER ||
			       (reqhead_value_ok(cfg->router_authority) &&
				reqhead_path_ok(cfg->router_path)));
	rw->st.state = ST_HEAD;
	reqhead_scan_reset(&rw->st.scan);
	/* Twice the cap: rewriter_feed appends the new tail before dropping the old. */
	buf_init(&rw->held, 2 * REWRITE_HEAD_MAX);
	buf_init(&rw->scratch, REWRITE_HEAD_MAX);
	buf_init(&rw->tgt, 2 * REWRITE_HEAD_MAX);
	return rw;
}

void rewriter_free(struct rewriter *rw)
{
	if (rw == NULL)
		return;
	buf_free(&rw->held);
	buf_free(&rw->scratch);
	buf_free(&rw->tgt);
	free(rw->ev);
	free(rw);
}

ssize_t rewriter_feed(struct rewriter *rw, const char *in, size_t len, struct buf *out)
{
	struct rwstate st = rw->st;
	size_t out0 = out->len, held = rw->held.len, tail = len, pos = 0;
	int rc = 0;

	rw->nev = 0;
	rw->ev_failed = false;
	while (pos < len && rc == 0) {
		switch (st.state) {
		case ST_HEAD:
			rc = head_step(rw, &st, in, len, &pos, &held, &tail, out);
			break;
		case ST_BODY_CL:
		case ST_BODY_CHUNKED:
			rc = body_step(rw, &st, in, len, &pos, out);
			break;
		case ST_PASS:
			rc = buf_append(out, in + pos, len - pos);
			pos = len;
			break;
		}
	}
	if (rc == 0 && rw->ev_failed)
		rc = -ENOMEM;
	/* Last, the one change to rw->held: append first, so it cannot half-fail. */
	size_t old = rw->held.len;
	bool consumed = old > 0 && held == 0;
	if (rc == 0 && tail < len)
		rc = buf_append(&rw->held, in + tail, len - tail);
	if (rc < 0) {
		out->len = out0;
		if (out->data)
			out->data[out0] = '\0';
		rw->nev = 0;
		return rc;
	}
	if (consumed)
		buf_consume(&rw->held, old);
	rw->st = st;
	fire(rw, out);
	return (ssize_t)len;
}

size_t rewriter_pending(const struct rewriter *rw)
{
	return rw->held.len;
}

int rewriter_flush(struct rewriter *rw, struct buf *out)
{
	if (rw->held.len == 0)
		return 0;
	int rc = buf_append(out, rw->held.data, rw->held.len);
	if (rc < 0)
		return rc;
	buf_reset(&rw->held);
	/* What follows would be the rest of a head we let go unread. */
	rw->st.state = ST_PASS;
	return 0;
}

bool rewriter_passthrough(const struct rewriter *rw)
{
	return rw->st.state == ST_PASS;
}
