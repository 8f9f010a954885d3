/*
 * Unit tests for preload/clienthello.c. The ClientHellos are real: made by
 * this machine's OpenSSL over a memory BIO, TLS 1.2 and 1.3, with and
 * without SNI, and with a large extension before the name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "clienthello.h"
#include "pageguard.h"

struct hello {
	unsigned char *data;
	size_t len;
};

/* What an OpenSSL client writes first, for SNI name (NULL: none). */
static struct hello make_hello(const char *name, int max_version, bool padded)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	SSL_CTX_set_max_proto_version(ctx, max_version);
	if (padded)	/* a long ALPN list pushes server_name further back */
		SSL_CTX_set_options(ctx, SSL_OP_TLSEXT_PADDING);
	SSL *ssl = SSL_new(ctx);
	BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, rbio, wbio);
	if (name)
		SSL_set_tlsext_host_name(ssl, name);
	if (padded) {
		unsigned char alpn[600];
		for (size_t i = 0; i < sizeof(alpn); i += 10) {
			alpn[i] = 9;
			memcpy(alpn + i + 1, "protocolx", 9);
		}
		SSL_set_alpn_protos(ssl, alpn, sizeof(alpn));
	}
	assert_int_equal(SSL_connect(ssl), -1);	/* wants the server's reply */
	char *p;
	long n = BIO_get_mem_data(wbio, &p);
	assert_true(n > 0);
	struct hello h = { malloc((size_t)n), (size_t)n };
	memcpy(h.data, p, (size_t)n);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return h;
}

static void test_real_hellos(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int version;
		bool padded;
		enum clienthello_result want;
		const char *want_name;
	} cases[] = {
		{ "api.anthropic.com", TLS1_3_VERSION, false, CLIENTHELLO_SNI, "api.anthropic.com" },
		{ "API.OpenAI.com", TLS1_2_VERSION, false, CLIENTHELLO_SNI, "api.openai.com" },
		{ "us-central1-aiplatform.googleapis.com", TLS1_3_VERSION, true, CLIENTHELLO_SNI,
		  "us-central1-aiplatform.googleapis.com" },
		{ NULL, TLS1_3_VERSION, false, CLIENTHELLO_NO_SNI, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hello h = make_hello(cases[i].name, cases[i].version, cases[i].padded);
		char out[256] = "";
		assert_int_equal(clienthello_sni(h.data, h.len, out, sizeof(out)),
				 cases[i].want);
		if (cases[i].want_name)
			assert_string_equal(out, cases[i].want_name);
		free(h.data);
	}
}

/*
 * Every prefix of a ClientHello, each in a buffer that ends at a guard page:
 * never a wrong answer, never a read past the end. Before the name is
 * complete the answer is CLIENTHELLO_SHORT; after, the name.
 */
static void test_every_prefix(void **state)
{
	(void)state;
	struct hello h = make_hello("generativelanguage.googleapis.com", TLS1_3_VERSION,
				    true);
	for (size_t n = 1; n <= h.len; n++) {
		char out[256];
		const char *at = pageguard_copy(h.data, n);
		enum clienthello_result r = clienthello_sni((const unsigned char *)at, n, out,
						   sizeof(out));
		if (r == CLIENTHELLO_SNI)
			assert_string_equal(out, "generativelanguage.googleapis.com");
		else
			assert_int_equal(r, CLIENTHELLO_SHORT);
		pageguard_free(at);
	}
	free(h.data);
}

static void test_not_tls(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		"GET / HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
		"\x16\x02\x00\x00\x10",		/* SSL 2-ish major version */
		"\x17\x03\x03\x00\x10",		/* application data */
		"\x16\x03\x01\x00\x00",		/* empty record */
		"\x16\x03\x01\x00\x04\x02\x00\x00\x00",	/* ServerHello */
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		char out[64];
		size_t n = strlen(inputs[i]);
		if (i == 3)
			n = 5;
		if (i == 4)
			n = 9;
		assert_int_equal(clienthello_sni((const unsigned char *)inputs[i], n,
						 out, sizeof(out)), CLIENTHELLO_NOT_TLS);
	}
}

/* Lengths that lie, names that are not names: never CLIENTHELLO_SNI with junk. */
static void test_hostile_lengths(void **state)
{
	(void)state;
	struct hello h = make_hello("api.openai.com", TLS1_3_VERSION, false);
	char out[256];
	/* A name that does not fit the caller's buffer. */
	assert_int_equal(clienthello_sni(h.data, h.len, out, 8), CLIENTHELLO_NO_SNI);
	/* Flip every byte in turn: the answer is one of the four, and a found
	 * name is printable and NUL-terminated. */
	for (size_t i = 0; i < h.len; i++) {
		unsigned char saved = h.data[i];
		h.data[i] ^= 0xff;
		enum clienthello_result r = clienthello_sni(h.data, h.len, out, sizeof(out));
		assert_true(r <= CLIENTHELLO_SHORT);
		if (r == CLIENTHELLO_SNI)
			for (const char *c = out; *c; c++)
				assert_true(*c > 0x20 && *c < 0x7f);
		h.data[i] = saved;
	}
	free(h.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_hellos),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_hostile_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
