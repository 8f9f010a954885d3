/*
 * Unit tests for preload/exchange.c: a connection's bytes in, the rewritten
 * bytes and the log records out, through the whole engine.
 */
#include <errno.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "exchange.h"
#include "jsonlines.h"

#define RESPAN_KEY "rk-exchange-test-0123456789"
#define OPENAI_KEY "sk-proj-secret-abcdefgh"

struct fixture {
	char dir[64];
	char path[128];
	struct config cfg;
	struct exchange_ctx ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/respan-xchg-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/traffic.jsonl", f->dir);
	char log_env[160];
	snprintf(log_env, sizeof(log_env), "RESPAN_LOG=%s", f->path);
	char key[] = "RESPAN_API_KEY=" RESPAN_KEY;
	char base[] = "RESPAN_BASE_URL=https://router.test:8443/api/";
	char conf[] = "RESPAN_CONFIG=off";
	char body_max[] = "RESPAN_LOG_BODY_MAX=1048576";
	char *env[] = { key, base, conf, log_env, body_max, NULL };
	config_load(&f->cfg, env);
	f->ctx.cfg = &f->cfg;
	f->ctx.red = redact_new();
	redact_add(f->ctx.red, RESPAN_KEY, strlen(RESPAN_KEY));
	struct logfile_owner owner = { "/usr/bin/test", f->ctx.red, NULL };
	if (logfile_open(f->path, &owner, &f->ctx.log) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	logfile_close(f->ctx.log);
	redact_free(f->ctx.red);
	config_free(&f->cfg);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Every record in the log, in order; neither key is in any. */
static cJSON *read_log(const struct fixture *f)
{
	static const char *const never[] = { RESPAN_KEY, OPENAI_KEY, NULL };
	return jsonlines_read(f->path, never);
}


static void test_routed_sse_exchange(void **state)
{
	struct fixture *f = *state;
	struct exchange_info info = { "openssl", "api.openai.com", 443,
				  PROVIDER_OPENAI, REWRITE_ROUTE };
	struct exchange *x = exchange_new(&f->ctx, &info);
	assert_non_null(x);

	const char req[] =
		"POST /v1/chat/completions HTTP/1.1\r\n"
		"Host: api.openai.com\r\n"
		"Authorization: Bearer " OPENAI_KEY "\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 15\r\n"
		"\r\n"
		"{\"stream\":true}";
	struct buf out;
	buf_init(&out, 1 << 20);
	/* In two writes, the head split in the middle. */
	assert_int_equal(exchange_send(x, req, 40, &out), 40);
	assert_int_equal(exchange_send(x, req + 40, sizeof(req) - 41, &out),
			 (ssize_t)(sizeof(req) - 41));
	assert_non_null(strstr(out.data, "POST /api/chat/completions HTTP/1.1\r\n"));
	assert_non_null(strstr(out.data, "Host: router.test:8443\r\n"));
	assert_non_null(strstr(out.data, "Authorization: Bearer " RESPAN_KEY "\r\n"));
	assert_null(strstr(out.data, OPENAI_KEY));

	const char resp[] =
		"HTTP/1.1 200 OK\r\n"
		"Content-Type: text/event-stream\r\n"
		"Transfer-Encoding: chunked\r\n"
		"\r\n"
		"63\r\n"
		"data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
		"\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\r\n"
		"a2\r\n"
		"data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
		"\"choices\":[{\"delta\":{\"content\":\"lo\"}}],"
		"\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
		"data: [DONE]\n\n\r\n"
		"0\r\n\r\n";
	for (size_t i = 0; i < sizeof(resp) - 1; i += 7) {
		size_t n = sizeof(resp) - 1 - i < 7 ? sizeof(resp) - 1 - i : 7;
		exchange_recv(x, resp + i, n);
	}
	exchange_close(x, NULL);
	buf_free(&out);

	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 2);
	const cJSON *rq = cJSON_GetArrayItem(log, 0);
	const cJSON *rs = cJSON_GetArrayItem(log, 1);
	assert_string_equal(jsonlines_str(rq, "type"), "request");
	assert_string_equal(jsonlines_str(rq, "layer"), "openssl");
	assert_string_equal(jsonlines_str(rq, "provider"), "openai");
	assert_string_equal(jsonlines_str(rq, "url"), "https://api.openai.com/v1/chat/completions");
	assert_string_equal(jsonlines_str(rq, "routed_url"),
			    "https://router.test:8443/api/chat/completions");
	assert_string_equal(jsonlines_str(rq, "body"), "{\"stream\":true}");
	assert_string_equal(jsonlines_str(rs, "type"), "response");
	assert_string_equal(jsonlines_str(rs, "id"), jsonlines_str(rq, "id"));
	assert_int_equal((int)jsonlines_num(rs, "status"), 200);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rs, "sse")));
	assert_string_equal(jsonlines_str(rs, "output_text"), "Hello");
	const cJSON *u = cJSON_GetObjectItem(rs, "usage");
	assert_string_equal(jsonlines_str(u, "model"), "gpt-4o");
	assert_int_equal((int)jsonlines_num(u, "input_tokens"), 7);
	assert_int_equal((int)jsonlines_num(u, "output_tokens"), 2);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(rs, "error")));
	cJSON_Delete(log);
}

