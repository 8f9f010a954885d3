/*
 * pump: one program connection of the relay, carried to the router.
 *
 * The program speaks plain HTTP/1.1 to the relay with router paths already
 * in its requests (layer 1 set its base URLs to the relay). Each request
 * head goes through two rewriters before it is sent over TLS:
 *
 *   1. a request rewriter in REWRITE_HOST mode: it changes only Host, to the
 *      router's authority (the program named the relay), and runs the
 *      web-page check below before anything is sent or logged;
 *   2. the connection's exchange (xchg) in REWRITE_ROUTER mode: credentials
 *      in the style the program used, or, with none, the one the provider
 *      that the path names uses (x-goog-api-key for Gemini),
 *      X-Respan-Route-Provider, X-Data-Respan-Params, and the request and
 *      response records (layer "relay").
 *
 * A head that a web page could have sent (an Origin header, or a Host
 * other than the relay's own address: peer_request_refusal) is answered
 * 403 and nothing of it goes further.
 *
 * The router connection is opened when the program's first bytes arrive;
 * if it cannot be opened (refused, timed out, certificate not trusted) the
 * program gets a 502 with a one-line text body, the log an event, and the
 * router nothing.
 */
#ifndef RESPAN_CLI_PUMP_H
#define RESPAN_CLI_PUMP_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "config.h"
#include "exchange.h"
#include "intercept.h"

#define PUMP_CONNECT_TIMEOUT_MS 15000

/* What every connection of one relay shares (read-only while they run). */
struct pump_shared {
	const struct exchange_ctx *xctx;	/* cfg, log, redactor, exe */
	SSL_CTX *tls;			/* from upstream_tls_new */
	int stop_fd;			/* readable or hung up: the relay stops */
	unsigned short port;		/* the relay's, for the Host check */
	const char *alias;		/* "127.A.B.C:PORT" also allowed as Host, or NULL */
	struct intercept *intercept;	/* TLS from programs, intercepted; or NULL */
	const char *upstream_proxy;	/* CONNECTs to other hosts go there ("host:port"), or NULL */
	_Atomic(const char *) stop_why;	/* the error for open exchanges then */
};

/*
 * Serve the program connection client_fd (non-blocking, close-on-exec)
 * until either side ends it or the relay stops, then close it. Every
 * exchange is closed through exchange_close, so every request sent has its
 * response record (with an error when it was cut short).
 */
void pump_run(const struct pump_shared *sh, int client_fd);

#endif
