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

#include "exchange.h"
#include "forkphase.h"

/* Remember an address (IPv4 or IPv6; the port is ignored). */
void netstate_add_router_addr(const struct sockaddr *sa);

/* True when sa's address (not port) was handed out for a provider name. */
bool netstate_is_router_addr(const struct sockaddr *sa);

/* The port of an AF_INET/AF_INET6 address, host order; 0 otherwise. */
unsigned short netstate_port(const struct sockaddr *sa);

/* Why a provider connection cannot be routed (SPEC section 4, detection). */
enum not_routed_reason {
	NOT_ROUTED_NO_LIBSSL,	/* TLS compiled in: only layer 1 can act */
	NOT_ROUTED_UNSEEN,	/* libssl is loaded, this TLS did not use it */
	NOT_ROUTED_CURL_TLS,	/* libcurl's TLS is GnuTLS, NSS, ...: URLs left alone */
};

/*
 * A not_routed event for host with the reason, once per host and reason
 * (the first few hosts; later ones are not repeated either).
 */
void netstate_not_routed(const struct exchange_ctx *ctx, const char *host,
			 enum not_routed_reason why);
const char *netstate_reason_text(enum not_routed_reason why);

/* Kinds of report besides the not_routed reasons. */
#define NETSTATE_REPORT_BLOCKED_LOOKUP 100

/*
 * True the first time (host, kind) is asked about, so a report is made once
 * per host, not on every retry of a program. Remembers 32 pairs; past that
 * nothing new is reported.
 */
bool netstate_first_report(const char *host, int kind);

/*
 * The egress audit's view of TCP sockets: a connection the program opened
 * (connect(), or sendto/sendmsg with MSG_FASTOPEN, on an AF_INET/AF_INET6
 * stream socket; dup2/dup3 copy the mark) is "fresh" until its
 * first non-empty write, which the socket hooks look at once. Only fds below
 * NETSTATE_MAX_FD are tracked. All of it is lock-free and async-signal-safe.
 */
#define NETSTATE_MAX_FD 65536

void netstate_fd_fresh(int fd);
/* True once for a fresh fd: the caller inspects this write. */
bool netstate_fd_take(int fd);
/* Cheap check, for the hot path of write(). */
bool netstate_fd_is_fresh(int fd);
void netstate_fd_forget(int fd);
void netstate_fd_forget_range(unsigned first, unsigned last);

/* Around fork(): see forkphase.h. */
void netstate_fork(enum fork_phase phase);

#endif
