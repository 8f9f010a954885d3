#include "netstate.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* ---- reports made once per host and kind ---- */

static struct {
	char host[256];
	int kind;
} reported[32];
static unsigned n_reported;
static pthread_mutex_t reported_lock = PTHREAD_MUTEX_INITIALIZER;

const char *netstate_reason_text(enum not_routed_reason why)
{
	switch (why) {
	case NOT_ROUTED_NO_LIBSSL:
		return "TLS is compiled into this program (no libssl is loaded): "
		       "only the base-URL variables can route it";
	case NOT_ROUTED_UNSEEN:
		return "libssl is loaded, but this connection was not made to an "
		       "address the library handed out for the provider name (the "
		       "program resolved it itself, or its TLS is not libssl)";
	case NOT_ROUTED_CURL_TLS:
		return "libcurl in this program does its TLS with another library "
		       "than OpenSSL (GnuTLS, NSS, ...): its provider URLs are left "
		       "alone, only the base-URL variables can route it";
	}
	return "unknown";
}

bool netstate_first_report(const char *host, int kind)
{
	pthread_mutex_lock(&reported_lock);
	for (unsigned i = 0; i < n_reported; i++) {
		if (reported[i].kind == kind && strcasecmp(reported[i].host, host) == 0) {
			pthread_mutex_unlock(&reported_lock);
			return false;
		}
	}
	bool full = n_reported == sizeof(reported) / sizeof(reported[0]);
	if (!full) {
		snprintf(reported[n_reported].host, sizeof(reported[0].host), "%s", host);
		reported[n_reported].kind = kind;
		n_reported++;
	}
	pthread_mutex_unlock(&reported_lock);
	return !full;
}

void netstate_not_routed(const struct exchange_ctx *ctx, const char *host,
			 enum not_routed_reason why)
{
	if (netstate_first_report(host, (int)why))
		logfile_event(ctx->log, "not_routed", host, netstate_reason_text(why));
}

/* ---- fresh TCP connections for the egress audit ---- */

static unsigned char fd_fresh[NETSTATE_MAX_FD];

static bool tracked(int fd)
{
	return fd >= 0 && fd < NETSTATE_MAX_FD;
}

void netstate_fd_fresh(int fd)
{
	if (tracked(fd))
		__atomic_store_n(&fd_fresh[fd], 1, __ATOMIC_RELAXED);
}

bool netstate_fd_is_fresh(int fd)
{
	return tracked(fd) && __atomic_load_n(&fd_fresh[fd], __ATOMIC_RELAXED);
}

bool netstate_fd_take(int fd)
{
	return tracked(fd) && __atomic_exchange_n(&fd_fresh[fd], 0, __ATOMIC_ACQ_REL);
}

void netstate_fd_forget(int fd)
{
	if (tracked(fd))
		__atomic_store_n(&fd_fresh[fd], 0, __ATOMIC_RELAXED);
}

void netstate_fd_forget_range(unsigned first, unsigned last)
{
	if (last >= NETSTATE_MAX_FD)
		last = NETSTATE_MAX_FD - 1;
	for (unsigned fd = first; fd <= last && fd < NETSTATE_MAX_FD; fd++)
		__atomic_store_n(&fd_fresh[fd], 0, __ATOMIC_RELAXED);
}

/* Two leaf locks (neither is held while taking another): any fixed order. */
void netstate_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE) {
		pthread_mutex_lock(&reported_lock);
		pthread_mutex_lock(&lock);
	} else {
		pthread_mutex_unlock(&lock);
		pthread_mutex_unlock(&reported_lock);
	}
}
