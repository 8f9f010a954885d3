/*
 * socket: a connection to a router address that the resolver handed out for
 * a provider name, made to port 443, is sent on to the router's own port.
 *
 * The egress audit (SPEC section 4): in route mode every TCP connection the
 * program opens is marked fresh, and its first non-empty write, whichever
 * call makes it (write, send, sendto, sendmsg, writev), is looked at once.
 * A TLS ClientHello whose SNI is a provider host there was not routed (a
 * routed session's SNI is the router's): a bypass event, and under
 * RESPAN_FAIL=closed the write fails with ECONNRESET, the connection is shut
 * down and the event is "blocked". Every later write is one table load.
 * close, close_range, dup2 and dup3 clear the mark, so a reused fd number
 * is never mistaken for a fresh connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "clienthello.h"
#include "route.h"

#include "guard.h"
#include "init.h"
#include "netstate.h"
#include "real.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int,
			     const struct sockaddr *, socklen_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef int (*close_fn)(int);
typedef int (*close_range_fn)(unsigned, unsigned, int);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);

static connect_fn real_connect;
static write_fn real_write;
static send_fn real_send;
static sendto_fn real_sendto;
static sendmsg_fn real_sendmsg;
static writev_fn real_writev;
static close_fn real_close;
static close_range_fn real_close_range;
static dup2_fn real_dup2;
static dup3_fn real_dup3;

/* Enough for any ClientHello in one record (2^14 bytes plus the header). */
#define AUDIT_STACK 4096
#define AUDIT_MAX ((1u << 14) + 5)

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

static bool audited(int fd, const struct sockaddr *addr);

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
	bool fix = router_port_fix(addr, len, &fixed);
	if (fix)
		respan_debug("connect fd %d: port 443 -> router port", fd);
	errno = saved_errno;
	int rc = real_connect(fd, fix ? (struct sockaddr *)&fixed : addr, len);
	int connect_errno = errno;	/* what the program must see */
	if ((rc == 0 || connect_errno == EINPROGRESS) && audited(fd, addr))
		netstate_fd_fresh(fd);
	errno = connect_errno;
	return rc;
}

