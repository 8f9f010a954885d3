/*
 * openssl: the interposed OpenSSL calls (docs/contract.md#layers, layer 4). Each one
 * finds the session (tls.h decides what it is on first use), lets the engine
 * see or rewrite the bytes (tlsio.h), and calls the real function.
 */
#include <openssl/ssl.h>

#include "guard.h"
#include "real.h"
#include "tls.h"
#include "tlsio.h"

typedef int (*ssl_fn)(SSL *);
typedef int (*ssl_read_fn)(SSL *, void *, int);
typedef int (*ssl_write_fn)(SSL *, const void *, int);
typedef int (*ssl_read_ex_fn)(SSL *, void *, size_t, size_t *);
typedef int (*ssl_write_ex_fn)(SSL *, const void *, size_t, size_t *);
typedef void (*ssl_free_fn)(SSL *);

static struct {
	ssl_fn connect, do_handshake;
	ssl_write_fn write;
	ssl_write_ex_fn write_ex;
	ssl_read_fn read, peek;
	ssl_read_ex_fn read_ex, peek_ex;
	ssl_free_fn free;
	ssl_fn clear;
	int (*in_before)(const SSL *);
} real;

HOOK int SSL_connect(SSL *ssl)
{
	REAL(real.connect, real_ssl, "SSL_connect");
	if (real.connect == NULL)
		return -1;
	tls_session_connecting(ssl);
	return real.connect(ssl);
}

HOOK int SSL_do_handshake(SSL *ssl)
{
	REAL(real.do_handshake, real_ssl, "SSL_do_handshake");
	if (real.do_handshake == NULL)
		return -1;
	tls_session(ssl);
	return real.do_handshake(ssl);
}

HOOK int SSL_write(SSL *ssl, const void *buf, int num)
{
	REAL(real.write, real_ssl, "SSL_write");
	if (real.write == NULL)
		return -1;
	struct session *s = tls_session(ssl);
	if (s == NULL || num <= 0)
		return real.write(ssl, buf, num);
	size_t written = 0;
	int rc = tlsio_write(ssl, s, buf, (size_t)num, &written);
	return rc <= 0 ? rc : (int)written;
}

HOOK int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written)
{
	REAL(real.write_ex, real_ssl, "SSL_write_ex");
	if (real.write_ex == NULL)
		return 0;
	struct session *s = tls_session(ssl);
	if (s == NULL || num == 0)
		return real.write_ex(ssl, buf, num, written);
	size_t done = 0;
	if (tlsio_write(ssl, s, buf, num, &done) <= 0)
		return 0;
	if (written)
		*written = done;
	return 1;
}

HOOK int SSL_read(SSL *ssl, void *buf, int num)
{
	REAL(real.read, real_ssl, "SSL_read");
	if (real.read == NULL)
		return -1;
	struct session *s = tls_session(ssl);
	int n = real.read(ssl, buf, num);
	if (s && n > 0)
		tlsio_read(s, buf, (size_t)n);
	return n;
}

HOOK int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
	REAL(real.read_ex, real_ssl, "SSL_read_ex");
	if (real.read_ex == NULL)
		return 0;
	struct session *s = tls_session(ssl);
	int rc = real.read_ex(ssl, buf, num, readbytes);
	if (s && rc == 1 && readbytes && *readbytes > 0)
		tlsio_read(s, buf, *readbytes);
	return rc;
}

HOOK int SSL_peek(SSL *ssl, void *buf, int num)
{
	REAL(real.peek, real_ssl, "SSL_peek");
	if (real.peek == NULL)
		return -1;
	tls_session(ssl);	/* a first use like any other; data is logged on read */
	return real.peek(ssl, buf, num);
}

HOOK int SSL_peek_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
	REAL(real.peek_ex, real_ssl, "SSL_peek_ex");
	if (real.peek_ex == NULL)
		return 0;
	tls_session(ssl);
	return real.peek_ex(ssl, buf, num, readbytes);
}

HOOK void SSL_free(SSL *ssl)
{
	REAL(real.free, real_ssl, "SSL_free");
	if (real.free == NULL)
		return;
	tls_free(ssl);
	real.free(ssl);
}

/*
 * SSL_clear makes the object ready for a new connection, to any host: what
 * was decided for the old one (routed, and how) must not carry over.
 * OpenSSL itself calls SSL_clear as a handshake starts (the object is still
 * "before" then): that call belongs to the session just decided, and keeps it.
 */
HOOK int SSL_clear(SSL *ssl)
{
	REAL(real.clear, real_ssl, "SSL_clear");
	REAL(real.in_before, real_ssl, "SSL_in_before");
	if (real.clear == NULL)
		return 0;
	if (real.in_before == NULL || !real.in_before(ssl))
		tls_free(ssl);
	return real.clear(ssl);
}
