/* Unit tests for preload/reqhead.c: the request-head scanner and parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pageguard.h"
#include "reqhead.h"

/*
 * Scan bytes until the scanner says the head ends (returns its length),
 * refuses (returns -(index + 1) of the refused byte), or wants more (0).
 */
static long scan(const char *p, size_t n)
{
	struct reqhead_scan s;
	reqhead_scan_reset(&s);
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		int r = reqhead_scan_byte(&s, (unsigned char)p[i], &why);
		if (r > 0)
			return (long)i + 1;
		if (r < 0) {
			assert_non_null(why);
			return -(long)i - 1;
		}
	}
	return 0;
}

static void test_scan_table(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		long want;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", 18 },
		{ "GET / HTTP/1.1\r\n\r\nGET", 18 },
		{ "GET / HTTP/1.0\n\n", 16 },
		{ "GET / HTTP/1.1\r\nA: b\n\r\n", 23 },
		{ "GET / HTTP/1.1\r\nA: b\r\n", 0 },
		{ "GET / HTTP/1.", 0 },
		{ "\r\n", 2 },
		{ "\n", 1 },
		{ "\r", 0 },
		{ "GET", 0 },
		{ "\x16\x03", -1 },
		{ " GET", -1 },
		{ "GET  /", -5 },
		{ "GET /\r", -6 },
		{ "GET / HTTP/2", -12 },
		{ "GET / http", -7 },
		{ "GET / HTTP/1.1x", -15 },
		{ "PRI * HTTP/2.0\r\n", -12 },
		{ "G(T", -2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = scan(cases[i].in, strlen(cases[i].in));
		if (got != cases[i].want)
			fail_msg("\"%s\": got %ld want %ld", cases[i].in, got,
				 cases[i].want);
		/* reqhead_scan, over the whole input and in every two pieces,
		 * ends the head where the byte scanner does, or refuses too. */
		size_t n = strlen(cases[i].in);
		for (size_t cut = 0; cut <= n; cut++) {
			struct reqhead_scan s;
			const char *why = NULL;
			reqhead_scan_reset(&s);
			ssize_t r = reqhead_scan(&s, cases[i].in, cut, &why);
			long bulk = r < 0 ? -1 : r;
			if (r == 0 && cut < n) {
				r = reqhead_scan(&s, cases[i].in + cut, n - cut, &why);
				bulk = r < 0 ? -1 : r > 0 ? (long)cut + r : 0;
			}
			long want = cases[i].want < 0 ? -1 : cases[i].want;
			if (bulk != want)
				fail_msg("\"%s\" cut at %zu: got %ld want %ld", cases[i].in, cut,
					 bulk, want);
		}
	}
}

static void test_parse_ok(void **state)
{
	(void)state;
	static const char in[] =
		"POST /v1/x?y=1 HTTP/1.0\r\nHost:  api.openai.com \r\n"
		"X-Empty:\r\nContent-Length: 5\nContent-Length: 5\r\n"
		"Expect: 100-CONTINUE\r\nUser-Agent: caf\xc3\xa9\t1\r\n\r\n";
	struct reqhead h;
	const char *why = NULL;
	const char *g = pageguard_copy(in, sizeof(in) - 1);
	assert_int_equal(reqhead_parse(g, sizeof(in) - 1, &h, 128, &why), 0);
	assert_memory_equal(h.method, "POST", h.method_len);
	assert_int_equal(h.method_len, 4);
	assert_int_equal(h.target_len, 9);
	assert_memory_equal(h.target, "/v1/x?y=1", 9);
	assert_int_equal(h.minor, 0);
	assert_int_equal(h.n, 6);
	assert_int_equal(h.host, 0);
	assert_int_equal(h.h[0].value_len, 14);
	assert_memory_equal(h.h[0].value, "api.openai.com", 14);
	assert_int_equal(h.line_len[0], strlen("Host:  api.openai.com "));
	assert_int_equal(h.h[1].value_len, 0);
	assert_true(h.has_cl);
	assert_true(h.cl == 5);
	assert_false(h.chunked);
	assert_true(h.expect_continue);
	assert_int_equal(h.h[5].value_len, strlen("caf\xc3\xa9\t1"));
	pageguard_free(g);

	static const char te[] = "PUT * HTTP/1.1\nTransfer-Encoding: gzip\n"
				 "Transfer-Encoding: chunked\n\n";
	assert_int_equal(reqhead_parse(te, sizeof(te) - 1, &h, 128, &why), 0);
	assert_true(h.chunked);
	assert_int_equal(h.host, -1);
	assert_int_equal(h.minor, 1);
}

static void test_parse_refused(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *why;	/* a word of the reason */
	} cases[] = {
		{ "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "folding" },
		{ "GET / HTTP/1.1\r\nX : a\r\n\r\n", "header" },
		{ "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "header" },
		{ "GET / HTTP/1.1\r\nX: a\r\r\n\r\n", "header" },
		{ "GET / HTTP/1.1\r\r\n\r\n", "request line" },
		{ "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		  "conflicting" },
		{ "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "Content-Length" },
		{ "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "both" },
		{ "GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "chunked" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "Host" },
		{ "GET / HTTP/1.1\r\nX: 1\r\nY: 2\r\nZ: 3\r\n\r\n", "too many" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reqhead h;
		const char *why = NULL;
		size_t n = strlen(cases[i].in);
		const char *g = pageguard_copy(cases[i].in, n);
		assert_int_equal(reqhead_parse(g, n, &h, 2, &why), -1);
		pageguard_free(g);
		assert_non_null(why);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: why \"%s\"", i, why);
	}
}

static void test_values(void **state)
{
	(void)state;
	assert_true(reqhead_value_ok("rk-abc"));
	assert_true(reqhead_value_ok("a b\tc\x80"));
	assert_false(reqhead_value_ok(""));
	assert_false(reqhead_value_ok(NULL));
	assert_false(reqhead_value_ok("a\r\nX-Evil: 1"));
	assert_false(reqhead_value_ok("a\x7f"));
	assert_true(reqhead_path_ok("/api/"));
	assert_true(reqhead_path_ok("/"));
	assert_false(reqhead_path_ok("api/"));
	assert_false(reqhead_path_ok("/a b/"));
	assert_false(reqhead_path_ok("/a\n"));
	assert_false(reqhead_path_ok(NULL));
	assert_true(reqhead_is_empty_line("\r\n", 2));
	assert_true(reqhead_is_empty_line("\n", 1));
	assert_false(reqhead_is_empty_line("\r\r\n", 3));
	assert_false(reqhead_is_empty_line("\rG", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_table),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
