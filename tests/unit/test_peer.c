/*
 * Unit tests for cli/relay/peer.c, who is on the other end of the relay of
 * `respan run`: the /proc/net/tcp{,6} line parser and matcher, the uid of
 * a real loopback connection, and the check of requests a web page could
 * send.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "pageguard.h"
#include "relay/peer.h"

/* Real lines as Linux prints them (x86-64, so words are little-endian). */
#define V4_ESTAB "   3: 0100007F:A1B2 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1                  \n"
#define V4_LISTEN "   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 30809 1 0000000077eb4dc8 100 0 0 10 0\n"
#define V4_HEADER "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
#define V6_MAPPED "   1: 0000000000000000FFFF00000100007F:A1B2 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000 65534        0 777 1 0000000000000000 20 4 30 10 -1\n"
#define V6_LOOP "   2: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 06 00000000:00000000 03:00000F9C 00000000     0        0 0 3 0000000000000000\n"

/* A line the parser must refuse. */
#define BAD(line) { line, -1, 0, NULL, 0, NULL, 0, 0, 0, 0 }

static void test_parse_lines(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		int rc;
		int family;
		const char *local;	/* presentation form */
		unsigned lport;
		const char *remote;
		unsigned rport, st;
		unsigned long uid, inode;
	} cases[] = {
		{ V4_ESTAB, 0, AF_INET, "127.0.0.1", 0xA1B2, "127.0.0.1", 0x9C40, 1, 1000, 123456 },
		{ V4_LISTEN, 0, AF_INET, "127.0.0.1", 0x9C40, "0.0.0.0", 0, 0x0A, 0, 30809 },
		{ V6_MAPPED, 0, AF_INET6, "::ffff:127.0.0.1", 0xA1B2, "::ffff:127.0.0.1",
		  0x9C40, 1, 65534, 777 },
		{ V6_LOOP, 0, AF_INET6, "::1", 0x1F90, "::1", 0xD431, 6, 0, 0 },
		/* no newline at the end: still a line */
		{ "0: 0100007F:0001 0100007F:0002 01 0:0 0:0 0 4294967295 0 9", 0, AF_INET,
		  "127.0.0.1", 1, "127.0.0.1", 2, 1, 4294967295UL, 9 },
		BAD(V4_HEADER),
		BAD(""),
		BAD("\n"),
		BAD("   3: 0100007F:A1B2 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000"),
		BAD("   3 0100007F:A1B2 0100007F:9C40 01 0:0 0:0 0 1000 0 1"),	/* no "N:" */
		BAD("   3: 0100007G:A1B2 0100007F:9C40 01 0:0 0:0 0 1000 0 1"),	/* bad hex */
		BAD("   3: 100007F:A1B2 0100007F:9C40 01 0:0 0:0 0 1000 0 1"),	/* 7 digits */
		BAD("   3: 0100007F:A1B 0100007F:9C40 01 0:0 0:0 0 1000 0 1"),	/* short port */
		BAD("   3: 0100007F 0100007F:9C40 01 0:0 0:0 0 1000 0 1"),	/* no port */
		BAD("   3: 0100007F:A1B2 00000000000000000000000001000000:9C40 01 0:0 0:0 0 1000 0 1"),	/* families differ */
		BAD("   3: 0100007F:A1B2 0100007F:9C40 1 0:0 0:0 0 1000 0 1"),	/* st width */
		BAD("   3: 0100007F:A1B2 0100007F:9C40 01 0:0 0:0 0 -1 0 1"),	/* uid sign */
		BAD("   3: 0100007F:A1B2 0100007F:9C40 01 0:0 0:0 0 99999999999999999999999 0 1"),	/* uid overflow */
		BAD("   3: 0100007F:A1B2 0100007F:9C40 01 0:0 0:0 0 1000 0 x"),	/* inode */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].line);
		/* The line ends right before an unmapped page: no over-read. */
		const char *g = pageguard_copy(cases[i].line, len);
		struct peer_tcp_line l;
		memset(&l, 0xAA, sizeof(l));
		int rc = peer_parse_tcp_line(g, len, &l);
		pageguard_free(g);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d: %s", i, rc, cases[i].rc, cases[i].line);
		if (rc < 0)
			continue;
		char text[INET6_ADDRSTRLEN];
		assert_int_equal(l.family, cases[i].family);
		assert_non_null(inet_ntop(l.family, l.local, text, sizeof(text)));
		assert_string_equal(text, cases[i].local);
		assert_non_null(inet_ntop(l.family, l.remote, text, sizeof(text)));
		assert_string_equal(text, cases[i].remote);
		assert_int_equal(l.local_port, cases[i].lport);
		assert_int_equal(l.remote_port, cases[i].rport);
		assert_int_equal(l.state, cases[i].st);
		assert_int_equal(l.uid, cases[i].uid);
		assert_int_equal(l.inode, cases[i].inode);
	}
}

