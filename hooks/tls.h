/*
 * tls: the OpenSSL sessions librespan looks after, from the first use of
 * an SSL object to its SSL_free (openssl.c calls these; tlsio.h moves their
 * bytes).
 *
 * A client session is looked at once, on its first use (handshake, read,
 * write or peek): the engine's table (tlsdecision.h) decides from its SNI
 * and socket whether it is routed, already to the router, captured, or not
 * ours; routertrust.h makes a session that will carry the Respan key check
 * the router. What is not ours costs only the ex_data look-up afterwards.
 *
 * The state lives in the SSL object's ex_data, never on the fd, so sessions
 * over memory BIOs work the same way. It is owned here: made on first use,
 * freed by tls_free() (SSL_free, SSL_clear), and at process exit only its
 * exchange is ended.
 */
#ifndef RESPAN_HOOKS_TLS_H
#define RESPAN_HOOKS_TLS_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "exchange.h"
#include "forkphase.h"
#include "tlsconn.h"
#include "tlsdecision.h"

struct session {
	struct session *prev, *next;	/* live sessions, for process exit */
	SSL *ssl;
	char host[256];			/* the name the program asked for */
	const struct tlsdecision *decision;	/* what it is; never NOT_OURS */
	struct tlsconn conn;	/* its exchange (tlsconn.h) */
	bool peer_checked;	/* the router's certificate was seen verified */
};

/* The session of ssl, deciding it on first sight; NULL when not ours. */
struct session *tls_session(SSL *ssl);

/*
 * The same, from SSL_connect: the object is a client whatever it reads as.
 * OpenSSL's SSL_connect makes an object whose role is not set yet a client,
 * and until then one made from a generic method (TLS_method) reads as a
 * server: Net::SSLeay (Perl) and Ruby's openssl call SSL_connect without
 * SSL_set_connect_state.
 */
struct session *tls_session_connecting(SSL *ssl);

/* The program frees or clears ssl: end its exchange and drop our state. */
void tls_free(SSL *ssl);

/*
 * Is x the peer certificate of a routed session whose verification (against
 * the router's name) succeeded? Then the name the program asked for is put
 * in host. For certname.c.
 */
bool tls_routed_peer_name(const X509 *x, char *host, size_t size);

/* Is any routed session alive? One atomic load: a filter before the tests below. */
bool tls_any_routed(void);

/*
 * The same test, for the program's other way to the names: when x is such a
 * certificate, the subjectAltName extension to show the program instead of
 * orig (x's own), made by widen(orig, the name the program asked for) once
 * per certificate object and kept with it (its ex_data), freed when the
 * certificate is, as its own extensions are. NULL otherwise, or when widen
 * fails: orig is the answer then.
 */
X509_EXTENSION *tls_routed_peer_ext(const X509 *x, const X509_EXTENSION *orig,
				    X509_EXTENSION *(*widen)(const X509_EXTENSION *,
							     const char *));

/*
 * Around fork(): see forkphase.h. The session list is the outermost lock of
 * the library (it is held while exchanges are ended at exit, which takes
 * the log's and the redactor's locks).
 */
void tls_fork(enum fork_phase phase);

#endif
