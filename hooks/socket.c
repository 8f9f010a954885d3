/*
 * socket: a connection to a router address that the resolver handed out for
 * a provider name, made to port 443, is sent on to the router's own port.
 *
 * The egress audit (docs/contract.md#layers): in route mode every TCP connection the
 * program opens is marked fresh, and its first non-empty write, whichever
 * call makes it (write, send, sendto, sendmsg, writev), is looked at once.
 * A TLS ClientHello whose SNI is a provider host there was not routed (a
 * routed session's SNI is the router's): a bypass event, and under
 * RESPAN_FAIL=closed the write fails with ECONNRESET, the connection is shut
 * down and the event is "blocked". Every later write is one table load.
 * close and close_range clear the mark, so a reused fd number is never
 * mistaken for a fresh connection; dup2 and dup3 hand the old fd's mark to
 * the new one. sendto and sendmsg with MSG_FASTOPEN connect as they write
 * (TCP Fast Open): they are taken as connect() and first write in one.
 * A connection to the router that cannot be made is a router_unreachable
 * event: from connect() itself, or from getsockopt(SO_ERROR) after a
 * non-blocking connect().
 *
 * The program's pointers (buffers, iovec arrays, msghdr, socket addresses)
 * are read through the kernel, never dereferenced: a bad one is the
 * program's bug, which the real call answers with EFAULT, and the library
 * must not turn it into a crash.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/close_range.h>
#include <poll.h>
#include <unistd.h>

#include "clienthello.h"
#include "tunnel.h"
#include "route.h"

#include "guard.h"
#include "init.h"
#include "freshfd.h"
#include "inaddr.h"
#include "lazyrelay.h"
#include "reportonce.h"
#include "routeraddr.h"
#include "real.h"

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);
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
static getsockopt_fn real_getsockopt;
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
/* The iovecs of a write that are looked at: a ClientHello is in the first few. */
#define AUDIT_IOV 64
/* A retargeted CONNECT head (its fields kept) and how long to wait for room. */
#define TUNNEL_OUT_MAX (64u * 1024)
#define TUNNEL_SEND_MS 10000
/* More iovecs than this (UIO_MAXIOV) and the kernel refuses the call: EMSGSIZE. */
#define KERNEL_MAX_IOV 1024

/*
 * process_vm_readv() is missing, or a seccomp filter refuses it: read the
 * program's memory directly (a bad pointer then faults, as it did before).
 * Remembered, so the refused call is made once.
 */
static int vm_read_refused;

/*
 * Copy the program's cnt segments remote[] into our local[] (the same
 * lengths), through the kernel: process_vm_readv() on our own pid, which is
 * always permitted (the ptrace check passes for one's own thread group,
 * whatever ptrace_scope says). Returns the bytes copied, short of the total
 * from the first bad address on (0 when the first is bad). errno is kept.
 */
static size_t vm_read(const struct iovec *local, const struct iovec *remote,
		      unsigned long cnt)
{
	if (cnt == 0)
		return 0;
	int saved_errno = errno;
	size_t n = 0;
	if (!__atomic_load_n(&vm_read_refused, __ATOMIC_RELAXED)) {
		ssize_t got = process_vm_readv(getpid(), local, cnt, remote, cnt, 0);
		if (got >= 0 || (errno != ENOSYS && errno != EPERM)) {
			errno = saved_errno;
			return got > 0 ? (size_t)got : 0;	/* EFAULT: nothing */
		}
		__atomic_store_n(&vm_read_refused, 1, __ATOMIC_RELAXED);
	}
	for (unsigned long i = 0; i < cnt && remote[i].iov_base; i++) {
		memcpy(local[i].iov_base, remote[i].iov_base, local[i].iov_len);
		n += local[i].iov_len;
	}
	errno = saved_errno;
	return n;
}

/* True when all len bytes of the program's object at src were copied to dst. */
static bool peek(void *dst, const void *src, size_t len)
{
	struct iovec local = { dst, len };
	struct iovec remote = { (void *)(uintptr_t)src, len };
	return vm_read(&local, &remote, 1) == len;
}

