/* tls: session state and decisions; the contract is in tls.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "guard.h"
#include "init.h"
#include "inaddr.h"
#include "real.h"
#include "routeraddr.h"
#include "route.h"
#include "tls.h"

typedef int (*ssl_write_fn)(SSL *, const void *, int);
typedef long (*ssl_ctrl_fn)(SSL *, int, long, void *);
typedef const char *(*ssl_get_servername_fn)(const SSL *, int);
typedef int (*ssl_get_fd_fn)(const SSL *);
typedef int (*ssl_is_server_fn)(const SSL *);
typedef void *(*ssl_get_ex_data_fn)(const SSL *, int);
typedef int (*ssl_set_ex_data_fn)(SSL *, int, void *);
typedef int (*get_ex_new_index_fn)(int, long, void *, void *, void *, void *);
typedef X509_VERIFY_PARAM *(*ssl_get0_param_fn)(SSL *);
typedef int (*param_set1_host_fn)(X509_VERIFY_PARAM *, const char *, size_t);
typedef int (*param_set1_ip_asc_fn)(X509_VERIFY_PARAM *, const char *);
typedef int (*ssl_set_alpn_fn)(SSL *, const unsigned char *, unsigned int);
typedef void (*ssl_set_verify_fn)(SSL *, int, SSL_verify_cb);
typedef int (*ssl_get_verify_mode_fn)(const SSL *);
typedef X509_STORE *(*store_new_fn)(void);
typedef int (*store_default_paths_fn)(X509_STORE *);
typedef int (*store_load_fn)(X509_STORE *, const char *, const char *);
typedef const char *(*cert_path_fn)(void);
typedef void (*store_free_fn)(X509_STORE *);
typedef SSL_CTX *(*ssl_get_ctx_fn)(const SSL *);
typedef X509_STORE *(*ctx_get_store_fn)(const SSL_CTX *);

typedef X509 *(*ssl_peer_cert_fn)(const SSL *);
typedef long (*ssl_verify_result_fn)(const SSL *);
typedef int (*ssl_fn)(SSL *);
typedef int (*ssl_const_fn)(const SSL *);
typedef void (*x509_free_fn)(X509 *);
typedef void (*err_new_fn)(void);
typedef void (*err_set_error_fn)(int, int, const char *, ...);
typedef void (*err_put_error_fn)(int, int, int, const char *, int);

static struct {
	ssl_write_fn write;
	ssl_ctrl_fn ctrl;
	ssl_peer_cert_fn peer_cert;
	bool peer_cert_counted;		/* 1.1's getter: X509_free the result */
	x509_free_fn x509_free;
	ssl_verify_result_fn verify_result;
	ssl_fn do_handshake;
	ssl_const_fn is_init_finished;
	err_new_fn err_new;		/* 3.x: ERR_new + ERR_set_error */
	err_set_error_fn err_set_error;
	err_put_error_fn err_put_error;	/* 1.1 */
	ssl_get_servername_fn get_servername;
	ssl_get_fd_fn get_fd;
	ssl_is_server_fn is_server;
	ssl_get_ex_data_fn get_ex_data;
	ssl_set_ex_data_fn set_ex_data;
	get_ex_new_index_fn get_ex_new_index;
	ssl_get0_param_fn get0_param;
	param_set1_host_fn set1_host;
	param_set1_ip_asc_fn set1_ip_asc;
	ssl_set_alpn_fn set_alpn;
	ssl_set_verify_fn set_verify;
	ssl_get_verify_mode_fn get_verify_mode;	/* optional */
	store_new_fn store_new;
	store_default_paths_fn store_default_paths;
	store_load_fn store_load;
	cert_path_fn cert_dir, cert_dir_env, cert_file_env;
	store_free_fn store_free;
	ssl_get_ctx_fn get_ctx;
	ctx_get_store_fn ctx_get_store;
} real;

enum session_kind { SESSION_ROUTED, SESSION_ROUTER, SESSION_CAPTURE };

