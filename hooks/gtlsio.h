/*
 * gtlsio: the bytes of a GnuTLS session of ours (gtls.h), on their way
 * between the program and GnuTLS; the counterpart of tlsio.h. Writes go
 * through the exchange (the engine's rewriter and log) and what it produced
 * is sent; reads are shown to the exchange after the real read.
 *
 * Memory: the rewritten bytes wait in the session's pending buffer until
 * GnuTLS took them all; nothing else is kept.
 */
#ifndef RESPAN_HOOKS_GTLSIO_H
#define RESPAN_HOOKS_GTLSIO_H

#include <stddef.h>
#include <sys/types.h>

#include "gtls.h"

/*
 * gnutls_record_send on a session of ours: the program's bytes go through
 * the rewriter and what it produced is sent. Returns num (the program's
 * count, whatever the rewritten size) once everything is out, or GnuTLS's
 * negative code: on GNUTLS_E_AGAIN / GNUTLS_E_INTERRUPTED the program calls
 * again (with the same arguments, or NULL and 0, as GnuTLS allows) and the
 * same pending bytes are sent from the same address, as GnuTLS requires. A
 * session that carries the Respan key writes nothing before the router's
 * certificate was seen verified (GNUTLS_E_CERTIFICATE_ERROR otherwise, and
 * a "blocked" event).
 */
ssize_t gtlsio_send(struct gsession *s, const void *buf, size_t num);

/* Bytes the program received on a session of ours. */
void gtlsio_recv(struct gsession *s, const void *buf, size_t n);

/*
 * After the program's handshake succeeded (rc 0): on a session that will
 * carry the key, the router's certificate is checked now; returns rc, or
 * GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR (and a "blocked" event) when it
 * did not verify.
 */
int gtlsio_handshake_done(struct gsession *s, int rc);

#endif
