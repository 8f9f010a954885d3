/*
 * resolver: provider names resolve to the router (docs/contract.md#layers, layer 3),
 * but only where a TLS layer (OpenSSL or GnuTLS) will take the session
 * over; otherwise the name resolves as usual and a not_routed event says
 * why, once per host (under RESPAN_FAIL=closed it does not resolve: a
 * blocked event, once).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "init.h"
#include "lazyrelay.h"
#include "reportonce.h"
#include "routeraddr.h"
#include "real.h"
#include "route.h"

typedef int (*getaddrinfo_fn)(const char *, const char *,
			      const struct addrinfo *, struct addrinfo **);
typedef struct hostent *(*gethostbyname_fn)(const char *);
typedef struct hostent *(*gethostbyname2_fn)(const char *, int);
typedef int (*gethostbyname_r_fn)(const char *, struct hostent *, char *,
				  size_t, struct hostent **, int *);
typedef int (*gethostbyname2_r_fn)(const char *, int, struct hostent *, char *,
				   size_t, struct hostent **, int *);

static getaddrinfo_fn real_getaddrinfo;
static gethostbyname_fn real_gethostbyname;
static gethostbyname2_fn real_gethostbyname2;
static gethostbyname_r_fn real_gethostbyname_r;
static gethostbyname2_r_fn real_gethostbyname2_r;

enum verdict {
	PASS,		/* resolve as usual */
	REDIRECT,	/* answer with the router's addresses */
	INTERCEPT,	/* answer with the relay's stand-in address (lazyrelay.h) */
	REFUSE,		/* RESPAN_FAIL=closed and this name cannot be routed */
};

/*
 * What to do with this name: the router's addresses only for provider names,
 * in route mode with a key, where libssl or libgnutls can be taken over.
 * Where they cannot, and the library's relay intercepts (RESPAN_INTERCEPT=
 * auto), the relay's stand-in address: the relay answers the TLS with a
 * certificate from the interception CA. A provider name that cannot be
 * routed either way resolves as usual (a not_routed event says why), or
 * under RESPAN_FAIL=closed, or in a process holding the Respan key, not at
 * all (a blocked event).
 */
static enum verdict name_verdict(const char *name)
{
	if (name == NULL || guard_busy())
		return PASS;
	const struct respan_state *st = respan_state();
	if (!st->active || st->cfg.mode != RESPAN_MODE_ROUTE)
		return PASS;
	enum provider_id provider = route_lookup_host(&st->cfg, name, strlen(name));
	if (provider == PROVIDER_NONE)
		return PASS;
	if (!respan_routing(st)) {
		respan_provider_call(st);	/* no key: said once */
		return PASS;
	}
	if (real_have_tls_layer())
		return REDIRECT;
	/* TLS the library cannot see: the relay intercepts it (RESPAN_INTERCEPT). */
	if (lazyrelay_intercept_host())
		return INTERCEPT;
	int saved = guard_enter();
	/* With the Respan key in a provider key variable, an unrouted
	 * connection would carry it to the provider: refused, fail open or not. */
	const char *keyed = respan_keyed(st, provider);
	bool closed = keyed || st->cfg.fail == RESPAN_FAIL_CLOSED;
	if (closed && reportonce_first(name, REPORTONCE_BLOCKED_LOOKUP)) {
		char detail[300];
		if (keyed)
			snprintf(detail, sizeof(detail), "the Respan key is in %s in this "
				 "process: name lookup refused, TLS in this program cannot "
				 "be routed (no libssl loaded)", keyed);
		else
			snprintf(detail, sizeof(detail), "RESPAN_FAIL=closed: name lookup "
				 "refused, TLS in this program cannot be routed (no libssl "
				 "loaded)");
		logfile_event(st->log, "blocked", name, detail);
	} else if (!closed) {
		reportonce_not_routed(&st->xctx, name, NOT_ROUTED_NO_LIBSSL);
	}
	guard_leave(saved);
	return closed ? REFUSE : PASS;
}

/*
 * Only HTTPS is routed: no service, 443 or "https"; or "0", "any port",
 * which Bun asks for before it puts 443 in itself (the socket layer then
 * takes a connection to a router address on 443 on to the router's port).
 */
static bool https_service(const char *service)
{
	return service == NULL || strcmp(service, "443") == 0 ||
	       strcmp(service, "https") == 0 || strcmp(service, "0") == 0;
}