struct session {
	struct session *prev, *next;	/* live sessions, for process exit */
	SSL *ssl;
	char host[256];			/* the name the program asked for */
	enum session_kind kind;
	struct exchange *x;
	struct buf pending;	/* rewritten bytes not yet taken by SSL_write */
	size_t pending_off;
	size_t owed;		/* the program's byte count to return once sent */
	bool peer_checked;	/* the router's certificate was seen verified */
	/*
	 * x is used by the program's thread (read, write, free) and ended by
	 * the exit destructor, which may run while another thread is still
	 * streaming: the lock keeps x alive while it is in use.
	 */
	pthread_mutex_t lock;
};

static char not_ours;		/* ex_data marker: looked at, not ours */
static int ex_index = -1;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static bool usable;
static X509_STORE *router_store;
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session *sessions;

#define FIND(field, finder, name) \
	(real.field = (__typeof__(real.field))finder(name))

static void setup(void)
{
	int saved = guard_enter();
	FIND(write, real_ssl, "SSL_write");
	FIND(ctrl, real_ssl, "SSL_ctrl");
	FIND(verify_result, real_ssl, "SSL_get_verify_result");
	/* OpenSSL 3 has the non-counting getter; 1.1 only the counting one. */
	if (FIND(peer_cert, real_ssl, "SSL_get0_peer_certificate") == NULL)
		real.peer_cert_counted =
			FIND(peer_cert, real_ssl, "SSL_get_peer_certificate") != NULL;
	FIND(x509_free, real_crypto, "X509_free");
	FIND(do_handshake, real_ssl, "SSL_do_handshake");
	FIND(is_init_finished, real_ssl, "SSL_is_init_finished");
	if (FIND(err_new, real_crypto, "ERR_new") != NULL)
		FIND(err_set_error, real_crypto, "ERR_set_error");
	FIND(err_put_error, real_crypto, "ERR_put_error");
	FIND(get_servername, real_ssl, "SSL_get_servername");
	FIND(get_fd, real_ssl, "SSL_get_fd");
	FIND(is_server, real_ssl, "SSL_is_server");
	FIND(get_ex_data, real_ssl, "SSL_get_ex_data");
	FIND(set_ex_data, real_ssl, "SSL_set_ex_data");
	FIND(get0_param, real_ssl, "SSL_get0_param");
	FIND(set_alpn, real_ssl, "SSL_set_alpn_protos");
	FIND(set_verify, real_ssl, "SSL_set_verify");
	FIND(get_verify_mode, real_ssl, "SSL_get_verify_mode");
	FIND(get_ex_new_index, real_crypto, "CRYPTO_get_ex_new_index");
	FIND(set1_host, real_crypto, "X509_VERIFY_PARAM_set1_host");
	FIND(set1_ip_asc, real_crypto, "X509_VERIFY_PARAM_set1_ip_asc");
	FIND(store_new, real_crypto, "X509_STORE_new");
	FIND(store_default_paths, real_crypto, "X509_STORE_set_default_paths");
	FIND(store_load, real_crypto, "X509_STORE_load_locations");
	FIND(store_free, real_crypto, "X509_STORE_free");
	FIND(cert_dir, real_crypto, "X509_get_default_cert_dir");
	FIND(cert_dir_env, real_crypto, "X509_get_default_cert_dir_env");
	FIND(cert_file_env, real_crypto, "X509_get_default_cert_file_env");
	FIND(get_ctx, real_ssl, "SSL_get_SSL_CTX");
	FIND(ctx_get_store, real_ssl, "SSL_CTX_get_cert_store");
	usable = real.write && real.ctrl && real.get_servername && real.get_fd &&
		 real.is_server && real.get_ex_data && real.set_ex_data &&
		 real.get0_param && real.set_alpn && real.set_verify &&
		 real.get_ex_new_index && real.set1_host && real.set1_ip_asc &&
		 real.store_new && real.store_default_paths && real.store_load &&
		 real.store_free && real.cert_dir && real.cert_dir_env &&
		 real.cert_file_env && real.get_ctx && real.ctx_get_store &&
		 real.peer_cert && real.verify_result && real.do_handshake &&
		 real.is_init_finished && real.x509_free;
	if (usable)
		ex_index = real.get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL,
						 NULL, NULL, NULL);
	usable = usable && ex_index >= 0;
	guard_leave(saved);
}

