#include "netstate.h"

#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#define NETSTATE_MAX_ADDRS 32

/* Addresses in a fixed table: the router has few, and they rarely change. */
static struct {
	sa_family_t family;
	unsigned char addr[16];
} addrs[NETSTATE_MAX_ADDRS];
static unsigned n_addrs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The address bytes of sa, and their length; 0 for other families. */
static size_t addr_bytes(const struct sockaddr *sa, const unsigned char **p)
{
	if (sa->sa_family == AF_INET) {
		*p = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		*p = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		return 16;
	}
	return 0;
}

void netstate_add_router_addr(const struct sockaddr *sa)
{
	const unsigned char *p;
	size_t n = addr_bytes(sa, &p);
	if (n == 0 || netstate_is_router_addr(sa))
		return;
	pthread_mutex_lock(&lock);
	unsigned i = n_addrs < NETSTATE_MAX_ADDRS ? n_addrs++ :
						    NETSTATE_MAX_ADDRS - 1;
	addrs[i].family = sa->sa_family;
	memset(addrs[i].addr, 0, sizeof(addrs[i].addr));
	memcpy(addrs[i].addr, p, n);
	pthread_mutex_unlock(&lock);
}

bool netstate_is_router_addr(const struct sockaddr *sa)
{
	const unsigned char *p;
	size_t n = addr_bytes(sa, &p);
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

unsigned short netstate_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}
