/* Unit tests for preload/redact.c: secrets never survive a scrub. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "redact.h"

static void scrub_eq(struct redact *r, const char *in, const char *want)
{
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(redact_scrub(r, in, strlen(in), &out), 0);
	assert_string_equal(out.data ? out.data : "", want);
	buf_free(&out);
}

static void test_scrub_table(void **state)
{
	(void)state;
	struct redact *r = redact_new();
	assert_non_null(r);
	redact_add(r, "rk-respan-0001", 14);
	redact_add(r, "sk-proj-abcdef", 14);
	redact_add(r, "short", 5);		/* too short: ignored */
	redact_add(r, "sk-proj-abcdef", 14);	/* duplicate: ignored */

	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "nothing here", "nothing here" },
		{ "rk-respan-0001", "[REDACTED]" },
		{ "a rk-respan-0001 b sk-proj-abcdef c",
		  "a [REDACTED] b [REDACTED] c" },
		{ "sk-proj-abcdefsk-proj-abcdef", "[REDACTED][REDACTED]" },
		{ "sk-proj-abcde", "sk-proj-abcde" },	/* prefix only */
		{ "short and short", "short and short" },
		{ "{\"k\":\"rk-respan-0001\"}", "{\"k\":\"[REDACTED]\"}" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		scrub_eq(r, cases[i].in, cases[i].want);
	redact_free(r);
}

static void test_longest_secret_wins(void **state)
{
	(void)state;
	struct redact *r = redact_new();
	redact_add(r, "secret-1", 8);
	redact_add(r, "secret-1-longer", 15);
	scrub_eq(r, "x secret-1-longer y", "x [REDACTED] y");
	redact_free(r);
}

static void test_eviction_keeps_first(void **state)
{
	(void)state;
	struct redact *r = redact_new();
	char s[32];
	redact_add(r, "the-respan-key", 14);
	for (int i = 0; i < REDACT_MAX_SECRETS * 3; i++) {
		int n = snprintf(s, sizeof(s), "provider-key-%04d", i);
		redact_add(r, s, (size_t)n);
	}
	scrub_eq(r, "the-respan-key", "[REDACTED]");
	snprintf(s, sizeof(s), "provider-key-%04d", REDACT_MAX_SECRETS * 3 - 1);
	scrub_eq(r, s, "[REDACTED]");
	redact_free(r);
}

static void test_url_table(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "/v1/x", "/v1/x" },
		{ "/v1/x?key=AIzaSecret", "/v1/x?key=[REDACTED]" },
		{ "/v1/x?alt=sse&key=AIza&b=1", "/v1/x?alt=sse&key=[REDACTED]&b=1" },
		{ "/v1/x?monkey=1&key=", "/v1/x?monkey=1&key=[REDACTED]" },
		{ "/v1/x?keys=1", "/v1/x?keys=1" },
		{ "https://h/p?key=a&key=b", "https://h/p?key=[REDACTED]&key=[REDACTED]" },
		{ "/p?", "/p?" },
		{ "/p?&&", "/p?&&" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		buf_init(&out, 4096);
		assert_int_equal(redact_url(cases[i].in, strlen(cases[i].in), &out), 0);
		assert_string_equal(out.data, cases[i].want);
		buf_free(&out);
	}
}

static void test_credential_table(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value, *want;
	} cases[] = {
		{ "Authorization", "Bearer sk-1234567", "sk-1234567" },
		{ "authorization", "  Bearer   sk-1234567  ", "sk-1234567" },
		{ "Authorization", "sk-1234567", "sk-1234567" },
		{ "x-api-key", " sk-ant-123 ", "sk-ant-123" },
		{ "x-goog-api-key", "AIza 123", "AIza 123" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *cred;
		size_t n;
		redact_credential(cases[i].name, strlen(cases[i].name),
				  cases[i].value, strlen(cases[i].value), &cred, &n);
		assert_int_equal(n, strlen(cases[i].want));
		assert_memory_equal(cred, cases[i].want, n);
	}
}

/* The scrubber as first written: at each byte, the longest secret there. */
static void reference_scrub(const char *const *secrets, size_t n, const char *in,
			    size_t len, struct buf *out)
{
	for (size_t i = 0; i < len;) {
		size_t hit = 0;
		for (size_t s = 0; s < n; s++) {
			size_t sl = strlen(secrets[s]);
			if (sl <= len - i && memcmp(in + i, secrets[s], sl) == 0 && sl > hit)
				hit = sl;
		}
		if (hit) {
			buf_puts(out, REDACT_MARK);
			i += hit;
		} else {
			buf_append(out, in + i, 1);
			i++;
		}
	}
}

/*
 * Random texts over a small alphabet, dense with secrets that overlap, nest
 * and sit back to back: the fast scrubber agrees with the reference.
 */
static void test_scrub_matches_reference(void **state)
{
	(void)state;
	static const char *const secrets[] = { "abcabc", "abcabcab", "bcabca", "cccccc",
					       "aaaaaab" };
	const size_t n = sizeof(secrets) / sizeof(secrets[0]);
	struct redact *r = redact_new();
	for (size_t s = 0; s < n; s++)
		redact_add(r, secrets[s], strlen(secrets[s]));
	unsigned seed = 12345;
	char text[300];
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)(round % 300);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			text[i] = "abc"[(seed >> 16) % 3];
		}
		struct buf fast, slow;
		buf_init(&fast, 1 << 20);
		buf_init(&slow, 1 << 20);
		assert_int_equal(redact_scrub(r, text, len, &fast), 0);
		reference_scrub(secrets, n, text, len, &slow);
		assert_int_equal(fast.len, slow.len);
		if (fast.len)
			assert_memory_equal(fast.data, slow.data, fast.len);
		buf_free(&fast);
		buf_free(&slow);
	}
	redact_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrub_table),
		cmocka_unit_test(test_longest_secret_wins),
		cmocka_unit_test(test_scrub_matches_reference),
		cmocka_unit_test(test_eviction_keeps_first),
		cmocka_unit_test(test_url_table),
		cmocka_unit_test(test_credential_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
