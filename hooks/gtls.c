/* gtls: the GnuTLS sessions of ours, init to deinit; the contract is in gtls.h. */
#include "gtls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cold.h"
#include "freshfd.h"
#include "gnutlsapi.h"
#include "gtlstrust.h"
#include "guard.h"
#include "init.h"
#include "routeraddr.h"
#include "routertls.h"

#define BUCKETS 256
/* A transport "pointer" below this is the fd gnutls_transport_set_int gave. */
#define FD_LIMIT 65536

static struct gsession *table[BUCKETS] RESPAN_COLD;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned bucket(gnutls_session_t gs)
{
	uintptr_t v = (uintptr_t)gs;
	return (unsigned)(((v >> 4) ^ (v >> 12)) % BUCKETS);
}

static struct gsession *find_locked(gnutls_session_t gs)
{
	for (struct gsession *e = table[bucket(gs)]; e; e = e->next)
		if (e->gs == gs)
			return e;
	return NULL;
}

static struct gsession *unlink_locked(gnutls_session_t gs)
{
	for (struct gsession **pp = &table[bucket(gs)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->gs == gs) {
			struct gsession *e = *pp;
			*pp = e->next;
			return e;
		}
	}
	return NULL;
}

/* A session was ever added: exit has something to end (a process that
 * never used GnuTLS should not fault the table's pages in at exit). */
static bool any_session;

static struct gsession *add_locked(gnutls_session_t gs)
{
	struct gsession *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->gs = gs;
	tlsconn_init(&e->conn);
	e->next = table[bucket(gs)];
	table[bucket(gs)] = e;
	__atomic_store_n(&any_session, true, __ATOMIC_RELEASE);
	return e;
}

static void alpn_drop(struct gsession *e)
{
	free(e->alpn);
	e->alpn = NULL;
	e->alpn_n = 0;
}

static void session_end(struct gsession *e)
{
	tlsconn_destroy(&e->conn);
	alpn_drop(e);
	free(e);
}

static bool layer_on(const struct respan_state **st)
{
	if (guard_busy())
		return false;
	*st = respan_state();
	return (*st)->active;
}

void gtls_new(gnutls_session_t gs, bool server)
{
	const struct respan_state *st;
	bool on = layer_on(&st);
	if (gs == NULL || (!on && !guard_busy()))
		return;
	pthread_mutex_lock(&table_lock);
	/*
	 * A session at this address that was never deinit'ed (by us) is gone:
	 * its entry must not be taken for the new one's, even where the new
	 * one is not looked after.
	 */
	struct gsession *stale = unlink_locked(gs);
	struct gsession *e = on ? add_locked(gs) : NULL;
	if (e)
		e->server = server;
	pthread_mutex_unlock(&table_lock);
	if (stale)
		session_end(stale);
}

bool gtls_server_name(gnutls_session_t gs, const void *name, size_t len)
{
	const struct respan_state *st;
	bool pass = true;
	if (gs == NULL || !layer_on(&st))
		return true;
	pthread_mutex_lock(&table_lock);
	struct gsession *e = find_locked(gs);
	if (e == NULL)
		e = add_locked(gs);
	if (e && e->decision == NULL) {
		if (name == NULL || len == 0 || len >= sizeof(e->host))
			e->host[0] = '\0';
		else
			snprintf(e->host, sizeof(e->host), "%.*s", (int)len, (const char *)name);
	} else if (e && e->decision->kind == TLS_ROUTED) {
		pass = false;	/* its SNI is the router's, and stays so */
	}
	pthread_mutex_unlock(&table_lock);
	return pass;
}

/* GnuTLS 3.7's limits (MAX_ALPN_PROTOCOLS, MAX_ALPN_PROTOCOL_NAME). */
#define ALPN_MAX 8
#define ALPN_NAME_MAX 32

