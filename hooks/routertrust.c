/* routertrust: the router's certificate check in the hooks; see routertrust.h. */
#include "routertrust.h"

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "routertls.h"

static X509_STORE *router_store;
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;

/* Does dir hold OpenSSL's subject-hash links ("1234abcd.0")? */
static bool has_hash_links(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return false;
	bool found = false;
	for (struct dirent *e; !found && (e = readdir(d)) != NULL;)
		found = strlen(e->d_name) == 10 && strspn(e->d_name, "0123456789abcdef") == 8 &&
			e->d_name[8] == '.' && e->d_name[9] == '0';
	closedir(d);
	return found;
}

/*
 * The system CAs, as OpenSSL's default paths name them. The hashed
 * directory is looked up lazily, one certificate when it is needed; loading
 * the whole bundle file instead costs ~17 ms and ~1.5 MiB per process
 * (bench/README.md). When the user points SSL_CERT_FILE or SSL_CERT_DIR
 * somewhere, or the directory has no hash links, OpenSSL's own default
 * loading is used, exactly as a program's default store would be.
 */
static bool add_system_cas(X509_STORE *s, const struct sslapi *api)
{
	const char *dir = api->cert_dir();
	if (getenv(api->cert_file_env()) == NULL && getenv(api->cert_dir_env()) == NULL &&
	    dir && has_hash_links(dir))
		return api->store_load(s, NULL, dir) == 1;
	return api->store_default_paths(s) == 1;
}

/* The trust store for routed sessions: the system CAs plus RESPAN_CA_FILE. */
static X509_STORE *get_router_store(const struct sslapi *api, const struct config *cfg)
{
	pthread_mutex_lock(&store_lock);
	if (router_store == NULL) {
		X509_STORE *s = api->store_new();
		if (s && add_system_cas(s, api) &&
		    (cfg->ca_file == NULL || api->store_load(s, cfg->ca_file, NULL) == 1))
			router_store = s;
		else if (s)
			api->store_free(s);
	}
	pthread_mutex_unlock(&store_lock);
	return router_store;
}

/*
 * A session's own store that borrows the program's: RESPAN_CA_FILE's
 * certificates, and a lookup that asks the program's store for every other
 * one. So the session trusts what the program trusts plus the router's CA,
 * the program's hashed directories are still read one certificate at a
 * time, and the program's store is left as it was: its other sessions never
 * trust RESPAN_CA_FILE. (OpenSSL cannot copy a store, and adding to the
 * program's changed the trust of every session on its context.)
 *
 * The lookup holds a reference on the program's store, dropped when the
 * session's store is freed with the session. CRLs are not borrowed: a
 * program that checks them gets a verification error on the router's
 * session, never less checking.
 */
struct borrowed {
	X509_STORE *theirs;	/* our reference */
	X509_STORE *ours;	/* the store the lookup belongs to */
};

static X509_LOOKUP_METHOD *borrow_method;
static pthread_once_t borrow_once = PTHREAD_ONCE_INIT;

/*
 * Every certificate of the program's store with this subject goes into
 * ours (so an issuer search finds each of them), and the first is the
 * answer. As OpenSSL's own directory lookup does, the answer is lent, not
 * given: the stores hold the references.
 */
static int borrow_by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name,
			     X509_OBJECT *ret)
{
	const struct sslapi *api = sslapi_loaded();
	struct borrowed *b = api ? api->lookup_get_method_data(lu) : NULL;
	if (b == NULL || type != X509_LU_X509)
		return 0;
	int found = 0;
	X509_STORE_CTX *sc = api->store_ctx_new();
	if (sc && api->store_ctx_init(sc, b->theirs, NULL, NULL) == 1) {
		STACK_OF(X509) *certs = api->store_ctx_get1_certs(sc, name);
		const OPENSSL_STACK *sk = (const OPENSSL_STACK *)certs;
		int n = certs ? api->sk_num(sk) : 0;
		for (int i = 0; i < n; i++) {
			X509 *c = api->sk_value(sk, i);
			api->store_add_cert(b->ours, c);
			if (!found && api->object_set1_x509(ret, c) == 1) {
				api->x509_free(c);	/* lent: the program's store keeps it */
				found = 1;
			}
		}
		if (certs)
			api->sk_pop_free((OPENSSL_STACK *)certs, (void (*)(void *))api->x509_free);
	}
	if (sc)
		api->store_ctx_free(sc);
	return found;
}

static void borrow_free(X509_LOOKUP *lu)
{
	const struct sslapi *api = sslapi_loaded();
	struct borrowed *b = api ? api->lookup_get_method_data(lu) : NULL;
	if (b == NULL)
		return;
	api->store_free(b->theirs);
	free(b);
}

static void borrow_method_make(void)
{
	const struct sslapi *api = sslapi_loaded();
	X509_LOOKUP_METHOD *m = api ? api->lookup_meth_new("librespan: the program's store") : NULL;
	if (m && api->lookup_meth_set_get_by_subject(m, borrow_by_subject) == 1 &&
	    api->lookup_meth_set_free(m, borrow_free) == 1)
		borrow_method = m;	/* made once, kept for the process */
}

