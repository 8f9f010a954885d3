/* Unit tests for preload/proxyurl.c: the relay as a program's HTTPS_PROXY. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proxyurl.h"

static void test_authority(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *want;	/* NULL: refused */
	} cases[] = {
		{ "http://proxy.example:3128", "proxy.example:3128" },
		{ "http://proxy.example:3128/", "proxy.example:3128" },
		{ "http://proxy.example", "proxy.example:80" },
		{ "http://proxy.example:/", "proxy.example:80" },
		{ "proxy.example:8080", "proxy.example:8080" },
		{ "http://alice:s3cret@proxy.example:3128", "proxy.example:3128" },
		{ "http://alice:p@ss@proxy.example:3128/", "proxy.example:3128" },
		{ "http://alice@proxy.example", "proxy.example:80" },
		{ "http://[::1]:3128", "[::1]:3128" },
		{ "http://[::1]", "[::1]:80" },
		{ "http://10.0.0.1:8080?x=1", "10.0.0.1:8080" },
		{ "http://", NULL },
		{ "http://alice@", NULL },
		{ "http://:3128", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128] = "";
		bool ok = proxyurl_authority(cases[i].url, out, sizeof(out));
		assert_int_equal(ok, cases[i].want != NULL);
		if (ok)
			assert_string_equal(out, cases[i].want);
	}
	char tiny[8];
	assert_false(proxyurl_authority("http://proxy.example:3128", tiny, sizeof(tiny)));
	assert_false(proxyurl_authority(NULL, tiny, sizeof(tiny)));
}

static void test_relay(void **state)
{
	(void)state;
	static const struct {
		const char *had;
		const char *want;
	} cases[] = {
		{ NULL, "http://127.0.0.1:4242" },
		{ "", "http://127.0.0.1:4242" },
		{ "http://proxy.example:3128", "http://127.0.0.1:4242" },
		{ "http://alice:s3cret@proxy.example:3128/", "http://alice:s3cret@127.0.0.1:4242" },
		{ "alice@proxy.example", "http://alice@127.0.0.1:4242" },
		{ "http://alice:p@ss@proxy.example", "http://alice:p@ss@127.0.0.1:4242" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];
		assert_true(proxyurl_relay(cases[i].had, 4242, out, sizeof(out)));
		assert_string_equal(out, cases[i].want);
	}
	char tiny[16];
	assert_false(proxyurl_relay(NULL, 4242, tiny, sizeof(tiny)));
}

static void test_own(void **state)
{
	(void)state;
	char *both[] = { (char *)"https_proxy=http://low:1", (char *)"HTTPS_PROXY=http://up:2",
			 NULL };
	char *low[] = { (char *)"HTTPS_PROXY=", (char *)"https_proxy=http://low:1", NULL };
	char *none[] = { (char *)"HTTPS_PROXY=", (char *)"https_proxy=",
			 (char *)"HTTP_PROXY=http://plain:3", NULL };
	assert_string_equal(proxyurl_own(both), "http://up:2");
	assert_string_equal(proxyurl_own(low), "http://low:1");
	assert_null(proxyurl_own(none));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_authority),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
