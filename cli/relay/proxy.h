/*
 * proxy: the relay as the HTTPS_PROXY of a static program under `respan run`
 * (docs/relay.md, "Static programs"). Go honours HTTPS_PROXY by default, and
 * a static binary is out of the library's reach: its provider calls come to
 * the relay as `CONNECT api.openai.com:443`, and are intercepted
 * (intercept.h); a tunnel to any other host is opened and carried byte for
 * byte, to the host itself or through the proxy the program had before
 * (chained), never looked into.
 */
#ifndef RESPAN_CLI_PROXY_H
#define RESPAN_CLI_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "tunnel.h"

/* What a program connection starts with. */
enum proxy_first {
	FIRST_NONE,	/* it closed, or the relay stops */
	FIRST_HTTP,	/* anything else: a plain request to the relay */
	FIRST_TLS,	/* a TLS handshake record */
	FIRST_CONNECT,	/* "CONNECT " */
	FIRST_MORE,	/* proxy_first_bytes only: the start of "CONNECT ", read on */
};

/* Wait for fd's first bytes (or stop_fd) and say what they start. */
enum proxy_first proxy_first(int fd, int stop_fd);

/*
 * What the first n bytes a program sent start, as proxy_first decides it:
 * FIRST_TLS, FIRST_CONNECT, FIRST_HTTP, or FIRST_MORE while they are no
 * more than the start of "CONNECT " (n == 0 too). Pure; reads p[0..n) only.
 */
enum proxy_first proxy_first_bytes(const char *p, size_t n);

/*
 * Whether a CONNECT to t is a provider's tunnel, which the relay answers
 * itself and intercepts (port 443 and a provider host of cfg); any other
 * is carried untouched (proxy_tunnel).
 */
bool proxy_intercepts(const struct config *cfg, const struct tunnel_target *t);

/*
 * Read the CONNECT head from fd, and nothing after it (the program's TLS
 * follows). Its target in *t, the head in (head, *len). 0, or -1 when it is
 * not one (too long, malformed, closed, stopped).
 */
int proxy_read_head(int fd, int stop_fd, struct tunnel_target *t, char *head, size_t size,
		    size_t *len);

/* Answer the program: "HTTP/1.1 200 Connection established", or an error. */
void proxy_answer(int fd, const char *status);

/*
 * Carry the tunnel to t: to the host itself, or when upstream
 * ("host:port", or NULL) is set, through that proxy (head, len: the
 * program's CONNECT, passed on as it was). Returns when either side ends
 * or the relay stops. Errors are answered 502 here.
 */
void proxy_tunnel(int fd, int stop_fd, const struct tunnel_target *t, const char *upstream,
		  const char *head, size_t len);

#endif