static void test_parse_every_prefix(void **state)
{
	(void)state;
	/* Every cut of a good line is rejected or parsed, never over-read. */
	static const char *const lines[] = { V4_ESTAB, V6_MAPPED };
	for (size_t k = 0; k < 2; k++) {
		size_t len = strlen(lines[k]);
		for (size_t n = 0; n <= len; n++) {
			const char *g = pageguard_copy(lines[k], n);
			struct peer_tcp_line l;
			(void)peer_parse_tcp_line(g, n, &l);
			pageguard_free(g);
		}
	}
}

static struct sockaddr_in v4(const char *addr, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET, addr, &a.sin_addr), 1);
	return a;
}

static struct sockaddr_in6 v6(const char *addr, unsigned port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET6, addr, &a.sin6_addr), 1);
	return a;
}

static void test_matches(void **state)
{
	(void)state;
	struct peer_tcp_line estab, mapped, listen, loop6;
	assert_int_equal(peer_parse_tcp_line(V4_ESTAB, strlen(V4_ESTAB), &estab), 0);
	assert_int_equal(peer_parse_tcp_line(V6_MAPPED, strlen(V6_MAPPED), &mapped), 0);
	assert_int_equal(peer_parse_tcp_line(V4_LISTEN, strlen(V4_LISTEN), &listen), 0);
	assert_int_equal(peer_parse_tcp_line(V6_LOOP, strlen(V6_LOOP), &loop6), 0);

	struct sockaddr_in peer = v4("127.0.0.1", 0xA1B2), self = v4("127.0.0.1", 0x9C40);
	struct sockaddr_in other_port = v4("127.0.0.1", 0xA1B3);
	struct sockaddr_in other_addr = v4("127.0.0.2", 0xA1B2);
	struct sockaddr_in6 peer6 = v6("::1", 0x1F90), self6 = v6("::1", 0xD431);
	struct sockaddr *P = (struct sockaddr *)&peer, *S = (struct sockaddr *)&self;

	assert_true(peer_line_matches(&estab, P, S));
	assert_true(peer_line_matches(&mapped, P, S));	/* ::ffff:127.0.0.1 */
	/* Our own end of the connection is the reverse: not the peer's line. */
	assert_false(peer_line_matches(&estab, S, P));
	assert_false(peer_line_matches(&estab, (struct sockaddr *)&other_port, S));
	assert_false(peer_line_matches(&estab, (struct sockaddr *)&other_addr, S));
	assert_false(peer_line_matches(&listen, P, S));
	assert_true(peer_line_matches(&loop6, (struct sockaddr *)&peer6,
				      (struct sockaddr *)&self6));
	assert_false(peer_line_matches(&loop6, P, S));
	struct sockaddr_un_like { sa_family_t f; char pad[30]; } unix_addr = { AF_UNIX, { 0 } };
	assert_false(peer_line_matches(&estab, (struct sockaddr *)&unix_addr, S));
}

