#include "envlayer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relayname.h"
#include "route.h"

/* The host part of a URL ("https://h:1/p" -> "h"), brackets removed. */
static void url_host(const char *url, const char **host, size_t *len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *at = p + strcspn(p, "/?#");
	const char *cred = memchr(p, '@', (size_t)(at - p));
	if (cred)
		p = cred + 1;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(at - p));
		*host = p + 1;
		*len = close ? (size_t)(close - p - 1) : 0;
		return;
	}
	*host = p;
	*len = strcspn(p, ":/?#");
}

/* Unset, empty, or naming one of the provider's own hosts. */
static bool ours_to_set(const struct config *cfg, const char *value,
			enum provider_id a, enum provider_id b)
{
	if (value == NULL || value[0] == '\0')
		return true;
	const char *host;
	size_t len;
	url_host(value, &host, &len);
	if (len == 0)
		return false;
	enum provider_id id = route_lookup_host(cfg, host, len);
	return id != PROVIDER_NONE && (id == a || id == b);
}

static bool truthy(const char *v)
{
	return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
		     strcasecmp(v, "yes") == 0);
}

static int add(struct envlayer_plan *plan, const char *name, const char *a,
	       const char *b)
{
	if (plan->n_ops == ENVLAYER_MAX_OPS)
		return -1;
	char *value = NULL;
	if (a) {
		size_t la = strlen(a), lb = b ? strlen(b) : 0;
		value = malloc(la + lb + 1);
		if (value == NULL)
			return -1;
		memcpy(value, a, la);
		if (lb)
			memcpy(value + la, b, lb);
		value[la + lb] = '\0';
	}
	plan->ops[plan->n_ops].name = name;
	plan->ops[plan->n_ops].value = value;
	plan->n_ops++;
	return 0;
}

const char *envlayer_relay(char *const *env)
{
	const char *v = envget(env, "RESPAN_RELAY");
	struct relayname stand_in;
	if (v == NULL)
		return NULL;
	if (relayname_parse(v, &stand_in))
		return v[strlen(v) - 1] == '/' ? v : NULL;	/* the library's own relay */
	static const char *const ok[] = { "http://127.0.0.1:", "http://[::1]:" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n = strlen(ok[i]);
		if (strncmp(v, ok[i], n) != 0)
			continue;
		const char *p = v + n;
		size_t digits = strspn(p, "0123456789");
		if (digits == 0 || digits > 5 || p[digits] != '/' ||
		    v[strlen(v) - 1] != '/')
			return NULL;
		return v;
	}
	return NULL;
}

const char *envlayer_keyed(const struct config *cfg, char *const *env,
			   enum provider_id id)
{
	static const struct {
		enum provider_id id;
		const char *var;
	} vars[] = {
		{ PROVIDER_OPENAI, "OPENAI_API_KEY" },
		{ PROVIDER_ANTHROPIC, "ANTHROPIC_AUTH_TOKEN" },
		{ PROVIDER_ANTHROPIC, "ANTHROPIC_API_KEY" },
		{ PROVIDER_GEMINI, "GEMINI_API_KEY" },
		{ PROVIDER_GEMINI, "GOOGLE_API_KEY" },
		{ PROVIDER_VERTEXAI, "GOOGLE_API_KEY" },
	};
	if (cfg->api_key == NULL || cfg->api_key[0] == '\0')
		return NULL;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = vars[i].id == id ? envget(env, vars[i].var) : NULL;
		if (v && strcmp(v, cfg->api_key) == 0)
			return vars[i].var;
	}
	return NULL;
}

int envlayer_plan(const struct config *cfg, char *const *env,
		  struct envlayer_plan *plan)
{
	return envlayer_plan_relay(cfg, env, envlayer_relay(env), NULL, plan);
}

int envlayer_plan_relay(const struct config *cfg, char *const *env, const char *relay,
			const char *node_ca, struct envlayer_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (cfg->mode != RESPAN_MODE_ROUTE || cfg->api_key == NULL)
		return 0;
	const char *base = relay ? relay : cfg->base_url;
	const char *key = cfg->api_key;
	int rc = 0;

	if (ours_to_set(cfg, envget(env, "OPENAI_BASE_URL"),
			PROVIDER_OPENAI, PROVIDER_OPENAI)) {
		rc |= add(plan, "OPENAI_BASE_URL", base, NULL);
		rc |= add(plan, "OPENAI_API_KEY", key, NULL);
	}
	if (ours_to_set(cfg, envget(env, "ANTHROPIC_BASE_URL"),
			PROVIDER_ANTHROPIC, PROVIDER_ANTHROPIC)) {
		rc |= add(plan, "ANTHROPIC_BASE_URL", base, "anthropic/");
		rc |= add(plan, "ANTHROPIC_AUTH_TOKEN", key, NULL);
		if (envget(env, "ANTHROPIC_API_KEY"))
			rc |= add(plan, "ANTHROPIC_API_KEY", NULL, NULL);
	}
	bool vertex = truthy(envget(env, "GOOGLE_GENAI_USE_VERTEXAI"));
	if (ours_to_set(cfg, envget(env, "GOOGLE_GEMINI_BASE_URL"),
			PROVIDER_GEMINI, PROVIDER_VERTEXAI)) {
		const char *path = vertex ? "google/vertexai/" : "google/gemini";
		rc |= add(plan, "GOOGLE_GEMINI_BASE_URL", base, path);
		if (vertex && ours_to_set(cfg, envget(env, "GOOGLE_VERTEX_BASE_URL"),
					  PROVIDER_VERTEXAI, PROVIDER_GEMINI))
			rc |= add(plan, "GOOGLE_VERTEX_BASE_URL", base, path);
		rc |= add(plan, "GEMINI_API_KEY", key, NULL);
		rc |= add(plan, "GOOGLE_API_KEY", key, NULL);
	}

	/*
	 * The relay speaks plain HTTP: node needs no CA for the router then,
	 * only the interception CA when it is in use (node_ca).
	 */
	const char *ca = relay == NULL ? cfg->ca_file : node_ca;
	if (ca) {
		const char *have = envget(env, "NODE_EXTRA_CA_CERTS");
		if (have == NULL || have[0] == '\0') {
			rc |= add(plan, "NODE_EXTRA_CA_CERTS", ca, NULL);
		} else if (strcmp(have, ca) != 0 &&
			   strstr(have, "/" ENVLAYER_BUNDLE_PREFIX) == NULL) {
			plan->ca_merge_user = have;
			plan->ca_merge_respan = ca;
		}
	}
	if (rc != 0) {
		envlayer_free(plan);
		return -1;
	}
	return 0;
}

void envlayer_free(struct envlayer_plan *plan)
{
	for (size_t i = 0; i < plan->n_ops; i++)
		free(plan->ops[i].value);
	memset(plan, 0, sizeof(*plan));
}
