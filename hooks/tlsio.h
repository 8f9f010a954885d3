/*
 * tlsio: the bytes of a session of ours (tls.h), on their way between the
 * program and OpenSSL. Writes go through the exchange (the engine's
 * rewriter and log) and what it produced is sent; reads are shown to the
 * exchange after the real read.
 *
 * Memory: the rewritten bytes wait in the session's pending buffer until
 * OpenSSL took them all; nothing else is kept.
 */
#ifndef RESPAN_HOOKS_TLSIO_H
#define RESPAN_HOOKS_TLSIO_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "tls.h"

/*
 * SSL_write on a session of ours: the program's bytes go through the
 * rewriter and what it produced is sent. Returns 1 with *written = num (the
 * program's count, whatever the rewritten size) once everything is out, or
 * the real SSL_write's return (<= 0): SSL_get_error() then tells the
 * program to retry with the same arguments, and the retry sends the same
 * pending bytes from the same address, as OpenSSL requires. A session that
 * carries the Respan key writes nothing before the router's certificate was
 * seen verified.
 */
int tlsio_write(SSL *ssl, struct session *s, const void *buf, size_t num,
		size_t *written);

/* Bytes the program read from a session of ours. */
void tlsio_read(struct session *s, const void *buf, size_t n);

#endif