/*
 * A JSON answer much larger than the body cap (an embeddings list): its
 * usage and model come from its last bytes, whatever the pieces it came
 * in; nothing more than the cap and a bounded tail is kept.
 */
static void test_big_json_usage_from_its_tail(void **state)
{
	struct fixture *f = *state;
	static const size_t pieces[] = { 1000, 4096, 70000, 300000 };
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct exchange_info info = { "openssl", "api.openai.com", 443,
					      PROVIDER_OPENAI, REWRITE_ROUTE };
		struct exchange *x = exchange_new(&f->ctx, &info);
		const char req[] = "POST /v1/embeddings HTTP/1.1\r\nHost: api.openai.com\r\n"
				   "Content-Length: 2\r\n\r\n{}";
		struct buf out, body, resp;
		buf_init(&out, 1 << 20);
		buf_init(&body, 1 << 22);
		buf_init(&resp, 1 << 22);
		exchange_send(x, req, sizeof(req) - 1, &out);
		buf_puts(&body, "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"embedding\":[");
		for (int i = 0; i < 200000; i++)	/* 1.4 MB, the cap 1 MiB */
			buf_puts(&body, i ? ",0.0123" : "0.0123");
		buf_puts(&body, "]}],\"model\":\"text-embedding-3-small\","
			       "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}");
		buf_printf(&resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				  "Content-Length: %zu\r\n\r\n", body.len);
		buf_append(&resp, body.data, body.len);
		for (size_t i = 0; i < resp.len; i += pieces[k])
			exchange_recv(x, resp.data + i,
				      resp.len - i < pieces[k] ? resp.len - i : pieces[k]);
		exchange_close(x, NULL);
		buf_free(&out);
		buf_free(&body);
		buf_free(&resp);
	}
	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 8);
	for (int i = 1; i < 8; i += 2) {
		const cJSON *rs = cJSON_GetArrayItem(log, i);
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rs, "body_truncated")));
		const cJSON *u = cJSON_GetObjectItem(rs, "usage");
		assert_true(cJSON_IsObject(u));
		assert_string_equal(jsonlines_str(u, "model"), "text-embedding-3-small");
		assert_int_equal(cJSON_GetObjectItem(u, "input_tokens")->valuedouble, 8);
	}
	cJSON_Delete(log);
}

static void test_pipelined_and_cut_short(void **state)
{
	struct fixture *f = *state;
	struct exchange_info info = { "openssl", "api.anthropic.com", 443,
				  PROVIDER_ANTHROPIC, REWRITE_CAPTURE };
	struct exchange *x = exchange_new(&f->ctx, &info);
	const char reqs[] =
		"GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\n"
		"x-api-key: " OPENAI_KEY "\r\n\r\n"
		"GET /v1/models/a HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n"
		"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
		"Content-Length: 2\r\n\r\n{}";
	struct buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(exchange_send(x, reqs, sizeof(reqs) - 1, &out),
			 (ssize_t)(sizeof(reqs) - 1));
	/* Capture mode: the bytes go out exactly as written. */
	assert_int_equal(out.len, sizeof(reqs) - 1);
	assert_memory_equal(out.data, reqs, out.len);
	const char resps[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n[]"
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial";
	exchange_recv(x, resps, sizeof(resps) - 1);
	exchange_close(x, "process exited");
	buf_free(&out);

	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 6);
	static const char *const types[] = {
		"request", "request", "request", "response", "response", "response",
	};
	for (int i = 0; i < 6; i++)
		assert_string_equal(jsonlines_str(cJSON_GetArrayItem(log, i), "type"), types[i]);
	for (int i = 0; i < 3; i++) {
		const cJSON *rq = cJSON_GetArrayItem(log, i);
		const cJSON *rs = cJSON_GetArrayItem(log, i + 3);
		assert_string_equal(jsonlines_str(rq, "id"), jsonlines_str(rs, "id"));
		assert_false(cJSON_IsTrue(cJSON_GetObjectItem(rq, "routed")));
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(rq, "routed_url")));
	}
	assert_int_equal((int)jsonlines_num(cJSON_GetArrayItem(log, 4), "status"), 404);
	const cJSON *cut = cJSON_GetArrayItem(log, 5);
	assert_string_equal(jsonlines_str(cut, "error"), "process exited");
	assert_string_equal(jsonlines_str(cut, "body"), "{\"partial");
	assert_int_equal((int)jsonlines_num(cut, "body_bytes"), 9);
	cJSON_Delete(log);
}

