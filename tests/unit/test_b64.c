/* Unit tests for preload/b64.c: RFC 4648 base64 with padding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "b64.h"
#include "pageguard.h"

static void test_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		/* RFC 4648 section 10. */
		{ "", 0, "" },
		{ "f", 1, "Zg==" },
		{ "fo", 2, "Zm8=" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" },
		{ "fooba", 5, "Zm9vYmE=" },
		{ "foobar", 6, "Zm9vYmFy" },
		/* Every alphabet edge, and bytes that are not text. */
		{ "\0", 1, "AA==" },
		{ "\0\0\0", 3, "AAAA" },
		{ "\xff\xff\xff", 3, "////" },
		{ "\xfb\xff", 2, "+/8=" },
		{ "\xff\xfe\x00", 3, "//4A" },
		{ "\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97"
		  "\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
		  "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf", 48,
		  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" },
		{ "{\"customer_identifier\":\"u\"}", 27,
		  "eyJjdXN0b21lcl9pZGVudGlmaWVyIjoidSJ9" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		buf_init(&out, 1024);
		buf_puts(&out, ">");	/* appends, never overwrites */
		const char *g = pageguard_copy(cases[i].in, cases[i].len);
		assert_int_equal(b64_encode(g, cases[i].len, &out), 0);
		pageguard_free(g);
		assert_int_equal(out.len, 1 + strlen(cases[i].want));
		assert_memory_equal(out.data + 1, cases[i].want, strlen(cases[i].want));
		assert_int_equal(out.data[out.len], '\0');
		buf_free(&out);
	}
}

static void test_lengths(void **state)
{
	(void)state;
	unsigned char in[300];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(in); n++) {
		struct buf out;
		buf_init(&out, 1024);
		assert_int_equal(b64_encode(in, n, &out), 0);
		assert_int_equal(out.len, (n + 2) / 3 * 4);
		size_t pad = n % 3 == 0 ? 0 : 3 - n % 3;
		for (size_t k = 0; k < pad; k++)
			assert_int_equal(out.data[out.len - 1 - k], '=');
		for (size_t k = 0; k < out.len - pad; k++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789+/", out.data[k]));
		buf_free(&out);
	}
}

static void test_cap(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 8);
	assert_int_equal(b64_encode("foobar", 6, &out), 0);
	assert_int_equal(out.len, 8);
	assert_int_equal(b64_encode("f", 1, &out), -E2BIG);
	buf_free(&out);

	buf_init(&out, 7);
	assert_int_equal(b64_encode("foobar", 6, &out), -E2BIG);
	assert_true(out.len <= 7);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
