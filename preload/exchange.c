#include "exchange.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "logfile.h"
#include "record.h"
#include "urlnote.h"
#include "response.h"
#include "route.h"
#include "sse.h"
#include "usage.h"

/* The last bytes of a JSON answer larger than the body cap, for its usage. */
#define EXCHANGE_JSON_TAIL (64u * 1024)
#define EXCHANGE_URL_MAX (64u * 1024)

/* Header pairs copied out of a parser's buffer: one allocation. */
struct owned_headers {
	struct http_header *h;
	size_t n;
};

/* One request, from its head to its response's end. */
struct xreq {
	struct xreq *next;
	char id[48];
	char *method;
	char *url;
	char *routed_url;
	const char *provider_name;
	char layer[16];
	struct owned_headers headers;
	struct buf body;
	unsigned long long body_total;
	bool is_head;
	long long sent_ms;		/* -1 until the whole request was sent */
	long long first_byte_ms;	/* -1 until the response's first byte */
};

/* The response being read. */
struct xresp {
	bool active;
	int status;
	struct owned_headers headers;
	struct buf body;
	unsigned long long body_total;
	bool sse;
	bool json;
	struct sse sse_parser;
	struct usage usage;
	struct buf json_tail;		/* its last EXCHANGE_JSON_TAIL or more bytes */
};

struct exchange {
	const struct exchange_ctx *ctx;
	struct exchange_info info;
	char *host;
	struct rewriter *rw;
	struct response_parser *rp;
	struct xreq *sending;		/* head seen, body still going out */
	struct xreq *queue;		/* sent, waiting for their responses */
	struct xreq **queue_tail;
	struct xresp resp;
	bool dead;			/* response stream could not be followed */
	bool refused;			/* a malformed request on a routed connection */
	pid_t pid;			/* the process that opened it */
};

static int headers_copy(struct owned_headers *o, const struct http_header *h,
			size_t n)
{
	size_t bytes = n * sizeof(*h);
	for (size_t i = 0; i < n; i++)
		bytes += h[i].name_len + h[i].value_len;
	o->h = malloc(bytes ? bytes : 1);
	o->n = 0;
	if (o->h == NULL)
		return -ENOMEM;
	char *p = (char *)(o->h + n);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, h[i].name, h[i].name_len);
		o->h[i].name = p;
		o->h[i].name_len = h[i].name_len;
		p += h[i].name_len;
		memcpy(p, h[i].value, h[i].value_len);
		o->h[i].value = p;
		o->h[i].value_len = h[i].value_len;
		p += h[i].value_len;
	}
	o->n = n;
	return 0;
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Room for a body of known length (up to the cap) in one allocation,
 * rather than doubling from 64 bytes. */
static void presize(struct buf *b, unsigned long long length)
{
	if (length)
		buf_reserve(b, length < b->max ? (size_t)length : b->max);
}

/* Keep what fits under the body cap; count everything. */
static void body_add(struct buf *b, unsigned long long *total, const char *p,
		     size_t n)
{
	*total += n;
	size_t room = b->max - b->len;
	buf_append(b, p, n < room ? n : room);
}

static void xreq_free(struct xreq *r)
{
	if (r == NULL)
		return;
	free(r->method);
	free(r->url);
	free(r->routed_url);
	free(r->headers.h);
	buf_free(&r->body);
	free(r);
}

/* ---- requests ---------------------------------------------------------- */

static char *url_of(const char *authority, size_t alen, const char *target,
		    size_t tlen)
{
	struct buf u;
	buf_init(&u, EXCHANGE_URL_MAX);
	if (route_url(authority, alen, target, tlen, &u) < 0) {
		buf_free(&u);
		return NULL;
	}
	return buf_steal(&u);
}

