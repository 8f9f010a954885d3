/* Unit tests for preload/http.c: the small shared HTTP pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pageguard.h"
#include "http.h"

static void test_token_is(void **state)
{
	(void)state;
	static const struct {
		const char *p, *name;
		bool want;
	} cases[] = {
		{ "Host", "host", true },
		{ "HOST", "host", true },
		{ "host", "Host", true },
		{ "hos", "host", false },
		{ "hosts", "host", false },
		{ "", "", true },
		{ "", "host", false },
		{ "x-api-key", "X-API-KEY", true },
		{ "x_api_key", "x-api-key", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(http_token_is(cases[i].p, strlen(cases[i].p),
					       cases[i].name), cases[i].want);
	/* Only n bytes are looked at, and no NUL is needed after them. */
	assert_true(http_token_is("hostname", 4, "host"));
	const char *g = pageguard_copy("Content-Length", 14);
	assert_true(http_token_is(g, 14, "content-length"));
	assert_false(http_token_is(g, 14, "content-lengthx"));
	pageguard_free(g);
	/* An embedded NUL never matches. */
	assert_false(http_token_is("ho\0t", 4, "host"));
	assert_true(http_token_is(NULL, 0, ""));
	assert_false(http_token_is(NULL, 0, "host"));
}

static void test_header_is_secret(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		bool want;
	} cases[] = {
		{ "Authorization", true },
		{ "authorization", true },
		{ "Proxy-Authorization", true },
		{ "x-api-key", true },
		{ "X-Goog-Api-Key", true },
		{ "api-key", true },
		{ "Cookie", true },
		{ "Set-Cookie", true },
		{ "X-Respan-Route-Provider", false },
		{ "Authorizations", false },
		{ "key", false },
		{ "Content-Type", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(http_header_is_secret(cases[i].name,
						       strlen(cases[i].name)),
				 cases[i].want);
}

static void test_content_length(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int rc;
		unsigned long long want;
	} cases[] = {
		{ "0", 0, 0 },
		{ "42", 0, 42 },
		{ " 42 ", 0, 42 },
		{ "\t7\t", 0, 7 },
		{ "007", 0, 7 },
		{ "18446744073709551615", 0, 18446744073709551615ULL },
		{ "18446744073709551616", -1, 0 },
		{ "99999999999999999999", -1, 0 },
		{ "", -1, 0 },
		{ " ", -1, 0 },
		{ "-1", -1, 0 },
		{ "+1", -1, 0 },
		{ "1 2", -1, 0 },
		{ "5, 5", -1, 0 },
		{ "0x10", -1, 0 },
		{ "12a", -1, 0 },
		{ "1.0", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long long got = 12345;
		const char *g = pageguard_copy(cases[i].v, strlen(cases[i].v));
		int rc = http_parse_content_length(g, strlen(cases[i].v), &got);
		pageguard_free(g);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d want %d", cases[i].v, rc, cases[i].rc);
		if (rc == 0)
			assert_true(got == cases[i].want);
		else
			assert_true(got == 12345);	/* untouched */
	}
}

static void test_te_is_chunked(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		bool want;
	} cases[] = {
		{ "chunked", true },
		{ "Chunked", true },
		{ " chunked ", true },
		{ "gzip, chunked", true },
		{ "gzip,chunked", true },
		{ "gzip ,\tchunked\t", true },
		{ "chunked;foo=bar", true },
		{ "gzip, chunked ; foo=bar", true },
		{ "chunked, gzip", false },
		{ "gzip", false },
		{ "chunked,", false },
		{ "chunkedx", false },
		{ "xchunked", false },
		{ "", false },
		{ ",", false },
		{ ";chunked", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].v);
		const char *g = pageguard_copy(cases[i].v, n);
		bool got = http_te_is_chunked(g, n);
		pageguard_free(g);
		if (got != cases[i].want)
			fail_msg("\"%s\": got %d", cases[i].v, got);
	}
	assert_false(http_te_is_chunked(NULL, 0));
}

static void test_query_find(void **state)
{
	(void)state;
	static const struct {
		const char *target, *name;
		const char *want;	/* NULL: not found */
	} cases[] = {
		{ "/v1/x?key=abc", "key", "abc" },
		{ "/v1/x?a=1&key=abc&b=2", "key", "abc" },
		{ "/v1/x?a=1&key=abc", "key", "abc" },
		{ "/v1/x?key=", "key", "" },
		{ "/v1/x?key", "key", "" },
		{ "/v1/x?key&a=1", "key", "" },
		{ "/v1/x?key=a&key=b", "key", "a" },
		{ "/v1/x?keys=a", "key", NULL },
		{ "/v1/x?xkey=a", "key", NULL },
		{ "/v1/x?KEY=a", "key", NULL },
		{ "/v1/x", "key", NULL },
		{ "/v1/x?", "key", NULL },
		{ "/v1/x?&&", "key", NULL },
		{ "/v1/x?a=1&", "key", NULL },
		{ "/key=a", "key", NULL },
		{ "/v1/x?a=key=b", "key", NULL },
		{ "/v1/x?a=b?key=c", "key", NULL },
		{ "/v1/x?=v&key=c", "", "v" },
		{ "", "key", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].target);
		const char *g = pageguard_copy(cases[i].target, n);
		const char *v = NULL;
		size_t vlen = 99;
		bool found = http_query_find(g, n, cases[i].name, &v, &vlen);
		if (found != (cases[i].want != NULL))
			fail_msg("%s: found %d", cases[i].target, found);
		if (found) {
			assert_int_equal(vlen, strlen(cases[i].want));
			assert_memory_equal(v, cases[i].want, vlen);
			assert_true(v >= g && v + vlen <= g + n);
		}
		pageguard_free(g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_is),
		cmocka_unit_test(test_header_is_secret),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_te_is_chunked),
		cmocka_unit_test(test_query_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
