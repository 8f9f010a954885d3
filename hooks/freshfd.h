/*
 * freshfd: the egress audit's marks on TCP sockets. A connection the
 * program opened (connect(), or sendto/sendmsg with MSG_FASTOPEN, on an
 * AF_INET/AF_INET6 stream socket; dup2/dup3 copy the mark) is "fresh" until
 * its first non-empty write, which the socket hooks look at once. A
 * connection whose first write asked an HTTP proxy for a tunnel, which the
 * library turned into a tunnel to the router, is marked so too: the OpenSSL
 * layer takes the session inside it for one to a router address. connect()
 * starts a connection's marks afresh; close, close_range forget them.
 *
 * Memory: one byte per fd in a static table; only fds below FRESHFD_MAX are
 * tracked (others are never fresh). All of it is lock-free and
 * async-signal-safe, so it has nothing to do around fork.
 */
#ifndef RESPAN_HOOKS_FRESHFD_H
#define RESPAN_HOOKS_FRESHFD_H

#include <stdbool.h>

#define FRESHFD_MAX 65536

void freshfd_mark(int fd);
/* True once for a fresh fd: the caller inspects this write. */
bool freshfd_take(int fd);
/* Cheap check, for the hot path of write(). */
bool freshfd_marked(int fd);
/* The connection on fd is a proxy tunnel to the router. */
void freshfd_tunnel_mark(int fd);
bool freshfd_tunnel(int fd);
/* A connection to the router is being made on fd (connect() said EINPROGRESS). */
void freshfd_router_mark(int fd);
bool freshfd_router(int fd);
/* True once for such an fd: its connection has failed or been made. */
bool freshfd_router_take(int fd);
/* newfd now stands for oldfd's connection (dup2, dup3): its marks too. */
void freshfd_copy(int oldfd, int newfd);
void freshfd_forget(int fd);
void freshfd_forget_range(unsigned first, unsigned last);

#endif