static void on_req_head(void *arg, const struct rewriter_head *head)
{
	struct exchange *x = arg;
	const struct config *cfg = x->ctx->cfg;
	struct xreq *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return;
	record_new_id(r->id, sizeof(r->id));
	buf_init(&r->body, cfg->log_body_max);
	presize(&r->body, head->content_length);
	r->sent_ms = -1;
	r->first_byte_ms = -1;
	r->is_head = http_token_is(head->method, head->method_len, "HEAD");
	r->method = dup_n(head->method, head->method_len);

	char authority[300];
	if (x->info.mode == REWRITE_ROUTER)	/* the session itself is the router's */
		snprintf(authority, sizeof(authority), "%s", cfg->router_authority);
	else if (x->info.port && x->info.port != 443)
		snprintf(authority, sizeof(authority), "%s:%u", x->host, x->info.port);
	else
		snprintf(authority, sizeof(authority), "%s", x->host);
	r->url = url_of(authority, strlen(authority), head->target, head->target_len);
	if (x->info.mode != REWRITE_CAPTURE)
		r->routed_url = url_of(cfg->router_authority,
				       strlen(cfg->router_authority),
				       head->sent_target, head->sent_target_len);

	enum provider_id pid = x->info.mode == REWRITE_ROUTER ? head->provider :
							      x->info.provider;
	snprintf(r->layer, sizeof(r->layer), "%s", x->info.layer);
	if (x->info.mode == REWRITE_ROUTER && r->url) {
		/* Rewritten by an earlier layer (libcurl): log what was asked. */
		struct urlnote o;
		if (urlnote_find(r->url, strlen(r->url), &o)) {
			free(r->routed_url);
			r->routed_url = r->url;
			r->url = strdup(o.url);
			pid = o.provider;
			snprintf(r->layer, sizeof(r->layer), "%s", o.layer);
		}
	}
	r->provider_name = route_provider_name(pid);
	headers_copy(&r->headers, head->headers, head->n_headers);
	/* Whatever credential the program sent must never reach the log. */
	for (size_t i = 0; i < head->n_headers; i++) {
		const struct http_header *h = &head->headers[i];
		if (!http_header_is_secret(h->name, h->name_len))
			continue;
		const char *cred;
		size_t cred_len;
		redact_credential(h->name, h->name_len, h->value, h->value_len,
				  &cred, &cred_len);
		redact_add(x->ctx->red, cred, cred_len);
	}
	x->sending = r;
}

static void on_req_body(void *arg, const char *data, size_t len)
{
	struct exchange *x = arg;
	if (x->sending)
		body_add(&x->sending->body, &x->sending->body_total, data, len);
}

static void write_request(struct exchange *x, struct xreq *r)
{
	struct record_request rec = {
		.id = r->id,
		.ts_ms = clock_real_ms(),
		.layer = r->layer,
		.provider_name = r->provider_name,
		.routed = x->info.mode != REWRITE_CAPTURE,
		.method = r->method,
		.url = r->url,
		.routed_url = r->routed_url,
		.headers = r->headers.h,
		.n_headers = r->headers.n,
		.body = { r->body.data, r->body.len, r->body_total,
			  r->body_total > r->body.len },
	};

	logfile_request(x->ctx->log, &rec);
}

static void on_req_end(void *arg)
{
	struct exchange *x = arg;
	struct xreq *r = x->sending;
	if (r == NULL)
		return;
	x->sending = NULL;
	r->sent_ms = clock_real_ms();
	write_request(x, r);
	if (x->dead || response_expect(x->rp, r->is_head) < 0) {
		xreq_free(r);
		return;
	}
	*x->queue_tail = r;
	x->queue_tail = &r->next;
}

static void on_req_error(void *arg, const char *why)
{
	struct exchange *x = arg;
	logfile_event(x->ctx->log, "http_error", x->host, why);
	/*
	 * Bytes the rewriter cannot read may hold a provider credential; on a
	 * connection to the router they are not sent (docs/contract.md: no provider
	 * credential reaches the router). The router could not have read
	 * them either.
	 */
	if (x->info.mode != REWRITE_CAPTURE) {
		x->refused = true;
		logfile_event(x->ctx->log, "blocked", x->host,
			   "a request that is not valid HTTP/1.1 was not sent to the "
			   "router; the connection is failed");
	}
}

/* ---- responses --------------------------------------------------------- */

static struct xreq *queue_pop(struct exchange *x)
{
	struct xreq *r = x->queue;
	if (r) {
		x->queue = r->next;
		if (x->queue == NULL)
			x->queue_tail = &x->queue;
		r->next = NULL;
	}
	return r;
}

static void resp_clear(struct xresp *s)
{
	free(s->headers.h);
	s->headers.h = NULL;
	s->headers.n = 0;
	buf_free(&s->body);
	buf_free(&s->json_tail);
	sse_free(&s->sse_parser);
	usage_free(&s->usage);
	s->active = false;
}

static void on_sse_event(void *arg, const char *event, const char *data,
			 size_t len)
{
	usage_sse_event(arg, event, data, len);
}

