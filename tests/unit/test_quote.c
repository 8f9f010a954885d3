/*
 * Unit tests for cli/log/quote.c: shell words, Markdown cells, UTF-8.
 *
 * The shell words are checked the strong way too: each is run through
 * /bin/sh (printf '%s' WORD) and must come back byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log/quote.h"
#include "pageguard.h"

/* What fn wrote, as a malloc'd string. */
#define CAPTURE(text, call)                                        \
	do {                                                       \
		size_t len_;                                       \
		FILE *out = open_memstream(&(text), &len_);        \
		assert_non_null(out);                              \
		call;                                              \
		assert_int_equal(fclose(out), 0);                  \
	} while (0)

static char *sh(const char *s, size_t n)
{
	char *text = NULL;
	CAPTURE(text, quote_sh(out, s, n));
	return text;
}

static void test_sh_table(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "''" },
		{ "plain", "'plain'" },
		{ "it's", "'it'\\''s'" },
		{ "'", "''\\'''" },
		{ "''", "''\\'''\\'''" },
		{ "$HOME `id` $(id) \\ \" !x *", "'$HOME `id` $(id) \\ \" !x *'" },
		{ "two\nlines", "'two\nlines'" },
		{ "caf\xc3\xa9 \xe2\x98\x95", "'caf\xc3\xa9 \xe2\x98\x95'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = sh(cases[i].in, strlen(cases[i].in));
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

/* A word written in pieces: the caller's quotes around the insides. */
static void test_sh_inner(void **state)
{
	(void)state;
	char *text = NULL;
	CAPTURE(text, (fputc('\'', out), quote_sh_inner(out, "it's", 4),
		       quote_sh_inner(out, ": x'", 4), quote_sh_inner(out, "ignored", 0),
		       fputc('\'', out)));
	assert_string_equal(text, "'it'\\''s: x'\\'''");
	free(text);
}

/* Only n bytes are read: input that ends at an unmapped page. */
static void test_sh_reads_no_further(void **state)
{
	(void)state;
	const char *in = pageguard_copy("ab'c", 4);
	char *got = sh(in, 4);
	assert_string_equal(got, "'ab'\\''c'");
	free(got);
	pageguard_free(in);
}

/* The shell gives back every byte (but NUL, which no argument holds). */
static void test_sh_round_trip(void **state)
{
	(void)state;
	char all[256], path[] = "/tmp/test_quote.XXXXXX";
	const char *const words[] = { "it's a 'quoted' \"word\"", "'''", "\\'\\", "-n",
				      "%s %d \\n", "caf\xc3\xa9 \xe2\x98\x95 \xff\xfe" };
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	for (size_t w = 0; w <= sizeof(words) / sizeof(words[0]); w++) {
		const char *in = w < sizeof(words) / sizeof(words[0]) ? words[w] : all;
		size_t n = w < sizeof(words) / sizeof(words[0]) ? strlen(in) : 255;
		char cmd[64], got[512];
		int fd = mkstemp(path);
		FILE *script = fdopen(fd, "w");
		assert_non_null(script);
		fputs("printf '%s' ", script);
		quote_sh(script, in, n);
		fputc('\n', script);
		assert_int_equal(fclose(script), 0);
		snprintf(cmd, sizeof(cmd), "/bin/sh %s", path);
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		size_t len = fread(got, 1, sizeof(got), p);
		assert_int_equal(pclose(p), 0);
		assert_int_equal(len, n);
		assert_memory_equal(got, in, n);
		unlink(path);
		strcpy(path, "/tmp/test_quote.XXXXXX");
	}
}

static char *md(const char *s)
{
	char *text = NULL;
	CAPTURE(text, quote_md(out, s));
	return text;
}

static void test_md_table(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "gpt-4o-mini", "gpt-4o-mini" },
		{ "a|b", "a\\|b" },
		{ "`code`", "\\`code\\`" },
		{ "*bold* _it_ ~~s~~", "\\*bold\\* \\_it\\_ \\~\\~s\\~\\~" },
		{ "[x](http://e)", "\\[x\\](http://e)" },
		{ "![i](u)", "!\\[i\\](u)" },
		{ "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "&lt; &#60;", "&amp;lt; &amp;#60;" },
		{ "\\|", "\\\\\\|" },
		{ "$x^2$", "\\$x^2\\$" },
		{ "one\ntwo\r\nthree\tfour", "one two  three four" },
		{ "\x1b[31mred", "\\\\x1b\\[31mred" },
		{ "\x7f", "\\\\x7f" },
		{ "\xc2\x9b" "c", "\\\\u009bc" },	/* a C1 control */
		{ "caf\xc3\xa9 \xe2\x98\x95", "caf\xc3\xa9 \xe2\x98\x95" },
		{ "bad \xff end", "bad \xef\xbf\xbd end" },
		{ "cut \xe2\x98", "cut \xef\xbf\xbd\xef\xbf\xbd" },
		{ "# not a heading", "# not a heading" },	/* inline text: no block */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = md(cases[i].in);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

/* Whatever the input, a table row made of cells stays one row of the same
 * cells: no newline, no unescaped |, no <, no control character. */
static void test_md_keeps_the_row(void **state)
{
	(void)state;
	char in[512];
	uint32_t x = 0x9e3779b9;
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % 60);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* biased toward the characters that matter */
			static const char picks[] = "|\\`<>&\n\r*_[]$~\x1b\xc2\x9b";
			in[i] = x & 1 ? picks[x % (sizeof(picks) - 1)] : (char)(x >> 8);
			if (in[i] == '\0')
				in[i] = '|';
		}
		in[n] = '\0';
		char *got = md(in);
		for (const char *p = got; *p; p++) {
			assert_false(*p == '\n' || *p == '\r' || *p == '<' || *p == '>');
			assert_false((unsigned char)*p < 0x20 || *p == 0x7f);
			if (*p == '\\') {
				assert_non_null(p[1] ? p + 1 : NULL);
				p++;	/* an escaped character */
			} else {
				assert_int_not_equal(*p, '|');
			}
		}
		free(got);
	}
}

