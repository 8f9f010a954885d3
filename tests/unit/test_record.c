/* Unit tests for preload/record.c: record shapes and redaction. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "record.h"

#define RESPAN_KEY "rk-test-9f8e7d6c5b4a"
#define OPENAI_KEY "sk-proj-ZYXWVUTSRQ"

static const struct record_proc proc = { 1234, 1, "/usr/bin/prog" };

/* Parse one record; check it is one line ending in exactly one newline. */
static cJSON *parse_line(const struct buf *b)
{
	assert_true(b->len > 1);
	assert_int_equal(b->data[b->len - 1], '\n');
	assert_null(memchr(b->data, '\n', b->len - 1));
	cJSON *j = cJSON_ParseWithLength(b->data, b->len);
	assert_non_null(j);
	return j;
}

static void assert_keys(const cJSON *o, const char *const *keys, size_t n)
{
	const cJSON *it = o->child;
	for (size_t i = 0; i < n; i++, it = it->next) {
		assert_non_null(it);
		assert_string_equal(it->string, keys[i]);
	}
	assert_null(it);
}

static void test_request_record(void **state)
{
	(void)state;
	struct redact *red = redact_new();
	redact_add(red, RESPAN_KEY, strlen(RESPAN_KEY));
	redact_add(red, OPENAI_KEY, strlen(OPENAI_KEY));
	const struct http_header h[] = {
		{ "Host", 4, "api.respan.ai", 13 },
		{ "Authorization", 13, "Bearer " RESPAN_KEY, 7 + strlen(RESPAN_KEY) },
		{ "X-Echo", 6, "copy of " OPENAI_KEY, 8 + strlen(OPENAI_KEY) },
		{ "X-Latin1", 8, "caf\xe9", 4 },
	};
	const char body[] = "{\"messages\":[\"h\xc3\xa9llo " OPENAI_KEY "\"]}";
	struct record_request r = {
		.id = "1234-1", .ts_ms = 1764033837123LL, .layer = "openssl",
		.provider_name = "openai", .routed = true, .method = "POST",
		.url = "https://api.openai.com/v1/chat/completions?key=" OPENAI_KEY,
		.routed_url = "https://api.respan.ai/api/chat/completions",
		.headers = h, .n_headers = 4,
		.body = { body, sizeof(body) - 1, 5000, true },
	};
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(record_format_request(&proc, &r, red, &out), 0);
	assert_null(strstr(out.data, RESPAN_KEY));
	assert_null(strstr(out.data, OPENAI_KEY));
	assert_null(strstr(out.data, "9f8e7d6c"));
	assert_null(strstr(out.data, "ZYXWVUT"));

	cJSON *j = parse_line(&out);
	static const char *const keys[] = {
		"type", "id", "ts", "pid", "ppid", "exe", "layer", "provider",
		"routed", "method", "url", "routed_url", "headers", "body",
		"body_bytes", "body_truncated",
	};
	assert_keys(j, keys, sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "request");
	assert_string_equal(cJSON_GetObjectItem(j, "ts")->valuestring,
			    "2025-11-25T01:23:57.123Z");
	assert_int_equal(cJSON_GetObjectItem(j, "pid")->valueint, 1234);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "routed")));
	assert_string_equal(cJSON_GetObjectItem(j, "url")->valuestring,
			    "https://api.openai.com/v1/chat/completions?key=[REDACTED]");
	const cJSON *hs = cJSON_GetObjectItem(j, "headers");
	assert_int_equal(cJSON_GetArraySize(hs), 4);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(hs, 1), 1)->valuestring,
			    "[REDACTED]");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(hs, 2), 1)->valuestring,
			    "copy of [REDACTED]");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(hs, 3), 1)->valuestring,
			    "caf\xc3\xa9");
	assert_string_equal(cJSON_GetObjectItem(j, "body")->valuestring,
			    "{\"messages\":[\"h\xc3\xa9llo [REDACTED]\"]}");
	assert_int_equal(cJSON_GetObjectItem(j, "body_bytes")->valueint, 5000);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "body_truncated")));
	cJSON_Delete(j);
	buf_free(&out);
	redact_free(red);
}

static void test_binary_body_is_base64(void **state)
{
	(void)state;
	static const struct {
		const char *data;
		size_t len;
		const char *b64;
	} cases[] = {
		{ "\x00\x01\x02", 3, "AAEC" },
		{ "\xff", 1, "/w==" },
		{ "ok\xc3", 3, "b2vD" },		/* cut UTF-8 sequence */
		{ "\xed\xa0\x80", 3, "7aCA" },		/* surrogate */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct record_request r = {
			.id = "1-1", .method = "POST", .url = "https://x/",
			.body = { cases[i].data, cases[i].len, cases[i].len, false },
		};
		struct buf out;
		buf_init(&out, 1 << 20);
		assert_int_equal(record_format_request(&proc, &r, NULL, &out), 0);
		cJSON *j = parse_line(&out);
		assert_null(cJSON_GetObjectItem(j, "body"));
		assert_string_equal(cJSON_GetObjectItem(j, "body_base64")->valuestring,
				    cases[i].b64);
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "provider")));
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "routed_url")));
		cJSON_Delete(j);
		buf_free(&out);
	}
}

