#include "route.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define ROUTE_DEFAULT_PATH "/api/"

struct provider_info {
	const char *name;
	const char *env_suffix;
	enum cred_style cred;
	const char *host;	/* the one exact built-in host */
};

static const struct provider_info providers[PROVIDER_COUNT] = {
	[PROVIDER_OPENAI] = { "openai", "OPENAI", CRED_BEARER, "api.openai.com" },
	[PROVIDER_ANTHROPIC] = { "anthropic", "ANTHROPIC", CRED_X_API_KEY,
				 "api.anthropic.com" },
	[PROVIDER_GEMINI] = { "gemini", "GEMINI", CRED_X_GOOG_API_KEY,
			      "generativelanguage.googleapis.com" },
	[PROVIDER_VERTEXAI] = { "vertexai", "VERTEXAI", CRED_BEARER,
				"aiplatform.googleapis.com" },
};

static bool provider_valid(enum provider_id id)
{
	return id >= PROVIDER_OPENAI && id < PROVIDER_COUNT;
}

const char *route_provider_name(enum provider_id id)
{
	return provider_valid(id) ? providers[id].name : NULL;
}

enum provider_id route_provider_from_name(const char *name)
{
	if (name == NULL)
		return PROVIDER_NONE;
	for (int i = 0; i < PROVIDER_COUNT; i++)
		if (strcasecmp(name, providers[i].name) == 0)
			return (enum provider_id)i;
	return PROVIDER_NONE;
}

const char *route_provider_env_suffix(enum provider_id id)
{
	return provider_valid(id) ? providers[id].env_suffix : NULL;
}

enum cred_style route_cred_style(enum provider_id id)
{
	return provider_valid(id) ? providers[id].cred : CRED_BEARER;
}

/* (host, len) equals the NUL-terminated name, ignoring case. */
static bool host_is(const char *host, size_t len, const char *name)
{
	return http_token_is(host, len, name);
}

/* (host, len) ends with the NUL-terminated suffix, ignoring case. */
static bool host_ends_with(const char *host, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(host + len - n, suffix, n) == 0;
}

/*
 * Host names reach us from DNS calls, SNI and Host headers: drop one
 * trailing dot (the absolute form of the same name).
 */
static size_t host_trim(const char *host, size_t len)
{
	if (len > 0 && host[len - 1] == '.')
		len--;
	return len;
}

static bool is_region_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

/* "REGION-aiplatform.googleapis.com" with REGION one label of [a-z0-9-]. */
static bool is_vertex_regional(const char *host, size_t len)
{
	static const char suffix[] = "-aiplatform.googleapis.com";
	size_t n = sizeof(suffix) - 1;
	if (len <= n || !host_ends_with(host, len, suffix))
		return false;
	for (size_t i = 0; i < len - n; i++)
		if (!is_region_char(host[i]))
			return false;
	return true;
}

/*
 * One configured pattern: exact, "*.rest" (exactly one non-empty label
 * before ".rest") or "*-rest" (a non-empty prefix, without dots, before
 * "-rest"). One label only, like a TLS wildcard, so "*.example.com" cannot
 * swallow every host under a domain by accident.
 */
static bool pattern_match(const char *pat, const char *host, size_t len)
{
	if (pat == NULL)
		return false;
	if (pat[0] != '*' || (pat[1] != '.' && pat[1] != '-'))
		return host_is(host, len, pat);
	const char *rest = pat + 1;	/* ".rest" or "-rest", separator kept */
	size_t rlen = strlen(rest);
	if (rlen < 2 || len <= rlen || !host_ends_with(host, len, rest))
		return false;
	return memchr(host, '.', len - rlen) == NULL;
}

enum provider_id route_lookup_host(const struct config *cfg, const char *host,
				   size_t len)
{
	if (host == NULL)
		return PROVIDER_NONE;
	len = host_trim(host, len);
	if (len == 0)
		return PROVIDER_NONE;
	for (int i = 0; i < PROVIDER_COUNT; i++)
		if (host_is(host, len, providers[i].host))
			return (enum provider_id)i;
	if (is_vertex_regional(host, len))
		return PROVIDER_VERTEXAI;
	if (cfg == NULL)
		return PROVIDER_NONE;
	for (size_t i = 0; i < cfg->n_extra_hosts && i < CONFIG_MAX_EXTRA_HOSTS; i++) {
		const struct config_host *h = &cfg->extra_hosts[i];
		if (provider_valid(h->provider) && pattern_match(h->pattern, host, len))
			return h->provider;
	}
	return PROVIDER_NONE;
}

bool route_is_router_host(const struct config *cfg, const char *host, size_t len)
{
	if (cfg == NULL || cfg->router_host == NULL || host == NULL)
		return false;
	/* An IPv6 literal may come with its brackets (a Host header). */
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	len = host_trim(host, len);
	size_t rlen = host_trim(cfg->router_host, strlen(cfg->router_host));
	return len > 0 && len == rlen && strncasecmp(host, cfg->router_host, len) == 0;
}

static bool starts_with_ci(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && strncasecmp(p, prefix, k) == 0;
}

/*
 * Reduce a request-target to its origin form (path and query). Absolute
 * form loses its scheme and authority; "https://h?q" becomes "?q" with an
 * implied "/" (*implied_slash). Returns 0 or -EINVAL.
 */
static int origin_form(const char *target, size_t len, const char **path,
		       size_t *plen, bool *implied_slash)
{
	*implied_slash = false;
	if (len > 0 && target[0] == '/') {
		*path = target;
		*plen = len;
		return 0;
	}
	size_t skip;
	if (starts_with_ci(target, len, "https://"))
		skip = 8;
	else if (starts_with_ci(target, len, "http://"))
		skip = 7;
	else
		return -EINVAL;
	size_t i = skip;
	while (i < len && target[i] != '/' && target[i] != '?')
		i++;
	if (i == skip)
		return -EINVAL;	/* no authority */
	*path = target + i;
	*plen = len - i;
	*implied_slash = *plen == 0 || (*path)[0] != '/';
	return 0;
}

