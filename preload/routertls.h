/*
 * routertls: how the router's TLS is checked, the same everywhere the
 * library talks to it (the OpenSSL hooks' routed and router sessions,
 * hooks/routertrust.c; the GnuTLS hooks', hooks/gtlstrust.c; and the
 * relay's upstream context, cli/).
 *
 * Pure: it only describes the policy from the config. Each TLS stack applies
 * it with its own calls (the hooks through the program's libssl, looked up
 * at run time; the relay through the libssl it links), so the engine never
 * links a TLS library; OpenSSL's headers give it the constants only.
 *
 * The policy: the router's certificate must carry the router's name (or,
 * for a router named by an IP literal, that address: no SNI is sent then,
 * RFC 6066 3), partial wildcards ("a*.example") are not accepted for it,
 * nothing older than TLS 1.2 is spoken, and ALPN offers http/1.1 only (the
 * library speaks HTTP/1.1 to the router).
 *
 * Memory: name points into the config it was made from, which must outlive
 * the policy; everything else is held by value or is static.
 */
#ifndef RESPAN_ROUTERTLS_H
#define RESPAN_ROUTERTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

struct routertls {
	const char *name;	/* cfg->router_host: the name or IP literal to check */
	bool is_ip;		/* name is an IPv4/IPv6 literal: check the address */
	const char *sni;	/* the SNI to send: name, or NULL for an IP literal */
	sa_family_t family;	/* AF_INET/AF_INET6 when is_ip, else AF_UNSPEC */
	unsigned char addr[16];	/* the literal's address bytes (4 or 16 used) */
	unsigned short port;	/* cfg->router_port */
	unsigned int host_flags;	/* X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS */
	int min_version;	/* TLS1_2_VERSION */
	const unsigned char *alpn;	/* "\x08http/1.1", wire format */
	size_t alpn_len;
};

/* Fill p from cfg (a NULL router_host gives a NULL name and is_ip false). */
void routertls_policy(const struct config *cfg, struct routertls *p);

/*
 * True when the router is named by an IP literal and sa is that very
 * address and the router's port (the peer of a session that sends no SNI
 * because it goes to such a router). sa must be at least sizeof(struct
 * sockaddr_in) or sizeof(struct sockaddr_in6) long, as its family says.
 */
bool routertls_is_router_literal(const struct routertls *p, const struct sockaddr *sa);

#endif
