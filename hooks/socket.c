/*
 * socket: a connection to a router address that the resolver handed out for
 * a provider name, made to port 443, is sent on to the router's own port.
 * Everything else reaches the real connect() untouched.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "guard.h"
#include "init.h"
#include "netstate.h"
#include "real.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn real_connect;

/*
 * The address to really connect to: a copy of addr with the router's port
 * when addr is a router address on port 443. Returns false to leave addr
 * alone.
 */
static bool router_port_fix(const struct sockaddr *addr, socklen_t len,
			    struct sockaddr_storage *out)
{
	if (addr == NULL || len < sizeof(struct sockaddr_in) ||
	    len > sizeof(*out) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return false;
	const struct respan_state *st = respan_state();
	if (!respan_routing(st) || st->cfg.router_port == 443 ||
	    netstate_port(addr) != 443 || !netstate_is_router_addr(addr))
		return false;
	memcpy(out, addr, len);
	in_port_t port = htons(st->cfg.router_port);
	if (addr->sa_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = port;
	else
		((struct sockaddr_in6 *)out)->sin6_port = port;
	return true;
}

HOOK int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	REAL(real_connect, real_libc, "connect");
	if (real_connect == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (guard_busy())
		return real_connect(fd, addr, len);

	int saved_errno = errno;
	struct sockaddr_storage fixed;
	if (router_port_fix(addr, len, &fixed)) {
		respan_debug("connect fd %d: port 443 -> router port", fd);
		errno = saved_errno;
		return real_connect(fd, (struct sockaddr *)&fixed, len);
	}
	errno = saved_errno;
	return real_connect(fd, addr, len);
}