static void on_resp_head(void *arg, const struct response_head *head)
{
	struct exchange *x = arg;
	struct xresp *s = &x->resp;
	if (head->interim)
		return;
	if (s->active)
		resp_clear(s);
	memset(s, 0, sizeof(*s));
	s->active = true;
	s->status = head->status;
	headers_copy(&s->headers, head->headers, head->n_headers);
	buf_init(&s->body, x->ctx->cfg->log_body_max);
	if (head->has_length)
		presize(&s->body, head->content_length);
	buf_init(&s->json_tail, 2 * EXCHANGE_JSON_TAIL);
	sse_init(&s->sse_parser);
	usage_init(&s->usage, x->ctx->cfg->log_body_max < USAGE_TEXT_MAX ?
				      x->ctx->cfg->log_body_max : USAGE_TEXT_MAX);
	const char *ct = head->content_type;
	size_t ctl = head->content_type_len;
	s->sse = ct && ctl >= 17 && strncasecmp(ct, "text/event-stream", 17) == 0;
	s->json = ct && memmem(ct, ctl, "json", 4) != NULL;
}

/*
 * A JSON answer past the body cap: keep its last bytes (at least
 * EXCHANGE_JSON_TAIL, at most twice that), starting from the body kept
 * when the tail is empty.
 */
static void keep_tail(struct buf *tail, const struct buf *body,
		      unsigned long long total, const char *data, size_t len)
{
	const size_t keep = EXCHANGE_JSON_TAIL;
	if (tail->len == 0) {
		/* The body kept so far, less what of data it just took. */
		unsigned long long dropped = total - body->len;
		size_t taken = dropped < len ? len - (size_t)dropped : 0;
		size_t upto = body->len - taken;
		size_t from = upto > keep ? upto - keep : 0;
		buf_append(tail, body->data ? body->data + from : "", upto - from);
	}
	if (len >= keep) {
		buf_reset(tail);
		buf_append(tail, data + len - keep, keep);
		return;
	}
	if (tail->len + len > 2 * keep) {
		memmove(tail->data, tail->data + tail->len - keep, keep);
		tail->len = keep;
	}
	buf_append(tail, data, len);
}

static void on_resp_body(void *arg, const char *data, size_t len)
{
	struct exchange *x = arg;
	struct xresp *s = &x->resp;
	if (!s->active)
		return;
	body_add(&s->body, &s->body_total, data, len);
	if (s->sse) {
		sse_feed(&s->sse_parser, data, len, on_sse_event, &s->usage);
		/* The text is full: only usage is left to find in the rest. */
		if (s->usage.text_full && s->usage.seen && s->sse_parser.want == NULL)
			sse_skim(&s->sse_parser, usage_wanted);
	} else if (s->json && s->body_total > s->body.len) {
		keep_tail(&s->json_tail, &s->body, s->body_total, data, len);
	}
}

static void write_response(struct exchange *x, struct xreq *r, struct xresp *s,
			   const char *error)
{
	long long now = clock_real_ms();
	long long sent = r && r->sent_ms >= 0 ? r->sent_ms : now;
	struct record_usage usage = { NULL, -1, -1 };
	struct record_response rec = {
		.id = r ? r->id : "",
		.ts_ms = now,
		.ttfb_ms = r && r->first_byte_ms >= 0 ? r->first_byte_ms - sent : -1,
		.duration_ms = now - sent,
		.error = error,
	};
	char id[48];

	if (r == NULL) {
		/* A response nobody asked for (we missed the request). */
		record_new_id(id, sizeof(id));
		rec.id = id;
	}
	if (s && s->active) {
		rec.status = s->status;
		rec.headers = s->headers.h;
		rec.n_headers = s->headers.n;
		rec.body = (struct record_body){ s->body.data, s->body.len,
					      s->body_total,
					      s->body_total > s->body.len };
		rec.sse = s->sse;
		if (s->usage.seen) {
			usage.model = s->usage.model;
			usage.input_tokens = s->usage.input_tokens;
			usage.output_tokens = s->usage.output_tokens;
			rec.usage = &usage;
			rec.output_text = s->usage.text.data ? s->usage.text.data : "";
			rec.output_text_len = s->usage.text.len;
			rec.output_text_truncated = s->usage.text_full;
		}
	}
	logfile_response(x->ctx->log, &rec);
}