static const char *router_path(const struct config *cfg)
{
	if (cfg == NULL || cfg->router_path == NULL || cfg->router_path[0] != '/')
		return ROUTE_DEFAULT_PATH;
	return cfg->router_path;
}

/* The path after "{router_path}" is prefix, followed by '/', '?' or nothing. */
static bool under(const char *rest, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	if (n < k || memcmp(rest, prefix, k) != 0)
		return false;
	return n == k || rest[k] == '/' || rest[k] == '?';
}

enum provider_id route_provider_for_router_path(const struct config *cfg,
						const char *target, size_t len)
{
	const char *path;
	size_t plen;
	bool slash;
	if (target == NULL || origin_form(target, len, &path, &plen, &slash) < 0)
		return PROVIDER_OPENAI;
	const char *base = router_path(cfg);
	size_t blen = strlen(base);
	if (slash || plen < blen || memcmp(path, base, blen) != 0)
		return PROVIDER_OPENAI;
	const char *rest = path + blen;
	size_t rlen = plen - blen;
	if (under(rest, rlen, "anthropic"))
		return PROVIDER_ANTHROPIC;
	if (under(rest, rlen, "google/gemini"))
		return PROVIDER_GEMINI;
	if (under(rest, rlen, "google/vertexai"))
		return PROVIDER_VERTEXAI;
	return PROVIDER_OPENAI;
}

int route_target(const struct config *cfg, enum provider_id id,
		 const char *target, size_t len, struct buf *out)
{
	const char *path;
	size_t plen;
	bool slash;
	if (!provider_valid(id) || target == NULL)
		return -EINVAL;
	int rc = origin_form(target, len, &path, &plen, &slash);
	if (rc < 0)
		return rc;
	/* From here on, (path, plen) is the path without its leading '/'. */
	if (!slash) {
		path++;
		plen--;
	}
	const char *prefix = "";
	switch (id) {
	case PROVIDER_OPENAI:
		/* The unified router is the OpenAI API without its "/v1/". */
		if (plen >= 3 && memcmp(path, "v1/", 3) == 0) {
			path += 3;
			plen -= 3;
		}
		break;
	case PROVIDER_ANTHROPIC:
		prefix = "anthropic/";
		break;
	case PROVIDER_GEMINI:
		prefix = "google/gemini/";
		break;
	case PROVIDER_VERTEXAI:
		prefix = "google/vertexai/";
		break;
	default:
		return -EINVAL;
	}
	size_t start = out->len;
	if ((rc = buf_puts(out, router_path(cfg))) < 0 ||
	    (rc = buf_puts(out, prefix)) < 0 ||
	    (rc = buf_append(out, path, plen)) < 0) {
		/* Leave out as it was: a half-written target is worse than none. */
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return rc;
	}
	return 0;
}

int route_url(const char *authority, size_t alen, const char *target,
	      size_t tlen, struct buf *out)
{
	size_t start = out->len;
	int rc;
	/* An absolute-form target (a proxy request) is already the URL. */
	if (starts_with_ci(target, tlen, "https://") ||
	    starts_with_ci(target, tlen, "http://")) {
		rc = buf_append(out, target, tlen);
	} else if ((rc = buf_puts(out, "https://")) == 0 &&
		   (rc = buf_append(out, authority, alen)) == 0) {
		rc = buf_append(out, target, tlen);
	}
	if (rc < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return rc;
}

/* Vertex AI's regional endpoints (REGION-aiplatform.googleapis.com), by region. */
#define V(region) region "-aiplatform.googleapis.com"
static const char *const vertex_regional[] = {
	V("us-central1"), V("us-east1"), V("us-east4"), V("us-east5"), V("us-south1"),
	V("us-west1"), V("us-west2"), V("us-west3"), V("us-west4"),
	V("northamerica-northeast1"), V("northamerica-northeast2"), V("southamerica-east1"),
	V("southamerica-west1"), V("europe-central2"), V("europe-north1"),
	V("europe-southwest1"), V("europe-west1"), V("europe-west2"), V("europe-west3"),
	V("europe-west4"), V("europe-west6"), V("europe-west8"), V("europe-west9"),
	V("europe-west10"), V("europe-west12"), V("asia-east1"), V("asia-east2"),
	V("asia-northeast1"), V("asia-northeast2"), V("asia-northeast3"), V("asia-south1"),
	V("asia-south2"), V("asia-southeast1"), V("asia-southeast2"),
	V("australia-southeast1"), V("australia-southeast2"), V("me-central1"),
	V("me-central2"), V("me-west1"), V("africa-south1"),
};
#undef V
#define N_REGIONAL (sizeof(vertex_regional) / sizeof(vertex_regional[0]))

size_t route_intercept_names(const struct config *cfg, const char **names, size_t max)
{
	size_t n = 0;
	for (int id = 0; id < PROVIDER_COUNT && n < max; id++)
		names[n++] = providers[id].host;
	for (size_t i = 0; i < N_REGIONAL && n < max; i++)
		names[n++] = vertex_regional[i];
	for (size_t i = 0; cfg && i < cfg->n_extra_hosts && n < max; i++) {
		const char *p = cfg->extra_hosts[i].pattern;
		if (p[0] == '*' && p[1] == '-')
			continue;
		names[n++] = p[0] == '*' && p[1] == '.' ? p + 2 : p;
	}
	return n;
}
