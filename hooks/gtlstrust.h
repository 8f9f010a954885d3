/*
 * gtlstrust: how the GnuTLS layer makes a session check the router, with
 * the program's own libgnutls (gnutlsapi.h). The policy is the engine's
 * (routertls.h), the same as the OpenSSL layer's and the relay's: the
 * router's name or address, no partial wildcards, TLS 1.2 at least, ALPN
 * http/1.1. This module applies it and holds the router's credentials: the
 * system CAs plus RESPAN_CA_FILE (the program's own CA settings were meant
 * for the provider, not the router).
 *
 * Two checks, both required before the Respan key is written:
 *   - during the handshake, GnuTLS's own: the session verifies the peer
 *     for the router's name (gnutls_session_set_verify_cert), so a router
 *     that does not verify fails the program's gnutls_handshake;
 *   - after it, ours (gtlstrust_check_peer): the peer's chain against the
 *     router's trust list, the name without partial wildcards (GnuTLS alone
 *     accepts "*ter.example" for "router.example"), the version.
 * Nothing here lowers a program's verification.
 *
 * Memory: the router's credentials are made once and live as long as the
 * process (sessions reference them); nothing of a session is kept.
 */
#ifndef RESPAN_HOOKS_GTLSTRUST_H
#define RESPAN_HOOKS_GTLSTRUST_H

#include <stdbool.h>

#include "config.h"
#include "forkphase.h"
#include "gnutlsapi.h"

/*
 * A routed session (a provider's name over a socket to the router): SNI for
 * the router (none for an IP literal), the router's credentials, GnuTLS's
 * verification for the router's name, ALPN http/1.1. False when it could
 * not all be set: the caller must then refuse the session.
 */
bool gtlstrust_retarget(gnutls_session_t gs, const struct gnutlsapi *api,
			const struct config *cfg);

/*
 * A session to the router's own name: ALPN http/1.1, verification for the
 * router's name forced. The program's credentials are kept unless
 * RESPAN_CA_FILE is set (or it has none): then the session gets the
 * router's, so that the CA file is trusted for this session alone and not
 * for every session on the program's credentials. False when it could not
 * be set up.
 */
bool gtlstrust_verify_router(gnutls_session_t gs, const struct gnutlsapi *api,
			     const struct config *cfg);

/*
 * After the handshake: does the peer's certificate chain verify against
 * the system CAs plus RESPAN_CA_FILE, carry the router's name (no partial
 * wildcards) or address, and was TLS 1.2 or later spoken? False also when
 * there is no peer certificate yet.
 */
bool gtlstrust_check_peer(gnutls_session_t gs, const struct gnutlsapi *api,
			  const struct config *cfg);

/* Around fork(): see forkphase.h. A leaf lock, taken after gtls_fork's. */
void gtlstrust_fork(enum fork_phase phase);

#endif