/* A new store: ca_file, then what theirs holds; NULL when it cannot be made. */
static X509_STORE *borrowing_store(const struct sslapi *api, X509_STORE *theirs,
				   const char *ca_file)
{
	pthread_once(&borrow_once, borrow_method_make);
	if (borrow_method == NULL)
		return NULL;
	X509_STORE *ours = api->store_new();
	struct borrowed *b = malloc(sizeof(*b));
	X509_LOOKUP *lu = NULL;
	if (ours == NULL || b == NULL || api->store_load(ours, ca_file, NULL) != 1 ||
	    api->store_set1_param(ours, api->store_get0_param(theirs)) != 1 ||
	    (lu = api->store_add_lookup(ours, borrow_method)) == NULL ||
	    api->store_up_ref(theirs) != 1) {
		free(b);
		if (ours)
			api->store_free(ours);
		return NULL;
	}
	b->theirs = theirs;
	b->ours = ours;
	if (api->lookup_set_method_data(lu, b) != 1) {
		api->store_free(theirs);
		free(b);
		api->store_free(ours);
		return NULL;
	}
	return ours;
}

void routertrust_add_ca(SSL *ssl, const struct sslapi *api, const struct config *cfg)
{
	if (cfg->ca_file == NULL || !api->can_borrow)
		return;
	/* A store set on the session itself is what it verifies with. */
	X509_STORE *theirs = NULL;
	api->ctrl(ssl, SSL_CTRL_GET_VERIFY_CERT_STORE, 0, &theirs);
	if (theirs == NULL) {
		SSL_CTX *ctx = api->get_ctx(ssl);
		theirs = ctx ? api->ctx_get_store(ctx) : NULL;
	}
	X509_STORE *ours = theirs ? borrowing_store(api, theirs, cfg->ca_file) : NULL;
	if (ours == NULL)
		return;
	api->ctrl(ssl, SSL_CTRL_SET_VERIFY_CERT_STORE, 1, ours);	/* the session's reference */
	api->store_free(ours);
}

/*
 * The router's certificate decides: OpenSSL's own verdict, never a callback
 * of the program's that says yes to everything (SSL_set_verify with a NULL
 * callback would keep the program's one).
 */
static int router_verdict(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)ctx;
	return preverify_ok;
}

void routertrust_force_verify(SSL *ssl, const struct sslapi *api)
{
	api->set_verify(ssl, SSL_VERIFY_PEER, router_verdict);
}

/* At least the policy's version; a program's higher minimum is kept. */
static bool raise_min_version(SSL *ssl, const struct sslapi *api, int min)
{
	long cur = api->ctrl(ssl, SSL_CTRL_GET_MIN_PROTO_VERSION, 0, NULL);
	if (cur != 0 && cur >= min)
		return true;
	return api->ctrl(ssl, SSL_CTRL_SET_MIN_PROTO_VERSION, min, NULL) == 1;
}

/*
 * The policy's check of the router's name on ssl, for routed and router
 * sessions alike: the name or address its certificate must carry, the
 * policy's host flags added to the program's, the minimum version; and,
 * when set_sni, the SNI. False when something could not be set.
 */
static bool check_router_name(SSL *ssl, const struct sslapi *api,
			      const struct routertls *p, bool set_sni)
{
	X509_VERIFY_PARAM *param = api->get0_param(ssl);

	if (param == NULL || p->name == NULL)
		return false;
	if (p->is_ip) {
		/* No SNI for an address (RFC 6066 3); check the address instead. */
		if (set_sni)
			api->ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
				  TLSEXT_NAMETYPE_host_name, NULL);
		if (api->set1_host(param, NULL, 0) != 1 ||
		    api->set1_ip_asc(param, p->name) != 1)
			return false;
	} else {
		if (set_sni && api->ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
					 TLSEXT_NAMETYPE_host_name, (void *)p->sni) != 1)
			return false;
		if (api->set1_host(param, p->name, 0) != 1)
			return false;
	}
	/*
	 * Added, not set: a program's stricter flags stay (libssl before
	 * 1.1.0i cannot tell us its flags: there the policy's alone are set).
	 */
	unsigned int flags = api->get_hostflags ? api->get_hostflags(param) : 0;
	api->set_hostflags(param, flags | p->host_flags);
	return raise_min_version(ssl, api, p->min_version);
}

bool routertrust_retarget(SSL *ssl, const struct sslapi *api, const struct config *cfg)
{
	struct routertls p;
	routertls_policy(cfg, &p);
	X509_STORE *store = get_router_store(api, cfg);

	if (store == NULL || !check_router_name(ssl, api, &p, true) ||
	    api->ctrl(ssl, SSL_CTRL_SET_VERIFY_CERT_STORE, 1, store) != 1)
		return false;
	api->set_verify(ssl, SSL_VERIFY_PEER, router_verdict);
	return api->set_alpn(ssl, p.alpn, (unsigned int)p.alpn_len) == 0;
}

bool routertrust_verify_router(SSL *ssl, const struct sslapi *api,
			       const struct config *cfg)
{
	struct routertls p;
	routertls_policy(cfg, &p);

	if (!check_router_name(ssl, api, &p, false))
		return false;
	if (api->get_verify_mode && (api->get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
		/* Its own store, but OpenSSL's verdict, not its callback's. */
		api->set_verify(ssl, api->get_verify_mode(ssl), router_verdict);
		return true;
	}
	X509_STORE *store = get_router_store(api, cfg);
	if (store == NULL || api->ctrl(ssl, SSL_CTRL_SET_VERIFY_CERT_STORE, 1, store) != 1)
		return false;
	api->set_verify(ssl, SSL_VERIFY_PEER, router_verdict);
	return true;
}

/*
 * A leaf lock: nothing else is taken while it is held. Taken after the TLS
 * session list (tls_fork), released before it.
 */
void routertrust_fork(enum fork_phase phase)
{
	fork_phase_lock(&store_lock, phase);
}