/*
 * The trust store for routed sessions: the system CAs plus RESPAN_CA_FILE.
 * The program's own CA settings were meant for the provider, not the router.
 */
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
static bool add_system_cas(X509_STORE *s)
{
	const char *dir = real.cert_dir();
	if (getenv(real.cert_file_env()) == NULL && getenv(real.cert_dir_env()) == NULL &&
	    dir && has_hash_links(dir))
		return real.store_load(s, NULL, dir) == 1;
	return real.store_default_paths(s) == 1;
}

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;

static X509_STORE *get_router_store(const struct respan_state *st)
{
	pthread_mutex_lock(&store_lock);
	if (router_store == NULL) {
		X509_STORE *s = real.store_new();
		if (s && add_system_cas(s) &&
		    (st->cfg.ca_file == NULL ||
		     real.store_load(s, st->cfg.ca_file, NULL) == 1))
			router_store = s;
		else if (s)
			real.store_free(s);
	}
	pthread_mutex_unlock(&store_lock);
	return router_store;
}

/*
 * A session the program itself (or the libcurl layer) sends to the router
 * keeps the program's own verification, with RESPAN_CA_FILE ("extra CAs
 * trusted for the router") added to its context's store, once per context.
 * A context we cannot remember (more than 64) simply does not get them: the
 * failure mode is a verification error, never less checking.
 */
static void trust_router_ca(SSL *ssl, const struct respan_state *st)
{
	static SSL_CTX *done[64];
	static unsigned n_done;

	if (st->cfg.ca_file == NULL)
		return;
	SSL_CTX *ctx = real.get_ctx(ssl);
	if (ctx == NULL)
		return;
	pthread_mutex_lock(&ca_lock);
	bool seen = false;
	for (unsigned i = 0; i < n_done && !seen; i++)
		seen = done[i] == ctx;
	if (!seen && n_done < 64) {
		X509_STORE *store = real.ctx_get_store(ctx);
		if (store && real.store_load(store, st->cfg.ca_file, NULL) == 1)
			done[n_done++] = ctx;
	}
	pthread_mutex_unlock(&ca_lock);
}

static bool is_ip_literal(const char *host)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
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

/* Point the session's TLS at the router. Returns false when it could not be. */
static bool retarget_tls(SSL *ssl, const struct respan_state *st)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	const char *host = st->cfg.router_host;
	X509_STORE *store = get_router_store(st);
	X509_VERIFY_PARAM *param = real.get0_param(ssl);

	if (store == NULL || param == NULL)
		return false;
	if (is_ip_literal(host)) {
		/* No SNI for an address (RFC 6066 3); check the address instead. */
		real.ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, NULL);
		if (real.set1_host(param, NULL, 0) != 1 ||
		    real.set1_ip_asc(param, host) != 1)
			return false;
	} else {
		if (real.ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
			      TLSEXT_NAMETYPE_host_name, (void *)host) != 1 ||
		    real.set1_host(param, host, 0) != 1)
			return false;
	}
	if (real.ctrl(ssl, SSL_CTRL_SET_VERIFY_CERT_STORE, 1, store) != 1)
		return false;
	real.set_verify(ssl, SSL_VERIFY_PEER, router_verdict);
	return real.set_alpn(ssl, alpn, sizeof(alpn) - 1) == 0;
}

