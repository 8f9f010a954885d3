/* intercept: the relay's TLS server side; see intercept.h. */
#include "intercept.h"

#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "route.h"

#define LEAF_CACHE 64
#define LEAF_RENEW_S (24 * 3600)	/* a new leaf this long before the old one ends */

struct leaf {
	char host[256];
	X509 *cert;
	time_t until;
};

struct intercept {
	SSL_CTX *ctx;
	const struct config *cfg;
	struct ca ca;
	EVP_PKEY *key;			/* every leaf's */
	pthread_mutex_t lock;
	struct leaf leaves[LEAF_CACHE];
	size_t n_leaves, next_evict;
};

/* The leaf for host, made or renewed as needed; a reference the caller frees. */
static X509 *leaf_for(struct intercept *ic, const char *host)
{
	time_t now = time(NULL);
	X509 *cert = NULL;
	pthread_mutex_lock(&ic->lock);
	struct leaf *l = NULL;
	for (size_t i = 0; i < ic->n_leaves && l == NULL; i++)
		if (strcasecmp(ic->leaves[i].host, host) == 0)
			l = &ic->leaves[i];
	if (l == NULL || l->until - now < LEAF_RENEW_S) {
		X509 *made = ca_issue(&ic->ca, ic->cfg, host, ic->key);
		if (made && l == NULL) {
			size_t slot = ic->n_leaves < LEAF_CACHE ? ic->n_leaves++ :
				      ic->next_evict++ % LEAF_CACHE;
			l = &ic->leaves[slot];
			X509_free(l->cert);
			l->cert = NULL;
		}
		if (made) {
			X509_free(l->cert);
			l->cert = made;
			snprintf(l->host, sizeof(l->host), "%s", host);
			l->until = now + (time_t)CA_LEAF_DAYS * 86400;
		}
	}
	if (l && l->cert && X509_up_ref(l->cert) == 1)
		cert = l->cert;
	pthread_mutex_unlock(&ic->lock);
	return cert;
}

/* SNI: a certificate for a provider name, or no handshake at all. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct intercept *ic = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (host == NULL || route_lookup_host(ic->cfg, host, strlen(host)) == PROVIDER_NONE) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	X509 *cert = leaf_for(ic, host);
	bool ok = cert && SSL_use_certificate(ssl, cert) == 1 &&
		  SSL_use_PrivateKey(ssl, ic->key) == 1;
	X509_free(cert);
	if (!ok) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 when offered, else none (the engine speaks HTTP/1.1 only). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

struct intercept *intercept_new(const struct config *cfg, struct ca *ca, char *err,
				size_t errsize)
{
	struct intercept *ic = calloc(1, sizeof(*ic));
	if (ic == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	ic->cfg = cfg;
	ic->ca = *ca;
	memset(ca, 0, sizeof(*ca));	/* ours now */
	pthread_mutex_init(&ic->lock, NULL);
	ic->key = ca_new_key();
	ic->ctx = SSL_CTX_new(TLS_server_method());
	if (ic->key == NULL || ic->ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ic->ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errsize, "cannot make the interception context");
		ERR_clear_error();
		intercept_free(ic);
		return NULL;
	}
	SSL_CTX_set_tlsext_servername_callback(ic->ctx, on_servername);
	SSL_CTX_set_tlsext_servername_arg(ic->ctx, ic);
	SSL_CTX_set_alpn_select_cb(ic->ctx, on_alpn, NULL);
	SSL_CTX_set_mode(ic->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ic->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ic->ctx, 0);
	return ic;
}

void intercept_free(struct intercept *ic)
{
	if (ic == NULL)
		return;
	for (size_t i = 0; i < ic->n_leaves; i++)
		X509_free(ic->leaves[i].cert);
	SSL_CTX_free(ic->ctx);
	EVP_PKEY_free(ic->key);
	ca_free(&ic->ca);
	pthread_mutex_destroy(&ic->lock);
	free(ic);
}

SSL *intercept_accept(struct intercept *ic, int fd, int stop_fd, int timeout_ms,
		      char *host, size_t hostsize, char *err, size_t errsize)
{
	SSL *ssl = SSL_new(ic->ctx);
	host[0] = '\0';
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		snprintf(err, errsize, "out of memory");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	long long deadline = clock_mono_ms() + timeout_ms;
	for (;;) {
		ERR_clear_error();
		int r = SSL_do_handshake(ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(ssl, r);
		long long left = deadline - clock_mono_ms();
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || left <= 0) {
			const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
			unsigned long code = ERR_peek_error();
			char why[256] = "the program closed the connection";
			if (left <= 0)
				snprintf(why, sizeof(why), "timed out");
			else if (code)
				ERR_error_string_n(code, why, sizeof(why));
			snprintf(err, errsize, "TLS handshake with the program for %.255s failed: %s",
				 sni ? sni : "(no server name)", why);
			snprintf(host, hostsize, "%s", sni ? sni : "");
			ERR_clear_error();
			SSL_free(ssl);
			return NULL;
		}
		struct pollfd pf[2] = {
			{ fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0 },
			{ stop_fd, POLLIN, 0 },
		};
		if (poll(pf, 2, (int)left) < 0 && errno != EINTR)
			continue;
		if (pf[1].revents) {
			snprintf(err, errsize, "the relay stopped");
			SSL_free(ssl);
			return NULL;
		}
	}
	snprintf(host, hostsize, "%s", SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	return ssl;
}
