/* Unit tests for preload/inaddr.c: address bytes and ports of sockaddrs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "inaddr.h"

static void test_families(void **state)
{
	(void)state;
	static const struct {
		int family;
		const char *addr;
		unsigned short port;
		size_t len;
	} cases[] = {
		{ AF_INET, "192.0.2.7", 443, 4 },
		{ AF_INET, "0.0.0.0", 0, 4 },
		{ AF_INET6, "2001:db8::1", 8443, 16 },
		{ AF_INET6, "::ffff:127.0.0.1", 65535, 16 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		unsigned char want[16];
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)cases[i].family;
		assert_int_equal(inet_pton(cases[i].family, cases[i].addr, want), 1);
		if (cases[i].family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			in->sin_port = htons(cases[i].port);
			memcpy(&in->sin_addr, want, 4);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			in6->sin6_port = htons(cases[i].port);
			memcpy(&in6->sin6_addr, want, 16);
		}
		const unsigned char *p = NULL;
		assert_int_equal(inaddr_bytes((struct sockaddr *)&ss, &p), cases[i].len);
		assert_memory_equal(p, want, cases[i].len);
		assert_int_equal(inaddr_port((struct sockaddr *)&ss), cases[i].port);
	}
}

static void test_other_family(void **state)
{
	(void)state;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	const unsigned char *p = NULL;
	assert_int_equal(inaddr_bytes((struct sockaddr *)&un, &p), 0);
	assert_null(p);
	assert_int_equal(inaddr_port((struct sockaddr *)&un), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_other_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
