/* tls: the sessions of ours, first use to free; the contract is in tls.h. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "freshfd.h"
#include "guard.h"
#include "init.h"
#include "routeraddr.h"
#include "routertls.h"
#include "routertrust.h"
#include "sslapi.h"
#include "tls.h"

static char not_ours;		/* ex_data marker: looked at, not ours */
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session *sessions;
static unsigned n_routed;	/* live routed sessions; atomic */

/*
 * Does the session's socket lead to a router address we handed out, or
 * through a proxy tunnel the library asked for the router (freshfd.h)?
 */
static bool peer_is_router(SSL *ssl, const struct sslapi *api)
{
	int fd = api->get_fd(ssl);
	if (fd < 0)
		return true;	/* memory BIO: only the SNI can tell */
	if (freshfd_tunnel(fd))
		return true;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	return routeraddr_known((struct sockaddr *)&ss);
}

/*
 * A session without SNI: is it to the router, named by address in
 * RESPAN_BASE_URL (no SNI is sent for an address), over a socket to that
 * very address and port? Then it is the router's like one naming its host.
 */
static bool peer_is_router_literal(SSL *ssl, const struct sslapi *api,
				   const struct config *cfg)
{
	struct routertls p;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	routertls_policy(cfg, &p);
	if (!p.is_ip)
		return false;
	int fd = api->get_fd(ssl);
	return fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	       routertls_is_router_literal(&p, (struct sockaddr *)&ss);
}

static void session_link(struct session *s)
{
	pthread_mutex_lock(&sessions_lock);
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
	pthread_mutex_unlock(&sessions_lock);
}

static void session_unlink(struct session *s)
{
	pthread_mutex_lock(&sessions_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&sessions_lock);
}

/*
 * Decide what a session is (tlsdecision.h) and set it up; called once,
 * before its first use. NULL when it is not ours.
 */
static struct session *session_begin(SSL *ssl, const struct sslapi *api,
				     const struct respan_state *st, bool connecting)
{
	struct tlsdecision_facts f = { .server = !connecting && api->is_server(ssl) != 0 };
	if (f.server)
		return NULL;
	const char *sni = api->get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni == NULL) {
		if (!peer_is_router_literal(ssl, api, &st->cfg))
			return NULL;
		sni = st->cfg.router_host;	/* the name the program asked for */
	}
	enum provider_id provider;
	f.name = tlsdecision_name(&st->cfg, sni, &provider);
	if (f.name == TLS_NAME_PROVIDER)
		respan_provider_call(st);
	f.routing = respan_routing(st);
	/* Looked up only where the table reads it: a getpeername() and a lock. */
	f.to_router_addr = f.name == TLS_NAME_PROVIDER && f.routing &&
			   peer_is_router(ssl, api);
	const struct tlsdecision *d = tlsdecision_decide(&f);
	if (d->kind == TLS_NOT_OURS)
		return NULL;
	if (d->kind == TLS_ROUTER && !routertrust_verify_router(ssl, api, &st->cfg)) {
		/* The key must not go where the router is not checked. */
		logfile_event(st->log, "not_routed", sni, d->setup_failed);
		d = tlsdecision_fallback(d);
	}

	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	struct exchange_info info = {
		.layer = "openssl", .host = sni, .port = 443,
		.provider = provider, .mode = d->mode,
	};
	s->decision = d;
	s->ssl = ssl;
	snprintf(s->host, sizeof(s->host), "%s", sni);
	tlsconn_init(&s->conn);
	if (tlsconn_open(&s->conn, &st->xctx, &info) < 0) {
		tlsconn_destroy(&s->conn);
		free(s);
		return NULL;
	}
	if (d->kind == TLS_ROUTED && !routertrust_retarget(ssl, api, &st->cfg)) {
		/* Half-retargeted TLS must not go out: fail the handshake. */
		logfile_event(st->log, "not_routed", sni, d->setup_failed);
		routertrust_force_verify(ssl, api);
	} else if (d->kind == TLS_ROUTER) {
		struct routertls p;
		routertls_policy(&st->cfg, &p);
		api->set_alpn(ssl, p.alpn, (unsigned int)p.alpn_len);
		routertrust_add_ca(ssl, api, &st->cfg);
	}
	respan_debug("TLS session to %s: %s", s->host, d->label);
	if (d->kind == TLS_ROUTED)
		__atomic_add_fetch(&n_routed, 1, __ATOMIC_RELAXED);
	session_link(s);
	return s;
}