/*
 * Our copy of the program's socket address (len bytes at addr), zero past
 * len. False unless it is an AF_INET or AF_INET6 address of a length the
 * kernel takes: an AF_INET6 one may stop before sin6_scope_id (RFC 2133's
 * 24 bytes). Nothing past len is read.
 */
static bool copy_inet_addr(const struct sockaddr *addr, socklen_t len,
			   struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (addr == NULL || len < sizeof(struct sockaddr_in) || len > sizeof(*out) ||
	    !peek(out, addr, len))
		return false;
	return out->ss_family == AF_INET ||
	       (out->ss_family == AF_INET6 &&
		len >= offsetof(struct sockaddr_in6, sin6_scope_id));
}

/*
 * A connection to addr (our copy) that must go to the router's port: a
 * router address on port 443. Puts the router's port in addr and returns
 * true; false leaves addr alone.
 */
static bool router_port_fix(const struct respan_state *st,
			    struct sockaddr_storage *addr)
{
	const struct sockaddr *sa = (const struct sockaddr *)addr;
	if (st->cfg.router_port == 443 || inaddr_port(sa) != 443 ||
	    !routeraddr_known(sa))
		return false;
	in_port_t port = htons(st->cfg.router_port);
	if (addr->ss_family == AF_INET)
		((struct sockaddr_in *)addr)->sin_port = port;
	else
		((struct sockaddr_in6 *)addr)->sin6_port = port;
	return true;
}

/* Is fd a stream socket (with an AF_INET/AF_INET6 peer: TCP)? */
static bool is_stream(int fd)
{
	int type = 0;
	socklen_t tlen = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	       type == SOCK_STREAM;
}

/* How a connect() ends when the connection cannot be made. */
static bool connect_failed(int err)
{
	return err == ECONNREFUSED || err == ETIMEDOUT || err == ENETUNREACH ||
	       err == EHOSTUNREACH || err == ECONNRESET || err == ENETDOWN ||
	       err == EHOSTDOWN || err == EADDRNOTAVAIL;
}

/*
 * A connection to the router for a provider name could not be made: the
 * program sees its ordinary network error, and no request was sent, so
 * there is no exchange to log. The event says what happened instead.
 */
static void router_unreachable(const struct respan_state *st, int err)
{
	int saved = guard_enter();
	char detail[200];
	snprintf(detail, sizeof(detail), "could not connect to the router (port %u): %s; "
		 "the program got the error and sent no request",
		 (unsigned)st->cfg.router_port, strerror(err));
	logfile_event(st->log, "router_unreachable", st->cfg.router_host, detail);
	respan_debug("router unreachable: %s", detail);
	guard_leave(saved);
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
	const struct respan_state *st = respan_state();
	struct sockaddr_storage copy;
	bool inet = respan_routing(st) && copy_inet_addr(addr, len, &copy);
	bool relay = inet && lazyrelay_retarget(st, &copy), fix = relay;
	if (relay) {
		respan_debug("connect fd %d: the relay's stand-in -> the relay", fd);
	} else if (inet && router_port_fix(st, &copy)) {
		fix = true;
		respan_debug("connect fd %d: port 443 -> router port", fd);
	}
	bool router = inet && !relay && routeraddr_known((struct sockaddr *)&copy);
	errno = saved_errno;
	int rc = real_connect(fd, fix ? (struct sockaddr *)&copy : addr, len);
	int connect_errno = errno;	/* what the program must see */
	/* The relay routes what it is sent (a provider's ClientHello included). */
	if ((rc == 0 || connect_errno == EINPROGRESS) && inet && !relay && is_stream(fd))
		freshfd_mark(fd);
	if (router && rc < 0 && is_stream(fd)) {
		if (connect_errno == EINPROGRESS)
			freshfd_router_mark(fd);
		else if (connect_failed(connect_errno))
			router_unreachable(st, connect_errno);
	}
	errno = connect_errno;
	return rc;
}

