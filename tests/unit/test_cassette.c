/* Unit tests for cli/replay/cassette.c: keys, canonical JSON, matching. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "replay/cassette.h"

static struct config cfg;

static int setup(void **state)
{
	(void)state;
	static char base[] = "RESPAN_BASE_URL=https://127.0.0.1:9/api/";
	static char key[] = "RESPAN_API_KEY=rk-x", file[] = "RESPAN_CONFIG=off";
	char *env[] = { base, key, file, NULL };
	return config_load(&cfg, env);
}

static int teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	return 0;
}

static void canon(const char *in, const char *want)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	int rc = cassette_canonical_json(in, strlen(in), &b);
	if (want == NULL) {
		assert_int_equal(rc, 0);
		assert_int_equal(b.len, 0);
	} else {
		assert_int_equal(rc, 1);
		assert_string_equal(b.data, want);
	}
	buf_free(&b);
}

/* Key order and whitespace do not matter; values, array order and types do. */
static void test_canonical_json(void **state)
{
	(void)state;
	canon("{\"b\": 1, \"a\": [3, 2, {\"z\": null, \"y\": true}]}",
	      "{\"a\":[3,2,{\"y\":true,\"z\":null}],\"b\":1}");
	canon(" {\"a\":\"x\\ny\\u0001\\\"\"} \n", "{\"a\":\"x\\u000ay\\u0001\\\"\"}");
	canon("[1.5, 1e3, -0, 10000000000000001]",
	      "[1.5,1000,-0,10000000000000000]");
	canon("{\"k\": 1, \"k\": 2}", "{\"k\":1,\"k\":2}");	/* duplicates keep their order */
	canon("\"\xc3\xa9\"", "\"\xc3\xa9\"");			/* UTF-8 as it is */
	canon("not json", NULL);
	canon("{\"a\": 1} trailing", NULL);
	canon("", NULL);
}

static void rel(const char *target, const char *base, const char *want)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	assert_int_equal(cassette_relative_target(target, strlen(target), base, &b), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void test_relative_target(void **state)
{
	(void)state;
	rel("/api/chat/completions", "/api/", "chat/completions");
	rel("/api/google/gemini/v1beta/models/m:generateContent?key=SECRET&alt=sse", "/api/",
	    "google/gemini/v1beta/models/m:generateContent?alt=sse");
	rel("/api/x?alt=sse&key=a&keys=b&key", "/api/", "x?alt=sse&keys=b");
	rel("/api/x?key=only", "/api/", "x");
	rel("/other/x", "/api/", "other/x");			/* not under the base */
	rel("/api/", "/api/", "");
	rel("/api/x?", "/api/", "x");
}

static void key_of(const char *method, const char *target, const char *body,
		   struct cassette_key *k)
{
	assert_int_equal(cassette_key_of(&cfg, method, target, strlen(target), body,
					 strlen(body), k), 0);
}

static const char *write_tape(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/respan-tape-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

#define REQ(id, url, body) \
	"{\"type\":\"request\",\"id\":\"" id "\",\"method\":\"POST\",\"url\":\"" url "\"," \
	"\"body\":\"" body "\",\"body_truncated\":false}\n"
#define RESP(id, status) \
	"{\"type\":\"response\",\"id\":\"" id "\",\"status\":" #status ",\"body\":\"ok " id "\"}\n"

/*
 * A provider URL and a router URL are keyed alike; identical requests are
 * answered in recorded order, then miss; a request whose body was cut is
 * left out and counted.
 */
static void test_load_and_match(void **state)
{
	(void)state;
	const char *path = write_tape(
		REQ("1-1", "https://api.openai.com/v1/chat/completions", "{\\\"b\\\":2,\\\"a\\\":1}")
		RESP("1-1", 200)
		REQ("1-2", "https://api.openai.com/v1/chat/completions", "{\\\"a\\\":1,\\\"b\\\":2}")
		RESP("1-2", 201)
		REQ("2-1", "https://router.example/api/anthropic/v1/messages", "x")
		RESP("2-1", 200)
		"{\"type\":\"request\",\"id\":\"3-1\",\"method\":\"POST\","
		"\"url\":\"https://api.openai.com/v1/embeddings\",\"body_base64\":\"AAEC\","
		"\"body_truncated\":false}\n"
		"{\"type\":\"request\",\"id\":\"4-1\",\"method\":\"POST\","
		"\"url\":\"https://api.openai.com/v1/x\",\"body\":\"cut\",\"body_truncated\":true}\n"
		"{\"type\":\"event\",\"event\":\"bypass\"}\n");
	struct cassette c;
	char err[200];
	assert_int_equal(cassette_load(&c, path, 0, &cfg, "/api/", err, sizeof(err)), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.cut_requests, 1);

	struct cassette_key k;
	key_of("POST", "/api/chat/completions", "{ \"a\": 1, \"b\": 2 }", &k);
	struct cassette_entry *e = cassette_match(&c, &k);
	assert_non_null(e);
	assert_string_equal(e->id, "1-1");
	e = cassette_match(&c, &k);
	assert_non_null(e);
	assert_string_equal(e->id, "1-2");
	assert_null(cassette_match(&c, &k));			/* asked a third time */
	cassette_key_free(&k);

	key_of("GET", "/api/anthropic/v1/messages", "x", &k);	/* another method */
	assert_null(cassette_match(&c, &k));
	cassette_key_free(&k);
	key_of("POST", "/api/anthropic/v1/messages", "x", &k);
	e = cassette_match(&c, &k);
	assert_non_null(e);
	assert_string_equal(e->id, "2-1");
	cassette_key_free(&k);

	/* A binary body, recorded as base64, matched byte for byte. */
	char bin[3] = { 0, 1, 2 };
	assert_int_equal(cassette_key_of(&cfg, "POST", "/api/embeddings", 15, bin, 3, &k), 0);
	e = cassette_match(&c, &k);
	assert_non_null(e);
	assert_string_equal(e->id, "3-1");
	assert_null(e->resp);					/* no answer was recorded */
	cassette_key_free(&k);

	cassette_free(&c);
	/* From an offset: only what came after. */
	size_t first_two = strlen(REQ("1-1", "https://api.openai.com/v1/chat/completions",
				      "{\\\"b\\\":2,\\\"a\\\":1}") RESP("1-1", 200));
	assert_int_equal(cassette_load(&c, path, (long long)first_two, &cfg, "/api/", err,
				       sizeof(err)), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0].id, "1-2");
	cassette_free(&c);
	unlink(path);

	assert_int_equal(cassette_load(&c, "/nonexistent/tape", 0, &cfg, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/tape"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_json),
		cmocka_unit_test(test_relative_target),
		cmocka_unit_test(test_load_and_match),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
