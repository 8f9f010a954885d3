/*
 * intercept: the relay's TLS server side, for provider connections of
 * programs with TLS compiled in (RESPAN_INTERCEPT=auto; docs/relay.md,
 * "Interception").
 *
 * In a program whose TLS the library cannot see, the resolver answers a
 * provider name with the relay's stand-in address, so the program's own TLS
 * connection to api.openai.com reaches the relay. The relay answers with a
 * certificate for that name from the local interception CA (ca.h), which
 * the program trusts through NODE_EXTRA_CA_CERTS, and then treats the
 * plaintext as the OpenSSL layer treats a routed session: the request is
 * rewritten for the router, keyed and logged. A name that is not a
 * provider's gets no certificate (the handshake fails); ALPN selects
 * http/1.1 or nothing.
 *
 * Thread-safe: connection threads share one context; leaf certificates are
 * made once per host and kept for the relay's life (renewed a day before
 * they expire), all for one key.
 */
#ifndef RESPAN_CLI_INTERCEPT_H
#define RESPAN_CLI_INTERCEPT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "ca/ca.h"
#include "config.h"

struct intercept;

/*
 * A server context issuing from ca (taken over: freed with the intercept)
 * for cfg's provider hosts (cfg must outlive it). NULL with a reason in err.
 */
struct intercept *intercept_new(const struct config *cfg, struct ca *ca, char *err,
				size_t errsize);

void intercept_free(struct intercept *ic);

/*
 * The TLS handshake with the program on fd (non-blocking), within
 * timeout_ms or until stop_fd is readable. Returns the session, and the
 * name the program asked for in host; NULL with a reason in err.
 */
SSL *intercept_accept(struct intercept *ic, int fd, int stop_fd, int timeout_ms,
		      char *host, size_t hostsize, char *err, size_t errsize);

#endif
