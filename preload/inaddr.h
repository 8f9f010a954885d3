/*
 * inaddr: the address bytes and the port of an IPv4 or IPv6 socket address,
 * the one place that looks inside struct sockaddr_in / sockaddr_in6 for the
 * hooks (router addresses, the router named by an IP literal) and the
 * router TLS policy.
 *
 * sa must be as long as its family says (sizeof(struct sockaddr_in) or
 * sizeof(struct sockaddr_in6)); other families give 0. Nothing is copied:
 * the bytes returned point into sa.
 */
#ifndef RESPAN_INADDR_H
#define RESPAN_INADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* The address bytes of sa in *p, and their length: 4, 16, or 0. */
size_t inaddr_bytes(const struct sockaddr *sa, const unsigned char **p);

/* The port of sa, host order; 0 for other families. */
unsigned short inaddr_port(const struct sockaddr *sa);

#endif