static void test_no_response_at_all(void **state)
{
	struct fixture *f = *state;
	struct exchange_info info = { "curl", "generativelanguage.googleapis.com", 443,
				  PROVIDER_GEMINI, REWRITE_ROUTE };
	struct exchange *x = exchange_new(&f->ctx, &info);
	const char req[] =
		"POST /v1beta/models/m:generateContent?key=" OPENAI_KEY " HTTP/1.1\r\n"
		"Host: generativelanguage.googleapis.com\r\n"
		"Content-Length: 2\r\n\r\n{}";
	struct buf out;
	buf_init(&out, 1 << 20);
	exchange_send(x, req, sizeof(req) - 1, &out);
	assert_non_null(strstr(out.data,
		"POST /api/google/gemini/v1beta/models/m:generateContent?key=" RESPAN_KEY));
	exchange_close(x, NULL);
	buf_free(&out);

	cJSON *log = read_log(f);
	assert_int_equal(cJSON_GetArraySize(log), 2);
	const cJSON *rq = cJSON_GetArrayItem(log, 0);
	assert_string_equal(jsonlines_str(rq, "url"),
		"https://generativelanguage.googleapis.com/v1beta/models/m:generateContent?key=[REDACTED]");
	const cJSON *rs = cJSON_GetArrayItem(log, 1);
	assert_int_equal((int)jsonlines_num(rs, "status"), 0);
	assert_string_equal(jsonlines_str(rs, "error"), "connection closed before a response arrived");
	cJSON_Delete(log);
}

/*
 * A request the rewriter cannot read, on a routed connection: nothing of it
 * is sent (it may hold the provider key), the connection stays failed, and
 * the log says why. In capture mode the same bytes go out unchanged.
 */
static void test_malformed_request_is_not_sent(void **state)
{
	struct fixture *f = *state;
	const char bad[] = "POST /v1/chat/completions HTTP/1.1\r\n"
			   "Authorization: Bearer " OPENAI_KEY "\r\n"
			   "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
	static const enum rewrite_mode modes[] = { REWRITE_ROUTE, REWRITE_ROUTER, REWRITE_CAPTURE };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct exchange_info info = { "openssl", "api.openai.com", 443,
					  PROVIDER_OPENAI, modes[i] };
		struct exchange *x = exchange_new(&f->ctx, &info);
		struct buf out;
		buf_init(&out, 1 << 20);
		ssize_t rc = exchange_send(x, bad, sizeof(bad) - 1, &out);
		if (modes[i] == REWRITE_CAPTURE) {
			assert_int_equal(rc, (ssize_t)(sizeof(bad) - 1));
			assert_int_equal(out.len, sizeof(bad) - 1);
		} else {
			assert_int_equal(rc, -EPROTO);
			assert_int_equal(out.len, 0);
			/* And so it stays: a retry sends nothing either. */
			assert_int_equal(exchange_send(x, "GET / HTTP/1.1\r\n\r\n", 18, &out),
					 -EPROTO);
			assert_int_equal(out.len, 0);
		}
		exchange_close(x, NULL);
		buf_free(&out);
	}
	cJSON *log = read_log(f);
	int http_errors = 0, blocked = 0;
	const cJSON *rec;
	cJSON_ArrayForEach(rec, log) {
		assert_string_equal(jsonlines_str(rec, "type"), "event");
		http_errors += strcmp(jsonlines_str(rec, "event"), "http_error") == 0;
		blocked += strcmp(jsonlines_str(rec, "event"), "blocked") == 0;
	}
	assert_int_equal(http_errors, 3);
	assert_int_equal(blocked, 2);
	cJSON_Delete(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routed_sse_exchange, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_and_cut_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_json_usage_from_its_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_response_at_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_request_is_not_sent, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
