/*
 * netstate: what the resolver hook told the program, so the socket and
 * OpenSSL hooks can recognise the connections that result.
 *
 * The resolver answers a provider name with the router's addresses; those
 * addresses are remembered here. A connection to one of them on port 443 is
 * sent on to the router's port; an OpenSSL session over a socket whose peer
 * is one of them, with a provider name in its SNI, is a routed session.
 */
#ifndef RESPAN_HOOKS_NETSTATE_H
#define RESPAN_HOOKS_NETSTATE_H

#include <stdbool.h>
#include <sys/socket.h>

/* Remember an address (IPv4 or IPv6; the port is ignored). */
void netstate_add_router_addr(const struct sockaddr *sa);

/* True when sa's address (not port) was handed out for a provider name. */
bool netstate_is_router_addr(const struct sockaddr *sa);

/* The port of an AF_INET/AF_INET6 address, host order; 0 otherwise. */
unsigned short netstate_port(const struct sockaddr *sa);

#endif
