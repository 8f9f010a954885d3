/* Unit tests for preload/envlayer.c: which SDK variables layer 1 sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "envlayer.h"

#define KEY "rk-unit-0123456789abcdef"

/*
 * Plan for env (config read from the same env, file off) as one string:
 * "NAME=value" or "-NAME" per op, space separated, in order. client, with
 * relay and node_ca, as the library's constructor passes them
 * (envlayer_plan_client); ENVLAYER_ANY with no relay is envlayer_plan().
 */
static void plan_for(const char *const *vars, enum envlayer_client client, const char *relay,
		     const char *node_ca, char *out, size_t size, struct envlayer_plan *keep)
{
	char *env[32];
	size_t n = 0;
	static char conf[] = "RESPAN_CONFIG=off";
	env[n++] = conf;
	for (; *vars; vars++)
		env[n++] = (char *)*vars;
	env[n] = NULL;
	struct config cfg;
	assert_int_equal(config_load(&cfg, env), 0);
	struct envlayer_plan plan;
	assert_int_equal(client == ENVLAYER_ANY && relay == NULL ?
				 envlayer_plan(&cfg, env, &plan) :
				 envlayer_plan_client(&cfg, env, relay, node_ca, client, &plan), 0);
	out[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < plan.n_ops; i++) {
		const struct envlayer_op *op = &plan.ops[i];
		used += (size_t)snprintf(out + used, size - used, "%s%s%s%s%s",
					 used ? " " : "", op->value ? "" : "-",
					 op->name, op->value ? "=" : "",
					 op->value ? op->value : "");
	}
	if (keep) {
		/* The merge fields point into env: compare before it goes. */
		keep->ca_merge_user = plan.ca_merge_user ? "user" : NULL;
		keep->ca_merge_respan = plan.ca_merge_respan ? "respan" : NULL;
	}
	envlayer_free(&plan);
	config_free(&cfg);
}

static void plan_str(const char *const *vars, char *out, size_t size,
		     struct envlayer_plan *keep)
{
	plan_for(vars, ENVLAYER_ANY, NULL, NULL, out, size, keep);
}

static void client_plan_str(const char *const *vars, const char *relay, const char *node_ca,
			    char *out, size_t size)
{
	plan_for(vars, ENVLAYER_GEMINI_CLI, relay, node_ca, out, size, NULL);
}

#define BASE "https://router.test:8443/api/"
#define ALL_SET                                                            \
	"OPENAI_BASE_URL=" BASE " OPENAI_API_KEY=" KEY                     \
	" ANTHROPIC_BASE_URL=" BASE "anthropic/ ANTHROPIC_AUTH_TOKEN=" KEY \
	" GOOGLE_GEMINI_BASE_URL=" BASE "google/gemini GEMINI_API_KEY=" KEY \
	" GOOGLE_API_KEY=" KEY

static void test_table(void **state)
{
	(void)state;
	static const struct {
		const char *vars[6];
		const char *want;
	} cases[] = {
		/* Nothing without a key, in capture mode, or off. */
		{ { "RESPAN_BASE_URL=" BASE, NULL }, "" },
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_MODE=capture", NULL }, "" },
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_MODE=off", NULL }, "" },
		/* Everything unset: everything set. */
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE, NULL }, ALL_SET },
		/* Naming the provider's own host, or empty: ours to set. */
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
		    "OPENAI_BASE_URL=https://API.openai.com/v1",
		    "ANTHROPIC_BASE_URL=", NULL }, ALL_SET },
		/* Pointed elsewhere: that provider is left alone, key and all. */
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
		    "OPENAI_BASE_URL=http://127.0.0.1:9/v1",
		    "ANTHROPIC_BASE_URL=https://proxy.example/anthropic",
		    "GOOGLE_GEMINI_BASE_URL=https://user:pw@[::1]:9/g", NULL }, "" },
		/* The provider key is removed, never left beside the token. */
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
		    "ANTHROPIC_API_KEY=sk-ant-x", "OPENAI_BASE_URL=http://o/",
		    "GOOGLE_GEMINI_BASE_URL=http://g/", NULL },
		  "ANTHROPIC_BASE_URL=" BASE "anthropic/ ANTHROPIC_AUTH_TOKEN=" KEY
		  " -ANTHROPIC_API_KEY" },
		/* Vertex AI mode. */
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
		    "GOOGLE_GENAI_USE_VERTEXAI=True", "OPENAI_BASE_URL=http://o/",
		    "ANTHROPIC_BASE_URL=http://a/", NULL },
		  "GOOGLE_GEMINI_BASE_URL=" BASE "google/vertexai/"
		  " GOOGLE_VERTEX_BASE_URL=" BASE "google/vertexai/"
		  " GEMINI_API_KEY=" KEY " GOOGLE_API_KEY=" KEY },
		/* A relay of `respan run` is the base; a bad one is ignored. */
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
		    "RESPAN_RELAY=http://127.0.0.1:40123/api/",
		    "ANTHROPIC_BASE_URL=http://a/", "GOOGLE_GEMINI_BASE_URL=http://g/", NULL },
		  "OPENAI_BASE_URL=http://127.0.0.1:40123/api/ OPENAI_API_KEY=" KEY },
		{ { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
		    "RESPAN_RELAY=http://evil.example:80/api/", NULL }, ALL_SET },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char got[2048];
		plan_str(cases[i].vars, got, sizeof(got), NULL);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, got, cases[i].want);
	}
}

