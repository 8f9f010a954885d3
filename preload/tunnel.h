/*
 * tunnel: an HTTP CONNECT request (RFC 9110 9.3.6) as the first bytes a
 * program writes on a connection, which is how it asks an egress proxy
 * (HTTPS_PROXY, curl -x, Python's set_tunnel) for a tunnel to a host.
 *
 * The egress audit reads the target from it (a tunnel to a provider host
 * the library did not route is a bypass), and the socket layer asks the
 * proxy for the router instead of the provider (tunnel_retarget), so the
 * TLS session inside the tunnel can be routed like any other.
 */
#ifndef RESPAN_TUNNEL_H
#define RESPAN_TUNNEL_H

#include <stddef.h>

#include "buf.h"

enum tunnel_result {
	TUNNEL_NOT,		/* not a CONNECT request */
	TUNNEL_PARTIAL,		/* a CONNECT whose head does not end in (p, n) */
	TUNNEL_CONNECT,		/* a whole CONNECT head */
};

/* The target of a CONNECT: host (brackets removed), port. */
struct tunnel_target {
	char host[256];
	unsigned short port;
	size_t head_len;	/* TUNNEL_CONNECT: bytes of the head, blank line included */
};

/*
 * Look at the first n bytes written on a connection. TUNNEL_PARTIAL and
 * TUNNEL_CONNECT fill t->host and t->port from the request line (a target
 * that is not host:port gives TUNNEL_NOT); TUNNEL_CONNECT also
 * t->head_len, once the head parses as HTTP/1.x (reqhead.h). A first
 * write that ends before the request line's target does (not seen from
 * curl, Python or Node, which write the head at once) is TUNNEL_NOT, as a
 * ClientHello split over writes is for the audit.
 */
enum tunnel_result tunnel_parse(const char *p, size_t n, struct tunnel_target *t);

/*
 * Append to out the head (p, head_len) asking for authority ("host:port",
 * "[v6]:port") instead: the request line's target and the Host field are
 * replaced, every other field (Proxy-Authorization, User-Agent, ...) is kept
 * as it was, in order. Returns 0, -EINVAL when the head does not parse,
 * or buf_append's error.
 */
int tunnel_retarget(const char *p, size_t head_len, const char *authority,
		    struct buf *out);

#endif
