/* Unit tests for preload/tunnel.c: CONNECT requests read and retargeted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pageguard.h"
#include "tunnel.h"

static void test_parse_table(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum tunnel_result want;
		const char *host;
		unsigned port;
	} cases[] = {
		{ "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n",
		  TUNNEL_CONNECT, "api.openai.com", 443 },
		{ "CONNECT API.OpenAI.com:443 HTTP/1.0\r\n\r\n", TUNNEL_CONNECT,
		  "api.openai.com", 443 },
		{ "CONNECT [::1]:8443 HTTP/1.1\r\n\r\n", TUNNEL_CONNECT, "::1", 8443 },
		{ "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: x\r\n", TUNNEL_PARTIAL,
		  "api.openai.com", 443 },
		{ "CONNECT api.openai.com:443 HTTP/1.1\r\n", TUNNEL_PARTIAL, "api.openai.com", 443 },
		{ "CONNECT api.openai.com", TUNNEL_NOT, NULL, 0 },	/* target cut */
		{ "CONNECT api.openai.com HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },	/* no port */
		{ "CONNECT api.openai.com:99999 HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "CONNECT api.openai.com:0 HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "CONNECT :443 HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "CONNECT [::1 HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "CONNECT a@b:443 HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "CONNECT api.openai.com:443 HTTP/2.0\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "CONNECT api.openai.com:443 HTTP/1.1\r\nBad Header: x\r\n\r\n", TUNNEL_NOT,
		  NULL, 0 },
		{ "GET / HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
		{ "\x16\x03\x01\x02\x00", TUNNEL_NOT, NULL, 0 },	/* a ClientHello */
		{ "connect api.openai.com:443 HTTP/1.1\r\n\r\n", TUNNEL_NOT, NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		size_t n = strlen(in);
		const char *g = pageguard_copy(in, n);	/* an over-read faults */
		struct tunnel_target t;
		enum tunnel_result r = tunnel_parse(g, n, &t);
		pageguard_free(g);
		if (r != cases[i].want)
			fail_msg("case %zu (%s): got %d, want %d", i, in, r, cases[i].want);
		if (r == TUNNEL_NOT)
			continue;
		assert_string_equal(t.host, cases[i].host);
		assert_int_equal(t.port, cases[i].port);
		if (r == TUNNEL_CONNECT)
			assert_int_equal(t.head_len, n);
	}
}

/* The head is complete before the bytes that follow it (none expected,
 * but a program may pipeline): head_len stops at the blank line. */
static void test_head_len(void **state)
{
	(void)state;
	const char in[] = "CONNECT api.anthropic.com:443 HTTP/1.1\r\n\r\n\x16\x03\x01";
	struct tunnel_target t;
	assert_int_equal(tunnel_parse(in, sizeof(in) - 1, &t), TUNNEL_CONNECT);
	assert_int_equal(t.head_len, sizeof(in) - 1 - 3);
}

static void test_retarget(void **state)
{
	(void)state;
	const char in[] = "CONNECT api.openai.com:443 HTTP/1.1\r\n"
			  "Host: api.openai.com:443\r\n"
			  "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
			  "User-Agent: curl/7.88.1\r\n\r\n";
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(tunnel_retarget(in, sizeof(in) - 1, "localhost:8443", &out), 0);
	assert_string_equal(out.data, "CONNECT localhost:8443 HTTP/1.1\r\n"
				      "Host: localhost:8443\r\n"
				      "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
				      "User-Agent: curl/7.88.1\r\n\r\n");
	buf_free(&out);

	/* No Host field (HTTP/1.0, Python's set_tunnel): none is added. */
	const char old[] = "CONNECT api.openai.com:443 HTTP/1.0\r\n\r\n";
	buf_init(&out, 4096);
	assert_int_equal(tunnel_retarget(old, sizeof(old) - 1, "[::1]:8443", &out), 0);
	assert_string_equal(out.data, "CONNECT [::1]:8443 HTTP/1.0\r\n\r\n");
	buf_free(&out);

	buf_init(&out, 4096);
	assert_int_equal(tunnel_retarget("nonsense\r\n\r\n", 12, "x:1", &out), -EINVAL);
	buf_free(&out);

	/* The cap of out holds. */
	buf_init(&out, 16);
	assert_true(tunnel_retarget(in, sizeof(in) - 1, "localhost:8443", &out) < 0);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_head_len),
		cmocka_unit_test(test_retarget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
