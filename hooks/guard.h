/*
 * guard: the thread-local "inside librespan" flag (libfaketime's DONT_FAKE).
 *
 * Set around everything the library does for itself, so that its own
 * connect(), write() or getaddrinfo() (the log writer, resolving the router)
 * reach the real functions untouched instead of being taken for the
 * program's traffic.
 */
#ifndef RESPAN_HOOKS_GUARD_H
#define RESPAN_HOOKS_GUARD_H

#include <stdbool.h>

/* Marks an interposed symbol: everything else is hidden (-fvisibility). */
#define HOOK __attribute__((visibility("default")))

extern __thread int respan_inside;

/* True when the calling hook must step aside and call the real function. */
static inline bool guard_busy(void)
{
	return respan_inside != 0;
}

/* Enter the library; returns the previous depth for guard_leave(). */
static inline int guard_enter(void)
{
	return respan_inside++;
}

static inline void guard_leave(int saved)
{
	respan_inside = saved;
}

#endif