/*
 * getsockopt(SO_ERROR) is how a program learns how its non-blocking
 * connect() ended (curl, Python with a timeout, libuv, Go): for a
 * connection to the router, a failure read there is logged once. Every
 * other call is one compare and a table load.
 */
HOOK int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	REAL(real_getsockopt, real_libc, "getsockopt");
	if (real_getsockopt == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_getsockopt(fd, level, name, val, len);
	if (rc != 0 || level != SOL_SOCKET || name != SO_ERROR || !freshfd_router(fd) ||
	    guard_busy())
		return rc;
	int saved_errno = errno;
	int err = 0;
	socklen_t have = 0;
	/* The program's read took the error: its copy is the one left. */
	if (peek(&have, len, sizeof(have)) && have >= sizeof(err) && peek(&err, val, sizeof(err)) &&
	    connect_failed(err) && freshfd_router_take(fd))
		router_unreachable(respan_state(), err);
	errno = saved_errno;
	return rc;
}

/*
 * sendto() or sendmsg() with MSG_FASTOPEN on a TCP socket not yet connected
 * connects it, its bytes riding in the SYN: connect() and the first write in
 * one call, and connect() never sees it. So it is taken as connect() is: fd
 * is marked fresh, which has this very call's bytes audited, and a router
 * address on 443 goes to the router's port (then *fixed is the address to
 * use, and true is returned). Only called for MSG_FASTOPEN. errno is kept.
 */
static bool fastopen(int fd, const struct sockaddr *to, socklen_t tolen,
		     struct sockaddr_storage *fixed)
{
	if (guard_busy())
		return false;
	int saved_errno = errno;
	const struct respan_state *st = respan_state();
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	bool fix = false;
	/* A connected socket answers EISCONN and sends nothing. */
	if (respan_routing(st) && copy_inet_addr(to, tolen, fixed) && is_stream(fd) &&
	    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 && errno == ENOTCONN) {
		freshfd_mark(fd);
		fix = router_port_fix(st, fixed);
		if (fix)
			respan_debug("fast open fd %d: port 443 -> router port", fd);
	}
	errno = saved_errno;
	return fix;
}

/*
 * The first bytes (at most max) of the program's segments seg[0..nseg)
 * copied into out; returns the count, short where an address is bad.
 * *more: the segments hold more than max bytes.
 */
static size_t gather(const struct iovec *seg, size_t nseg, unsigned char *out,
		     size_t max, bool *more)
{
	struct iovec local[AUDIT_IOV], remote[AUDIT_IOV];
	unsigned long k = 0;
	size_t want = 0;
	*more = false;
	for (size_t i = 0; i < nseg && k < AUDIT_IOV; i++) {
		size_t len = seg[i].iov_len;
		if (len == 0)
			continue;
		if (want == max) {
			*more = true;
			break;
		}
		size_t take = len < max - want ? len : max - want;
		if (take < len)
			*more = true;
		local[k].iov_base = out + want;
		local[k].iov_len = take;
		remote[k].iov_base = seg[i].iov_base;
		remote[k].iov_len = take;
		k++;
		want += take;
	}
	return vm_read(local, remote, k);
}

/*
 * The provider named by a ClientHello at the start of the segments (its
 * host in host), or PROVIDER_NONE. first holds their first n bytes
 * (AUDIT_STACK at most); more says there are others, read when the SNI
 * lies beyond.
 */
static enum provider_id provider_sni(const struct respan_state *st,
				     const struct iovec *seg, size_t nseg,
				     const unsigned char *first, size_t n, bool more,
				     char *host, size_t size)
{
	enum clienthello_result r = clienthello_sni(first, n, host, size);
	if (r == CLIENTHELLO_SHORT && more && n == AUDIT_STACK) {
		unsigned char *big = malloc(AUDIT_MAX);
		if (big) {
			n = gather(seg, nseg, big, AUDIT_MAX, &more);
			r = clienthello_sni(big, n, host, size);
			free(big);
		}
	}
	if (r != CLIENTHELLO_SNI)
		return PROVIDER_NONE;
	return route_lookup_host(&st->cfg, host, strlen(host));
}