static void test_node_extra_ca(void **state)
{
	(void)state;
#define CA "/etc/ssl/certs/ca-certificates.crt"
	static const struct {
		const char *extra;	/* one more variable, or NULL */
		const char *want;
		bool merge;
	} cases[] = {
		/* Unset: pointed at RESPAN_CA_FILE. */
		{ NULL, "NODE_EXTRA_CA_CERTS=" CA, false },
		/* The user's own file: a bundle of both is asked for. */
		{ "NODE_EXTRA_CA_CERTS=/home/u/corp.pem", "", true },
		/* A bundle made by a parent process is never merged again. */
		{ "NODE_EXTRA_CA_CERTS=/tmp/respan-0/" ENVLAYER_BUNDLE_PREFIX "1.pem", "",
		  false },
		/* Under the relay (plain HTTP) node needs no CA at all. */
		{ "RESPAN_RELAY=http://[::1]:9/api/", "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Every provider pointed elsewhere: only the CA is in play. */
		const char *vars[] = { "RESPAN_API_KEY=" KEY, "RESPAN_CA_FILE=" CA,
				       "OPENAI_BASE_URL=http://o/",
				       "ANTHROPIC_BASE_URL=http://a/",
				       "GOOGLE_GEMINI_BASE_URL=http://g/", cases[i].extra,
				       NULL };
		char got[2048];
		struct envlayer_plan merge;
		plan_str(vars, got, sizeof(got), &merge);
		assert_string_equal(got, cases[i].want);
		assert_int_equal(merge.ca_merge_user != NULL, cases[i].merge);
	}
#undef CA
}

static void test_relay_forms(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		bool ok;
	} cases[] = {
		{ "http://127.0.0.1:1/", true },
		{ "http://[::1]:65535/api/", true },
		{ "http://127.0.0.1/api/", false },		/* no port */
		{ "http://127.0.0.1:123456/api/", false },
		{ "http://127.0.0.1:80/api", false },		/* no final slash */
		{ "https://127.0.0.1:80/api/", false },
		{ "http://127.0.0.10:80/", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char var[128];
		snprintf(var, sizeof(var), "RESPAN_RELAY=%s", cases[i].value);
		char *env[] = { var, NULL };
		const char *got = envlayer_relay(env);
		if ((got != NULL) != cases[i].ok)
			fail_msg("%s: %s", cases[i].value, got ? "accepted" : "refused");
	}
}

/*
 * The Gemini CLI with interception: no GOOGLE_GEMINI_BASE_URL (it would
 * change its auth mode), the Respan key in GEMINI_API_KEY, an ancestor's
 * layer-1 values taken back; without interception, nothing for Google; in
 * Vertex mode, as any program.
 */
static void test_gemini_cli(void **state)
{
	(void)state;
	char got[2048];
	const char *relay = "http://127.7.7.7:4242/api/", *ca = "/tmp/ca.pem";
	const char *plain[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
				"GEMINI_API_KEY=AIza-user", NULL };
	client_plan_str(plain, relay, ca, got, sizeof(got));
	assert_non_null(strstr(got, "GEMINI_API_KEY=" KEY));
	assert_null(strstr(got, "GOOGLE_GEMINI_BASE_URL"));
	assert_null(strstr(got, "GOOGLE_API_KEY"));
	assert_non_null(strstr(got, "OPENAI_BASE_URL=" "http://127.7.7.7:4242/api/"));

	const char *inherited[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
				    "GOOGLE_GEMINI_BASE_URL=" BASE "google/gemini",
				    "GOOGLE_API_KEY=" KEY, "GEMINI_API_KEY=" KEY, NULL };
	client_plan_str(inherited, relay, ca, got, sizeof(got));
	assert_non_null(strstr(got, "-GOOGLE_GEMINI_BASE_URL -GOOGLE_API_KEY GEMINI_API_KEY=" KEY));

	/* The user's own base URL and key are theirs: left alone. */
	const char *users[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
				"GOOGLE_GEMINI_BASE_URL=https://llm.corp.test/gemini",
				"GOOGLE_API_KEY=AIza-user", NULL };
	client_plan_str(users, relay, ca, got, sizeof(got));
	assert_null(strstr(got, "GOOGLE_GEMINI_BASE_URL"));
	assert_null(strstr(got, "GEMINI_API_KEY"));
	assert_null(strstr(got, "GOOGLE_API_KEY"));

	/* No interception: nothing for Google, never the base URL that breaks
	 * it; what an ancestor set is taken back, the Respan key included (it
	 * would go to Google unrouted). */
	client_plan_str(plain, relay, NULL, got, sizeof(got));
	assert_null(strstr(got, "GOOGLE"));
	assert_null(strstr(got, "GEMINI"));
	client_plan_str(inherited, relay, NULL, got, sizeof(got));
	assert_non_null(strstr(got, "-GOOGLE_GEMINI_BASE_URL -GOOGLE_API_KEY -GEMINI_API_KEY"));
	client_plan_str(inherited, NULL, NULL, got, sizeof(got));
	assert_non_null(strstr(got, "-GOOGLE_GEMINI_BASE_URL -GOOGLE_API_KEY -GEMINI_API_KEY"));

	const char *vertex[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
				 "GOOGLE_GENAI_USE_VERTEXAI=true", NULL };
	client_plan_str(vertex, relay, ca, got, sizeof(got));
	assert_non_null(strstr(got, "GOOGLE_VERTEX_BASE_URL=http://127.7.7.7:4242/api/google/vertexai/"));
}

/* The Codex CLI's launcher: no OPENAI_* (its binary reads neither); an
 * ancestor's are taken back, the user's own left. */
static void test_codex_cli(void **state)
{
	(void)state;
	char got[1024];
	const char *relay = "http://127.7.7.7:4242/api/";
	const char *plain[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE, NULL };
	plan_for(plain, ENVLAYER_CODEX_CLI, relay, "/ca.pem", got, sizeof(got), NULL);
	assert_null(strstr(got, "OPENAI"));
	assert_non_null(strstr(got, "ANTHROPIC_BASE_URL=http://127.7.7.7:4242/api/anthropic/"));

	const char *inherited[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
				    "OPENAI_BASE_URL=http://127.0.0.1:5555/api/",
				    "RESPAN_RELAY=http://127.0.0.1:5555/api/",
				    "OPENAI_API_KEY=" KEY, NULL };
	plan_for(inherited, ENVLAYER_CODEX_CLI, NULL, NULL, got, sizeof(got), NULL);
	assert_non_null(strstr(got, "-OPENAI_BASE_URL -OPENAI_API_KEY"));

	const char *users[] = { "RESPAN_API_KEY=" KEY, "RESPAN_BASE_URL=" BASE,
				"OPENAI_BASE_URL=https://llm.corp.test/v1",
				"OPENAI_API_KEY=sk-proj-users-own", NULL };
	plan_for(users, ENVLAYER_CODEX_CLI, relay, "/ca.pem", got, sizeof(got), NULL);
	assert_null(strstr(got, "OPENAI"));

	assert_int_equal(envlayer_client_of_script(
		"/usr/lib/node_modules/@openai/codex/bin/codex.js"), ENVLAYER_CODEX_CLI);
	assert_int_equal(envlayer_client_of_script("/home/u/node_modules/codex/bin/codex.js"),
			 ENVLAYER_ANY);
}

static void test_node_script(void **state)
{
	(void)state;
	static const struct {
		const char *cmdline;	/* arguments joined by '|', for the table */
		const char *script;	/* NULL: none */
	} cases[] = {
		{ "node|/usr/lib/node_modules/.bin/gemini|-p|say hi", "/usr/lib/node_modules/.bin/gemini" },
		{ "/usr/bin/node|--max-old-space-size=4096|/x/gemini.js|-p|hi", "/x/gemini.js" },
		{ "node|-r|./hook.js|--import|./other.mjs|app.js", "app.js" },
		{ "node|--require|a|--|-weird.js", "-weird.js" },
		{ "node|-e|console.log(1)", NULL },
		{ "node|--print|1", NULL },
		{ "node|-", NULL },
		{ "node", NULL },
		{ "node|--inspect", NULL },
		{ "node|-r", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		size_t n = strlen(cases[i].cmdline);
		memcpy(buf, cases[i].cmdline, n + 1);
		for (size_t j = 0; j < n; j++)
			if (buf[j] == '|')
				buf[j] = '\0';
		const char *got = envlayer_node_script(buf, n + 1);
		if (cases[i].script == NULL)
			assert_null(got);
		else
			assert_string_equal(got, cases[i].script);
	}
	/* A command line cut inside its script argument names none. */
	char cut[] = { 'n', 'o', 'd', 'e', '\0', '/', 'x', '.' };
	assert_null(envlayer_node_script(cut, sizeof(cut)));
	assert_int_equal(envlayer_client_of_script(
		"/usr/lib/node_modules/@google/gemini-cli/bundle/gemini.js"), ENVLAYER_GEMINI_CLI);
	assert_int_equal(envlayer_client_of_script("/home/u/app/gemini.js"), ENVLAYER_ANY);
	assert_int_equal(envlayer_client_of_script(NULL), ENVLAYER_ANY);
}

/* Which provider's connections carry the Respan key if they go unrouted. */
static void test_keyed(void **state)
{
	(void)state;
	static const struct {
		const char *var;	/* NAME=value in the environment */
		enum provider_id id;
		const char *want;	/* the variable named, or NULL */
	} cases[] = {
		{ "OPENAI_API_KEY=rk-keyed-1", PROVIDER_OPENAI, "OPENAI_API_KEY" },
		{ "OPENAI_API_KEY=sk-proj-users-own", PROVIDER_OPENAI, NULL },
		{ "OPENAI_API_KEY=rk-keyed-1", PROVIDER_ANTHROPIC, NULL },
		{ "ANTHROPIC_AUTH_TOKEN=rk-keyed-1", PROVIDER_ANTHROPIC, "ANTHROPIC_AUTH_TOKEN" },
		{ "ANTHROPIC_API_KEY=rk-keyed-1", PROVIDER_ANTHROPIC, "ANTHROPIC_API_KEY" },
		{ "GEMINI_API_KEY=rk-keyed-1", PROVIDER_GEMINI, "GEMINI_API_KEY" },
		{ "GEMINI_API_KEY=rk-keyed-1", PROVIDER_VERTEXAI, NULL },
		{ "GOOGLE_API_KEY=rk-keyed-1", PROVIDER_VERTEXAI, "GOOGLE_API_KEY" },
		{ "GOOGLE_API_KEY=rk-keyed-1", PROVIDER_GEMINI, "GOOGLE_API_KEY" },
		{ "OPENAI_API_KEY=rk-keyed-1x", PROVIDER_OPENAI, NULL },	/* not equal */
		{ "OPENAI_API_KEY=rk-keyed-1", PROVIDER_NONE, NULL },
	};
	char key[] = "RESPAN_API_KEY=rk-keyed-1", conf[] = "RESPAN_CONFIG=off";
	char *cenv[] = { key, conf, NULL };
	struct config cfg;
	assert_int_equal(config_load(&cfg, cenv), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char var[128];
		snprintf(var, sizeof(var), "%s", cases[i].var);
		char *env[] = { var, NULL };
		const char *got = envlayer_keyed(&cfg, env, cases[i].id);
		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got && strcmp(got, cases[i].want) != 0))
			fail_msg("%s for provider %d: got %s", cases[i].var, cases[i].id,
				 got ? got : "NULL");
	}
	config_free(&cfg);

	/* Without a key nothing is keyed. */
	char *nokey[] = { conf, NULL };
	assert_int_equal(config_load(&cfg, nokey), 0);
	char var[] = "OPENAI_API_KEY=rk-keyed-1";
	char *env[] = { var, NULL };
	assert_null(envlayer_keyed(&cfg, env, PROVIDER_OPENAI));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_node_extra_ca),
		cmocka_unit_test(test_relay_forms),
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_gemini_cli),
		cmocka_unit_test(test_codex_cli),
		cmocka_unit_test(test_node_script),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
