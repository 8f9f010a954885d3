/* reportonce: once-per-host reports and not_routed reasons; see reportonce.h. */
#include "reportonce.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include "cold.h"
#include "real.h"

static struct {
	char host[256];
	int kind;
} reported[32] RESPAN_COLD;
static unsigned n_reported;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *reason_text(enum not_routed_reason why)
{
	switch (why) {
	case NOT_ROUTED_NO_LIBSSL:
		return "TLS is compiled into this program (no libssl or libgnutls "
		       "is loaded): only the base-URL variables can route it";
	case NOT_ROUTED_UNSEEN:
		return "libssl or libgnutls is loaded, but this connection was not "
		       "made to an address the library handed out for the provider "
		       "name (the program resolved it itself, or its TLS is another)";
	case NOT_ROUTED_CURL_TLS:
		return "libcurl in this program does its TLS with another library "
		       "than OpenSSL or GnuTLS (NSS, ...): its provider URLs are left "
		       "alone, only the base-URL variables can route it";
	}
	return "unknown";
}

bool reportonce_first(const char *host, int kind)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < n_reported; i++) {
		if (reported[i].kind == kind && strcasecmp(reported[i].host, host) == 0) {
			pthread_mutex_unlock(&lock);
			return false;
		}
	}
	bool full = n_reported == sizeof(reported) / sizeof(reported[0]);
	if (!full) {
		snprintf(reported[n_reported].host, sizeof(reported[0].host), "%s", host);
		reported[n_reported].kind = kind;
		n_reported++;
	}
	pthread_mutex_unlock(&lock);
	return !full;
}

void reportonce_not_routed(const struct exchange_ctx *ctx, const char *host,
			   enum not_routed_reason why)
{
	/*
	 * "No TLS library of ours" is the caller's reading of libssl alone
	 * (the egress audit's): with a libgnutls loaded the connection was
	 * merely not one the library handed out.
	 */
	if (why == NOT_ROUTED_NO_LIBSSL && real_have_libgnutls())
		why = NOT_ROUTED_UNSEEN;
	if (reportonce_first(host, (int)why))
		logfile_event(ctx->log, "not_routed", host, reason_text(why));
}

/* A leaf lock: nothing else is taken while it is held. */
void reportonce_fork(enum fork_phase phase)
{
	fork_phase_lock(&lock, phase);
}
