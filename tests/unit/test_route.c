/* Unit tests for preload/route.c: hosts -> providers -> router paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "route.h"

static char s_router_host[] = "api.respan.ai";
static char s_authority[] = "api.respan.ai";
static char s_path_api[] = "/api/";
static char s_path_root[] = "/";
static char s_path_gw[] = "/gw/v2/";
static char s_v6_host[] = "::1";
static char s_pat_exact[] = "llm.corp.example";
static char s_pat_dot[] = "*.ai.corp.example";
static char s_pat_dash[] = "*-llm.example.net";
static char s_pat_builtin[] = "api.openai.com";
static char s_pat_bad[] = "bad.example";

static struct config make_cfg(char *router_path)
{
	struct config c;
	memset(&c, 0, sizeof(c));
	c.router_host = s_router_host;
	c.router_port = 443;
	c.router_path = router_path;
	c.router_authority = s_authority;
	return c;
}

static void test_provider_names(void **state)
{
	(void)state;
	static const struct {
		enum provider_id id;
		const char *name, *suffix;
		enum cred_style cred;
	} cases[] = {
		{ PROVIDER_OPENAI, "openai", "OPENAI", CRED_BEARER },
		{ PROVIDER_ANTHROPIC, "anthropic", "ANTHROPIC", CRED_X_API_KEY },
		{ PROVIDER_GEMINI, "gemini", "GEMINI", CRED_X_GOOG_API_KEY },
		{ PROVIDER_VERTEXAI, "vertexai", "VERTEXAI", CRED_BEARER },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(route_provider_name(cases[i].id), cases[i].name);
		assert_string_equal(route_provider_env_suffix(cases[i].id),
				    cases[i].suffix);
		assert_int_equal(route_cred_style(cases[i].id), cases[i].cred);
		assert_int_equal(route_provider_from_name(cases[i].name), cases[i].id);
		assert_int_equal(route_provider_from_name(cases[i].suffix), cases[i].id);
	}
	assert_null(route_provider_name(PROVIDER_NONE));
	assert_null(route_provider_name(PROVIDER_COUNT));
	assert_null(route_provider_env_suffix(PROVIDER_NONE));
	assert_int_equal(route_provider_from_name("vertex_ai"), PROVIDER_NONE);
	assert_int_equal(route_provider_from_name(""), PROVIDER_NONE);
	assert_int_equal(route_provider_from_name(NULL), PROVIDER_NONE);
}

static void test_lookup_host(void **state)
{
	(void)state;
	struct config cfg = make_cfg(s_path_api);
	cfg.extra_hosts[0] = (struct config_host){ s_pat_exact, PROVIDER_ANTHROPIC };
	cfg.extra_hosts[1] = (struct config_host){ s_pat_dot, PROVIDER_GEMINI };
	cfg.extra_hosts[2] = (struct config_host){ s_pat_dash, PROVIDER_VERTEXAI };
	cfg.extra_hosts[3] = (struct config_host){ s_pat_builtin, PROVIDER_GEMINI };
	cfg.extra_hosts[4] = (struct config_host){ s_pat_bad, PROVIDER_NONE };
	cfg.n_extra_hosts = 5;

	static const struct {
		const char *host;
		enum provider_id want;
	} cases[] = {
		{ "api.openai.com", PROVIDER_OPENAI },
		{ "API.OpenAI.COM", PROVIDER_OPENAI },
		{ "api.openai.com.", PROVIDER_OPENAI },
		{ "api.anthropic.com", PROVIDER_ANTHROPIC },
		{ "generativelanguage.googleapis.com", PROVIDER_GEMINI },
		{ "aiplatform.googleapis.com", PROVIDER_VERTEXAI },
		{ "us-central1-aiplatform.googleapis.com", PROVIDER_VERTEXAI },
		{ "EUROPE-WEST4-aiplatform.googleapis.com.", PROVIDER_VERTEXAI },
		{ "-aiplatform.googleapis.com", PROVIDER_NONE },
		{ "a.b-aiplatform.googleapis.com", PROVIDER_NONE },
		{ "us_c1-aiplatform.googleapis.com", PROVIDER_NONE },
		{ "xaiplatform.googleapis.com", PROVIDER_NONE },
		{ "api.openai.com.evil.example", PROVIDER_NONE },
		{ "xapi.openai.com", PROVIDER_NONE },
		{ "openai.com", PROVIDER_NONE },
		{ "api.openai.co", PROVIDER_NONE },
		{ "", PROVIDER_NONE },
		{ ".", PROVIDER_NONE },
		{ "api.openai.com..", PROVIDER_NONE },
		/* extra hosts */
		{ "llm.corp.example", PROVIDER_ANTHROPIC },
		{ "LLM.corp.example.", PROVIDER_ANTHROPIC },
		{ "x.llm.corp.example", PROVIDER_NONE },
		{ "eu.ai.corp.example", PROVIDER_GEMINI },
		{ "ai.corp.example", PROVIDER_NONE },
		{ ".ai.corp.example", PROVIDER_NONE },
		{ "a.b.ai.corp.example", PROVIDER_NONE },
		{ "eu-west-llm.example.net", PROVIDER_VERTEXAI },
		{ "-llm.example.net", PROVIDER_NONE },
		{ "a.b-llm.example.net", PROVIDER_NONE },
		{ "llm.example.net", PROVIDER_NONE },
		{ "bad.example", PROVIDER_NONE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *h = cases[i].host;
		enum provider_id got = route_lookup_host(&cfg, h, strlen(h));
		if (got != cases[i].want)
			fail_msg("%s: got %d want %d", h, got, cases[i].want);
	}
	/* Without a config only the built-ins are known. */
	assert_int_equal(route_lookup_host(NULL, "api.openai.com", 14), PROVIDER_OPENAI);
	assert_int_equal(route_lookup_host(NULL, "llm.corp.example", 16), PROVIDER_NONE);
	assert_int_equal(route_lookup_host(NULL, NULL, 0), PROVIDER_NONE);
	/* len is honoured: no NUL needed. */
	assert_int_equal(route_lookup_host(NULL, "api.openai.com:443", 14),
			 PROVIDER_OPENAI);
}

