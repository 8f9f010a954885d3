/*
 * curl: the libcurl layer (docs/contract.md#layers, layer 2). A provider URL given to
 * libcurl (CURLOPT_URL, or a CURLU handle through CURLOPT_CURLU) becomes the
 * router URL before libcurl connects, so libcurl resolves, connects to and
 * verifies the router by its own name (libcurl checks the certificate's name
 * itself, against the URL's host, so redirecting underneath it would fail).
 * The OpenSSL layer then sees a session to the router and swaps the
 * credentials; the pair of URLs is noted (urlnote.h) so the log still says
 * what the program asked for.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "guard.h"
#include "init.h"
#include "reportonce.h"
#include "urlnote.h"
#include "real.h"
#include "route.h"
#include "routertls.h"

typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);
typedef CURLU *(*url_fn)(void);
typedef CURLUcode (*url_set_fn)(CURLU *, CURLUPart, const char *, unsigned int);
typedef CURLUcode (*url_get_fn)(const CURLU *, CURLUPart, char **, unsigned int);
typedef void (*url_cleanup_fn)(CURLU *);
typedef void (*curl_free_fn)(void *);

static struct {
	setopt_fn setopt;
	url_fn url;
	url_set_fn url_set;
	url_get_fn url_get;
	url_cleanup_fn url_cleanup;
	curl_free_fn free;
} real;

static bool find_url_api(void)
{
	REAL(real.url, real_curl, "curl_url");
	REAL(real.url_set, real_curl, "curl_url_set");
	REAL(real.url_get, real_curl, "curl_url_get");
	REAL(real.url_cleanup, real_curl, "curl_url_cleanup");
	REAL(real.free, real_curl, "curl_free");
	return real.url && real.url_set && real.url_get && real.url_cleanup &&
	       real.free;
}

/* A part of a parsed URL as a malloc'ed string ("" when absent), or NULL. */
static char *url_part(CURLU *h, CURLUPart part)
{
	char *v = NULL;
	CURLUcode rc = real.url_get(h, part, &v, 0);
	if (rc != CURLUE_OK) {
		if (v)
			real.free(v);
		return strdup("");
	}
	char *copy = strdup(v);
	real.free(v);
	return copy;
}

/*
 * The router URL for a provider URL in h, or NULL when h is not an https
 * URL of a provider host on port 443.
 */
static char *routed_url(const struct respan_state *st, CURLU *h,
			enum provider_id *provider)
{
	char *scheme = url_part(h, CURLUPART_SCHEME);
	char *host = url_part(h, CURLUPART_HOST);
	char *port = url_part(h, CURLUPART_PORT);
	char *path = url_part(h, CURLUPART_PATH);
	char *query = url_part(h, CURLUPART_QUERY);
	char *result = NULL;
	struct buf target, out;

	buf_init(&target, URLNOTE_URL_MAX);
	buf_init(&out, URLNOTE_URL_MAX);
	if (!scheme || !host || !port || !path || !query ||
	    strcasecmp(scheme, "https") != 0 ||
	    (port[0] && strcmp(port, "443") != 0))
		goto out;
	*provider = route_lookup_host(&st->cfg, host, strlen(host));
	if (*provider == PROVIDER_NONE)
		goto out;
	if (buf_puts(&target, path[0] ? path : "/") < 0 ||
	    (query[0] && (buf_puts(&target, "?") < 0 || buf_puts(&target, query) < 0)))
		goto out;
	if (buf_puts(&out, "https://") < 0 ||
	    buf_puts(&out, st->cfg.router_authority) < 0 ||
	    route_target(&st->cfg, *provider, target.data, target.len, &out) < 0)
		goto out;
	result = buf_steal(&out);
out:
	buf_free(&target);
	buf_free(&out);
	free(scheme);
	free(host);
	free(port);
	free(path);
	free(query);
	return result;
}

/* Rewrite a provider URL in h in place; returns true when it did. */
static bool reroute(const struct respan_state *st, CURLU *h, const char *url,
		    enum provider_id *provider_out)
{
	enum provider_id provider;
	char *to = routed_url(st, h, &provider);
	if (to == NULL)
		return false;
	bool done = real.url_set(h, CURLUPART_URL, to, 0) == CURLUE_OK;
	if (done) {
		urlnote_add(to, url, provider, "curl");
		respan_debug("libcurl URL %s -> %s", url, to);
		*provider_out = provider;
	}
	free(to);
	return done;
}

