/* freshfd: fresh TCP connections for the egress audit; see freshfd.h. */
#include "freshfd.h"

static unsigned char fd_fresh[FRESHFD_MAX];

static bool tracked(int fd)
{
	return fd >= 0 && fd < FRESHFD_MAX;
}

void freshfd_mark(int fd)
{
	if (tracked(fd))
		__atomic_store_n(&fd_fresh[fd], 1, __ATOMIC_RELAXED);
}

bool freshfd_marked(int fd)
{
	return tracked(fd) && __atomic_load_n(&fd_fresh[fd], __ATOMIC_RELAXED);
}

bool freshfd_take(int fd)
{
	return tracked(fd) && __atomic_exchange_n(&fd_fresh[fd], 0, __ATOMIC_ACQ_REL);
}

void freshfd_forget(int fd)
{
	if (tracked(fd))
		__atomic_store_n(&fd_fresh[fd], 0, __ATOMIC_RELAXED);
}

void freshfd_forget_range(unsigned first, unsigned last)
{
	if (last >= FRESHFD_MAX)
		last = FRESHFD_MAX - 1;
	for (unsigned fd = first; fd <= last && fd < FRESHFD_MAX; fd++)
		__atomic_store_n(&fd_fresh[fd], 0, __ATOMIC_RELAXED);
}
