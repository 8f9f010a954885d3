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

static bool starts_with(const char *s, const char *prefix)
{
	return s && prefix && prefix[0] && strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * A base URL layer 1 set in an ancestor (every process of the tree runs it):
 * the router's, or a relay's.
 */
static bool set_by_layer1(const struct config *cfg, char *const *env, const char *relay,
			  const char *value)
{
	return starts_with(value, cfg->base_url) || starts_with(value, relay) ||
	       starts_with(value, envlayer_relay(env));
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
	return envlayer_plan_client(cfg, env, relay, node_ca, ENVLAYER_ANY, plan);
}

int envlayer_plan_client(const struct config *cfg, char *const *env, const char *relay,
			 const char *node_ca, enum envlayer_client client,
			 struct envlayer_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (cfg->mode != RESPAN_MODE_ROUTE || cfg->api_key == NULL)
		return 0;
	const char *base = relay ? relay : cfg->base_url;
	const char *key = cfg->api_key;
	int rc = 0;

	if (client == ENVLAYER_CODEX_CLI) {
		/*
		 * Its binary reads neither (envlayer.h): what an ancestor's
		 * layer 1 set is taken back, so that the Respan key is never
		 * in an environment the library does not watch.
		 */
		if (set_by_layer1(cfg, env, relay, envget(env, "OPENAI_BASE_URL")))
			rc |= add(plan, "OPENAI_BASE_URL", NULL, NULL);
		const char *openai = envget(env, "OPENAI_API_KEY");
		if (openai && strcmp(openai, key) == 0)
			rc |= add(plan, "OPENAI_API_KEY", NULL, NULL);
	} else if (ours_to_set(cfg, envget(env, "OPENAI_BASE_URL"),
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
	bool vertex = envlayer_vertex(env);
	bool gemini_cli = client == ENVLAYER_GEMINI_CLI && !vertex;
	const char *gbase = envget(env, "GOOGLE_GEMINI_BASE_URL");
	/* What an ancestor's layer 1 set for it (a shell, npx, respan run, the
	 * CLI's own relaunch): taken back, or set again. */
	bool inherited = gemini_cli && set_by_layer1(cfg, env, relay, gbase);
	bool ours = inherited || ours_to_set(cfg, gbase, PROVIDER_GEMINI, PROVIDER_VERTEXAI);
	const char *google = envget(env, "GOOGLE_API_KEY");
	if (gemini_cli && relay && node_ca) {
		/* Routed by interception (envlayer.h). */
		if (inherited)
			rc |= add(plan, "GOOGLE_GEMINI_BASE_URL", NULL, NULL);
		if (google && strcmp(google, key) == 0)
			rc |= add(plan, "GOOGLE_API_KEY", NULL, NULL);
		if (ours)
			rc |= add(plan, "GEMINI_API_KEY", key, NULL);
	} else if (gemini_cli) {
		/* Not routed (envlayer.h): nothing of ours is left for it. */
		const char *gemini = envget(env, "GEMINI_API_KEY");
		if (inherited)
			rc |= add(plan, "GOOGLE_GEMINI_BASE_URL", NULL, NULL);
		if (google && strcmp(google, key) == 0)
			rc |= add(plan, "GOOGLE_API_KEY", NULL, NULL);
		if (gemini && strcmp(gemini, key) == 0)
			rc |= add(plan, "GEMINI_API_KEY", NULL, NULL);
	} else if (ours) {
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

/* Options of node's that take their value as the next argument. */
static bool takes_value(const char *opt)
{
	static const char *const with_value[] = {
		"-r", "--require", "--import", "--loader", "--experimental-loader",
		"-C", "--conditions", "--env-file", "--input-type", "--title",
		"--inspect-port", "--debug-port", "--redirect-warnings",
		"--openssl-config", "--icu-data-dir", "--dns-result-order",
	};
	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
		if (strcmp(opt, with_value[i]) == 0)
			return true;
	return false;
}

const char *envlayer_node_script(const char *cmdline, size_t len)
{
	const char *end = cmdline + len;
	const char *arg = memchr(cmdline, '\0', len);	/* past argv[0] */
	bool next_is_value = false;
	for (arg = arg ? arg + 1 : end; arg < end;) {
		const char *nul = memchr(arg, '\0', (size_t)(end - arg));
		if (nul == NULL)
			return NULL;		/* cut short: not a whole argument */
		if (next_is_value) {
			next_is_value = false;
		} else if (strcmp(arg, "--") == 0) {
			return nul + 1 < end && memchr(nul + 1, '\0', (size_t)(end - nul - 1)) ?
				       nul + 1 : NULL;
		} else if (arg[0] != '-' || arg[1] == '\0') {
			return arg[0] == '-' ? NULL : arg;	/* "-": stdin */
		} else if (strcmp(arg, "-e") == 0 || strcmp(arg, "--eval") == 0 ||
			   strcmp(arg, "-p") == 0 || strcmp(arg, "--print") == 0) {
			return NULL;
		} else {
			next_is_value = takes_value(arg);
		}
		arg = nul + 1;
	}
	return NULL;
}

enum envlayer_client envlayer_client_of_script(const char *path)
{
	if (path && strstr(path, "/node_modules/@google/gemini-cli/"))
		return ENVLAYER_GEMINI_CLI;
	if (path && strstr(path, "/node_modules/@openai/codex/"))
		return ENVLAYER_CODEX_CLI;
	return ENVLAYER_ANY;
}

bool envlayer_vertex(char *const *env)
{
	return truthy(envget(env, "GOOGLE_GENAI_USE_VERTEXAI"));
}

void envlayer_free(struct envlayer_plan *plan)
{
	for (size_t i = 0; i < plan->n_ops; i++)
		free(plan->ops[i].value);
	memset(plan, 0, sizeof(*plan));
}