/* Is this a TCP connection the audit should look at? */
static bool audited(int fd, const struct sockaddr *addr)
{
	if (addr == NULL ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return false;
	const struct respan_state *st = respan_state();
	if (!respan_routing(st))
		return false;
	int type = 0;
	socklen_t tlen = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	       type == SOCK_STREAM;
}

/* The first bytes of iov (at most max) gathered into out. */
static size_t gather(const struct iovec *iov, int iovcnt, unsigned char *out,
		     size_t max)
{
	size_t n = 0;
	for (int i = 0; i < iovcnt && n < max; i++) {
		size_t take = iov[i].iov_len < max - n ? iov[i].iov_len : max - n;
		if (take && iov[i].iov_base)
			memcpy(out + n, iov[i].iov_base, take);
		n += take;
	}
	return n;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

/* The provider host in a ClientHello at the start of iov, or false. */
static bool provider_sni(const struct respan_state *st, const struct iovec *iov,
			 int iovcnt, char *host, size_t size)
{
	unsigned char stack[AUDIT_STACK];
	size_t n = gather(iov, iovcnt, stack, sizeof(stack));
	enum ch_result r = clienthello_sni(stack, n, host, size);
	if (r == CH_SHORT && iov_total(iov, iovcnt) > n) {
		unsigned char *big = malloc(AUDIT_MAX);
		if (big) {
			n = gather(iov, iovcnt, big, AUDIT_MAX);
			r = clienthello_sni(big, n, host, size);
			free(big);
		}
	}
	return r == CH_SNI &&
	       route_lookup_host(&st->cfg, host, strlen(host)) != PROVIDER_NONE;
}

/*
 * The audit of a connection's first write. Returns 0 to let the write go,
 * -1 (errno set) when RESPAN_FAIL=closed refuses it.
 */
static int audit(int fd, const struct iovec *iov, int iovcnt)
{
	if (iov_total(iov, iovcnt) == 0 || !netstate_fd_take(fd))
		return 0;
	int saved_errno = errno;
	int saved = guard_enter();
	const struct respan_state *st = respan_state();
	char host[256];
	int rc = 0;
	if (respan_routing(st) && provider_sni(st, iov, iovcnt, host, sizeof(host))) {
		enum not_routed_reason why = real_have_libssl() ? NOT_ROUTED_UNSEEN :
								 NOT_ROUTED_NO_LIBSSL;
		netstate_not_routed(&st->xctx, host, why);
		if (st->cfg.fail == RESPAN_FAIL_CLOSED) {
			xchg_event(&st->xctx, "blocked", host,
				   "RESPAN_FAIL=closed: a TLS connection to a provider "
				   "that the library did not route was refused");
			shutdown(fd, SHUT_RDWR);
			saved_errno = ECONNRESET;
			rc = -1;
		} else {
			xchg_event(&st->xctx, "bypass", host,
				   "a TLS connection to a provider went out unrouted");
		}
		respan_debug("fd %d: ClientHello for %s, not routed%s", fd, host,
			     rc ? ": refused" : "");
	}
	guard_leave(saved);
	errno = saved_errno;
	return rc;
}

/* The common shape of the write hooks: fast path unless fd is fresh. */
#define AUDIT_OR_PASS(fd, iov, iovcnt)                                   \
	do {                                                             \
		if (netstate_fd_is_fresh(fd) && !guard_busy() &&         \
		    audit((fd), (iov), (iovcnt)) < 0)                    \
			return -1;                                       \
	} while (0)

HOOK ssize_t write(int fd, const void *buf, size_t count)
{
	REAL(real_write, real_libc, "write");
	if (real_write == NULL) {
		errno = ENOSYS;
		return -1;
	}
	struct iovec one = { (void *)(uintptr_t)buf, count };
	AUDIT_OR_PASS(fd, &one, 1);
	return real_write(fd, buf, count);
}

HOOK ssize_t send(int fd, const void *buf, size_t count, int flags)
{
	REAL(real_send, real_libc, "send");
	if (real_send == NULL) {
		errno = ENOSYS;
		return -1;
	}
	struct iovec one = { (void *)(uintptr_t)buf, count };
	AUDIT_OR_PASS(fd, &one, 1);
	return real_send(fd, buf, count, flags);
}

HOOK ssize_t sendto(int fd, const void *buf, size_t count, int flags,
		    const struct sockaddr *to, socklen_t tolen)
{
	REAL(real_sendto, real_libc, "sendto");
	if (real_sendto == NULL) {
		errno = ENOSYS;
		return -1;
	}
	struct iovec one = { (void *)(uintptr_t)buf, count };
	AUDIT_OR_PASS(fd, &one, 1);
	return real_sendto(fd, buf, count, flags, to, tolen);
}

HOOK ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	REAL(real_sendmsg, real_libc, "sendmsg");
	if (real_sendmsg == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (msg && msg->msg_iovlen <= 1024)
		AUDIT_OR_PASS(fd, msg->msg_iov, (int)msg->msg_iovlen);
	return real_sendmsg(fd, msg, flags);
}

HOOK ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	REAL(real_writev, real_libc, "writev");
	if (real_writev == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (iov && iovcnt > 0 && iovcnt <= 1024)
		AUDIT_OR_PASS(fd, iov, iovcnt);
	return real_writev(fd, iov, iovcnt);
}

HOOK int close(int fd)
{
	REAL(real_close, real_libc, "close");
	if (real_close == NULL) {
		errno = ENOSYS;
		return -1;
	}
	netstate_fd_forget(fd);
	return real_close(fd);
}

HOOK int close_range(unsigned first, unsigned last, int flags)
{
	REAL(real_close_range, real_libc, "close_range");
	if (real_close_range == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_close_range(first, last, flags);
	if (rc == 0 && !((unsigned)flags & CLOSE_RANGE_CLOEXEC))
		netstate_fd_forget_range(first, last);
	return rc;
}

HOOK int dup2(int oldfd, int newfd)
{
	REAL(real_dup2, real_libc, "dup2");
	if (real_dup2 == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_dup2(oldfd, newfd);
	if (rc >= 0 && oldfd != newfd)
		netstate_fd_forget(newfd);
	return rc;
}

HOOK int dup3(int oldfd, int newfd, int flags)
{
	REAL(real_dup3, real_libc, "dup3");
	if (real_dup3 == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_dup3(oldfd, newfd, flags);
	if (rc >= 0)
		netstate_fd_forget(newfd);
	return rc;
}