/* Text or not, wherever in a body the odd byte is (the scan goes by eight). */
static void test_text_or_base64_at_every_offset(void **state)
{
	(void)state;
	const char *ascii = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = strlen(ascii);
	for (size_t at = 0; at + 1 < n; at++) {
		for (int kind = 0; kind < 4; kind++) {
			char body[64], want[128];
			memcpy(body, ascii, n);
			if (kind == 0)
				body[at] = '\0';		/* NUL: not text */
			else if (kind == 1)
				body[at] = (char)0xff;		/* never UTF-8 */
			else if (kind == 2)
				memcpy(body + at, "\xc3\xa9", 2);	/* é: text */
			else
				body[at] = '\x7f';		/* DEL: text */
			struct http_header h = { "X-Odd", 5, body, n };
			struct record_request r = {
				.id = "1-1", .method = "POST", .url = "https://x/",
				.headers = &h, .n_headers = kind == 0 ? 0 : 1,
				.body = { body, n, n, false },
			};
			struct buf out;
			buf_init(&out, 1 << 20);
			assert_int_equal(record_format_request(&proc, &r, NULL, &out), 0);
			cJSON *j = parse_line(&out);
			const cJSON *text = cJSON_GetObjectItem(j, "body");
			if (kind < 2) {
				assert_null(text);
				assert_non_null(cJSON_GetObjectItem(j, "body_base64"));
			} else {
				assert_non_null(text);
				assert_int_equal(strlen(text->valuestring), n);
				assert_memory_equal(text->valuestring, body, n);
			}
			if (kind == 1) {
				/* A header's odd byte is taken as Latin-1: U+00FF. */
				memcpy(want, ascii, at);
				memcpy(want + at, "\xc3\xbf", 2);
				memcpy(want + at + 2, ascii + at + 1, n - at - 1);
				want[n + 1] = '\0';
				const cJSON *v = cJSON_GetArrayItem(
					cJSON_GetArrayItem(cJSON_GetObjectItem(j, "headers"), 0), 1);
				assert_string_equal(v->valuestring, want);
			}
			cJSON_Delete(j);
			buf_free(&out);
		}
	}
}

/*
 * The writer escapes text itself: what it writes for a text body must be
 * exactly what cJSON prints for the same string (every control byte, quote,
 * backslash, DEL and UTF-8 sequence), so the lines read the same as before
 * and any JSON reader gets the body back byte for byte. Secrets are cut
 * out at every position, next to escapes too.
 */
static void test_escaping_matches_cjson(void **state)
{
	(void)state;
	static const char *const pieces[] = {
		"a", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f", "\x7f",
		" ", "/", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "<", "}",
	};
	const size_t n_pieces = sizeof(pieces) / sizeof(pieces[0]);
	struct redact *red = redact_new();
	redact_add(red, RESPAN_KEY, strlen(RESPAN_KEY));
	unsigned seed = 7;
	for (int round = 0; round < 400; round++) {
		char body[512];
		size_t n = 0;
		int len = 1 + round % 60;
		bool keyed = round % 3 == 0;
		for (int i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			const char *p = pieces[(seed >> 16) % n_pieces];
			memcpy(body + n, p, strlen(p));
			n += strlen(p);
			if (keyed && i == (int)((seed >> 8) % (unsigned)len)) {
				memcpy(body + n, RESPAN_KEY, strlen(RESPAN_KEY));
				n += strlen(RESPAN_KEY);
			}
		}
		body[n] = '\0';
		struct record_request r = {
			.id = "1-1", .method = "POST", .url = "https://x/",
			.body = { body, n, n, false },
		};
		struct buf out;
		buf_init(&out, 1 << 20);
		assert_int_equal(record_format_request(&proc, &r, red, &out), 0);
		assert_null(strstr(out.data, RESPAN_KEY));

		/* What cJSON prints for the body with the key replaced. */
		struct buf clean;
		buf_init(&clean, 1 << 20);
		assert_int_equal(redact_scrub(red, body, n, &clean), 0);
		cJSON *want = cJSON_CreateString(clean.data ? clean.data : "");
		char *printed = cJSON_PrintUnformatted(want);
		const char *got = strstr(out.data, ",\"body\":");
		assert_non_null(got);
		got += 8;
		assert_memory_equal(got, printed, strlen(printed));
		assert_memory_equal(got + strlen(printed), ",\"body_bytes\":", 14);
		free(printed);
		cJSON_Delete(want);
		buf_free(&clean);
		buf_free(&out);
	}
	redact_free(red);
}

