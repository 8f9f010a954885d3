#include "upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "routertls.h"

/* The last OpenSSL error of this thread as text, or fallback. */
static void ssl_reason(char *err, size_t size, const char *what, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	char text[256];
	if (e) {
		ERR_error_string_n(e, text, sizeof(text));
		snprintf(err, size, "%s: %s", what, text);
	} else {
		snprintf(err, size, "%s: %s", what, fallback);
	}
	ERR_clear_error();
}

SSL_CTX *upstream_tls_new(const struct config *cfg, char *err, size_t errsize)
{
	struct routertls p;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		ssl_reason(err, errsize, "TLS", "cannot make a context");
		return NULL;
	}
	/*
	 * The router's TLS policy, the one the hooks apply too (routertls.h):
	 * every session made from this context inherits the name (or address)
	 * check and its flags; the SNI is set per session.
	 */
	routertls_policy(cfg, &p);
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
	SSL_CTX_set_min_proto_version(ctx, p.min_version);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set_hostflags(param, p.host_flags);
	if (p.name == NULL ||
	    (p.is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, p.name) :
		       X509_VERIFY_PARAM_set1_host(param, p.name, 0)) != 1) {
		ssl_reason(err, errsize, "TLS", "cannot set the router's name to check");
		goto fail;
	}
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_reason(err, errsize, "TLS", "cannot load the system CAs");
		goto fail;
	}
	if (cfg->ca_file && SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "RESPAN_CA_FILE=%.500s", cfg->ca_file);
		ssl_reason(err, errsize, what, "cannot load it");
		goto fail;
	}
	if (SSL_CTX_set_alpn_protos(ctx, p.alpn, (unsigned int)p.alpn_len) != 0) {
		ssl_reason(err, errsize, "TLS", "cannot set ALPN");
		goto fail;
	}
	/*
	 * Partial writes from a buffer that moves between calls (the pump
	 * writes from an offset). A router that closes without close_notify
	 * ends the stream like a clean close: HTTP framing, not TLS, tells
	 * whether a response was complete, and the exchange logs it so.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Wait for events on fd, or stop_fd. 1 ready, 0 timed out, -1 stopped/error. */
static int wait_fd(int fd, short events, int stop_fd, long long deadline)
{
	for (;;) {
		long long left = deadline - clock_mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p[2] = { { fd, events, 0 }, { stop_fd, POLLIN, 0 } };
		int n = poll(p, 2, (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return -1;
		if (p[0].revents)
			return 1;
	}
}

/* A non-blocking TCP connection to host:port, or -1 with a reason in err. */
static int tcp_connect(const char *host, unsigned short port, int stop_fd,
		       long long deadline, char *err, size_t errsize)
{
	char service[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;

	snprintf(service, sizeof(service), "%u", port);
	int g = getaddrinfo(host, service, &hints, &res);
	if (g != 0) {
		snprintf(err, errsize, "cannot resolve %.300s: %s", host, gai_strerror(g));
		return -1;
	}
	int fd = -1, last = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		int w = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, stop_fd, deadline) : -2;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
		    soerr == 0)
			break;
		last = w == 1 ? soerr : w == 0 ? ETIMEDOUT : w == -1 ? ECANCELED : errno;
		close(fd);
		fd = -1;
		if (w == 0 || w == -1)
			break;	/* out of time, or stopping: no next address */
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errsize, "cannot connect to %.300s port %u: %s", host, port,
			 strerror(last));
	return fd;
}

/*
 * The SNI for ssl, from the router's TLS policy (none for an IP literal,
 * RFC 6066). The name or address the certificate must carry, and how it is
 * checked, ssl has from its context (upstream_tls_new).
 */
static int set_sni(SSL *ssl, const struct config *cfg)
{
	struct routertls p;
	routertls_policy(cfg, &p);
	return p.sni == NULL || SSL_set_tlsext_host_name(ssl, p.sni) == 1 ? 0 : -1;
}

SSL *upstream_connect(SSL_CTX *tls, const struct config *cfg, int stop_fd,
		      int timeout_ms, char *err, size_t errsize)
{
	long long deadline = clock_mono_ms() + timeout_ms;
	int fd = tcp_connect(cfg->router_host, cfg->router_port, stop_fd, deadline,
			     err, errsize);
	if (fd < 0)
		return NULL;
	ERR_clear_error();
	SSL *ssl = SSL_new(tls);
	if (ssl == NULL || set_sni(ssl, cfg) < 0 ||
	    SSL_set_fd(ssl, fd) != 1) {
		ssl_reason(err, errsize, "TLS", "cannot set up the session");
		goto fail;
	}
	for (;;) {
		int r = SSL_connect(ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(ssl, r);
		int w = e == SSL_ERROR_WANT_READ ? wait_fd(fd, POLLIN, stop_fd, deadline) :
			e == SSL_ERROR_WANT_WRITE ? wait_fd(fd, POLLOUT, stop_fd, deadline) : -2;
		if (w == 1)
			continue;
		long v = SSL_get_verify_result(ssl);
		if (w == 0)
			snprintf(err, errsize, "TLS handshake with %.300s timed out",
				 cfg->router_host);
		else if (w == -1)
			snprintf(err, errsize, "stopped during the TLS handshake");
		else if (v != X509_V_OK)
			snprintf(err, errsize, "certificate of %.300s not trusted: %s",
				 cfg->router_host, X509_verify_cert_error_string(v));
		else
			ssl_reason(err, errsize, "TLS handshake failed",
				   e == SSL_ERROR_SYSCALL ? "connection closed" : "error");
		goto fail;
	}
	/* Belt and braces: SSL_VERIFY_PEER already failed the handshake otherwise. */
	if (SSL_get_verify_result(ssl) != X509_V_OK || SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(err, errsize, "certificate of %.300s not verified", cfg->router_host);
		goto fail;
	}
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

void upstream_close(SSL *ssl)
{
	if (ssl == NULL)
		return;
	int fd = SSL_get_fd(ssl);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
}
