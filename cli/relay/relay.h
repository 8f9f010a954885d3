/*
 * relay: the loopback relay of `respan run` (docs/relay.md).
 *
 * Programs with TLS compiled in (Node, Bun, Go) cannot be taken over
 * in-process; layer 1 points their base URLs at this relay instead, which
 * listens on 127.0.0.1 (an ephemeral port), accepts plain HTTP/1.1 from
 * processes of respan's own user only, and carries every connection over
 * verified TLS to the router through the engine (pump.h), so credentials
 * are swapped and the traffic is logged with layer "relay".
 *
 * Threads: one acceptor, one per connection (at most RELAY_MAX_CONNS at a
 * time). They block every signal, so signals reach the thread that waits
 * for the program.
 */
#ifndef RESPAN_CLI_RELAY_H
#define RESPAN_CLI_RELAY_H

#include <stddef.h>

#include "exchange.h"
#include "intercept.h"

#define RELAY_MAX_CONNS 256
#define RELAY_MAX_REFUSED_EVENTS 64	/* a flood of strangers cannot fill the log */

struct relay;

/*
 * Start a relay for ctx (its config is the router's; route mode with a key
 * is the caller's business). ctx and everything it points to must outlive
 * the relay. alias, when not NULL, is one more Host the relay answers to:
 * the stand-in address ("127.A.B.C:PORT", relayname.h) programs name the
 * library's relay by; it must outlive the relay too. intercept, when not
 * NULL, takes the connections that start with TLS (intercept.h); it must
 * outlive the relay as well. Returns 0 and *out, or a negative errno with
 * a one-line reason in err.
 */
int relay_start(const struct exchange_ctx *ctx, const char *alias,
		struct intercept *intercept, struct relay **out, char *err, size_t errsize);

/*
 * Tunnels the relay opens as a CONNECT proxy to hosts it does not intercept
 * go through this proxy ("host:port": the one the program had), from now on.
 * upstream must outlive the relay.
 */
void relay_chain(struct relay *r, const char *upstream);

/* The relay's port on 127.0.0.1. */
unsigned short relay_port(const struct relay *r);

/* How many program connections are open now (any thread may ask). */
unsigned relay_open_conns(const struct relay *r);

/* The base URL for RESPAN_RELAY: http://127.0.0.1:PORT + the router path. */
const char *relay_url(const struct relay *r);

/*
 * Stop accepting, end every open connection (their open exchanges are
 * closed with the error why, e.g. "process exited"), wait for all threads
 * and free the relay. NULL is fine.
 */
void relay_stop(struct relay *r, const char *why);

#endif