static void test_utf8_len(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t n, want;
	} cases[] = {
		{ "a", 1, 1 },
		{ "\xc3\xa9", 2, 2 },
		{ "\xe2\x98\x95", 3, 3 },
		{ "\xf0\x9f\x98\x80", 4, 4 },
		{ "\xf4\x8f\xbf\xbf", 4, 4 },		/* U+10FFFF */
		{ "\xf4\x90\x80\x80", 4, 0 },		/* past it */
		{ "\xc0\xaf", 2, 0 },			/* overlong / */
		{ "\xe0\x80\xaf", 3, 0 },		/* overlong */
		{ "\xf0\x80\x80\xaf", 4, 0 },		/* overlong */
		{ "\xed\xa0\x80", 3, 0 },		/* a surrogate */
		{ "\xed\x9f\xbf", 3, 3 },		/* U+D7FF */
		{ "\x80", 1, 0 },			/* a continuation byte alone */
		{ "\xc3", 1, 0 },			/* cut */
		{ "\xe2\x98", 2, 0 },
		{ "\xe2\x28\xa1", 3, 0 },
		{ "\xff", 1, 0 },
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* at the end of a page: a cut sequence must not be read past */
		const char *p = pageguard_copy(cases[i].in, cases[i].n ? cases[i].n : 1);
		size_t got = quote_utf8_len((const unsigned char *)p, cases[i].n);
		assert_int_equal(got, cases[i].want);
		pageguard_free(p);
	}
}

static void test_utf8_copy(void **state)
{
	(void)state;
	char *got = quote_utf8("ok \xc3\xa9 \xff\xc3 end\xe2\x98");
	assert_string_equal(got, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end"
			    "\xef\xbf\xbd\xef\xbf\xbd");
	free(got);
	got = quote_utf8("");
	assert_string_equal(got, "");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sh_table),
		cmocka_unit_test(test_sh_inner),
		cmocka_unit_test(test_sh_reads_no_further),
		cmocka_unit_test(test_sh_round_trip),
		cmocka_unit_test(test_md_table),
		cmocka_unit_test(test_md_keeps_the_row),
		cmocka_unit_test(test_utf8_len),
		cmocka_unit_test(test_utf8_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
