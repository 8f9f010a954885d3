/* Unit tests for preload/urlnote.c: the table of URLs a layer rewrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "urlnote.h"

static const char ROUTED[] = "https://router.test:8443/api/chat/completions";

static void test_find_what_was_noted(void **state)
{
	(void)state;
	urlnote_add(ROUTED, "https://api.openai.com/v1/chat/completions",
		    PROVIDER_OPENAI, "curl");
	struct urlnote o;
	assert_true(urlnote_find(ROUTED, strlen(ROUTED), &o));
	assert_string_equal(o.url, "https://api.openai.com/v1/chat/completions");
	assert_int_equal(o.provider, PROVIDER_OPENAI);
	assert_string_equal(o.layer, "curl");
}

static void test_length_is_exact(void **state)
{
	(void)state;
	urlnote_add(ROUTED, "https://api.openai.com/v1/chat/completions",
		    PROVIDER_OPENAI, "curl");
	struct urlnote o;
	/* A prefix of a noted URL is a different URL. */
	assert_false(urlnote_find(ROUTED, strlen(ROUTED) - 1, &o));
	assert_false(urlnote_find("https://elsewhere/", 18, &o));
}

static void test_newer_note_replaces(void **state)
{
	(void)state;
	const char *r = "https://router.test:8443/api/anthropic/v1/messages";
	urlnote_add(r, "https://api.anthropic.com/v1/messages", PROVIDER_ANTHROPIC, "curl");
	urlnote_add(r, "https://api.anthropic.com/v1/messages?beta=true",
		    PROVIDER_ANTHROPIC, "curl");
	struct urlnote o;
	assert_true(urlnote_find(r, strlen(r), &o));
	assert_string_equal(o.url, "https://api.anthropic.com/v1/messages?beta=true");
}

static void test_table_is_bounded(void **state)
{
	(void)state;
	char routed[64], url[64];
	/* Twice the table: the oldest notes are forgotten, the newest kept. */
	for (int i = 0; i < 2 * URLNOTE_SLOTS; i++) {
		snprintf(routed, sizeof(routed), "https://r/api/%d", i);
		snprintf(url, sizeof(url), "https://api.openai.com/v1/%d", i);
		urlnote_add(routed, url, PROVIDER_OPENAI, "curl");
	}
	struct urlnote o;
	snprintf(routed, sizeof(routed), "https://r/api/%d", 2 * URLNOTE_SLOTS - 1);
	assert_true(urlnote_find(routed, strlen(routed), &o));
	assert_string_equal(o.url, "https://api.openai.com/v1/63");
	assert_false(urlnote_find("https://r/api/0", 15, &o));
}

static void test_too_long_is_not_noted(void **state)
{
	(void)state;
	static char longurl[URLNOTE_URL_MAX + 10];
	memset(longurl, 'a', sizeof(longurl) - 1);
	urlnote_add(longurl, "https://api.openai.com/", PROVIDER_OPENAI, "curl");
	struct urlnote o;
	assert_false(urlnote_find(longurl, strlen(longurl), &o));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_what_was_noted),
		cmocka_unit_test(test_length_is_exact),
		cmocka_unit_test(test_newer_note_replaces),
		cmocka_unit_test(test_table_is_bounded),
		cmocka_unit_test(test_too_long_is_not_noted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
