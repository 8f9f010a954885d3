/*
 * routertrust: how the OpenSSL hooks make a session check the router, with
 * the program's own libssl (sslapi.h). The policy, the same for the relay
 * and any other TLS layer, is the engine's (routertls.h): the router's name
 * or address, no partial wildcards, TLS 1.2 at least, ALPN http/1.1. This
 * module applies it, and holds the trust store for routed sessions: the
 * system CAs plus RESPAN_CA_FILE (the program's own CA settings were meant
 * for the provider, not the router).
 *
 * The router's certificate decides: every session that will carry the
 * Respan key gets OpenSSL's own verdict as its verify callback, never a
 * program's callback that says yes to everything. Nothing here lowers a
 * program's verification: its host flags and a higher minimum version are
 * kept.
 *
 * Memory: the router store is made once and lives as long as the process
 * (SSL objects reference it); the functions keep nothing of ssl.
 */
#ifndef RESPAN_HOOKS_ROUTERTRUST_H
#define RESPAN_HOOKS_ROUTERTRUST_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "config.h"
#include "forkphase.h"
#include "sslapi.h"

/*
 * A routed session (a provider's name over a socket to the router): SNI and
 * name check for the router (an IP literal is checked as an address,
 * without SNI), the router store, SSL_VERIFY_PEER with OpenSSL's verdict,
 * ALPN http/1.1. False when it could not all be set: the caller must then
 * routertrust_force_verify(), a half-retargeted TLS must not go out.
 */
bool routertrust_retarget(SSL *ssl, const struct sslapi *api, const struct config *cfg);

/*
 * A session to the router's own name carries the Respan key once the
 * credentials are swapped: whatever the program chose for its connections
 * (curl -k, CERT_NONE), the router's certificate is checked, for the
 * router's name. A program that verifies keeps its own trust store (plus
 * RESPAN_CA_FILE, routertrust_add_ca); one that verifies nothing gets the
 * router store, as routed sessions do. False when it could not be set up.
 */
bool routertrust_verify_router(SSL *ssl, const struct sslapi *api,
			       const struct config *cfg);

/*
 * A session the program itself (or the libcurl layer) sends to the router
 * keeps the program's own verification, and trusts RESPAN_CA_FILE ("extra
 * CAs trusted for the router") too: the session gets a store of its own
 * that holds the CA file and borrows everything else from the program's
 * store, which is not changed (the program's other sessions on the same
 * context never trust the CA file). Where the program's libssl cannot
 * (before 1.1.0i) or the store cannot be made, the session keeps the
 * program's store alone: a verification error, never less checking.
 */
void routertrust_add_ca(SSL *ssl, const struct sslapi *api, const struct config *cfg);

/*
 * SSL_VERIFY_PEER with OpenSSL's own verdict and nothing else: what a
 * session that could not be pointed at the router is left with, so that
 * its handshake fails rather than go out unchecked.
 */
void routertrust_force_verify(SSL *ssl, const struct sslapi *api);

/* Around fork(): see forkphase.h. One leaf lock, the router store's. */
void routertrust_fork(enum fork_phase phase);

#endif
