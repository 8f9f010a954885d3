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

/* Send what the rewriter produced; 1 when all is out, else GnuTLS's code. */
static ssize_t flush_pending(struct gsession *s, const struct gnutlsapi *api)
{
	while (s->pending_off < s->pending.len) {
		ssize_t n = api->record_send(s->gs, s->pending.data + s->pending_off,
					     s->pending.len - s->pending_off);
		if (n < 0)
			return n;
		if (n == 0)
			return GNUTLS_E_PUSH_ERROR;
		s->pending_off += (size_t)n;
	}
	buf_reset(&s->pending);
	s->pending_off = 0;
	return 1;
}

ssize_t gtlsio_send(struct gsession *s, const void *buf, size_t num)
{
	/* A session of ours exists only once the table was filled. */
	const struct gnutlsapi *api = gnutlsapi_loaded();
	bool keyed = s->decision->keyed;	/* the key goes in */
	if (s->owed == 0) {
		if (keyed && (s->refused || !gtls_router_verified(s))) {
			blocked(s);
			errno = EACCES;
			return GNUTLS_E_CERTIFICATE_ERROR;
		}
		int saved = guard_enter();
		pthread_mutex_lock(&s->lock);
		bool open = s->x != NULL;
		ssize_t rc = open ? exchange_send(s->x, buf, num, &s->pending) : 0;
		pthread_mutex_unlock(&s->lock);
		guard_leave(saved);
		if (!open && keyed) {
			/* Ended at exit: unrewritten bytes must not reach the router. */
			errno = EPIPE;
			return GNUTLS_E_PUSH_ERROR;
		}
		if (!open)	/* a captured session ended at exit: a plain pipe */
			return api->record_send(s->gs, buf, num);
		if (rc < 0) {
			errno = (int)-rc;
			return GNUTLS_E_PUSH_ERROR;
		}
		s->owed = num;
	}
	ssize_t rc = flush_pending(s, api);
	if (rc <= 0)
		return rc;
	size_t owed = s->owed;
	s->owed = 0;
	return (ssize_t)owed;
}

void gtlsio_recv(struct gsession *s, const void *buf, size_t n)
{
	int saved = guard_enter();
	pthread_mutex_lock(&s->lock);
	if (s->x)
		exchange_recv(s->x, buf, n);
	pthread_mutex_unlock(&s->lock);
	guard_leave(saved);
}
