/* Unit tests for preload/buf.c: growth, the hard cap, and NUL termination. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_init_empty(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 100);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
	assert_null(buf_steal(&b));
	buf_reset(&b);		/* fine on a buffer that never allocated */
	buf_consume(&b, 5);
	buf_free(&b);
	buf_free(&b);		/* twice is fine */
	assert_null(b.data);
}

static void test_append_table(void **state)
{
	(void)state;
	static const struct {
		size_t max;
		const char *pieces[4];
		int rc[4];
		const char *want;
	} cases[] = {
		{ 100, { "abc", "", "def", NULL }, { 0, 0, 0 }, "abcdef" },
		{ 6, { "abc", "def", "g", NULL }, { 0, 0, -E2BIG }, "abcdef" },
		{ 5, { "abc", "def", "de", NULL }, { 0, -E2BIG, 0 }, "abcde" },
		{ 0, { "", "a", NULL }, { 0, -E2BIG }, "" },
		{ 1, { "ab", "a", "b", NULL }, { -E2BIG, 0, -E2BIG }, "a" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, cases[i].max);
		for (size_t j = 0; j < 4 && cases[i].pieces[j]; j++)
			assert_int_equal(buf_puts(&b, cases[i].pieces[j]), cases[i].rc[j]);
		assert_int_equal(b.len, strlen(cases[i].want));
		if (b.len)
			assert_string_equal(b.data, cases[i].want);
		assert_true(b.len <= b.max);
		buf_free(&b);
	}
}

static void test_growth_and_nul(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 1 << 20);
	char chunk[33];
	memset(chunk, 'x', sizeof(chunk));
	for (size_t i = 0; i < 1000; i++) {
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
		assert_int_equal(b.len, (i + 1) * sizeof(chunk));
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], '\0');
	}
	/* Data may hold NUL bytes of its own. */
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.data[0], '\0');
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 4);
	buf_free(&b);
}

static void test_printf(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(buf_printf(&b, "%s=%d;", "n", 42), 0);
	assert_string_equal(b.data, "n=42;");
	/* Longer than the 256-byte fast path. */
	char big[1000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 5 + 2 + 999);
	assert_int_equal(b.data[5], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 5 + 2 + 999);
	buf_free(&b);

	/* Over the cap, short and long: nothing appended. */
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%d", 12345), 0);
	assert_int_equal(buf_printf(&b, "%d", 123456), -E2BIG);
	assert_int_equal(buf_printf(&b, "%s", big), -E2BIG);
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_printf(&b, "%d", 12345), 0);
	assert_string_equal(b.data, "1234512345");
	buf_free(&b);
}

static void test_consume(void **state)
{
	(void)state;
	static const struct {
		size_t n;
		const char *want;
	} cases[] = {
		{ 0, "abcdef" }, { 1, "bcdef" }, { 5, "f" }, { 6, "" }, { 7, "" },
		{ SIZE_MAX, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 100);
		buf_puts(&b, "abcdef");
		buf_consume(&b, cases[i].n);
		assert_string_equal(b.data, cases[i].want);
		assert_int_equal(b.len, strlen(cases[i].want));
		buf_free(&b);
	}
}

static void test_steal(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 100);
	buf_puts(&b, "hello");
	char *p = buf_steal(&b);
	assert_string_equal(p, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
	free(p);
	/* Still usable afterwards. */
	assert_int_equal(buf_puts(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_append_table),
		cmocka_unit_test(test_growth_and_nul),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_steal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