static void on_resp_end(void *arg, const char *error)
{
	struct exchange *x = arg;
	struct xresp *s = &x->resp;
	if (!s->active)
		return;
	if (s->sse)
		sse_finish(&s->sse_parser, on_sse_event, &s->usage);
	else if (s->json && s->body_total && s->body_total == s->body.len)
		usage_json_body(&s->usage, s->body.data, s->body.len);
	else if (s->json && s->json_tail.len && s->json_tail.len == s->body_total)
		usage_json_body(&s->usage, s->json_tail.data, s->json_tail.len);
	else if (s->json && s->json_tail.len)
		usage_json_tail(&s->usage, s->json_tail.data, s->json_tail.len);
	struct xreq *r = queue_pop(x);
	write_response(x, r, s, error);
	xreq_free(r);
	resp_clear(s);
}

static void on_resp_error(void *arg, const char *why)
{
	struct exchange *x = arg;
	x->dead = true;
	logfile_event(x->ctx->log, "http_error", x->host, why);
}

/* ---- the connection ---------------------------------------------------- */

struct exchange *exchange_new(const struct exchange_ctx *ctx, const struct exchange_info *info)
{
	static const struct rewriter_callbacks req_cb = {
		on_req_head, on_req_body, on_req_end, on_req_error,
	};
	static const struct response_callbacks resp_cb = {
		on_resp_head, on_resp_body, on_resp_end, on_resp_error,
	};
	struct exchange *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->ctx = ctx;
	x->pid = getpid();
	x->info = *info;
	x->host = strdup(info->host ? info->host : "");
	x->queue_tail = &x->queue;
	enum rewrite_mode mode = info->mode;
	if (ctx->cfg->api_key == NULL)
		mode = REWRITE_CAPTURE;
	x->info.mode = mode;
	x->rw = rewriter_new(ctx->cfg, mode, info->provider, &req_cb, x);
	x->rp = response_new(&resp_cb, x);
	if (x->host == NULL || x->rw == NULL || x->rp == NULL) {
		rewriter_free(x->rw);
		response_free(x->rp);
		free(x->host);
		free(x);
		return NULL;
	}
	return x;
}

ssize_t exchange_send(struct exchange *x, const char *in, size_t len, struct buf *out)
{
	if (x->refused)
		return -EPROTO;
	size_t before = out->len;
	ssize_t rc = rewriter_feed(x->rw, in, len, out);
	if (x->refused) {
		out->len = before;	/* nothing of it goes out */
		return -EPROTO;
	}
	return rc;
}

void exchange_recv(struct exchange *x, const char *in, size_t len)
{
	if (len == 0)
		return;
	if (x->queue && x->queue->first_byte_ms < 0)
		x->queue->first_byte_ms = clock_real_ms();
	if (!x->dead)
		response_feed(x->rp, in, len);
}

bool exchange_waiting(const struct exchange *x)
{
	return x->queue != NULL && !x->dead;
}

void exchange_close(struct exchange *x, const char *why)
{
	const char *cut = why ? why : "connection closed before the response was complete";

	if (x == NULL)
		return;
	if (x->pid != getpid()) {
		/* A forked child's copy of its parent's connection: the parent
		 * still has it open and logs its end; the child's copy ends
		 * without a word (no second response record for one id). */
		x->dead = true;
		xreq_free(x->sending);
		x->sending = NULL;
		if (x->resp.active)
			resp_clear(&x->resp);
		x->resp.active = false;
		while (x->queue)
			xreq_free(queue_pop(x));
	}
	if (!x->dead)
		response_eof(x->rp, why);
	if (x->resp.active) {
		/* The parser could not end it (it stopped following the stream). */
		struct xreq *r = queue_pop(x);
		write_response(x, r, &x->resp, cut);
		xreq_free(r);
		resp_clear(&x->resp);
	}
	if (x->sending) {
		/* The program stopped in the middle of sending a request. */
		struct xreq *r = x->sending;
		x->sending = NULL;
		write_request(x, r);
		write_response(x, r, NULL, why ? why :
			       "connection closed while the request was being sent");
		xreq_free(r);
	}
	for (struct xreq *r; (r = queue_pop(x)) != NULL;) {
		write_response(x, r, NULL, why ? why :
			       "connection closed before a response arrived");
		xreq_free(r);
	}
	rewriter_free(x->rw);
	response_free(x->rp);
	free(x->host);
	free(x);
}
