/*
 * upstream: the relay's TLS connections to the Respan router.
 *
 * Verification is never weakened: the router's certificate must chain to
 * the system CAs or to RESPAN_CA_FILE, and must name the router host (or,
 * for an IP literal base URL, its address). SNI carries the host name (not
 * sent for an IP literal, RFC 6066), ALPN offers only
 * http/1.1 (docs/contract.md#routes), TLS 1.2 is the minimum.
 */
#ifndef RESPAN_CLI_UPSTREAM_H
#define RESPAN_CLI_UPSTREAM_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config.h"

/*
 * The shared client context for cfg's router. Returns NULL with a reason in
 * err when it cannot be made; a RESPAN_CA_FILE that does not load is an
 * error too (the router would then fail verification on every connection).
 * Free with SSL_CTX_free().
 */
SSL_CTX *upstream_tls_new(const struct config *cfg, char *err, size_t errsize);

/*
 * Connect to the router of cfg (every address of its host in turn) and
 * complete the TLS handshake, within timeout_ms, giving up early when
 * stop_fd becomes readable or hangs up. On success returns the session
 * (its descriptor is non-blocking: SSL_get_fd) and the caller frees it with
 * upstream_close(). Returns NULL with a one-line reason in err otherwise;
 * nothing has then been sent but the ClientHello.
 */
SSL *upstream_connect(SSL_CTX *tls, const struct config *cfg, int stop_fd,
		      int timeout_ms, char *err, size_t errsize);

/* Close the session and its socket (no close_notify wait). NULL is fine. */
void upstream_close(SSL *ssl);

#endif
