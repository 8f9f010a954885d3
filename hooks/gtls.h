/*
 * gtls: the GnuTLS sessions librespan looks after, from gnutls_init to
 * gnutls_deinit (gnutls.c calls these; gtlsio.h moves their bytes). The
 * GnuTLS counterpart of tls.h.
 *
 * A client session is looked at once, on its first use (handshake, send or
 * receive): the engine's table (tlsdecision.h) decides from the name the
 * program set with gnutls_server_name_set (GnuTLS cannot give a client its
 * own SNI back) and the session's socket whether it is routed, already to
 * the router, captured, or not ours; gtlstrust.h makes a session that will
 * carry the Respan key check the router.
 *
 * GnuTLS has no slot of its own for a library's state (the session's user
 * pointer is the program's), so the state lives in a table keyed by the
 * session pointer, entered at gnutls_init (or on first sight) and left at
 * gnutls_deinit.
 *
 * The program's ALPN list waits here until the decision: GnuTLS 3.7's
 * gnutls_alpn_set_protocols adds to the list already set rather than
 * replacing it (a second call leaves an empty name in the ClientHello),
 * so a routed session's http/1.1 could not be put in place of it. It is
 * handed to GnuTLS as it was given when the session is not routed. A session whose transport is not a socket (libcurl's
 * push/pull functions) is like an OpenSSL memory BIO: only its name tells.
 *
 * Memory: one entry per live session, owned here; at process exit only
 * the exchanges are ended.
 */
#ifndef RESPAN_HOOKS_GTLS_H
#define RESPAN_HOOKS_GTLS_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "tlsconn.h"
#include "buf.h"
#include "exchange.h"
#include "forkphase.h"
#include "tlsdecision.h"

struct gsession {
	struct gsession *next;		/* the table's chain */
	gnutls_session_t gs;
	char host[256];			/* the name the program set ("" none) */
	bool server;
	const struct tlsdecision *decision;	/* NULL until the first use */
	bool refused;		/* a routed session that could not be set up */
	int verified;		/* the router's certificate: 0 not seen yet, 1 good, -1 bad */
	bool alpn_ours;		/* http/1.1 set by gtlstrust */
	gnutls_datum_t *alpn;	/* the program's list, until the decision */
	unsigned alpn_n, alpn_flags;
	struct tlsconn conn;	/* its exchange (tlsconn.h), opened at the decision */
};

/* gnutls_init succeeded: start an entry (server sessions are never ours). */
void gtls_new(gnutls_session_t gs, bool server);

/*
 * The program set the session's server name: remembered for the decision
 * (len 0 removes it). Returns false when the program's call must not reach
 * GnuTLS: the session is routed and its SNI is the router's.
 */
bool gtls_server_name(gnutls_session_t gs, const void *name, size_t len);

/*
 * The program sets its ALPN list on gs: 1 when it is kept for the decision
 * (the program's call returns 0), 0 when the call must go to GnuTLS now,
 * or GnuTLS's negative code for a list it would refuse.
 */
int gtls_alpn(gnutls_session_t gs, const gnutls_datum_t *protocols, unsigned n,
	      unsigned flags);

/* The session of gs, deciding it on first use; NULL when not ours. */
struct gsession *gtls_session(gnutls_session_t gs);

/* The program frees gs: end its exchange and drop the entry. */
void gtls_free(gnutls_session_t gs);

/*
 * Has the router's certificate of s been checked and found good
 * (gtlstrust_check_peer, done once after the handshake)? Checks it now
 * when not yet known and the handshake is done.
 */
bool gtls_router_verified(struct gsession *s);

/*
 * Is crt the leaf certificate of a live routed session whose router
 * check succeeded, to which the program asked for the name host? For the
 * program's own name check (gnutls_x509_crt_check_hostname).
 */
bool gtls_routed_peer(gnutls_x509_crt_t crt, const char *host);

/*
 * The router's name, when gs is a routed session and host is the name the
 * program asked for on it (a program's verify-with-hostname call); else
 * NULL.
 */
const char *gtls_router_name_for(gnutls_session_t gs, const char *host);

/*
 * Around fork(): see forkphase.h. The table is held while exchanges are
 * ended at exit (the log's and the redactor's locks) and while the router
 * is checked (gtlstrust's locks): it comes right after tls_fork.
 */
void gtls_fork(enum fork_phase phase);

#endif
