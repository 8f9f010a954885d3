/* gtlsio: a GnuTLS session's bytes through the exchange; see gtlsio.h. */
#include "gtlsio.h"

#include <errno.h>

#include "gnutlsapi.h"
#include "guard.h"
#include "init.h"

static void blocked(struct gsession *s)
{
	int saved = guard_enter();
	logfile_event(respan_state()->log, "blocked", s->host,
		      "the router's certificate was not verified: nothing was sent");
	guard_leave(saved);
}

int gtlsio_handshake_done(struct gsession *s, int rc)
{
	if (rc != 0 || !s->decision->keyed || gtls_router_verified(s))
		return rc;
	blocked(s);
	return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
}

/* tlsconn_flush's put: gnutls_record_send (0 bytes taken is a push error). */
static ssize_t put_record(void *ctx, const char *p, size_t n)
{
	struct gsession *s = ctx;
	ssize_t w = gnutlsapi_loaded()->record_send(s->gs, p, n);
	return w == 0 ? GNUTLS_E_PUSH_ERROR : w;
}

ssize_t gtlsio_send(struct gsession *s, const void *buf, size_t num)
{
	/* A session of ours exists only once the table was filled. */
	const struct gnutlsapi *api = gnutlsapi_loaded();
	bool keyed = s->decision->keyed;	/* the key goes in */
	if (s->conn.owed == 0) {
		if (keyed && (s->refused || !gtls_router_verified(s))) {
			blocked(s);
			errno = EACCES;
			return GNUTLS_E_CERTIFICATE_ERROR;
		}
		bool ended;
		ssize_t rc = tlsconn_send(&s->conn, buf, num, &ended);
		if (ended && keyed) {
			/* Ended at exit: unrewritten bytes must not reach the router. */
			errno = EPIPE;
			return GNUTLS_E_PUSH_ERROR;
		}
		if (ended)	/* a captured session ended at exit: a plain pipe */
			return api->record_send(s->gs, buf, num);
		if (rc < 0) {
			errno = (int)-rc;
			return GNUTLS_E_PUSH_ERROR;
		}
		s->conn.owed = num;
	}
	ssize_t rc = tlsconn_flush(&s->conn, put_record, s);
	if (rc <= 0)
		return rc;
	size_t owed = s->conn.owed;
	s->conn.owed = 0;
	return (ssize_t)owed;
}

void gtlsio_recv(struct gsession *s, const void *buf, size_t n)
{
	tlsconn_recv(&s->conn, buf, n);
}