static struct session *find_or_begin(SSL *ssl, bool connecting)
{
	if (ssl == NULL || guard_busy())
		return NULL;
	const struct respan_state *st = respan_state();
	if (!st->active)
		return NULL;
	const struct sslapi *api = sslapi_get();
	if (api == NULL)
		return NULL;
	void *p = api->get_ex_data(ssl, api->ex_index);
	if (p == &not_ours)
		return NULL;
	if (p)
		return p;
	int saved = guard_enter();
	struct session *s = session_begin(ssl, api, st, connecting);
	api->set_ex_data(ssl, api->ex_index, s ? (void *)s : (void *)&not_ours);
	guard_leave(saved);
	return s;
}

struct session *tls_session(SSL *ssl)
{
	return find_or_begin(ssl, false);
}

struct session *tls_session_connecting(SSL *ssl)
{
	return find_or_begin(ssl, true);
}

static void session_end(struct session *s)
{
	session_unlink(s);
	if (s->decision->kind == TLS_ROUTED)
		__atomic_sub_fetch(&n_routed, 1, __ATOMIC_RELAXED);
	tlsconn_destroy(&s->conn);
	free(s);
}

void tls_free(SSL *ssl)
{
	const struct sslapi *api = sslapi_loaded();
	if (ssl == NULL || api == NULL || guard_busy())
		return;
	void *p = api->get_ex_data(ssl, api->ex_index);
	if (p && p != &not_ours) {
		api->set_ex_data(ssl, api->ex_index, NULL);
		session_end(p);
	}
}

/*
 * The routed, verified session whose peer certificate is x; sessions_lock
 * held. A copy is as good as the object: its encoding is the certificate
 * the router proved it holds the key of, in a handshake verified for the
 * router's name.
 */
static struct session *routed_peer(const struct sslapi *api, const X509 *x)
{
	for (struct session *s = sessions; s; s = s->next) {
		if (s->decision->kind != TLS_ROUTED)
			continue;
		X509 *peer = api->peer_cert(s->ssl);
		/* The same certificate, not only the same object: Ruby shows the program a copy. */
		bool same = peer != NULL && (peer == x || api->x509_cmp(peer, x) == 0);
		if (peer && api->peer_cert_counted)
			api->x509_free(peer);	/* only compared, never used */
		if (same && api->verify_result(s->ssl) == X509_V_OK)
			return s;
	}
	return NULL;
}

bool tls_any_routed(void)
{
	return __atomic_load_n(&n_routed, __ATOMIC_RELAXED) != 0;
}

bool tls_routed_peer_name(const X509 *x, char *host, size_t size)
{
	const struct sslapi *api = sslapi_loaded();
	if (api == NULL || x == NULL)
		return false;
	pthread_mutex_lock(&sessions_lock);
	struct session *s = routed_peer(api, x);
	if (s)
		snprintf(host, size, "%s", s->host);
	pthread_mutex_unlock(&sessions_lock);
	return s != NULL;
}

X509_EXTENSION *tls_routed_peer_ext(const X509 *x, const X509_EXTENSION *orig,
				    X509_EXTENSION *(*widen)(const X509_EXTENSION *,
							     const char *))
{
	const struct sslapi *api = sslapi_loaded();
	X509_EXTENSION *ext = NULL;
	if (api == NULL || x == NULL || api->x509_ex_index < 0)
		return NULL;
	pthread_mutex_lock(&sessions_lock);
	struct session *s = routed_peer(api, x);
	if (s) {
		/* Const as the program sees it; the slot is ours. */
		X509 *cert = (X509 *)(uintptr_t)x;
		ext = api->x509_get_ex_data(cert, api->x509_ex_index);
		if (ext == NULL) {
			ext = widen(orig, s->host);
			if (ext && api->x509_set_ex_data(cert, api->x509_ex_index, ext) != 1) {
				api->ext_free(ext);
				ext = NULL;
			}
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	return ext;
}

/*
 * The program is exiting: exchanges still open end here, with a reason. The
 * sessions themselves stay allocated, since their SSL objects (and ex_data
 * pointing at them) may still be freed by the program's own exit handlers.
 */
__attribute__((destructor)) static void tls_at_exit(void)
{
	pthread_mutex_lock(&sessions_lock);
	for (struct session *s = sessions; s; s = s->next)
		tlsconn_close(&s->conn, "process exited");
	pthread_mutex_unlock(&sessions_lock);
}

/*
 * The session list is held across fork, before every other lock of the
 * library (routertrust_fork's come next: nothing takes the session list
 * while holding them). A session's own lock may be held by a thread that
 * does not exist in the child: there it is made anew.
 */
void tls_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE) {
		pthread_mutex_lock(&sessions_lock);
		return;
	}
	if (phase == FORK_CHILD)
		for (struct session *s = sessions; s; s = s->next)
			tlsconn_fork_child(&s->conn);
	pthread_mutex_unlock(&sessions_lock);
}
