/*
 * freshfd: the egress audit's marks on TCP sockets. A connection the
 * program opened (connect(), or sendto/sendmsg with MSG_FASTOPEN, on an
 * AF_INET/AF_INET6 stream socket; dup2/dup3 copy the mark) is "fresh" until
 * its first non-empty write, which the socket hooks look at once.
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
void freshfd_forget(int fd);
void freshfd_forget_range(unsigned first, unsigned last);

#endif