/*
 * A session to the router's own name carries the Respan key once the
 * credentials are swapped: whatever the program chose for its connections
 * (curl -k, CERT_NONE), the router's certificate is checked, for the
 * router's name. A program that verifies keeps its own trust store (plus
 * RESPAN_CA_FILE, trust_router_ca); one that verifies nothing gets the
 * router store, as routed sessions do. False when it could not be set up.
 */
static bool verify_router(SSL *ssl, const struct respan_state *st)
{
	const char *host = st->cfg.router_host;
	X509_VERIFY_PARAM *param = real.get0_param(ssl);

	if (param == NULL)
		return false;
	if (is_ip_literal(host)) {
		if (real.set1_host(param, NULL, 0) != 1 || real.set1_ip_asc(param, host) != 1)
			return false;
	} else if (real.set1_host(param, host, 0) != 1) {
		return false;
	}
	if (real.get_verify_mode && (real.get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
		/* Its own store, but OpenSSL's verdict, not its callback's. */
		real.set_verify(ssl, real.get_verify_mode(ssl), router_verdict);
		return true;
	}
	X509_STORE *store = get_router_store(st);
	if (store == NULL || real.ctrl(ssl, SSL_CTRL_SET_VERIFY_CERT_STORE, 1, store) != 1)
		return false;
	real.set_verify(ssl, SSL_VERIFY_PEER, router_verdict);
	return true;
}

/* Does the session's socket lead to a router address we handed out? */
static bool peer_is_router(SSL *ssl)
{
	int fd = real.get_fd(ssl);
	if (fd < 0)
		return true;	/* memory BIO: only the SNI can tell */
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
static bool peer_is_router_literal(SSL *ssl, const struct respan_state *st)
{
	const char *host = st->cfg.router_host;
	int fd = real.get_fd(ssl);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	unsigned char want[16];

	if (host == NULL || fd < 0 ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    inaddr_port((struct sockaddr *)&ss) != st->cfg.router_port)
		return false;
	if (ss.ss_family == AF_INET)
		return inet_pton(AF_INET, host, want) == 1 &&
		       memcmp(&((struct sockaddr_in *)&ss)->sin_addr, want, 4) == 0;
	if (ss.ss_family == AF_INET6)
		return inet_pton(AF_INET6, host, want) == 1 &&
		       memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, want, 16) == 0;
	return false;
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

/* Decide what a session is; called once, before its first use. */
static struct session *session_begin(SSL *ssl, const struct respan_state *st)
{
	if (real.is_server(ssl))
		return NULL;
	const char *sni = real.get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni == NULL) {
		if (!peer_is_router_literal(ssl, st))
			return NULL;
		sni = st->cfg.router_host;	/* the name the program asked for */
	}
	size_t sni_len = strlen(sni);
	enum provider_id provider = route_lookup_host(&st->cfg, sni, sni_len);
	enum session_kind kind;
	enum rewrite_mode mode;

	if (provider != PROVIDER_NONE) {
		bool route = respan_routing(st) && peer_is_router(ssl);
		kind = route ? SESSION_ROUTED : SESSION_CAPTURE;
		mode = route ? REWRITE_ROUTE : REWRITE_CAPTURE;
	} else if (route_is_router_host(&st->cfg, sni, sni_len)) {
		kind = respan_routing(st) ? SESSION_ROUTER : SESSION_CAPTURE;
		if (kind == SESSION_ROUTER && !verify_router(ssl, st)) {
			/* The key must not go where the router is not checked. */
			logfile_event(st->log, "not_routed", sni,
				   "could not make the session verify the router");
			kind = SESSION_CAPTURE;
		}
		mode = kind == SESSION_ROUTER ? REWRITE_ROUTER : REWRITE_CAPTURE;
	} else {
		return NULL;
	}

	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	struct exchange_info info = {
		.layer = "openssl", .host = sni, .port = 443,
		.provider = provider, .mode = mode,
	};
	s->kind = kind;
	s->ssl = ssl;
	snprintf(s->host, sizeof(s->host), "%s", sni);
	buf_init(&s->pending, SIZE_MAX);
	pthread_mutex_init(&s->lock, NULL);
	s->x = exchange_new(&st->xctx, &info);
	if (s->x == NULL) {
		free(s);
		return NULL;
	}
	if (kind == SESSION_ROUTED && !retarget_tls(ssl, st)) {
		/* Half-retargeted TLS must not go out: fail the handshake. */
		logfile_event(st->log, "not_routed", sni,
			   "could not point the TLS session at the router");
		real.set_verify(ssl, SSL_VERIFY_PEER, router_verdict);
	} else if (kind == SESSION_ROUTER) {
		static const unsigned char alpn[] = "\x08http/1.1";
		real.set_alpn(ssl, alpn, sizeof(alpn) - 1);
		trust_router_ca(ssl, st);
	}
	respan_debug("TLS session to %s: %s", sni,
		     kind == SESSION_ROUTED ? "routed" :
		     kind == SESSION_ROUTER ? "already to the router" : "captured");
	session_link(s);
	return s;
}

struct session *tls_session(SSL *ssl)
{
	if (ssl == NULL || guard_busy())
		return NULL;
	const struct respan_state *st = respan_state();
	if (!st->active)
		return NULL;
	pthread_once(&setup_once, setup);
	if (!usable)
		return NULL;
	void *p = real.get_ex_data(ssl, ex_index);
	if (p == &not_ours)
		return NULL;
	if (p)
		return p;
	int saved = guard_enter();
	struct session *s = session_begin(ssl, st);
	real.set_ex_data(ssl, ex_index, s ? (void *)s : (void *)&not_ours);
	guard_leave(saved);
	return s;
}

/* Write what the session still owes to the log; it stays usable as a pipe. */
static void session_close_exchange(struct session *s, const char *why)
{
	int saved = guard_enter();
	pthread_mutex_lock(&s->lock);
	struct exchange *x = s->x;
	s->x = NULL;
	if (x)
		exchange_close(x, why);
	pthread_mutex_unlock(&s->lock);
	guard_leave(saved);
}

static void session_end(struct session *s)
{
	session_unlink(s);
	session_close_exchange(s, NULL);
	buf_free(&s->pending);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * Make the program's failing SSL_write look like OpenSSL's own: an error on
 * the queue, so SSL_get_error() says SSL_ERROR_SYSCALL (lib ERR_LIB_SYS,
 * errno) or SSL_ERROR_SSL rather than whatever an earlier call left behind
 * (a stale WANT_READ would have the program wait and retry for ever).
 */
static void raise_error(int lib, int reason)
{
	if (real.err_new && real.err_set_error) {
		real.err_new();
		real.err_set_error(lib, reason, NULL);
	} else if (real.err_put_error) {
		real.err_put_error(lib, 0, reason, "librespan", 0);
	}
}

/*
 * Before the first bytes that will carry the Respan key: the handshake is
 * complete and the router's certificate verified for its name. The
 * handshake's own check (router_verdict) already refuses a bad one; this
 * is the last word whatever the program did to the session. Returns 1, or
 * what the program's SSL_write returns (the handshake's WANT_READ/WRITE).
 */
static int check_router_peer(SSL *ssl, struct session *s)
{
	if (!real.is_init_finished(ssl)) {
		int r = real.do_handshake(ssl);
		if (r <= 0)
			return r;
	}
	X509 *peer = real.peer_cert(ssl);
	bool ok = peer != NULL && real.verify_result(ssl) == X509_V_OK;
	if (peer && real.peer_cert_counted)
		real.x509_free(peer);
	if (!ok) {
		int saved = guard_enter();
		logfile_event(respan_state()->log, "blocked", s->host,
			   "the router's certificate was not verified: nothing was sent");
		guard_leave(saved);
		raise_error(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED);
		errno = EACCES;
		return -1;
	}
	s->peer_checked = true;
	return 1;
}

/* Send what the rewriter produced; 1 when all is out, else SSL_write's return. */
static int flush_pending(SSL *ssl, struct session *s)
{
	while (s->pending_off < s->pending.len) {
		size_t left = s->pending.len - s->pending_off;
		int n = real.write(ssl, s->pending.data + s->pending_off,
				   left > INT_MAX ? INT_MAX : (int)left);
		if (n <= 0)
			return n;
		s->pending_off += (size_t)n;
	}
	buf_reset(&s->pending);
	s->pending_off = 0;
	return 1;
}

int tls_write(SSL *ssl, struct session *s, const void *buf, size_t num,
	      size_t *written)
{
	bool keyed = s->kind != SESSION_CAPTURE;	/* the key goes in */
	if (s->owed == 0) {
		if (keyed && !s->peer_checked) {
			int r = check_router_peer(ssl, s);
			if (r <= 0)
				return r;
		}
		int saved = guard_enter();
		pthread_mutex_lock(&s->lock);
		bool open = s->x != NULL;
		ssize_t rc = open ? exchange_send(s->x, buf, num, &s->pending) : 0;
		pthread_mutex_unlock(&s->lock);
		guard_leave(saved);
		if (!open && keyed) {
			/* Ended at exit: unrewritten bytes must not reach the router. */
			raise_error(ERR_LIB_SYS, EPIPE);
			errno = EPIPE;
			return -1;
		}
		if (!open) {	/* a captured session ended at exit: a plain pipe */
			int n = real.write(ssl, buf, (int)(num > INT_MAX ? INT_MAX : num));
			if (n > 0)
				*written = (size_t)n;
			return n <= 0 ? n : 1;
		}
		if (rc < 0) {
			raise_error(ERR_LIB_SYS, (int)-rc);
			errno = (int)-rc;
			return -1;
		}
		s->owed = num;
	}
	int rc = flush_pending(ssl, s);
	if (rc <= 0)
		return rc;
	*written = s->owed;
	s->owed = 0;
	return 1;
}

void tls_read(struct session *s, const void *buf, size_t n)
{
	int saved = guard_enter();
	pthread_mutex_lock(&s->lock);
	if (s->x)
		exchange_recv(s->x, buf, n);
	pthread_mutex_unlock(&s->lock);
	guard_leave(saved);
}


void tls_free(SSL *ssl)
{
	if (ssl == NULL || !usable || guard_busy())
		return;
	void *p = real.get_ex_data(ssl, ex_index);
	if (p && p != &not_ours) {
		real.set_ex_data(ssl, ex_index, NULL);
		session_end(p);
	}
}

bool tls_routed_peer_name(const X509 *x, char *host, size_t size)
{
	bool found = false;
	if (!usable || real.peer_cert == NULL || real.verify_result == NULL)
		return false;
	pthread_mutex_lock(&sessions_lock);
	for (struct session *s = sessions; s && !found; s = s->next) {
		if (s->kind != SESSION_ROUTED)
			continue;
		X509 *peer = real.peer_cert(s->ssl);
		if (peer && real.peer_cert_counted)
			real.x509_free(peer);	/* only compared, never used */
		if (peer != x)
			continue;
		if (real.verify_result(s->ssl) == X509_V_OK) {
			snprintf(host, size, "%s", s->host);
			found = true;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	return found;
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
		session_close_exchange(s, "process exited");
	pthread_mutex_unlock(&sessions_lock);
}

/*
 * Held across fork in this order (nothing takes the session list while
 * holding the others). A session's own lock may be held by a thread that
 * does not exist in the child: there it is made anew.
 */
void tls_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE) {
		pthread_mutex_lock(&sessions_lock);
		pthread_mutex_lock(&store_lock);
		pthread_mutex_lock(&ca_lock);
		return;
	}
	if (phase == FORK_CHILD)
		for (struct session *s = sessions; s; s = s->next)
			pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_unlock(&ca_lock);
	pthread_mutex_unlock(&store_lock);
	pthread_mutex_unlock(&sessions_lock);
}