int gtls_alpn(gnutls_session_t gs, const gnutls_datum_t *protocols, unsigned n,
	      unsigned flags)
{
	const struct respan_state *st;
	if (gs == NULL || !layer_on(&st) || gnutlsapi_get() == NULL)
		return 0;
	if (n > ALPN_MAX)
		return GNUTLS_E_INVALID_REQUEST;
	size_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		if (protocols[i].size >= ALPN_NAME_MAX)
			return GNUTLS_E_INVALID_REQUEST;
		total += protocols[i].size;
	}
	int rc = 0;
	pthread_mutex_lock(&table_lock);
	struct gsession *e = find_locked(gs);
	if (e == NULL)
		e = add_locked(gs);
	if (e && e->decision == NULL && !e->server) {
		/* One block: the list, then the names it points at. */
		gnutls_datum_t *d = malloc(n * sizeof(*d) + total + 1);
		if (d) {
			unsigned char *at = (unsigned char *)(d + n);
			for (unsigned i = 0; i < n; i++) {
				memcpy(at, protocols[i].data, protocols[i].size);
				d[i].data = at;
				d[i].size = protocols[i].size;
				at += protocols[i].size;
			}
			alpn_drop(e);
			e->alpn = d;
			e->alpn_n = n;
			e->alpn_flags = flags;
			rc = 1;
		}
	} else if (e && (e->decision->kind == TLS_ROUTED || e->decision->kind == TLS_ROUTER) &&
		   e->alpn_ours) {
		rc = 1;		/* http/1.1 stays */
	}
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* After the decision: the program's own list, where http/1.1 was not set. */
static void alpn_apply(struct gsession *e, const struct gnutlsapi *api)
{
	if (e->alpn && !e->alpn_ours)
		api->alpn_set(e->gs, e->alpn, e->alpn_n, e->alpn_flags);
	alpn_drop(e);
}

/* The session's socket, or -1 when its transport is the program's own. */
static int session_fd(gnutls_session_t gs, const struct gnutlsapi *api)
{
	intptr_t v = (intptr_t)api->transport_ptr(gs);
	return v >= 0 && v < FD_LIMIT ? (int)v : -1;
}

/*
 * Does the session's socket lead to a router address we handed out, or
 * through a proxy tunnel the library asked for the router (freshfd.h)?
 */
static bool peer_is_router(gnutls_session_t gs, const struct gnutlsapi *api)
{
	int fd = session_fd(gs, api);
	if (fd < 0)
		return true;	/* push/pull functions: only the name can tell */
	if (freshfd_tunnel(fd))
		return true;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	return routeraddr_known((struct sockaddr *)&ss);
}

/* No SNI: a socket to the router named by an IP literal (as in tls.c). */
static bool peer_is_router_literal(gnutls_session_t gs, const struct gnutlsapi *api,
				   const struct config *cfg)
{
	struct routertls p;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	routertls_policy(cfg, &p);
	if (!p.is_ip)
		return false;
	int fd = session_fd(gs, api);
	return fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	       routertls_is_router_literal(&p, (struct sockaddr *)&ss);
}

/* Decide what e is (tlsdecision.h) and set it up; once, table locked. */
static void session_begin(struct gsession *e, const struct gnutlsapi *api,
			  const struct respan_state *st)
{
	struct tlsdecision_facts f = { .server = e->server };
	const struct tlsdecision *not_ours = tlsdecision_decide(&(struct tlsdecision_facts){
		.name = TLS_NAME_OTHER });

	e->decision = not_ours;
	if (f.server)
		return;
	if (e->host[0] == '\0') {
		if (!peer_is_router_literal(e->gs, api, &st->cfg))
			return;
		snprintf(e->host, sizeof(e->host), "%s", st->cfg.router_host);
	}
	enum provider_id provider;
	f.name = tlsdecision_name(&st->cfg, e->host, &provider);
	if (f.name == TLS_NAME_PROVIDER)
		respan_provider_call(st);
	f.routing = respan_routing(st);
	f.to_router_addr = f.name == TLS_NAME_PROVIDER && f.routing &&
			   peer_is_router(e->gs, api);
	const struct tlsdecision *d = tlsdecision_decide(&f);
	if (d->kind == TLS_NOT_OURS)
		return;
	if (d->kind == TLS_ROUTER && !gtlstrust_verify_router(e->gs, api, &st->cfg)) {
		/* The key must not go where the router is not checked. */
		logfile_event(st->log, "not_routed", e->host, d->setup_failed);
		d = tlsdecision_fallback(d);
	} else if (d->kind == TLS_ROUTER) {
		e->alpn_ours = true;
	}
	struct exchange_info info = {
		.layer = "gnutls", .host = e->host, .port = 443,
		.provider = provider, .mode = d->mode,
	};
	if (tlsconn_open(&e->conn, &st->xctx, &info) < 0)
		return;
	if (d->kind == TLS_ROUTED && !gtlstrust_retarget(e->gs, api, &st->cfg)) {
		/* Half-retargeted TLS must not go out: the handshake is refused. */
		logfile_event(st->log, "not_routed", e->host, d->setup_failed);
		e->refused = true;
	} else if (d->kind == TLS_ROUTED) {
		e->alpn_ours = true;
	}
	e->decision = d;
	respan_debug("GnuTLS session to %s: %s", e->host, d->label);
}

