/*
 * tls: the state librespan keeps for an OpenSSL session, and the decisions
 * taken on it (see openssl.c for the hooks that call these).
 *
 * A client session is looked at once, on its first use (handshake, read,
 * write or peek): its SNI names a provider host, the router, or something
 * else.
 *   provider host, socket to a router address (or no socket: memory BIO),
 *   route mode             -> routed: SNI, hostname check and ALPN are set
 *                             for the router and its certificate is checked
 *                             against a store of our own; heads are
 *                             rewritten (REWRITE_ROUTE)
 *   the router's own host  -> credentials and headers (REWRITE_ROUTER), ALPN
 *                             http/1.1; the program's verification is kept
 *   provider host, other   -> logged unchanged (REWRITE_CAPTURE)
 *   anything else          -> not ours: only the ex_data look-up is paid
 * The state lives in the SSL object's ex_data, never on the fd.
 */
#ifndef RESPAN_HOOKS_TLS_H
#define RESPAN_HOOKS_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "forkphase.h"

struct session;

/* The session of ssl, deciding it on first sight; NULL when not ours. */
struct session *tls_session(SSL *ssl);

/*
 * SSL_write on a session of ours: the program's bytes go through the
 * rewriter and what it produced is sent. Returns 1 with *written = num (the
 * program's count, whatever the rewritten size) once everything is out, or
 * the real SSL_write's return (<= 0): SSL_get_error() then tells the
 * program to retry with the same arguments, and the retry sends the same
 * pending bytes from the same address, as OpenSSL requires.
 */
int tls_write(SSL *ssl, struct session *s, const void *buf, size_t num,
	      size_t *written);

/* Bytes the program read from a session of ours. */
void tls_read(struct session *s, const void *buf, size_t n);

/* The program frees or clears ssl: end its exchange and drop our state. */
void tls_free(SSL *ssl);

/*
 * Is x the peer certificate of a routed session whose verification (against
 * the router's name) succeeded? Then the name the program asked for is put
 * in host. For certname.c.
 */
bool tls_routed_peer_name(const X509 *x, char *host, size_t size);

/* Around fork(): see forkphase.h. The outermost locks of the library. */
void tls_fork(enum fork_phase phase);

#endif
