/*
 * exchange: one connection's traffic, from the program's bytes to log
 * records. It ties the request rewriter, the response parser, content
 * decoding, SSE/usage extraction and the log file (logfile.h) together, so a hook
 * only has to say "these bytes were sent", "these were received", "it
 * ended".
 *
 * Records (docs/contract.md#traffic-log): a "request" when a request has been sent
 * completely, a "response" when its response is complete or when the
 * connection ends first (with "error"). Requests and responses are paired in
 * order (pipelining works).
 */
#ifndef RESPAN_EXCHANGE_H
#define RESPAN_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "logfile.h"
#include "redact.h"
#include "rewriter.h"

/* What the whole process shares: set up once by the caller. */
struct exchange_ctx {
	const struct config *cfg;
	struct logfile *log;		/* NULL: no log */
	struct redact *red;		/* must not be NULL: credentials seen are added */
};

/* What the hook knows about one connection. */
struct exchange_info {
	const char *layer;		/* "openssl", "curl", ... */
	const char *host;		/* the name the program asked for */
	unsigned short port;		/* the port the program asked for */
	enum provider_id provider;
	enum rewrite_mode mode;
};

struct exchange;

/* Returns NULL when out of memory. ctx and its members must outlive it. */
struct exchange *exchange_new(const struct exchange_ctx *ctx, const struct exchange_info *info);

/*
 * The program sends len bytes: the bytes to put on the wire are appended to
 * out (see rewriter_feed). Returns len, or a negative errno: when out could not
 * grow, or -EPROTO from the moment a request on a routed connection (mode
 * other than REWRITE_CAPTURE) turned out not to be valid HTTP/1.1: then
 * nothing more is appended, and the caller fails the connection (a
 * "blocked" event has been logged). Such bytes may carry a provider
 * credential, and the router could not read them anyway.
 */
ssize_t exchange_send(struct exchange *x, const char *in, size_t len, struct buf *out);

/* The program received len bytes. */
void exchange_recv(struct exchange *x, const char *in, size_t len);

/* True while a request has been sent whose response has not ended. */
bool exchange_waiting(const struct exchange *x);

/*
 * The connection ended (why: NULL for an orderly close, else a reason such as
 * "process exited"). Writes what is still owed to the log, then frees x.
 */
void exchange_close(struct exchange *x, const char *why);

#endif
