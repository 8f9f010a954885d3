/* tlsio: a session's bytes through the exchange; the contract is in tlsio.h. */
#include "tlsio.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>

#include "guard.h"
#include "init.h"
#include "sslapi.h"

/*
 * Make the program's failing SSL_write look like OpenSSL's own: an error on
 * the queue, so SSL_get_error() says SSL_ERROR_SYSCALL (lib ERR_LIB_SYS,
 * errno) or SSL_ERROR_SSL rather than whatever an earlier call left behind
 * (a stale WANT_READ would have the program wait and retry for ever).
 */
static void raise_error(const struct sslapi *api, int lib, int reason)
{
	if (api->err_new && api->err_set_error) {
		api->err_new();
		api->err_set_error(lib, reason, NULL);
	} else if (api->err_put_error) {
		api->err_put_error(lib, 0, reason, "librespan", 0);
	}
}

/*
 * Before the first bytes that will carry the Respan key: the handshake is
 * complete and the router's certificate verified for its name. The
 * handshake's own check (routertrust.h) already refuses a bad one; this
 * is the last word whatever the program did to the session. Returns 1, or
 * what the program's SSL_write returns (the handshake's WANT_READ/WRITE).
 */
static int check_router_peer(SSL *ssl, const struct sslapi *api, struct session *s)
{
	if (!api->is_init_finished(ssl)) {
		int r = api->do_handshake(ssl);
		if (r <= 0)
			return r;
	}
	X509 *peer = api->peer_cert(ssl);
	bool ok = peer != NULL && api->verify_result(ssl) == X509_V_OK;
	if (peer && api->peer_cert_counted)
		api->x509_free(peer);
	if (!ok) {
		int saved = guard_enter();
		logfile_event(respan_state()->log, "blocked", s->host,
			   "the router's certificate was not verified: nothing was sent");
		guard_leave(saved);
		raise_error(api, ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED);
		errno = EACCES;
		return -1;
	}
	s->peer_checked = true;
	return 1;
}

/* tlsconn_flush's put: SSL_write on the session (its return as it is). */
static ssize_t put_ssl(void *ctx, const char *p, size_t n)
{
	SSL *ssl = ctx;
	return sslapi_loaded()->write(ssl, p, n > INT_MAX ? INT_MAX : (int)n);
}

int tlsio_write(SSL *ssl, struct session *s, const void *buf, size_t num,
		size_t *written)
{
	/* A session of ours exists only once the table was filled. */
	const struct sslapi *api = sslapi_loaded();
	bool keyed = s->decision->keyed;	/* the key goes in */
	if (s->conn.owed == 0) {
		if (keyed && !s->peer_checked) {
			int r = check_router_peer(ssl, api, s);
			if (r <= 0)
				return r;
		}
		bool ended;
		ssize_t rc = tlsconn_send(&s->conn, buf, num, &ended);
		if (ended && keyed) {
			/* Ended at exit: unrewritten bytes must not reach the router. */
			raise_error(api, ERR_LIB_SYS, EPIPE);
			errno = EPIPE;
			return -1;
		}
		if (ended) {	/* a captured session ended at exit: a plain pipe */
			int n = api->write(ssl, buf, (int)(num > INT_MAX ? INT_MAX : num));
			if (n > 0)
				*written = (size_t)n;
			return n <= 0 ? n : 1;
		}
		if (rc < 0) {
			raise_error(api, ERR_LIB_SYS, (int)-rc);
			errno = (int)-rc;
			return -1;
		}
		s->conn.owed = num;
	}
	ssize_t rc = tlsconn_flush(&s->conn, put_ssl, ssl);
	if (rc <= 0)
		return (int)rc;
	*written = s->conn.owed;
	s->conn.owed = 0;
	return 1;
}

void tlsio_read(struct session *s, const void *buf, size_t n)
{
	tlsconn_recv(&s->conn, buf, n);
}
