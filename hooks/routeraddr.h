/*
 * routeraddr: the router's addresses that the resolver hook handed out for
 * provider names, so the socket and OpenSSL hooks can recognise the
 * connections that result.
 *
 * The resolver answers a provider name with the router's addresses; those
 * addresses are remembered here. A connection to one of them on port 443 is
 * sent on to the router's port; an OpenSSL session over a socket whose peer
 * is one of them, with a provider name in its SNI, is a routed session.
 *
 * Memory: a fixed table of 32 addresses, copied in (the router has few, and
 * they rarely change; past 32 the last slot is reused). One lock, a leaf.
 */
#ifndef RESPAN_HOOKS_ROUTERADDR_H
#define RESPAN_HOOKS_ROUTERADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "forkphase.h"

/* Remember an address (IPv4 or IPv6; the port is ignored). */
void routeraddr_add(const struct sockaddr *sa);

/* True when sa's address (not port) was handed out for a provider name. */
bool routeraddr_known(const struct sockaddr *sa);

/* Around fork(): see forkphase.h. */
void routeraddr_fork(enum fork_phase phase);

#endif
