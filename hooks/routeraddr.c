/* routeraddr: the router addresses handed out; see routeraddr.h. */
#include "routeraddr.h"

#include <pthread.h>
#include <string.h>

#include "inaddr.h"

#define ROUTERADDR_MAX 32

/* Addresses in a fixed table: the router has few, and they rarely change. */
static struct {
	sa_family_t family;
	unsigned char addr[16];
} addrs[ROUTERADDR_MAX];
static unsigned n_addrs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void routeraddr_add(const struct sockaddr *sa)
{
	const unsigned char *p;
	size_t n = inaddr_bytes(sa, &p);
	if (n == 0 || routeraddr_known(sa))
		return;
	pthread_mutex_lock(&lock);
	unsigned i = n_addrs < ROUTERADDR_MAX ? n_addrs++ : ROUTERADDR_MAX - 1;
	addrs[i].family = sa->sa_family;
	memset(addrs[i].addr, 0, sizeof(addrs[i].addr));
	memcpy(addrs[i].addr, p, n);
	pthread_mutex_unlock(&lock);
}

bool routeraddr_known(const struct sockaddr *sa)
{
	const unsigned char *p;
	size_t n = inaddr_bytes(sa, &p);
	bool found = false;
	if (n == 0)
		return false;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < n_addrs && !found; i++)
		found = addrs[i].family == sa->sa_family &&
			memcmp(addrs[i].addr, p, n) == 0;
	pthread_mutex_unlock(&lock);
	return found;
}

/* A leaf lock: nothing else is taken while it is held. */
void routeraddr_fork(enum fork_phase phase)
{
	fork_phase_lock(&lock, phase);
}
