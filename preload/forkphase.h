/*
 * forkphase: the three moments of fork() at which a module hands over its
 * locks (pthread_atfork). Each module with a lock has a *_fork(phase)
 * function; hooks/init.c calls them all from one set of handlers, in one
 * order, so that no child starts with a lock held by a thread it does not
 * have, and no two modules are ever locked in opposite orders. The order,
 * and why it is that one, is written above fork_phase() in hooks/init.c;
 * a module with a new lock takes its place in that list.
 */
#ifndef RESPAN_FORKPHASE_H
#define RESPAN_FORKPHASE_H

#include <pthread.h>

enum fork_phase { FORK_PREPARE, FORK_PARENT, FORK_CHILD };

/* The common case: taken before fork, released after it on both sides. */
static inline void fork_phase_lock(pthread_mutex_t *m, enum fork_phase phase)
{
	if (phase == FORK_PREPARE)
		pthread_mutex_lock(m);
	else
		pthread_mutex_unlock(m);
}

#endif