/*
 * The last CURLOPT_URL seen and what became of it (NULL: left alone). A
 * program sets the URL again for every transfer, most often the same one,
 * and parsing it with libcurl's URL API twice is 20,000 instructions. The
 * flag is only ever tried, never waited for: a thread that finds it taken
 * (or a child forked while it was) does without the cache.
 */
static struct {
	atomic_flag busy;
	char *from;
	char *to;
	enum provider_id provider;
} last = { ATOMIC_FLAG_INIT, NULL, NULL, PROVIDER_NONE };

/* A copy of what url became last time (*hit), or NULL. */
static char *cached(const char *url, bool *hit)
{
	char *to = NULL;
	*hit = false;
	if (atomic_flag_test_and_set(&last.busy))
		return NULL;
	if (last.from && strcmp(last.from, url) == 0) {
		*hit = last.to == NULL || (to = strdup(last.to)) != NULL;
		if (to)
			urlnote_add(to, url, last.provider, "curl");
	}
	atomic_flag_clear(&last.busy);
	return to;
}

static void remember(const char *url, const char *to, enum provider_id provider)
{
	if (atomic_flag_test_and_set(&last.busy))
		return;
	free(last.from);
	free(last.to);
	last.from = strdup(url);
	last.to = to ? strdup(to) : NULL;
	last.provider = provider;
	if (last.from == NULL || (to && last.to == NULL)) {
		free(last.from);
		free(last.to);
		last.from = last.to = NULL;
	}
	atomic_flag_clear(&last.busy);
}

/* CURLOPT_URL: a new string for libcurl to copy, or NULL to leave it. */
static char *reroute_string(const struct respan_state *st, const char *url)
{
	bool hit;
	char *result = cached(url, &hit);
	if (hit)
		return result;
	CURLU *h = real.url();
	if (h == NULL)
		return NULL;
	enum provider_id provider = PROVIDER_NONE;
	if (real.url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    reroute(st, h, url, &provider)) {
		char *v = NULL;
		if (real.url_get(h, CURLUPART_URL, &v, 0) == CURLUE_OK && v)
			result = strdup(v);
		if (v)
			real.free(v);
	}
	real.url_cleanup(h);
	remember(url, result, provider);
	return result;
}

/* A CURLU handle given with CURLOPT_CURLU is the program's; it is rewritten
 * in place, since libcurl reads the URL from it at transfer time. */
static void reroute_handle(const struct respan_state *st, CURLU *h)
{
	char *v = NULL;
	if (h == NULL || real.url_get(h, CURLUPART_URL, &v, 0) != CURLUE_OK || !v)
		return;
	char *url = strdup(v);
	real.free(v);
	enum provider_id provider;
	if (url)
		reroute(st, h, url, &provider);
	free(url);
}

/*
 * A router named by address (RESPAN_BASE_URL=https://127.0.0.1:8443/, [::1])
 * gets no SNI, and libcurl (7.88 and later) reads and writes through a BIO
 * of its own, not a socket: a session to such a router is one the OpenSSL
 * layer cannot recognise, so neither RESPAN_CA_FILE nor the key would reach
 * it. Then URLs are left alone: the provider name resolves to the router
 * (layer 3), the session keeps the provider name as SNI and is routed by
 * the OpenSSL layer (layer 4, which checks the router's address), and
 * libcurl's own name check is answered by certname.c.
 */
static bool router_is_address(const struct respan_state *st)
{
	struct routertls p;
	routertls_policy(&st->cfg, &p);
	return p.is_ip;
}