HOOK int getaddrinfo(const char *node, const char *service,
		const struct addrinfo *hints, struct addrinfo **res)
{
	REAL(real_getaddrinfo, real_libc, "getaddrinfo");
	if (real_getaddrinfo == NULL)
		return EAI_FAIL;
	enum verdict v = https_service(service) ? name_verdict(node) : PASS;
	if (v == PASS)
		return real_getaddrinfo(node, service, hints, res);
	if (v == REFUSE)
		return EAI_FAIL;

	const struct respan_state *st = respan_state();
	int saved = guard_enter();
	if (v == INTERCEPT) {
		/* The port the program asked for: the relay takes any on the stand-in. */
		struct addrinfo h4 = { .ai_family = AF_INET };
		if (hints) {
			h4.ai_socktype = hints->ai_socktype;
			h4.ai_protocol = hints->ai_protocol;
			h4.ai_flags = hints->ai_flags & ~AI_CANONNAME;
		}
		h4.ai_flags |= AI_NUMERICHOST;
		int rc = real_getaddrinfo(lazyrelay_intercept_host(), service, &h4, res);
		guard_leave(saved);
		respan_debug("resolved %s to the relay (interception)", node);
		return rc;
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", st->cfg.router_port);
	int rc = real_getaddrinfo(st->cfg.router_host,
				  service == NULL || strcmp(service, "0") == 0 ?
				  service : port, hints, res);
	if (rc == 0)
		for (struct addrinfo *ai = *res; ai; ai = ai->ai_next)
			if (ai->ai_addr)
				routeraddr_add(ai->ai_addr);
	guard_leave(saved);
	respan_debug("resolved %s to the router %s", node, st->cfg.router_host);
	return rc;
}

/* The name a redirected look-up resolves instead: the router's, or the stand-in. */
static const char *target(enum verdict v)
{
	return v == INTERCEPT ? lazyrelay_intercept_host() : respan_state()->cfg.router_host;
}

/* Remember every address of a hostent the program is about to get. */
static void remember_hostent(const struct hostent *h)
{
	if (h == NULL || h->h_addr_list == NULL)
		return;
	for (char **a = h->h_addr_list; *a; a++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		if (h->h_addrtype == AF_INET && h->h_length == 4) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, *a, 4);
		} else if (h->h_addrtype == AF_INET6 && h->h_length == 16) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			in6->sin6_family = AF_INET6;
			memcpy(&in6->sin6_addr, *a, 16);
		} else {
			continue;
		}
		routeraddr_add((struct sockaddr *)&ss);
	}
}

/* The _r functions' "no answer": no result, a permanent failure. */
static int refuse_r(struct hostent **result, int *h_errnop)
{
	if (result)
		*result = NULL;
	if (h_errnop)
		*h_errnop = NO_RECOVERY;
	return ENOENT;
}

HOOK struct hostent *gethostbyname(const char *name)
{
	REAL(real_gethostbyname, real_libc, "gethostbyname");
	if (real_gethostbyname == NULL)
		return NULL;
	enum verdict v = name_verdict(name);
	if (v == PASS)
		return real_gethostbyname(name);
	if (v == REFUSE) {
		h_errno = NO_RECOVERY;
		return NULL;
	}
	int saved = guard_enter();
	struct hostent *h = real_gethostbyname(target(v));
	if (v == REDIRECT)
		remember_hostent(h);
	guard_leave(saved);
	return h;
}

HOOK struct hostent *gethostbyname2(const char *name, int af)
{
	REAL(real_gethostbyname2, real_libc, "gethostbyname2");
	if (real_gethostbyname2 == NULL)
		return NULL;
	enum verdict v = name_verdict(name);
	if (v == PASS)
		return real_gethostbyname2(name, af);
	if (v == REFUSE) {
		h_errno = NO_RECOVERY;
		return NULL;
	}
	int saved = guard_enter();
	struct hostent *h = real_gethostbyname2(target(v), af);
	if (v == REDIRECT)
		remember_hostent(h);
	guard_leave(saved);
	return h;
}

HOOK int gethostbyname_r(const char *name, struct hostent *ret, char *buf,
		    size_t buflen, struct hostent **result, int *h_errnop)
{
	REAL(real_gethostbyname_r, real_libc, "gethostbyname_r");
	if (real_gethostbyname_r == NULL)
		return ENOSYS;
	enum verdict v = name_verdict(name);
	if (v == PASS)
		return real_gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	if (v == REFUSE)
		return refuse_r(result, h_errnop);
	int saved = guard_enter();
	int rc = real_gethostbyname_r(target(v), ret, buf, buflen, result, h_errnop);
	if (rc == 0 && result && v == REDIRECT)
		remember_hostent(*result);
	guard_leave(saved);
	return rc;
}

HOOK int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
		     size_t buflen, struct hostent **result, int *h_errnop)
{
	REAL(real_gethostbyname2_r, real_libc, "gethostbyname2_r");
	if (real_gethostbyname2_r == NULL)
		return ENOSYS;
	enum verdict v = name_verdict(name);
	if (v == PASS)
		return real_gethostbyname2_r(name, af, ret, buf, buflen, result,
					     h_errnop);
	if (v == REFUSE)
		return refuse_r(result, h_errnop);
	int saved = guard_enter();
	int rc = real_gethostbyname2_r(target(v), af, ret, buf, buflen, result, h_errnop);
	if (rc == 0 && result && v == REDIRECT)
		remember_hostent(*result);
	guard_leave(saved);
	return rc;
}
