/* Unit tests for preload/tlsdecision.c: a session's facts -> what is done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tlsdecision.h"

static char s_router_host[] = "api.respan.ai";
static char s_v4_host[] = "127.0.0.1";
static char s_pat_extra[] = "llm.corp.example";

static struct config make_cfg(char *router_host)
{
	struct config c;
	memset(&c, 0, sizeof(c));
	c.router_host = router_host;
	c.router_port = 443;
	c.extra_hosts[0].pattern = s_pat_extra;
	c.extra_hosts[0].provider = PROVIDER_OPENAI;
	c.n_extra_hosts = 1;
	return c;
}

#define P TLS_NAME_PROVIDER
#define R TLS_NAME_ROUTER
#define O TLS_NAME_OTHER

/* Every combination of the facts, and what it must give. */
static void test_decide_table(void **state)
{
	(void)state;
	static const struct {
		bool server;
		enum tls_name name;
		bool routing, to_router_addr;
		enum tls_kind kind;
		enum rewrite_mode mode;
		bool keyed;
	} cases[] = {
		/* server name routing to-router -> kind, mode, keyed */
		{ false, P, true, true, TLS_ROUTED, REWRITE_ROUTE, true },
		{ false, P, true, false, TLS_CAPTURE, REWRITE_CAPTURE, false },
		{ false, P, false, true, TLS_CAPTURE, REWRITE_CAPTURE, false },
		{ false, P, false, false, TLS_CAPTURE, REWRITE_CAPTURE, false },
		{ false, R, true, true, TLS_ROUTER, REWRITE_ROUTER, true },
		{ false, R, true, false, TLS_ROUTER, REWRITE_ROUTER, true },
		{ false, R, false, true, TLS_CAPTURE, REWRITE_CAPTURE, false },
		{ false, R, false, false, TLS_CAPTURE, REWRITE_CAPTURE, false },
		{ false, O, true, true, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ false, O, true, false, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ false, O, false, true, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ false, O, false, false, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ true, P, true, true, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ true, P, false, false, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ true, R, true, true, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ true, R, false, false, TLS_NOT_OURS, REWRITE_CAPTURE, false },
		{ true, O, true, true, TLS_NOT_OURS, REWRITE_CAPTURE, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tlsdecision_facts f = {
			.server = cases[i].server, .name = cases[i].name,
			.routing = cases[i].routing,
			.to_router_addr = cases[i].to_router_addr,
		};
		const struct tlsdecision *d = tlsdecision_decide(&f);
		assert_non_null(d);
		assert_int_equal(d->kind, cases[i].kind);
		assert_int_equal(d->mode, cases[i].mode);
		assert_int_equal(d->keyed, cases[i].keyed);
		assert_non_null(d->label);
	}
}

/* A session that carries the key and cannot be set up: fail or capture. */
static void test_fallback(void **state)
{
	(void)state;
	static const struct {
		enum tls_name name;
		enum tls_kind kind, after;
		bool fail_closed;
	} cases[] = {
		/* half-retargeted TLS must not go out: the handshake fails */
		{ P, TLS_ROUTED, TLS_ROUTED, true },
		/* the program's own session to the router: logged, no key */
		{ R, TLS_ROUTER, TLS_CAPTURE, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tlsdecision_facts f = {
			.name = cases[i].name, .routing = true, .to_router_addr = true,
		};
		const struct tlsdecision *d = tlsdecision_decide(&f);
		assert_int_equal(d->kind, cases[i].kind);
		assert_int_equal(d->fail_closed, cases[i].fail_closed);
		assert_non_null(d->setup_failed);
		const struct tlsdecision *after = tlsdecision_fallback(d);
		assert_int_equal(after->kind, cases[i].after);
		if (after->kind == TLS_CAPTURE) {
			assert_false(after->keyed);
			assert_int_equal(after->mode, REWRITE_CAPTURE);
		}
	}
	struct tlsdecision_facts f = { .name = P, .routing = false };
	assert_null(tlsdecision_decide(&f)->setup_failed);
}

static void test_name(void **state)
{
	(void)state;
	static const struct {
		char *router_host;
		const char *host;
		enum tls_name name;
		enum provider_id provider;
	} cases[] = {
		{ s_router_host, "api.openai.com", P, PROVIDER_OPENAI },
		{ s_router_host, "API.Anthropic.com", P, PROVIDER_ANTHROPIC },
		{ s_router_host, "us-central1-aiplatform.googleapis.com", P, PROVIDER_VERTEXAI },
		{ s_router_host, "llm.corp.example", P, PROVIDER_OPENAI },
		{ s_router_host, "api.respan.ai", R, PROVIDER_NONE },
		{ s_router_host, "API.RESPAN.AI", R, PROVIDER_NONE },
		{ s_router_host, "example.com", O, PROVIDER_NONE },
		{ s_router_host, "", O, PROVIDER_NONE },
		{ s_v4_host, "127.0.0.1", R, PROVIDER_NONE },
		{ s_v4_host, "127.0.0.2", O, PROVIDER_NONE },
		/* a router on a provider's name: the provider's name wins */
		{ s_pat_extra, "llm.corp.example", P, PROVIDER_OPENAI },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c = make_cfg(cases[i].router_host);
		enum provider_id provider = PROVIDER_COUNT;
		assert_int_equal(tlsdecision_name(&c, cases[i].host, &provider),
				 cases[i].name);
		assert_int_equal(provider, cases[i].provider);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
