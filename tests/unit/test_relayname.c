/* Unit tests for preload/relayname.c: the stand-in address of the library's relay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relayname.h"

static void test_new_then_parse(void **state)
{
	(void)state;
	static const uint64_t seeds[] = { 0, 1, 0x7f, 0xffffffffffffffffULL,
					  0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct relayname made, read;
		char url[128];
		assert_true(relayname_new(seeds[i], "/api/", &made, url, sizeof(url)));
		assert_int_equal(made.addr[0], 127);
		assert_true(made.addr[1] >= 128);
		assert_true(made.port >= 1024);
		assert_true(relayname_parse(url, &read));
		assert_memory_equal(made.addr, read.addr, 4);
		assert_int_equal(made.port, read.port);
		size_t n = strlen(url);
		assert_string_equal(url + n - 5, "/api/");
	}
}

static void test_new_refuses(void **state)
{
	(void)state;
	struct relayname n;
	char url[64], tiny[10];
	assert_false(relayname_new(1, "api/", &n, url, sizeof(url)));
	assert_false(relayname_new(1, "/api", &n, url, sizeof(url)));
	assert_false(relayname_new(1, "", &n, url, sizeof(url)));
	assert_false(relayname_new(1, NULL, &n, url, sizeof(url)));
	assert_false(relayname_new(1, "/api/", &n, tiny, sizeof(tiny)));
}

static void test_parse(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		bool ok;
		unsigned char b1, b2, b3;
		uint16_t port;
	} cases[] = {
		{ "http://127.200.1.2:40000/api/", true, 200, 1, 2, 40000 },
		{ "http://127.128.0.0:1024/", true, 128, 0, 0, 1024 },
		{ "http://127.255.255.255:65535/x/", true, 255, 255, 255, 65535 },
		/* respan run's relay, and everything else, is not a stand-in */
		{ "http://127.0.0.1:40000/api/", false, 0, 0, 0, 0 },
		{ "http://127.127.1.1:40000/api/", false, 0, 0, 0, 0 },
		{ "http://[::1]:40000/api/", false, 0, 0, 0, 0 },
		{ "https://127.200.1.2:40000/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.1.2:1023/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.1.2:65536/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.1.2:40000", false, 0, 0, 0, 0 },
		{ "http://127.200.1.2/api/", false, 0, 0, 0, 0 },
		{ "http://127.256.1.2:40000/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.01.2:40000/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.1:40000/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.1.2.3:40000/api/", false, 0, 0, 0, 0 },
		{ "http://127.200.1.2:4000000/api/", false, 0, 0, 0, 0 },
		{ "", false, 0, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct relayname n;
		bool ok = relayname_parse(cases[i].url, &n);
		assert_int_equal(ok, cases[i].ok);
		if (!ok)
			continue;
		assert_int_equal(n.addr[1], cases[i].b1);
		assert_int_equal(n.addr[2], cases[i].b2);
		assert_int_equal(n.addr[3], cases[i].b3);
		assert_int_equal(n.port, cases[i].port);
	}
	struct relayname n;
	assert_false(relayname_parse(NULL, &n));
}

static void test_host_and_socket(void **state)
{
	(void)state;
	struct relayname n;
	char host[32], sock[64];
	assert_true(relayname_parse("http://127.201.33.7:43817/api/", &n));
	relayname_host(&n, host, sizeof(host));
	assert_string_equal(host, "127.201.33.7:43817");
	relayname_socket(&n, 1000, sock, sizeof(sock));
	assert_string_equal(sock, "respan-relay-1000-127.201.33.7-43817");
}

static void test_direct(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		bool ok;
		uint16_t port;
	} cases[] = {
		{ "http://127.0.0.1:40000/api/", true, 40000 },
		{ "http://127.0.0.1:1/", true, 1 },
		{ "http://127.0.0.1:65535/x/", true, 65535 },
		/* a stand-in, another address, or not a base URL */
		{ "http://127.200.1.2:40000/api/", false, 0 },
		{ "http://127.0.0.2:40000/api/", false, 0 },
		{ "https://127.0.0.1:40000/api/", false, 0 },
		{ "http://127.0.0.1:0/api/", false, 0 },
		{ "http://127.0.0.1:65536/api/", false, 0 },
		{ "http://127.0.0.1:040000/api/", false, 0 },
		{ "http://127.0.0.1:40000", false, 0 },
		{ "http://127.0.0.1/api/", false, 0 },
		{ "http://127.0.0.1:/api/", false, 0 },
		{ "", false, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t port = 7;
		assert_int_equal(relayname_direct(cases[i].url, &port), cases[i].ok);
		assert_int_equal(port, cases[i].ok ? cases[i].port : 7);
	}
	uint16_t port;
	assert_false(relayname_direct(NULL, &port));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_then_parse),
		cmocka_unit_test(test_new_refuses),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_host_and_socket),
		cmocka_unit_test(test_direct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
