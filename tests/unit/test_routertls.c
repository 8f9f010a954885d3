/* Unit tests for preload/routertls.c: the router's TLS policy from the config. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "routertls.h"

static char s_name[] = "api.respan.ai";
static char s_v4[] = "127.0.0.1";
static char s_v6[] = "::1";
static char s_v4ish[] = "127.0.0.1.example";

static struct config make_cfg(char *router_host, unsigned short port)
{
	struct config c;
	memset(&c, 0, sizeof(c));
	c.router_host = router_host;
	c.router_port = port;
	return c;
}

static void test_policy(void **state)
{
	(void)state;
	static const struct {
		char *host;
		bool is_ip;
		sa_family_t family;
	} cases[] = {
		{ s_name, false, AF_UNSPEC },
		{ s_v4, true, AF_INET },
		{ s_v6, true, AF_INET6 },
		{ s_v4ish, false, AF_UNSPEC },
		{ NULL, false, AF_UNSPEC },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c = make_cfg(cases[i].host, 8443);
		struct routertls p;
		routertls_policy(&c, &p);
		assert_ptr_equal(p.name, cases[i].host);
		assert_int_equal(p.is_ip, cases[i].is_ip);
		assert_int_equal(p.family, cases[i].family);
		/* No SNI for an address (RFC 6066 3). */
		assert_ptr_equal(p.sni, cases[i].is_ip ? NULL : cases[i].host);
		assert_int_equal(p.port, 8443);
		/* The same for every router: the relay's and the hooks' check. */
		assert_int_equal(p.host_flags, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		assert_int_equal(p.min_version, TLS1_2_VERSION);
		assert_int_equal(p.alpn_len, 9);
		assert_memory_equal(p.alpn, "\x08http/1.1", 9);
	}
}

/* A socket address of family for addr and port. */
static struct sockaddr_storage peer(int family, const char *addr, unsigned short port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	void *dst = family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr :
					(void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	in_port_t *p = family == AF_INET ? &((struct sockaddr_in *)&ss)->sin_port :
					   &((struct sockaddr_in6 *)&ss)->sin6_port;
	*p = htons(port);
	assert_int_equal(inet_pton(family, addr, dst), 1);
	return ss;
}

static void test_is_router_literal(void **state)
{
	(void)state;
	static const struct {
		char *router;
		int family;
		const char *peer;
		unsigned short port;
		bool want;
	} cases[] = {
		{ s_v4, AF_INET, "127.0.0.1", 8443, true },
		{ s_v4, AF_INET, "127.0.0.1", 443, false },
		{ s_v4, AF_INET, "127.0.0.2", 8443, false },
		{ s_v4, AF_INET6, "::ffff:127.0.0.1", 8443, false },
		{ s_v6, AF_INET6, "::1", 8443, true },
		{ s_v6, AF_INET6, "::2", 8443, false },
		{ s_v6, AF_INET, "0.0.0.1", 8443, false },
		/* a router on a name: never a literal, whatever the peer */
		{ s_name, AF_INET, "127.0.0.1", 8443, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c = make_cfg(cases[i].router, 8443);
		struct routertls p;
		routertls_policy(&c, &p);
		struct sockaddr_storage ss = peer(cases[i].family, cases[i].peer,
						  cases[i].port);
		assert_int_equal(routertls_is_router_literal(&p, (struct sockaddr *)&ss),
				 cases[i].want);
	}
	struct config c = make_cfg(s_v4, 8443);
	struct routertls p;
	routertls_policy(&c, &p);
	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_false(routertls_is_router_literal(&p, &un));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_is_router_literal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
