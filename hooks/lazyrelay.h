/*
 * lazyrelay: the loopback relay the library starts by itself (layer 6,
 * docs/relay.md "The relay the library starts"), for programs whose TLS it
 * cannot see.
 *
 * In the constructor, in route mode with a key, a process in which no
 * libssl or libgnutls is loaded, that is not a Go program (its raw system
 * calls pass the connect() hook by) and that has no RESPAN_RELAY yet gets one:
 * a stand-in address (relayname.h) that layer 1 then uses as the base of
 * the SDK variables. Nothing is started then. The first connect() to the
 * stand-in, in this process or any process of its tree (they inherit the
 * variable), finds the tree's relay through its rendezvous socket, or
 * starts it (`respan relay-serve`, beside the library or in ../bin), and
 * goes to the relay's real port instead. The rendezvous connection is kept
 * as the process's lease: the relay lives while a process of the tree
 * holds one.
 *
 * Under `respan run`, RESPAN_RELAY names its relay (127.0.0.1, running
 * from the start, intercepting too): such a process then gets a stand-in
 * address of its own, used only for interception, that goes straight to
 * that relay's port.
 */
#ifndef RESPAN_HOOKS_LAZYRELAY_H
#define RESPAN_HOOKS_LAZYRELAY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "forkphase.h"
#include "init.h"

/*
 * In the constructor, before layer 1 (the process has one thread):
 * tls_visible is whether a TLS layer of the library can see this process's
 * sessions. Sets RESPAN_RELAY when the process should use the library's
 * relay, and notes the stand-in of RESPAN_RELAY, set here or inherited.
 * Costs one getrandom() and a look for respan, only then. Returns the URL
 * set here, for layer 1 (environ may not show it: bash keeps its own
 * environment), or NULL.
 */
const char *lazyrelay_setup(const struct respan_state *st, bool tls_visible);

/*
 * With RESPAN_INTERCEPT=auto, the interception CA's file, for layer 1's
 * NODE_EXTRA_CA_CERTS; the tree's first process makes the CA when there is
 * none (`respan ca path`, once per user). NULL: no interception here.
 */
const char *lazyrelay_node_ca(void);

/*
 * The address ("127.A.B.C") the resolver answers a provider name with, in a
 * process whose TLS the library cannot see, so that the relay takes the
 * connection and intercepts it; NULL when there is no interception here.
 */
const char *lazyrelay_intercept_host(void);

/*
 * connect() to *a (an INET address): when it is on the stand-in's address
 * (its own port, or 443 for an intercepted provider name), make sure the
 * relay runs and put its real address (127.0.0.1 and its port) into *a;
 * true then. False: not the stand-in, or no relay (a relay_error event,
 * once per process; the connection then fails as the stand-in refuses it).
 * The first call may wait up to a few seconds while the relay starts.
 */
bool lazyrelay_retarget(const struct respan_state *st, struct sockaddr_storage *a);

/*
 * The relay's real port, for a program whose provider calls come from a
 * child the library cannot load into, which gets the relay as its
 * HTTPS_PROXY (the Codex CLI, environ.h): starts the relay and takes the
 * lease now when needed (from the constructor: the child inherits the
 * environment). 0 when there is no interception here or no relay.
 */
unsigned short lazyrelay_proxy_port(const struct respan_state *st);

/* Around fork(): see forkphase.h. One leaf lock. */
void lazyrelay_fork(enum fork_phase phase);

#endif