/* audit()'s answer when the program's write is to go out as it is. */
#define AUDIT_PASS (-2)

/*
 * An unrouted connection to a provider (what: "a TLS connection", "an HTTP
 * CONNECT tunnel"): not_routed once per host, then a bypass event, or a
 * blocked one and a refusal when the process holds the Respan key for that
 * provider or RESPAN_FAIL=closed. Returns 0, or -1 when refused (the
 * connection is then shut down, and *err is ECONNRESET).
 */
static int unrouted(const struct respan_state *st, int fd, enum provider_id provider,
		    const char *host, const char *what, int *err)
{
	enum not_routed_reason why = real_have_tls_layer() ? NOT_ROUTED_UNSEEN :
							 NOT_ROUTED_NO_LIBSSL;
	/* The Respan key is in this process's provider key variable: unrouted,
	 * the connection would carry it to the provider. */
	const char *keyed = respan_keyed(st, provider);
	char detail[300];
	int rc = 0;

	reportonce_not_routed(&st->xctx, host, why);
	if (keyed) {
		snprintf(detail, sizeof(detail), "the Respan key is in %s in this process: "
			 "%s to a provider that the library did not route was refused",
			 keyed, what);
		rc = -1;
	} else if (st->cfg.fail == RESPAN_FAIL_CLOSED) {
		snprintf(detail, sizeof(detail), "RESPAN_FAIL=closed: %s to a provider "
			 "that the library did not route was refused", what);
		rc = -1;
	} else {
		snprintf(detail, sizeof(detail), "%s to a provider went out unrouted", what);
	}
	logfile_event(st->log, rc < 0 ? "blocked" : "bypass", host, detail);
	if (rc < 0) {
		shutdown(fd, SHUT_RDWR);
		*err = ECONNRESET;
	}
	respan_debug("fd %d: %s to %s, not routed%s", fd, what, host, rc ? ": refused" : "");
	return rc;
}

/* Send all of (p, n) on fd, waiting for room on a non-blocking socket. */
static int send_all(int fd, const char *p, size_t n, int flags)
{
	REAL(real_send, real_libc, "send");
	if (real_send == NULL)
		return -ENOSYS;
	while (n > 0) {
		ssize_t w = real_send(fd, p, n, flags | MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { fd, POLLOUT, 0 };
			if (poll(&pfd, 1, TUNNEL_SEND_MS) > 0)
				continue;
			return -ETIMEDOUT;
		}
		return w < 0 ? -errno : -EIO;
	}
	return 0;
}

/*
 * A CONNECT for a provider host, as a routed program's first write to its
 * proxy: the same request asks the proxy for the router instead, and the
 * connection is marked, so the OpenSSL layer routes the session inside the
 * tunnel (its SNI is still the provider's) as it would one to a router
 * address. bytes (n of them) are all the program wrote. Returns the
 * program's count once all is sent, or -1 (errno set).
 */
static ssize_t retarget_tunnel(const struct respan_state *st, int fd, const char *bytes,
			       size_t n, const struct tunnel_target *t, int flags)
{
	char authority[300];
	struct buf out;
	const struct config *c = &st->cfg;

	snprintf(authority, sizeof(authority), strchr(c->router_host, ':') ? "[%s]:%u" :
		 "%s:%u", c->router_host, c->router_port);
	buf_init(&out, TUNNEL_OUT_MAX);
	int rc = tunnel_retarget(bytes, t->head_len, authority, &out);
	if (rc == 0)
		rc = buf_append(&out, bytes + t->head_len, n - t->head_len);
	if (rc == 0)
		rc = send_all(fd, out.data, out.len, flags);
	buf_free(&out);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	freshfd_tunnel_mark(fd);
	respan_debug("fd %d: CONNECT %s:%u -> %s", fd, t->host, t->port, authority);
	return (ssize_t)n;
}

