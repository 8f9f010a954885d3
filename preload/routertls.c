#include "routertls.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "inaddr.h"

/* HTTP/2 is not spoken on routed connections: clients fall back. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

void routertls_policy(const struct config *cfg, struct routertls *p)
{
	memset(p, 0, sizeof(*p));
	p->name = cfg->router_host;
	p->port = cfg->router_port;
	p->family = AF_UNSPEC;
	/*
	 * A certificate for "a*.example" must not pass for "api.example":
	 * RFC 6125 6.4.3 leaves partial wildcards to the client, and a router
	 * has no need of one.
	 */
	p->host_flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
	p->min_version = TLS1_2_VERSION;
	p->alpn = alpn_http11;
	p->alpn_len = sizeof(alpn_http11) - 1;
	if (p->name && inet_pton(AF_INET, p->name, p->addr) == 1)
		p->family = AF_INET;
	else if (p->name && inet_pton(AF_INET6, p->name, p->addr) == 1)
		p->family = AF_INET6;
	p->is_ip = p->family != AF_UNSPEC;
	p->sni = p->is_ip ? NULL : p->name;
}

bool routertls_is_router_literal(const struct routertls *p, const struct sockaddr *sa)
{
	const unsigned char *a;
	size_t n = inaddr_bytes(sa, &a);
	return p->is_ip && n > 0 && sa->sa_family == p->family &&
	       inaddr_port(sa) == p->port && memcmp(a, p->addr, n) == 0;
}