/*
 * The layer acts only for a libcurl whose TLS is OpenSSL, a libssl the
 * OpenSSL layer hooks (real_have_libssl, asked once libcurl, and so its
 * libssl, is loaded). A libcurl on GnuTLS (Debian's libcurl-gnutls.so.4)
 * with the libgnutls the GnuTLS layer hooks keeps its URLs: the provider
 * name resolves to the router (layer 3) and the GnuTLS layer routes the
 * session (layer 5), which also answers libcurl's own name check. A libcurl
 * on another TLS library (NSS, ...) would connect to the router with no
 * session of ours behind it: nothing would swap the provider key for the
 * Respan key, nor log the exchange. Its URLs are left alone and a
 * not_routed event says so; the egress audit and RESPAN_FAIL=closed apply
 * to its connections as to any TLS the library cannot see.
 */
typedef curl_version_info_data *(*version_fn)(CURLversion);
static version_fn real_version;

enum curl_tls { CURL_TLS_UNKNOWN, CURL_TLS_OPENSSL, CURL_TLS_GNUTLS, CURL_TLS_OTHER };

static enum curl_tls curl_tls(void)
{
	static int known;	/* an enum curl_tls, once asked */
	int v = __atomic_load_n(&known, __ATOMIC_ACQUIRE);
	if (v == CURL_TLS_UNKNOWN) {
		REAL(real_version, real_curl, "curl_version_info");
		const curl_version_info_data *d = real_version ?
			real_version(CURLVERSION_NOW) : NULL;
		const char *tls = d && d->ssl_version ? d->ssl_version : "";
		if (strncmp(tls, "OpenSSL/", 8) == 0 && real_have_libssl())
			v = CURL_TLS_OPENSSL;
		else if (strncmp(tls, "GnuTLS/", 7) == 0 && real_have_libgnutls())
			v = CURL_TLS_GNUTLS;
		else
			v = CURL_TLS_OTHER;
		__atomic_store_n(&known, v, __ATOMIC_RELEASE);
	}
	return (enum curl_tls)v;
}

/* A provider URL handed to a libcurl the layer leaves alone: said once. */
static void note_foreign_tls(const struct respan_state *st, CURLU *h)
{
	char *host = url_part(h, CURLUPART_HOST);
	if (host && route_lookup_host(&st->cfg, host, strlen(host)) != PROVIDER_NONE)
		reportonce_not_routed(&st->xctx, host, NOT_ROUTED_CURL_TLS);
	free(host);
}

static bool curl_layer_on(const struct respan_state **st)
{
	if (guard_busy())
		return false;
	*st = respan_state();
	return respan_routing(*st) && !router_is_address(*st) && find_url_api();
}

HOOK CURLcode curl_easy_setopt(CURL *handle, CURLoption option, ...)
{
	va_list ap;
	const struct respan_state *st;

	REAL(real.setopt, real_curl, "curl_easy_setopt");
	if (real.setopt == NULL)
		return CURLE_FAILED_INIT;

	va_start(ap, option);
	/* Forward the one argument by the type its option number says it has. */
	if (option < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);
		va_end(ap);
		return real.setopt(handle, option, v);
	}
	if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) {
		curl_off_t v = va_arg(ap, curl_off_t);
		va_end(ap);
		return real.setopt(handle, option, v);
	}
	void *p = va_arg(ap, void *);
	va_end(ap);

	if ((option != CURLOPT_URL && option != CURLOPT_CURLU) || p == NULL ||
	    !curl_layer_on(&st))
		return real.setopt(handle, option, p);

	int saved = guard_enter();
	enum curl_tls tls = curl_tls();
	if (tls == CURL_TLS_GNUTLS) {	/* routed by layers 3 and 5 */
		guard_leave(saved);
		return real.setopt(handle, option, p);
	}
	bool ours = tls == CURL_TLS_OPENSSL;
	if (option == CURLOPT_URL) {
		char *to = NULL;
		CURLU *h = ours ? NULL : real.url();
		if (ours)
			to = reroute_string(st, p);
		else if (h && real.url_set(h, CURLUPART_URL, p, 0) == CURLUE_OK)
			note_foreign_tls(st, h);
		if (h)
			real.url_cleanup(h);
		guard_leave(saved);
		if (to) {
			CURLcode rc = real.setopt(handle, option, to);
			free(to);	/* libcurl keeps its own copy */
			return rc;
		}
	} else {
		if (ours)
			reroute_handle(st, p);
		else
			note_foreign_tls(st, p);
		guard_leave(saved);
	}
	return real.setopt(handle, option, p);
}
