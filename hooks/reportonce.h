/*
 * reportonce: reports the hooks make once per host, not on every retry of
 * a program, and the reasons a provider connection is not routed (the
 * not_routed events of docs/contract.md#layers, detection).
 *
 * Memory: remembers 32 (host, kind) pairs, copied in; past that nothing new
 * is reported. One lock, a leaf: the event is written after it is released.
 */
#ifndef RESPAN_HOOKS_REPORTONCE_H
#define RESPAN_HOOKS_REPORTONCE_H

#include <stdbool.h>

#include "exchange.h"
#include "forkphase.h"

/* Why a provider connection cannot be routed (docs/contract.md#layers, detection). */
enum not_routed_reason {
	NOT_ROUTED_NO_LIBSSL,	/* TLS compiled in (no libssl, no libgnutls): only layer 1 */
	NOT_ROUTED_UNSEEN,	/* libssl or libgnutls is loaded, this TLS did not use it */
	NOT_ROUTED_CURL_TLS,	/* libcurl's TLS is NSS, ...: URLs left alone */
};

/* A not_routed event for host with the reason, once per host and reason. */
void reportonce_not_routed(const struct exchange_ctx *ctx, const char *host,
			   enum not_routed_reason why);

/* Kinds of report besides the not_routed reasons. */
#define REPORTONCE_BLOCKED_LOOKUP 100

/* True the first time (host, kind) is asked about (host: case ignored). */
bool reportonce_first(const char *host, int kind);

/* Around fork(): see forkphase.h. */
void reportonce_fork(enum fork_phase phase);

#endif