static void test_router_host(void **state)
{
	(void)state;
	struct config cfg = make_cfg(s_path_api);
	static const struct {
		const char *host;
		bool want;
	} cases[] = {
		{ "api.respan.ai", true },
		{ "API.Respan.AI", true },
		{ "api.respan.ai.", true },
		{ "respan.ai", false },
		{ "api.respan.ai.evil", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(route_is_router_host(&cfg, cases[i].host,
						      strlen(cases[i].host)),
				 cases[i].want);
	assert_false(route_is_router_host(NULL, "api.respan.ai", 13));

	cfg.router_host = s_v6_host;
	assert_true(route_is_router_host(&cfg, "::1", 3));
	assert_true(route_is_router_host(&cfg, "[::1]", 5));
	assert_false(route_is_router_host(&cfg, "::2", 3));
}

static void test_provider_for_router_path(void **state)
{
	(void)state;
	static const struct {
		char *base;
		const char *target;
		enum provider_id want;
	} cases[] = {
		{ s_path_api, "/api/chat/completions", PROVIDER_OPENAI },
		{ s_path_api, "/api/anthropic/v1/messages", PROVIDER_ANTHROPIC },
		{ s_path_api, "/api/anthropic?x=1", PROVIDER_ANTHROPIC },
		{ s_path_api, "/api/anthropicx/v1", PROVIDER_OPENAI },
		{ s_path_api, "/api/google/gemini/v1beta/models/m:generateContent",
		  PROVIDER_GEMINI },
		{ s_path_api, "/api/google/gemini", PROVIDER_GEMINI },
		{ s_path_api, "/api/google/vertexai/v1/projects/p", PROVIDER_VERTEXAI },
		{ s_path_api, "/api/google/other", PROVIDER_OPENAI },
		{ s_path_api, "/anthropic/v1/messages", PROVIDER_OPENAI },
		{ s_path_api, "https://api.respan.ai/api/anthropic/v1/messages",
		  PROVIDER_ANTHROPIC },
		{ s_path_api, "*", PROVIDER_OPENAI },
		{ s_path_root, "/anthropic/v1/messages", PROVIDER_ANTHROPIC },
		{ s_path_root, "/google/gemini/v1beta/x", PROVIDER_GEMINI },
		{ s_path_gw, "/gw/v2/google/vertexai/v1/x", PROVIDER_VERTEXAI },
		{ s_path_gw, "/api/anthropic/v1/messages", PROVIDER_OPENAI },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg = make_cfg(cases[i].base);
		const char *t = cases[i].target;
		enum provider_id got = route_provider_for_router_path(&cfg, t, strlen(t));
		if (got != cases[i].want)
			fail_msg("%s%s: got %d want %d", cases[i].base, t, got,
				 cases[i].want);
	}
	assert_int_equal(route_provider_for_router_path(NULL, "/api/anthropic/x", 16),
			 PROVIDER_ANTHROPIC);
}

static void test_target_table(void **state)
{
	(void)state;
	static const struct {
		char *base;
		enum provider_id id;
		const char *in, *want;
	} cases[] = {
		/* docs/contract.md#routes's examples, for each router path. */
		{ s_path_api, PROVIDER_OPENAI, "/v1/chat/completions", "/api/chat/completions" },
		{ s_path_api, PROVIDER_ANTHROPIC, "/v1/messages?beta=true",
		  "/api/anthropic/v1/messages?beta=true" },
		{ s_path_api, PROVIDER_GEMINI, "/v1beta/models/m:generateContent",
		  "/api/google/gemini/v1beta/models/m:generateContent" },
		{ s_path_api, PROVIDER_VERTEXAI, "/v1/projects/p/locations/l",
		  "/api/google/vertexai/v1/projects/p/locations/l" },
		{ s_path_root, PROVIDER_OPENAI, "/v1/chat/completions", "/chat/completions" },
		{ s_path_root, PROVIDER_ANTHROPIC, "/v1/messages?beta=true",
		  "/anthropic/v1/messages?beta=true" },
		{ s_path_root, PROVIDER_GEMINI, "/v1beta/models/m:generateContent",
		  "/google/gemini/v1beta/models/m:generateContent" },
		{ s_path_root, PROVIDER_VERTEXAI, "/v1/projects/p/locations/l",
		  "/google/vertexai/v1/projects/p/locations/l" },
		{ s_path_gw, PROVIDER_OPENAI, "/v1/chat/completions", "/gw/v2/chat/completions" },
		{ s_path_gw, PROVIDER_ANTHROPIC, "/v1/messages?beta=true",
		  "/gw/v2/anthropic/v1/messages?beta=true" },
		{ s_path_gw, PROVIDER_GEMINI, "/v1beta/models/m:generateContent",
		  "/gw/v2/google/gemini/v1beta/models/m:generateContent" },
		{ s_path_gw, PROVIDER_VERTEXAI, "/v1/projects/p/locations/l",
		  "/gw/v2/google/vertexai/v1/projects/p/locations/l" },
		/* The rest of the OpenAI API, and paths outside /v1/. */
		{ s_path_api, PROVIDER_OPENAI, "/v1/responses", "/api/responses" },
		{ s_path_api, PROVIDER_OPENAI, "/v1/embeddings?x=1&y=2",
		  "/api/embeddings?x=1&y=2" },
		{ s_path_api, PROVIDER_OPENAI, "/v1/models/gpt-4o", "/api/models/gpt-4o" },
		{ s_path_api, PROVIDER_OPENAI, "/health", "/api/health" },
		{ s_path_api, PROVIDER_OPENAI, "/v1", "/api/v1" },
		{ s_path_api, PROVIDER_OPENAI, "/v2/x", "/api/v2/x" },
		{ s_path_api, PROVIDER_OPENAI, "/", "/api/" },
		{ s_path_api, PROVIDER_OPENAI, "/?a=b", "/api/?a=b" },
		{ s_path_api, PROVIDER_ANTHROPIC, "/", "/api/anthropic/" },
		{ s_path_api, PROVIDER_GEMINI, "/", "/api/google/gemini/" },
		{ s_path_api, PROVIDER_GEMINI, "/v1beta/models?key=abc",
		  "/api/google/gemini/v1beta/models?key=abc" },
		{ s_path_api, PROVIDER_VERTEXAI, "/v1beta1/x:streamRawPredict?alt=sse",
		  "/api/google/vertexai/v1beta1/x:streamRawPredict?alt=sse" },
		/* Absolute form is reduced to its path first. */
		{ s_path_api, PROVIDER_OPENAI, "https://api.openai.com/v1/chat/completions",
		  "/api/chat/completions" },
		{ s_path_api, PROVIDER_ANTHROPIC, "HTTP://api.anthropic.com:443/v1/messages",
		  "/api/anthropic/v1/messages" },
		{ s_path_api, PROVIDER_GEMINI, "https://generativelanguage.googleapis.com",
		  "/api/google/gemini/" },
		{ s_path_api, PROVIDER_OPENAI, "https://api.openai.com?x=1", "/api/?x=1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg = make_cfg(cases[i].base);
		struct buf out;
		buf_init(&out, 4096);
		const char *t = cases[i].in;
		assert_int_equal(route_target(&cfg, cases[i].id, t, strlen(t), &out), 0);
		if (strcmp(out.data, cases[i].want) != 0)
			fail_msg("%s + %s: got %s want %s", cases[i].base, t, out.data,
				 cases[i].want);
		buf_free(&out);
	}
}

static void test_target_errors(void **state)
{
	(void)state;
	struct config cfg = make_cfg(s_path_api);
	static const char *const bad[] = {
		"*", "api.openai.com:443", "", "v1/chat", "https://", "https:///v1/x",
		"ftp://api.openai.com/v1/x",
	};
	struct buf out;
	buf_init(&out, 4096);
	buf_puts(&out, "keep");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(route_target(&cfg, PROVIDER_OPENAI, bad[i],
					      strlen(bad[i]), &out), -EINVAL);
		assert_string_equal(out.data, "keep");
	}
	assert_int_equal(route_target(&cfg, PROVIDER_NONE, "/v1/x", 5, &out), -EINVAL);
	assert_int_equal(route_target(&cfg, PROVIDER_COUNT, "/v1/x", 5, &out), -EINVAL);
	buf_free(&out);

	/* Out of room: nothing half-written. */
	buf_init(&out, 12);
	buf_puts(&out, "keep");
	assert_int_equal(route_target(&cfg, PROVIDER_ANTHROPIC, "/v1/messages", 12, &out),
			 -E2BIG);
	assert_string_equal(out.data, "keep");
	assert_int_equal(out.len, 4);
	buf_free(&out);

	/* A NULL config uses the default router path. */
	buf_init(&out, 4096);
	assert_int_equal(route_target(NULL, PROVIDER_OPENAI, "/v1/x", 5, &out), 0);
	assert_string_equal(out.data, "/api/x");
	buf_free(&out);
}

static void test_url(void **state)
{
	(void)state;
	static const struct {
		const char *authority, *target, *want;
	} cases[] = {
		{ "api.openai.com", "/v1/chat/completions",
		  "https://api.openai.com/v1/chat/completions" },
		{ "api.respan.ai:8443", "/api/x?y=1", "https://api.respan.ai:8443/api/x?y=1" },
		{ "[::1]:8443", "/api/", "https://[::1]:8443/api/" },
		{ "api.openai.com", "https://api.openai.com/v1/x", "https://api.openai.com/v1/x" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		buf_init(&out, 4096);
		assert_int_equal(route_url(cases[i].authority, strlen(cases[i].authority),
					   cases[i].target, strlen(cases[i].target),
					   &out), 0);
		assert_string_equal(out.data, cases[i].want);
		buf_free(&out);
	}
	struct buf out;
	buf_init(&out, 10);
	assert_int_equal(route_url("api.openai.com", 14, "/v1/x", 5, &out), -E2BIG);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void test_intercept_names(void **state)
{
	(void)state;
	struct config cfg = make_cfg(s_path_api);
	cfg.extra_hosts[0] = (struct config_host){ s_pat_exact, PROVIDER_ANTHROPIC };
	cfg.extra_hosts[1] = (struct config_host){ s_pat_dot, PROVIDER_GEMINI };
	cfg.extra_hosts[2] = (struct config_host){ s_pat_dash, PROVIDER_VERTEXAI };
	cfg.n_extra_hosts = 3;
	const char *names[128];
	size_t n = route_intercept_names(&cfg, names, 128);
	assert_string_equal(names[0], "api.openai.com");
	assert_string_equal(names[1], "api.anthropic.com");
	assert_string_equal(names[2], "generativelanguage.googleapis.com");
	assert_string_equal(names[3], "aiplatform.googleapis.com");
	assert_string_equal(names[4], "us-central1-aiplatform.googleapis.com");
	/* every regional name is one the router routes to Vertex AI */
	for (size_t i = 4; i < n - 2; i++)
		assert_int_equal(route_lookup_host(NULL, names[i], strlen(names[i])),
				 PROVIDER_VERTEXAI);
	assert_string_equal(names[n - 2], "llm.corp.example");
	assert_string_equal(names[n - 1], "ai.corp.example");	/* "*.": the name under it */
	for (size_t i = 0; i < n; i++)			/* "*-" cannot be a constraint */
		assert_null(strstr(names[i], "llm.example.net"));
	/* max is respected */
	assert_int_equal(route_intercept_names(&cfg, names, 3), 3);
	assert_int_equal(route_intercept_names(NULL, names, 128), n - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_provider_names),
		cmocka_unit_test(test_lookup_host),
		cmocka_unit_test(test_router_host),
		cmocka_unit_test(test_provider_for_router_path),
		cmocka_unit_test(test_target_table),
		cmocka_unit_test(test_target_errors),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_intercept_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