struct gsession *gtls_session(gnutls_session_t gs)
{
	const struct respan_state *st;
	if (gs == NULL || !layer_on(&st))
		return NULL;
	const struct gnutlsapi *api = gnutlsapi_get();
	if (api == NULL)
		return NULL;
	pthread_mutex_lock(&table_lock);
	struct gsession *e = find_locked(gs);
	if (e == NULL)
		e = add_locked(gs);
	if (e && e->decision == NULL) {
		int saved = guard_enter();
		session_begin(e, api, st);
		alpn_apply(e, api);
		guard_leave(saved);
	}
	bool ours = e && e->decision->kind != TLS_NOT_OURS;
	pthread_mutex_unlock(&table_lock);
	return ours ? e : NULL;
}

void gtls_free(gnutls_session_t gs)
{
	if (gs == NULL)
		return;
	pthread_mutex_lock(&table_lock);
	struct gsession *e = unlink_locked(gs);
	pthread_mutex_unlock(&table_lock);
	if (e)
		session_end(e);
}

bool gtls_router_verified(struct gsession *s)
{
	int v = __atomic_load_n(&s->verified, __ATOMIC_ACQUIRE);
	if (v != 0)
		return v > 0;
	const struct gnutlsapi *api = gnutlsapi_loaded();
	unsigned int n = 0;
	if (api == NULL || api->get_peers(s->gs, &n) == NULL || n == 0)
		return false;	/* no handshake yet: nothing to judge */
	int saved = guard_enter();
	v = gtlstrust_check_peer(s->gs, api, &respan_state()->cfg) ? 1 : -1;
	guard_leave(saved);
	__atomic_store_n(&s->verified, v, __ATOMIC_RELEASE);
	return v > 0;
}

bool gtls_routed_peer(gnutls_x509_crt_t crt, const char *host)
{
	const struct gnutlsapi *api = gnutlsapi_loaded();
	bool found = false;
	if (api == NULL || crt == NULL || host == NULL)
		return false;
	pthread_mutex_lock(&table_lock);
	for (unsigned b = 0; b < BUCKETS && !found; b++) {
		for (struct gsession *e = table[b]; e && !found; e = e->next) {
			unsigned int n = 0;
			if (e->decision == NULL || e->decision->kind != TLS_ROUTED ||
			    e->refused || strcasecmp(e->host, host) != 0)
				continue;
			const gnutls_datum_t *peers = api->get_peers(e->gs, &n);
			found = peers && n > 0 && api->crt_equals2(crt, &peers[0]) &&
				gtls_router_verified(e);
		}
	}
	pthread_mutex_unlock(&table_lock);
	return found;
}

const char *gtls_router_name_for(gnutls_session_t gs, const char *host)
{
	const struct respan_state *st;
	const char *name = NULL;
	if (gs == NULL || host == NULL || !layer_on(&st))
		return NULL;
	pthread_mutex_lock(&table_lock);
	struct gsession *e = find_locked(gs);
	if (e && e->decision && e->decision->kind == TLS_ROUTED &&
	    strcasecmp(e->host, host) == 0)
		name = st->cfg.router_host;
	pthread_mutex_unlock(&table_lock);
	return name;
}

/*
 * The program is exiting: exchanges still open end here, with a reason.
 * The entries stay, since the program's exit handlers may still use or
 * deinit their sessions.
 */
__attribute__((destructor)) static void gtls_at_exit(void)
{
	if (!__atomic_load_n(&any_session, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&table_lock);
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct gsession *e = table[b]; e; e = e->next)
			tlsconn_close(&e->conn, "process exited");
	pthread_mutex_unlock(&table_lock);
}

void gtls_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE) {
		pthread_mutex_lock(&table_lock);
		return;
	}
	if (phase == FORK_CHILD)
		for (unsigned b = 0; b < BUCKETS; b++)
			for (struct gsession *e = table[b]; e; e = e->next)
				tlsconn_fork_child(&e->conn);
	pthread_mutex_unlock(&table_lock);
}
