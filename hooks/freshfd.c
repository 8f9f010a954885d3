/* freshfd: the egress audit's marks on TCP connections; see freshfd.h. */
#include "freshfd.h"

#include "cold.h"

#define MARK_FRESH 1u		/* the first non-empty write is still to come */
#define MARK_TUNNEL 2u		/* a proxy tunnel the library asked for the router */
#define MARK_ROUTER 4u		/* a connection to the router, not yet made */

static unsigned char fd_marks[FRESHFD_MAX] RESPAN_COLD;

static bool tracked(int fd)
{
	return fd >= 0 && fd < FRESHFD_MAX;
}

void freshfd_mark(int fd)
{
	if (tracked(fd))
		__atomic_store_n(&fd_marks[fd], MARK_FRESH, __ATOMIC_RELAXED);
}

bool freshfd_marked(int fd)
{
	return tracked(fd) && (__atomic_load_n(&fd_marks[fd], __ATOMIC_RELAXED) & MARK_FRESH);
}

/* A first write also says the connection was made: the router mark goes. */
bool freshfd_take(int fd)
{
	return tracked(fd) &&
	       (__atomic_fetch_and(&fd_marks[fd], (unsigned char)~(MARK_FRESH | MARK_ROUTER),
				   __ATOMIC_ACQ_REL) & MARK_FRESH);
}

void freshfd_tunnel_mark(int fd)
{
	if (tracked(fd))
		__atomic_fetch_or(&fd_marks[fd], MARK_TUNNEL, __ATOMIC_RELEASE);
}

bool freshfd_tunnel(int fd)
{
	return tracked(fd) && (__atomic_load_n(&fd_marks[fd], __ATOMIC_ACQUIRE) & MARK_TUNNEL);
}

void freshfd_router_mark(int fd)
{
	if (tracked(fd))
		__atomic_fetch_or(&fd_marks[fd], MARK_ROUTER, __ATOMIC_RELAXED);
}

bool freshfd_router(int fd)
{
	return tracked(fd) && (__atomic_load_n(&fd_marks[fd], __ATOMIC_RELAXED) & MARK_ROUTER);
}

bool freshfd_router_take(int fd)
{
	return tracked(fd) &&
	       (__atomic_fetch_and(&fd_marks[fd], (unsigned char)~MARK_ROUTER,
				   __ATOMIC_ACQ_REL) & MARK_ROUTER);
}

void freshfd_copy(int oldfd, int newfd)
{
	if (tracked(newfd))
		__atomic_store_n(&fd_marks[newfd],
				 tracked(oldfd) ? __atomic_load_n(&fd_marks[oldfd], __ATOMIC_RELAXED) : 0,
				 __ATOMIC_RELAXED);
}

void freshfd_forget(int fd)
{
	if (tracked(fd))
		__atomic_store_n(&fd_marks[fd], 0, __ATOMIC_RELAXED);
}

void freshfd_forget_range(unsigned first, unsigned last)
{
	if (last >= FRESHFD_MAX)
		last = FRESHFD_MAX - 1;
	for (unsigned fd = first; fd <= last && fd < FRESHFD_MAX; fd++)
		__atomic_store_n(&fd_marks[fd], 0, __ATOMIC_RELAXED);
}
