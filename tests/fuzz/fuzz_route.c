/*
 * libFuzzer target for preload/route.c: which provider a host is, the
 * router's own host, and where a request goes on the router.
 *
 * Input: lines. "RESPAN_...=value" lines are environment entries placed
 * before a fixed environment (key, base URL), so they override it; a line
 * starting with '{' replaces the fixed config file (its "providers" add
 * hosts); every other line (at most 64) is a query, any bytes but '\n',
 * asked as a host name and as a request-target, and next to the following
 * query as the authority of a URL.
 *
 * Checked beyond no crash or over-read (the queries are handed over with
 * their length, never NUL-terminated):
 *   - route_lookup_host: a built-in host wins over the config's; upper
 *     case and one trailing dot change nothing; and every provider host
 *     is one the interception CA may vouch for (equal to one of
 *     route_intercept_names or under one), except REGION-aiplatform hosts
 *     and "*-" patterns, which cannot be name constraints;
 *   - route_is_router_host: true for the router's host, blind to case;
 *   - route_target: -EINVAL exactly for a target in neither origin nor
 *     absolute form (and for no provider); otherwise the router path, the
 *     provider's prefix and the rest of the target, and a passthrough's
 *     target is recognised as that provider's by
 *     route_provider_for_router_path; a buf that cannot grow is left as
 *     it was;
 *   - route_url: the absolute-form target as it is, else
 *     https://AUTHORITY + target; a buf that cannot grow is left as it was;
 *   - route_intercept_names: at most max, a prefix of the longer list;
 *   - the provider names, suffixes and credential styles round-trip.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_QUERIES 64
#define MAX_ENV 32
#define NAMES_MAX 256
#define VERTEX_SUFFIX "-aiplatform.googleapis.com"

static const char fixed_file[] =
	"{\"providers\": {\"llm.corp.example\": \"openai\", "
	"\"*.openai.azure.com\": \"openai\", \"*-claude.gateway.example.net\": \"anthropic\", "
	"\"gemini.proxy.example\": \"gemini\", \"*.vertex.corp.example\": \"vertexai\"}}";

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_route: %s\n", what);
		abort();
	}
}

/* A memfd for the config file, made once per process; its path in path. */
static int config_fd(char *path, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = memfd_create("respan-fuzz-route", MFD_CLOEXEC);
	must(fd >= 0, "memfd_create");
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

/* A malloc'd copy of (p, n) with extra bytes of room at the end. */
static char *copy(const char *p, size_t n, size_t extra)
{
	char *c = malloc(n + extra + 1);
	must(c != NULL, "malloc");
	if (n)
		memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

static bool ends_ci(const char *p, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strncasecmp(p + n - k, suffix, k) == 0;
}

static bool starts_ci(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && strncasecmp(p, prefix, k) == 0;
}

/* (q, n) is name or a host under it, as a DNS name constraint permits. */
static bool under_name(const char *q, size_t n, const char *name)
{
	size_t k = strlen(name);
	if (n == k)
		return strncasecmp(q, name, k) == 0;
	return n > k + 1 && q[n - k - 1] == '.' && strncasecmp(q + n - k, name, k) == 0;
}

static void check_host(const struct config *cfg, const struct config *plain,
		       const char **names, size_t n_names, const char *q, size_t n)
{
	enum provider_id p = route_lookup_host(cfg, q, n);
	enum provider_id builtin = route_lookup_host(NULL, q, n);
	must(p >= PROVIDER_NONE && p < PROVIDER_COUNT, "lookup out of range");
	must(builtin == PROVIDER_NONE || builtin == p, "a config host beat a built-in one");

	char *v = copy(q, n, 1);
	for (size_t i = 0; i < n; i++)
		if (v[i] >= 'a' && v[i] <= 'z')
			v[i] = (char)(v[i] - 'a' + 'A');
	must(route_lookup_host(cfg, v, n) == p, "lookup depends on case");
	must(route_is_router_host(cfg, v, n) == route_is_router_host(cfg, q, n),
	     "router host check depends on case");
	if (n > 0 && q[n - 1] != '.') {
		memcpy(v, q, n);
		v[n] = '.';
		must(route_lookup_host(cfg, v, n + 1) == p, "a trailing dot changed the lookup");
		if (q[0] != '[')
			must(route_is_router_host(cfg, v, n + 1) == route_is_router_host(cfg, q, n),
			     "a trailing dot changed the router host check");
	}
	free(v);

	/* Every provider host, but the two kinds no constraint can name, is covered. */
	size_t t = n > 0 && q[n - 1] == '.' ? n - 1 : n;
	if (route_lookup_host(plain, q, n) == PROVIDER_NONE || ends_ci(q, t, VERTEX_SUFFIX))
		return;
	bool covered = false;
	for (size_t i = 0; i < n_names && !covered; i++)
		covered = under_name(q, t, names[i]);
	must(covered, "a provider host the interception CA cannot vouch for");
}

/* Origin form, or absolute form with an authority (route.c's origin_form). */
static bool target_form(const char *q, size_t n)
{
	size_t skip = starts_ci(q, n, "https://") ? 8 : starts_ci(q, n, "http://") ? 7 : 0;
	if (n > 0 && q[0] == '/')
		return true;
	return skip && n > skip && q[skip] != '/' && q[skip] != '?';
}

static const char *const passthrough_prefix[PROVIDER_COUNT] = {
	[PROVIDER_OPENAI] = "",
	[PROVIDER_ANTHROPIC] = "anthropic/",
	[PROVIDER_GEMINI] = "google/gemini/",
	[PROVIDER_VERTEXAI] = "google/vertexai/",
};

static void check_target(const struct config *cfg, const char *q, size_t n, size_t tiny)
{
	struct buf out;
	bool form = target_form(q, n);
	const char *rp = cfg->router_path;
	size_t rpl = strlen(rp);

	enum provider_id guess = route_provider_for_router_path(cfg, q, n);
	must(guess >= PROVIDER_OPENAI && guess < PROVIDER_COUNT, "router path guess");
	buf_init(&out, SIZE_MAX);
	must(route_target(cfg, PROVIDER_NONE, q, n, &out) == -EINVAL &&
	     route_target(cfg, PROVIDER_COUNT, q, n, &out) == -EINVAL && out.len == 0,
	     "route_target took a provider that is none");
	for (int id = 0; id < PROVIDER_COUNT; id++) {
		buf_reset(&out);
		int rc = route_target(cfg, (enum provider_id)id, q, n, &out);
		must(rc == (form ? 0 : -EINVAL), "route_target's verdict on the form");
		if (rc < 0) {
			must(out.len == 0, "route_target wrote for a bad target");
			continue;
		}
		const char *pre = passthrough_prefix[id];
		size_t pl = strlen(pre);
		must(out.len >= rpl + pl && out.len <= rpl + pl + n &&
		     memcmp(out.data, rp, rpl) == 0 && memcmp(out.data + rpl, pre, pl) == 0,
		     "route_target: not router path + prefix");
		size_t rest = out.len - rpl - pl;
		must(rest == 0 || memcmp(out.data + rpl + pl, q + n - rest, rest) == 0,
		     "route_target: not the end of the target");
		if (id != PROVIDER_OPENAI)
			must(route_provider_for_router_path(cfg, out.data, out.len) == id,
			     "a passthrough target not recognised as its provider's");

		/* No room: out stays as it was. */
		struct buf small;
		buf_init(&small, 1 + tiny % (out.len + 1));
		must(buf_puts(&small, "X") == 0, "buf_puts");
		rc = route_target(cfg, (enum provider_id)id, q, n, &small);
		must(rc == 0 || (rc == -E2BIG && small.len == 1 && small.data[1] == '\0'),
		     "route_target changed a buf it could not fill");
		buf_free(&small);
	}
	buf_free(&out);
}

static void check_url(const char *a, size_t an, const char *q, size_t n, size_t tiny)
{
	struct buf out, small;
	bool absolute = starts_ci(q, n, "https://") || starts_ci(q, n, "http://");
	buf_init(&out, SIZE_MAX);
	must(route_url(a, an, q, n, &out) == 0, "route_url");
	if (absolute)
		must(out.len == n && (n == 0 || memcmp(out.data, q, n) == 0),
		     "route_url changed an absolute URL");
	else
		must(out.len == 8 + an + n && memcmp(out.data, "https://", 8) == 0 &&
		     (an == 0 || memcmp(out.data + 8, a, an) == 0) &&
		     (n == 0 || memcmp(out.data + 8 + an, q, n) == 0),
		     "route_url is not https:// + authority + target");
	buf_init(&small, tiny % (out.len + 1));
	int rc = route_url(a, an, q, n, &small);
	must(rc == 0 || (rc == -E2BIG && small.len == 0), "route_url changed a buf it could not fill");
	buf_free(&small);
	buf_free(&out);
}

static void check_names(const struct config *cfg, const char **names, size_t n)
{
	const char *few[8];
	must(n <= NAMES_MAX && n >= PROVIDER_COUNT, "intercept names count");
	for (size_t i = 0; i < n; i++)
		must(names[i] != NULL && names[i][0] != '\0', "an empty intercept name");
	for (size_t max = 0; max <= 8; max++) {
		size_t k = route_intercept_names(cfg, few, max);
		must(k == (max < n ? max : n), "intercept names past max");
		for (size_t i = 0; i < k; i++)
			must(few[i] == names[i], "intercept names not a prefix");
	}
}

static void check_providers(void)
{
	for (int id = PROVIDER_NONE; id <= PROVIDER_COUNT; id++) {
		enum provider_id p = (enum provider_id)id;
		const char *name = route_provider_name(p), *suffix = route_provider_env_suffix(p);
		bool valid = id >= 0 && id < PROVIDER_COUNT;
		must((name != NULL) == valid && (suffix != NULL) == valid, "provider names");
		enum cred_style c = route_cred_style(p);
		must(c == CRED_BEARER || c == CRED_X_API_KEY || c == CRED_X_GOOG_API_KEY, "cred style");
		if (valid)
			must(route_provider_from_name(name) == p &&
			     route_provider_from_name(suffix) == p, "provider names round trip");
	}
	must(route_provider_from_name(NULL) == PROVIDER_NONE, "provider from NULL");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char *env[MAX_ENV + 8];
	char config_env[64], path[40];
	const char *q[MAX_QUERIES];
	size_t qn[MAX_QUERIES], n_q = 0, n_env = 0;
	const char *file = fixed_file;
	size_t file_len = sizeof(fixed_file) - 1;
	char *text = copy(in, size, 0);

	/* Lines: environment entries, a config file, queries. */
	for (size_t at = 0; at < size && n_q < MAX_QUERIES;) {
		const char *nl = memchr(in + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - in) - at : size - at;
		char *line = text + at;
		if (len > 7 && memcmp(line, "RESPAN_", 7) == 0 && memchr(line, '=', len)) {
			line[len] = '\0';
			if (n_env < MAX_ENV)
				env[n_env++] = line;
		} else if (len > 0 && line[0] == '{') {
			file = line;
			file_len = len;
		} else {
			q[n_q] = line;
			qn[n_q++] = len;
		}
		at += len + 1;
	}
	int fd = config_fd(path, sizeof(path));
	must(ftruncate(fd, 0) == 0 && pwrite(fd, file, file_len, 0) == (ssize_t)file_len,
	     "writing the config file");
	snprintf(config_env, sizeof(config_env), "RESPAN_CONFIG=%s", path);
	env[n_env++] = config_env;
	env[n_env++] = (char *)"RESPAN_API_KEY=rk-test-route-0123456789";
	env[n_env++] = (char *)"RESPAN_BASE_URL=https://api.respan.ai/api/";
	env[n_env++] = (char *)"HOME=/nonexistent/respan-fuzz";
	env[n_env] = NULL;

	struct config cfg;
	must(config_load(&cfg, env) == 0, "config_load");
	const char *names[NAMES_MAX];
	size_t n_names = route_intercept_names(&cfg, names, NAMES_MAX);
	check_names(&cfg, names, n_names);
	check_providers();
	must(route_is_router_host(&cfg, cfg.router_host, strlen(cfg.router_host)),
	     "the router's host is not the router's");

	/* The config without its "*-" patterns, which the CA cannot name. */
	struct config plain = cfg;
	plain.n_extra_hosts = 0;
	for (size_t i = 0; i < cfg.n_extra_hosts; i++)
		if (strncmp(cfg.extra_hosts[i].pattern, "*-", 2) != 0)
			plain.extra_hosts[plain.n_extra_hosts++] = cfg.extra_hosts[i];

	for (size_t i = 0; i < n_q; i++) {
		/* Unterminated copies, so ASan sees any read past the length. */
		char *h = malloc(qn[i] ? qn[i] : 1);
		must(h != NULL, "malloc");
		memcpy(h, q[i], qn[i]);
		size_t tiny = qn[i] * 31 + i;
		check_host(&cfg, &plain, names, n_names, h, qn[i]);
		check_target(&cfg, h, qn[i], tiny);
		size_t j = i + 1 < n_q ? i + 1 : 0;
		check_url(h, qn[i], q[j], qn[j], tiny);
		free(h);
	}
	config_free(&cfg);
	free(text);
	return 0;
}
