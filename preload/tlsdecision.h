/*
 * tlsdecision: what librespan does with a client TLS session, decided once,
 * on its first use, from a few facts about it. A pure table: no TLS library
 * is called. The OpenSSL hooks (hooks/tls.c) and the GnuTLS hooks
 * (hooks/gtls.c) gather the facts and carry the answer out with their own
 * calls.
 *
 *   the session names   routing  socket to a router address  -> kind
 *   a provider host     yes      yes (or no socket: memory BIO)  ROUTED
 *   a provider host     yes      no                              CAPTURE
 *   a provider host     no       -                               CAPTURE
 *   the router's host   yes      -                               ROUTER
 *   the router's host   no       -                               CAPTURE
 *   anything else       -        -                               NOT_OURS
 *   (a server-side session is never ours)
 *
 * What each kind means for the session:
 *   ROUTED    SNI, name check and ALPN are set for the router, and its
 *             certificate is checked against a store of our own; requests
 *             are rewritten for the router (REWRITE_ROUTE).
 *   ROUTER    the program sends to the router itself: ALPN http/1.1, the
 *             router's name is checked and verification forced (the
 *             program's store kept when it verifies, plus RESPAN_CA_FILE);
 *             credentials and Respan headers are rewritten (REWRITE_ROUTER).
 *   CAPTURE   nothing changes: logged only (REWRITE_CAPTURE).
 *   NOT_OURS  nothing at all.
 * The router check itself is routertls.h's policy.
 *
 * Memory: decisions point into a static table, never freed.
 */
#ifndef RESPAN_TLSDECISION_H
#define RESPAN_TLSDECISION_H

#include <stdbool.h>

#include "config.h"
#include "rewriter.h"

/* What a session's name (its SNI) is. */
enum tls_name { TLS_NAME_OTHER, TLS_NAME_PROVIDER, TLS_NAME_ROUTER };

enum tls_kind { TLS_NOT_OURS, TLS_ROUTED, TLS_ROUTER, TLS_CAPTURE };

struct tlsdecision_facts {
	bool server;		/* the program is the server side */
	/*
	 * What the session names: its SNI or, for a session without SNI whose
	 * socket leads to the router named by an IP literal, that literal.
	 */
	enum tls_name name;
	bool routing;		/* route mode with a key */
	/*
	 * The socket's peer is an address the resolver handed out for a
	 * provider name, or there is no socket (a memory BIO: only the SNI can
	 * tell). Read only for a provider name while routing.
	 */
	bool to_router_addr;
};

struct tlsdecision {
	enum tls_kind kind;
	enum rewrite_mode mode;	/* for the exchange; REWRITE_CAPTURE when not ours */
	/*
	 * Requests will carry the Respan key: the router's certificate must be
	 * seen verified before the first byte is written.
	 */
	bool keyed;
	/*
	 * When the session cannot be set up as its kind says: true, the session
	 * keeps its kind and its handshake must fail (a half-retargeted TLS must
	 * not go out); false, it falls back to CAPTURE (tlsdecision_fallback).
	 */
	bool fail_closed;
	const char *label;	/* for a debug line: "routed", ... */
	const char *setup_failed;	/* the not_routed event's text, or NULL */
};

/*
 * What host (a name without port, NUL-terminated) names, per the config: a provider (its id
 * in *provider, else PROVIDER_NONE is stored), the router, or something
 * else. A provider's host wins over the router's.
 */
enum tls_name tlsdecision_name(const struct config *cfg, const char *host,
			       enum provider_id *provider);

/* The decision for a session with these facts. Never NULL. */
const struct tlsdecision *tlsdecision_decide(const struct tlsdecision_facts *f);

/* The decision when d's setup failed: d itself when fail_closed, else CAPTURE. */
const struct tlsdecision *tlsdecision_fallback(const struct tlsdecision *d);

#endif