/*
 * A CONNECT as the first write: retargeted at the router when the TLS
 * inside can be routed, else audited like a ClientHello. Returns as
 * audit() does.
 */
static ssize_t audit_connect(const struct respan_state *st, int fd,
			     const struct iovec *seg, size_t nseg,
			     const unsigned char *first, size_t n, bool more, int flags,
			     int *err)
{
	struct tunnel_target t;
	unsigned char *big = NULL;
	const char *bytes = (const char *)first;
	ssize_t rc = AUDIT_PASS;
	enum tunnel_result r = tunnel_parse(bytes, n, &t);

	if (r == TUNNEL_NOT)
		return AUDIT_PASS;
	if (more && (r == TUNNEL_PARTIAL || n == AUDIT_STACK)) {
		/* More than the first bytes: read what the kernel would send. */
		big = malloc(AUDIT_MAX);
		if (big) {
			n = gather(seg, nseg, big, AUDIT_MAX, &more);
			bytes = (const char *)big;
			r = tunnel_parse(bytes, n, &t);
		}
	}
	enum provider_id provider = r == TUNNEL_NOT ? PROVIDER_NONE :
		route_lookup_host(&st->cfg, t.host, strlen(t.host));
	if (provider == PROVIDER_NONE)
		goto out;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	/* Routed only where the session inside will be the library's to take
	 * over (a libssl or a libgnutls is loaded), and the whole request is
	 * in this write. */
	if (r == TUNNEL_CONNECT && !more && real_have_tls_layer() &&
	    getpeername(fd, (struct sockaddr *)&peer, &plen) == 0) {
		rc = retarget_tunnel(st, fd, bytes, n, &t, flags);
		if (rc < 0)
			*err = errno;
		goto out;
	}
	if (unrouted(st, fd, provider, t.host, "an HTTP CONNECT tunnel", err) < 0)
		rc = -1;
out:
	free(big);
	return rc;
}

/*
 * The audit of a write of seg[0..nseg) (our copy of the program's iovecs;
 * the bytes are still the program's) to a fresh fd, with the send flags the
 * program gave (0 for write and writev). Returns AUDIT_PASS to let the
 * write go; -1 (errno set) when it is refused; or, when the audit sent the
 * bytes itself (a CONNECT for a provider, asked for the router instead),
 * the program's byte count.
 */
static ssize_t audit(int fd, const struct iovec *seg, size_t nseg, int flags)
{
	int saved_errno = errno;
	int saved = guard_enter();
	unsigned char stack[AUDIT_STACK];
	bool more;
	char host[256];
	ssize_t rc = AUDIT_PASS;
	size_t n = gather(seg, nseg, stack, sizeof(stack), &more);
	/*
	 * Not a byte readable: the kernel sends none either (an empty write, or
	 * EFAULT), so the connection's first write is still to come.
	 */
	if (n == 0 || !freshfd_take(fd))
		goto out;
	const struct respan_state *st = respan_state();
	if (!respan_routing(st))
		goto out;
	enum provider_id provider = provider_sni(st, seg, nseg, stack, n, more, host,
						 sizeof(host));
	if (provider != PROVIDER_NONE) {
		if (unrouted(st, fd, provider, host, "a TLS connection", &saved_errno) < 0)
			rc = -1;
	} else {
		rc = audit_connect(st, fd, seg, nseg, stack, n, more, flags, &saved_errno);
	}
out:
	guard_leave(saved);
	errno = saved_errno;
	return rc;
}

/*
 * The audit of a write of the program's iovec array (iovcnt of them, not
 * yet read): the first AUDIT_IOV are copied. An array the kernel cannot
 * read, or too long for it, fails the real call and sends nothing: no audit.
 */