static void test_response_record(void **state)
{
	(void)state;
	struct redact *red = redact_new();
	redact_add(red, RESPAN_KEY, strlen(RESPAN_KEY));
	const struct http_header h[] = {
		{ "Content-Type", 12, "text/event-stream", 17 },
		{ "Set-Cookie", 10, "s=1", 3 },
	};
	const struct record_usage u = { "gpt-4o", 12, 34 };
	struct record_response r = {
		.id = "1234-7", .ts_ms = 0, .status = 200, .headers = h,
		.n_headers = 2, .body = { "data: x\n\n", 9, 9, false },
		.sse = true, .ttfb_ms = 5, .duration_ms = 40, .usage = &u,
		.output_text = "Hello " RESPAN_KEY, .output_text_len = 6 + strlen(RESPAN_KEY),
	};
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(record_format_response(&proc, &r, red, &out), 0);
	assert_null(strstr(out.data, RESPAN_KEY));
	cJSON *j = parse_line(&out);
	static const char *const keys[] = {
		"type", "id", "ts", "pid", "status", "headers", "body",
		"body_bytes", "body_truncated", "sse", "ttfb_ms", "duration_ms",
		"usage", "output_text", "error", "output_text_truncated",
	};
	assert_keys(j, keys, sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(cJSON_GetObjectItem(j, "ts")->valuestring,
			    "1970-01-01T00:00:00.000Z");
	const cJSON *usage = cJSON_GetObjectItem(j, "usage");
	assert_string_equal(cJSON_GetObjectItem(usage, "model")->valuestring, "gpt-4o");
	assert_int_equal(cJSON_GetObjectItem(usage, "input_tokens")->valueint, 12);
	assert_int_equal(cJSON_GetObjectItem(usage, "output_tokens")->valueint, 34);
	assert_string_equal(cJSON_GetObjectItem(j, "output_text")->valuestring,
			    "Hello [REDACTED]");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "error")));
	const cJSON *cookie = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "headers"), 1);
	assert_string_equal(cJSON_GetArrayItem(cookie, 1)->valuestring, "[REDACTED]");
	cJSON_Delete(j);

	/* No head, no usage, an error: the cut-short shape. */
	struct record_response cut = { .id = "1-2", .ttfb_ms = -1,
				    .error = "process exited" };
	buf_reset(&out);
	assert_int_equal(record_format_response(&proc, &cut, red, &out), 0);
	j = parse_line(&out);
	assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "usage")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "ttfb_ms")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "output_text")));
	assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring,
			    "process exited");
	assert_string_equal(cJSON_GetObjectItem(j, "body")->valuestring, "");
	cJSON_Delete(j);
	buf_free(&out);
	redact_free(red);
}

static void test_event_record(void **state)
{
	(void)state;
	struct record_event e = { 1000, "bypass", "api.anthropic.com", NULL };
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(record_format_event(&proc, &e, NULL, &out), 0);
	cJSON *j = parse_line(&out);
	static const char *const keys[] = {
		"type", "ts", "pid", "exe", "event", "host", "detail",
	};
	assert_keys(j, keys, sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, "bypass");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "detail")));
	cJSON_Delete(j);
	buf_free(&out);
}

static void test_cap_leaves_nothing_half_written(void **state)
{
	(void)state;
	struct record_event e = { 1000, "bypass", "api.anthropic.com", "d" };
	struct buf out;
	buf_init(&out, 20);
	assert_int_equal(buf_puts(&out, "keep"), 0);
	assert_int_equal(record_format_event(&proc, &e, NULL, &out), -E2BIG);
	assert_string_equal(out.data, "keep");
	buf_free(&out);
}

static void test_ids_unique(void **state)
{
	(void)state;
	char a[48], b[48], pfx[32];
	record_new_id(a, sizeof(a));
	record_new_id(b, sizeof(b));
	assert_string_not_equal(a, b);
	snprintf(pfx, sizeof(pfx), "%ld-", (long)getpid());
	assert_memory_equal(a, pfx, strlen(pfx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_record),
		cmocka_unit_test(test_binary_body_is_base64),
		cmocka_unit_test(test_text_or_base64_at_every_offset),
		cmocka_unit_test(test_escaping_matches_cjson),
		cmocka_unit_test(test_response_record),
		cmocka_unit_test(test_event_record),
		cmocka_unit_test(test_cap_leaves_nothing_half_written),
		cmocka_unit_test(test_ids_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