static void test_peer_uid_of_a_real_connection(void **state)
{
	(void)state;
	/* A loopback connection of this process: its peer is us. */
	int srv = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = v4("127.0.0.1", 0);
	socklen_t al = sizeof(a);
	assert_int_equal(bind(srv, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv, 1), 0);
	assert_int_equal(getsockname(srv, (struct sockaddr *)&a, &al), 0);
	int cli = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&a, sizeof(a)), 0);
	int acc = accept(srv, NULL, NULL);
	assert_true(acc >= 0);

	struct sockaddr_storage peer, self;
	socklen_t pl = sizeof(peer), sl = sizeof(self);
	assert_int_equal(getpeername(acc, (struct sockaddr *)&peer, &pl), 0);
	assert_int_equal(getsockname(acc, (struct sockaddr *)&self, &sl), 0);
	uid_t uid = (uid_t)-1;
	if (access("/proc/net/tcp", R_OK) != 0)
		skip();
	assert_int_equal(peer_uid((struct sockaddr *)&peer, (struct sockaddr *)&self, &uid), 0);
	assert_int_equal(uid, geteuid());
	/* Reversed, it names the accepting socket: also ours, also listed. */
	assert_int_equal(peer_uid((struct sockaddr *)&self, (struct sockaddr *)&peer, &uid), 0);
	close(cli);
	close(acc);
	/* A connection that does not exist. */
	struct sockaddr_in nobody = v4("127.0.0.1", 1);
	assert_int_equal(peer_uid((struct sockaddr *)&nobody, (struct sockaddr *)&a, &uid),
			 -ENOENT);
	close(srv);
}

static void test_request_refusal(void **state)
{
	(void)state;
	static const struct {
		const char *host;	/* NULL: no Host header */
		bool origin, ok;
		const char *alias;	/* the library relay's stand-in, or NULL */
	} cases[] = {
		{ "127.0.0.1:40123", false, true, NULL },
		{ "127.0.0.1", false, true, NULL },
		{ "localhost:40123", false, true, NULL },
		{ "LocalHost:40123", false, true, NULL },
		{ "[::1]:40123", false, true, NULL },
		{ NULL, false, true, NULL },
		{ "127.0.0.1:40123", true, false, NULL },	/* a web page */
		{ NULL, true, false, NULL },
		{ "127.0.0.1:40124", false, false, NULL },
		{ "127.0.0.1:4012", false, false, NULL },
		{ "127.0.0.1:401230", false, false, NULL },
		{ "127.0.0.1:", false, false, NULL },
		{ "127.0.0.10:40123", false, false, NULL },
		{ "evil.example:40123", false, false, NULL },	/* DNS rebinding */
		{ "localhost.evil.example:40123", false, false, NULL },
		{ "", false, false, NULL },
		{ "api.respan.ai", false, false, NULL },
		/* the library's relay also answers to its stand-in, exactly */
		{ "127.201.33.7:43817", false, true, "127.201.33.7:43817" },
		{ "127.201.33.7:43817", true, false, "127.201.33.7:43817" },
		{ "127.201.33.7:43818", false, false, "127.201.33.7:43817" },
		{ "127.201.33.7", false, false, "127.201.33.7:43817" },
		{ "127.201.33.7:43817", false, false, NULL },
		{ "127.0.0.1:40123", false, true, "127.201.33.7:43817" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *h = cases[i].host;
		const char *g = h ? pageguard_copy(h, strlen(h)) : NULL;
		const char *why = peer_request_refusal(g, h ? strlen(h) : 0, cases[i].origin,
						       40123, cases[i].alias);
		if (g)
			pageguard_free(g);
		if ((why == NULL) != cases[i].ok)
			fail_msg("case %zu (%s, origin %d): %s", i, h ? h : "none",
				 cases[i].origin, why ? why : "allowed");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lines),
		cmocka_unit_test(test_parse_every_prefix),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_peer_uid_of_a_real_connection),
		cmocka_unit_test(test_request_refusal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
