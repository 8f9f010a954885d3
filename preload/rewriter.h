/*
 * rewriter: the incremental HTTP/1.1 request rewriter.
 *
 * One struct rewriter follows one connection in the program-to-server
 * direction. The program's bytes go in through rewriter_feed() in whatever
 * pieces it writes them; the bytes to send come out in a struct buf. A
 * request head may arrive in many pieces, and one piece may hold the end of
 * one request and the start of the next (keep-alive, pipelining). Heads are
 * held back until complete (at most REWRITE_HEAD_MAX bytes), then rewritten
 * and released; bodies framed by Content-Length or chunked coding pass
 * through byte for byte as they arrive.
 *
 * Modes:
 *   REWRITE_ROUTE    the connection was meant for a provider host: the
 *                  request-target goes to the router path (route_target),
 *                  Host becomes the router's authority, every credential
 *                  carries the Respan key (docs/contract.md#routes), and
 *                  X-Respan-Route-Provider / X-Data-Respan-Params are set
 *                  from the config (replacing any the program sent).
 *   REWRITE_ROUTER   the program already talks to the router: the same, but
 *                  the request-target and Host are left alone.
 *   REWRITE_CAPTURE  nothing is changed; requests are only parsed for the log.
 *   REWRITE_HOST     only Host is set to the router's authority (added when
 *                  absent); nothing else changes. For a relay that the
 *                  program names as its server, before a REWRITE_ROUTER
 *                  stage (respan run's relay, cli/relay/pump.c).
 *
 * A request that is not valid HTTP/1.1 (a bad request line, a bad header, a
 * head over the cap, conflicting framing, HTTP/2's preface) is never
 * rewritten: what was held back is released unchanged, on_error says why,
 * and everything after passes through untouched for the life of the
 * connection (there is no way to find the next request boundary again).
 */
#ifndef RESPAN_REWRITER_H
#define RESPAN_REWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "chunked.h"
#include "config.h"
#include "http.h"

#define REWRITE_HEAD_MAX (64 * 1024)
#define REWRITE_MAX_HEADERS 128

enum rewrite_mode { REWRITE_ROUTE, REWRITE_ROUTER, REWRITE_CAPTURE, REWRITE_HOST };

/* A parsed and (maybe) rewritten request head, valid during on_head only. */
struct rewriter_head {
	const char *method;
	size_t method_len;
	const char *target;		/* as the program wrote it */
	size_t target_len;
	const char *sent_target;	/* as sent (== target when unchanged) */
	size_t sent_target_len;
	const char *host;		/* the program's Host header value, or NULL */
	size_t host_len;
	int minor_version;		/* 1 for HTTP/1.1, 0 for HTTP/1.0 */
	const struct http_header *headers;	/* as sent, in order */
	size_t n_headers;
	bool chunked;
	unsigned long long content_length;	/* 0 when chunked or absent */
	bool expect_continue;
	bool rewritten;			/* anything was changed */
	enum provider_id provider;	/* for REWRITE_ROUTER: guessed from the path */
};

struct rewriter_callbacks {
	/* A head was complete and has been appended to out. */
	void (*on_head)(void *ctx, const struct rewriter_head *head);
	/* Body data of the current request (chunked coding removed). */
	void (*on_body)(void *ctx, const char *data, size_t len);
	/* The current request's body is complete (called for bodiless ones too). */
	void (*on_end)(void *ctx);
	/* The stream is not HTTP/1.1 we can follow; from now on passthrough. */
	void (*on_error)(void *ctx, const char *why);
};

struct rewriter;

/*
 * A rewriter for one connection. cfg must outlive it. provider is the
 * provider of the host the program asked for (ignored in REWRITE_ROUTER and
 * REWRITE_CAPTURE). cb may be NULL or have NULL members. Returns NULL when out
 * of memory.
 */
struct rewriter *rewriter_new(const struct config *cfg, enum rewrite_mode mode,
			enum provider_id provider,
			const struct rewriter_callbacks *cb, void *ctx);

void rewriter_free(struct rewriter *rw);

/*
 * Feed len bytes the program sent. Bytes to send on the wire are appended to
 * out (possibly none while a head is incomplete, possibly more or fewer than
 * len). Returns len: every byte is always taken (held back or emitted), or
 * -ENOMEM / -E2BIG when out could not grow (the state is then unchanged:
 * the caller may retry with a larger out).
 */
ssize_t rewriter_feed(struct rewriter *rw, const char *in, size_t len, struct buf *out);

/* Bytes held back waiting for the rest of a head. */
size_t rewriter_pending(const struct rewriter *rw);

/*
 * Release held-back bytes unchanged into out (the program is closing or
 * shutting down its side mid-head). Returns 0 or buf_append's error.
 */
int rewriter_flush(struct rewriter *rw, struct buf *out);

/* True once the stream was found not to be HTTP/1.1 (passthrough). */
bool rewriter_passthrough(const struct rewriter *rw);

#endif