static ssize_t audit_iov(int fd, const struct iovec *iov, size_t iovcnt, int flags)
{
	struct iovec seg[AUDIT_IOV];
	size_t nseg = iovcnt < AUDIT_IOV ? iovcnt : AUDIT_IOV;
	if (iovcnt == 0 || iovcnt > KERNEL_MAX_IOV ||
	    !peek(seg, iov, nseg * sizeof(seg[0])))
		return AUDIT_PASS;
	return audit(fd, seg, nseg, flags);
}

/* The write hooks' fast path: one table load unless fd is fresh. */
static inline bool fresh(int fd)
{
	return freshfd_marked(fd) && !guard_busy();
}

HOOK ssize_t write(int fd, const void *buf, size_t count)
{
	REAL(real_write, real_libc, "write");
	if (real_write == NULL) {
		errno = ENOSYS;
		return -1;
	}
	struct iovec one = { (void *)(uintptr_t)buf, count };
	ssize_t a = fresh(fd) ? audit(fd, &one, 1, 0) : AUDIT_PASS;
	if (a != AUDIT_PASS)
		return a;
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
	ssize_t a = fresh(fd) ? audit(fd, &one, 1, flags) : AUDIT_PASS;
	if (a != AUDIT_PASS)
		return a;
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
	struct sockaddr_storage fixed;
	bool fix = (flags & MSG_FASTOPEN) && fastopen(fd, to, tolen, &fixed);
	struct iovec one = { (void *)(uintptr_t)buf, count };
	ssize_t a = fresh(fd) ? audit(fd, &one, 1, flags & ~MSG_FASTOPEN) : AUDIT_PASS;
	if (a != AUDIT_PASS)
		return a;
	return real_sendto(fd, buf, count, flags,
			   fix ? (struct sockaddr *)&fixed : to, tolen);
}

HOOK ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	REAL(real_sendmsg, real_libc, "sendmsg");
	if (real_sendmsg == NULL) {
		errno = ENOSYS;
		return -1;
	}
	struct msghdr copy;
	struct sockaddr_storage fixed;
	bool have = (flags & MSG_FASTOPEN) && !guard_busy() &&
		    peek(&copy, msg, sizeof(copy));
	bool fix = have && fastopen(fd, copy.msg_name, copy.msg_namelen, &fixed);
	if (fix)
		copy.msg_name = &fixed;
	/* A msghdr the kernel cannot read: EFAULT, nothing sent. */
	if (fresh(fd) && (have || peek(&copy, msg, sizeof(copy)))) {
		ssize_t a = audit_iov(fd, copy.msg_iov, copy.msg_iovlen, flags & ~MSG_FASTOPEN);
		if (a != AUDIT_PASS)
			return a;
	}
	return real_sendmsg(fd, fix ? &copy : msg, flags);
}

HOOK ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	REAL(real_writev, real_libc, "writev");
	if (real_writev == NULL) {
		errno = ENOSYS;
		return -1;
	}
	ssize_t a = fresh(fd) && iovcnt > 0 ? audit_iov(fd, iov, (size_t)iovcnt, 0) :
					       AUDIT_PASS;
	if (a != AUDIT_PASS)
		return a;
	return real_writev(fd, iov, iovcnt);
}

HOOK int close(int fd)
{
	REAL(real_close, real_libc, "close");
	if (real_close == NULL) {
		errno = ENOSYS;
		return -1;
	}
	freshfd_forget(fd);
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
		freshfd_forget_range(first, last);
	return rc;
}

/*
 * newfd now stands for oldfd's connection: fresh when oldfd is, so its
 * first write is audited whichever fd makes it (the other keeps its mark,
 * and its next write is looked at once more: a parse, not a ClientHello).
 * Otherwise newfd's old mark goes with the fd it replaced.
 */
static void dup_mark(int oldfd, int newfd)
{
	freshfd_copy(oldfd, newfd);
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
		dup_mark(oldfd, newfd);
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
		dup_mark(oldfd, newfd);
	return rc;
}
