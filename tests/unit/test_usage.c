/*
 * Unit tests for preload/usage.c: model, token counts and merged text from
 * each provider's JSON body and SSE stream (fed through sse.c, as the
 * exchange does), and malformed input ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "pageguard.h"
#include "sse.h"
#include "usage.h"

enum kind { BODY, STREAM };

struct usage_case {
	const char *name;
	enum kind kind;
	const char *input;
	size_t text_max;	/* 0 here means USAGE_TEXT_MAX */
	bool seen;
	const char *model;	/* NULL: unknown */
	long long in, out;
	const char *text;
};

/* ---- OpenAI chat completions ---- */

static const char openai_chat[] =
	"{\"id\":\"chatcmpl-AX1\",\"object\":\"chat.completion\",\"created\":1732500000,"
	"\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
	"{\"role\":\"assistant\",\"content\":\"Hello! How can I help?\",\"refusal\":null},"
	"\"logprobs\":null,\"finish_reason\":\"stop\"},{\"index\":1,\"message\":{\"role\":"
	"\"assistant\",\"content\":\"Second choice\"},\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19,"
	"\"prompt_tokens_details\":{\"cached_tokens\":0}},\"system_fingerprint\":\"fp_0ba0d124f1\"}";

static const char openai_chat_tools[] =
	"{\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
	"\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
	"\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},"
	"\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":15}}";

#define CHUNK(rest) "data: {\"id\":\"chatcmpl-AX2\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1732500001,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_1\"," rest "}\n\n"

static const char openai_chat_stream[] =
	CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	      "\"finish_reason\":null}],\"usage\":null")
	CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],"
	      "\"usage\":null")
	CHUNK("\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"},\"finish_reason\":null}],"
	      "\"usage\":null")
	CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, w\\u00f6rld\"},"
	      "\"finish_reason\":null}],\"usage\":null")
	CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null")
	CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":4,"
	      "\"total_tokens\":25}")
	"data: [DONE]\n\n";

static const char openai_chat_stream_no_usage[] =
	CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]")
	CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]")
	"data: [DONE]\n\n";

static const char openai_completion[] =
	"{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"gpt-3.5-turbo-instruct\","
	"\"choices\":[{\"text\":\"\\n\\nThis is a test.\",\"index\":0,\"finish_reason\":\"length\"}],"
	"\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}";

static const char openai_embeddings[] =
	"{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":"
	"[0.0023,-0.0093]}],\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":8,"
	"\"total_tokens\":8}}";

/* ---- OpenAI responses ---- */

static const char openai_response[] =
	"{\"id\":\"resp_67cc\",\"object\":\"response\",\"created_at\":1741476542,\"status\":"
	"\"completed\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":\"reasoning\","
	"\"id\":\"rs_1\",\"summary\":[]},{\"type\":\"message\",\"id\":\"msg_67cc\",\"status\":"
	"\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
	"\"In a peaceful grove, \",\"annotations\":[]},{\"type\":\"output_text\",\"text\":"
	"\"a unicorn slept.\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":36,"
	"\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":87,"
	"\"output_tokens_details\":{\"reasoning_tokens\":64},\"total_tokens\":123}}";

static const char openai_response_stream[] =
	"event: response.created\n"
	"data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\","
	"\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-4.1-2025-04-14\","
	"\"output\":[],\"usage\":null}}\n\n"
	"event: response.output_item.added\n"
	"data: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,"
	"\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"content\":[],"
	"\"role\":\"assistant\"}}\n\n"
	"event: response.output_text.delta\n"
	"data: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"item_id\":\"msg_1\","
	"\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n"
	"event: response.output_text.delta\n"
	"data: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"item_id\":\"msg_1\","
	"\"output_index\":0,\"content_index\":0,\"delta\":\" there.\"}\n\n"
	"event: response.output_text.done\n"
	"data: {\"type\":\"response.output_text.done\",\"sequence_number\":4,\"item_id\":\"msg_1\","
	"\"output_index\":0,\"content_index\":0,\"text\":\"Hi there.\"}\n\n"
	"event: response.completed\n"
	"data: {\"type\":\"response.completed\",\"sequence_number\":5,\"response\":{\"id\":\"resp_1\","
	"\"object\":\"response\",\"status\":\"completed\",\"model\":\"gpt-4.1-2025-04-14\","
	"\"output\":[{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":"
	"[{\"type\":\"output_text\",\"text\":\"Hi there.\",\"annotations\":[]}]}],"
	"\"usage\":{\"input_tokens\":11,\"output_tokens\":3,\"total_tokens\":14}}}\n\n";

/* ---- Anthropic messages ---- */

static const char anthropic_message[] =
	"{\"id\":\"msg_01XF\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
	"\"claude-sonnet-4-20250514\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"Hmm.\","
	"\"signature\":\"abc\"},{\"type\":\"text\",\"text\":\"The capital is \"},{\"type\":\"text\","
	"\"text\":\"Paris.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"x\",\"input\":{}}],"
	"\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
	"\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":5}}";

#define ANTHROPIC_STREAM(delta_usage) \
	"event: message_start\r\n" \
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZd\",\"type\":\"message\"," \
	"\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-20241022\"," \
	"\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472," \
	"\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":2}}}\r\n\r\n" \
	"event: content_block_start\r\n" \
	"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"," \
	"\"text\":\"\"}}\r\n\r\n" \
	"event: ping\r\n" \
	"data: {\"type\": \"ping\"}\r\n\r\n" \
	"event: content_block_delta\r\n" \
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\"," \
	"\"text\":\"Hello\"}}\r\n\r\n" \
	"event: content_block_delta\r\n" \
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\"," \
	"\"text\":\"! \\ud83d\\udc4b\"}}\r\n\r\n" \
	"event: content_block_stop\r\n" \
	"data: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n" \
	"event: content_block_start\r\n" \
	"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\"," \
	"\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\r\n\r\n" \
	"event: content_block_delta\r\n" \
	"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\"," \
	"\"partial_json\":\"{\\\"city\\\": \"}}\r\n\r\n" \
	"event: message_delta\r\n" \
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"," \
	"\"stop_sequence\":null},\"usage\":{" delta_usage "}}\r\n\r\n" \
	"event: message_stop\r\n" \
	"data: {\"type\":\"message_stop\"}\r\n\r\n"

static const char anthropic_stream[] = ANTHROPIC_STREAM("\"output_tokens\":15");
static const char anthropic_stream_new[] =
	ANTHROPIC_STREAM("\"input_tokens\":480,\"output_tokens\":16");

static const char anthropic_error_stream[] =
	"event: error\n"
	"data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

/* ---- Gemini / Vertex AI ---- */

static const char gemini_body[] =
	"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Let me think.\",\"thought\":true},"
	"{\"text\":\"The sky is blue because of Rayleigh scattering.\"}],\"role\":\"model\"},"
	"\"finishReason\":\"STOP\",\"index\":0},{\"content\":{\"parts\":[{\"text\":\"Other\"}]}}],"
	"\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":12,"
	"\"totalTokenCount\":20,\"thoughtsTokenCount\":30},\"modelVersion\":\"gemini-2.5-flash\","
	"\"responseId\":\"abc123\"}";

#define GEMINI_CHUNK(text, usage) \
	"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" text "\"}],\"role\":\"model\"}," \
	"\"index\":0}],\"usageMetadata\":{" usage "},\"modelVersion\":\"gemini-2.0-flash\"}"

static const char gemini_sse[] =
	"data: " GEMINI_CHUNK("The", "\"promptTokenCount\":9,\"totalTokenCount\":9") "\r\n\r\n"
	"data: " GEMINI_CHUNK(" quick brown", "\"promptTokenCount\":9,\"totalTokenCount\":9") "\r\n\r\n"
	"data: " GEMINI_CHUNK(" fox.", "\"promptTokenCount\":9,\"candidatesTokenCount\":4,"
			      "\"totalTokenCount\":13") "\r\n\r\n";

static const char gemini_array[] =
	"[" GEMINI_CHUNK("The", "\"promptTokenCount\":9") ",\r\n"
	GEMINI_CHUNK(" end.", "\"promptTokenCount\":9,\"candidatesTokenCount\":2") "]";

static const struct usage_case cases[] = {
	{ "openai chat", BODY, openai_chat, 0, true, "gpt-4o-mini-2024-07-18", 12, 7,
	  "Hello! How can I help?" },
	{ "openai chat tool call", BODY, openai_chat_tools, 0, true, "gpt-4o", 80, 15, "" },
	{ "openai chat stream", STREAM, openai_chat_stream, 0, true, "gpt-4o-2024-08-06", 21, 4,
	  "Hello, w\xc3\xb6rld" },
	{ "openai chat stream without usage", STREAM, openai_chat_stream_no_usage, 0, true,
	  "gpt-4o-2024-08-06", -1, -1, "Hi" },
	{ "openai completion", BODY, openai_completion, 0, true, "gpt-3.5-turbo-instruct", 5, 7,
	  "\n\nThis is a test." },
	{ "openai embeddings", BODY, openai_embeddings, 0, true, "text-embedding-3-small", 8, -1,
	  "" },
	{ "openai response", BODY, openai_response, 0, true, "gpt-4.1-2025-04-14", 36, 87,
	  "In a peaceful grove, a unicorn slept." },
	{ "openai response stream", STREAM, openai_response_stream, 0, true,
	  "gpt-4.1-2025-04-14", 11, 3, "Hi there." },
	{ "anthropic message", BODY, anthropic_message, 0, true, "claude-sonnet-4-20250514", 25,
	  5, "The capital is Paris." },
	{ "anthropic stream", STREAM, anthropic_stream, 0, true, "claude-3-5-haiku-20241022", 472,
	  15, "Hello! \xf0\x9f\x91\x8b" },
	{ "anthropic stream, input in message_delta", STREAM, anthropic_stream_new, 0, true,
	  "claude-3-5-haiku-20241022", 480, 16, "Hello! \xf0\x9f\x91\x8b" },
	{ "anthropic error event", STREAM, anthropic_error_stream, 0, false, NULL, -1, -1, "" },
	{ "gemini body", BODY, gemini_body, 0, true, "gemini-2.5-flash", 8, 12,
	  "The sky is blue because of Rayleigh scattering." },
	{ "gemini sse", STREAM, gemini_sse, 0, true, "gemini-2.0-flash", 9, 4,
	  "The quick brown fox." },
	{ "gemini array", BODY, gemini_array, 0, true, "gemini-2.0-flash", 9, 2, "The end." },
	/* The text cap: whole UTF-8 sequences only, and no holes after it. */
	{ "cap", STREAM, openai_chat_stream, 9, true, "gpt-4o-2024-08-06", 21, 4, "Hello, w" },
	{ "cap inside a sequence", STREAM, anthropic_stream, 10, true,
	  "claude-3-5-haiku-20241022", 472, 15, "Hello! " },
	{ "cap of 1", BODY, anthropic_message, 1, true, "claude-sonnet-4-20250514", 25, 5, "T" },
	/* Not ours, or broken: nothing taken, nothing crashes. */
	{ "not json", BODY, "<html>502 Bad Gateway</html>", 0, false, NULL, -1, -1, "" },
	{ "empty", BODY, "", 0, false, NULL, -1, -1, "" },
	{ "truncated", BODY, "{\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choi", 0,
	  false, NULL, -1, -1, "" },
	{ "scalar", BODY, "42", 0, false, NULL, -1, -1, "" },
	{ "error object", BODY, "{\"error\":{\"message\":\"Incorrect API key\",\"type\":"
	  "\"invalid_request_error\"}}", 0, false, NULL, -1, -1, "" },
	{ "wrong types", BODY, "{\"object\":\"chat.completion\",\"model\":5,\"choices\":\"x\","
	  "\"usage\":{\"prompt_tokens\":\"12\",\"completion_tokens\":-3}}", 0, true, NULL, -1, -1,
	  "" },
	{ "huge counts", BODY, "{\"type\":\"message\",\"usage\":{\"input_tokens\":1e300,"
	  "\"output_tokens\":3.0},\"content\":[{\"type\":\"text\",\"text\":7}]}", 0, true, NULL, -1,
	  3, "" },
	{ "gemini odd", BODY, "{\"candidates\":{\"x\":1},\"usageMetadata\":[1]}", 0, true, NULL,
	  -1, -1, "" },
	{ "stream of junk", STREAM, "data: {\n\ndata: [DONE]\n\ndata: null\n\ndata: []\n\n"
	  "data: {\"type\":\"content_block_delta\",\"delta\":\"x\"}\n\n", 0, true, NULL, -1, -1,
	  "" },
};

static void feed_event(void *ctx, const char *event, const char *data, size_t len)
{
	usage_sse_event(ctx, event, data, len);
}

static void run_case(const struct usage_case *c, struct usage *u, size_t piece)
{
	size_t len = strlen(c->input);
	usage_init(u, c->text_max ? c->text_max : USAGE_TEXT_MAX);
	if (c->kind == BODY) {
		/* At an unmapped page: no byte past the body is read. */
		const char *p = pageguard_copy(c->input, len);
		usage_json_body(u, p, len);
		pageguard_free(p);
		return;
	}
	struct sse s;
	sse_init(&s);
	for (size_t off = 0; off < len; off += piece)
		sse_feed(&s, c->input + off, len - off < piece ? len - off : piece,
			 feed_event, u);
	sse_finish(&s, feed_event, u);
	sse_free(&s);
}

static void test_cases(void **state)
{
	(void)state;
	static const size_t pieces[] = { SIZE_MAX, 1, 7, 64 };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct usage_case *c = &cases[i];
		for (size_t k = 0; k < (c->kind == STREAM ? 4 : 1); k++) {
			struct usage u;
			run_case(c, &u, pieces[k]);
			const char *text = u.text.data ? u.text.data : "";
			const char *model = u.model ? u.model : "(null)";
			if (u.seen != c->seen || u.input_tokens != c->in ||
			    u.output_tokens != c->out || strcmp(text, c->text) != 0 ||
			    strcmp(model, c->model ? c->model : "(null)") != 0)
				fail_msg("%s (pieces of %zu): seen %d model %s in %lld out %lld "
					 "text \"%s\"", c->name, pieces[k], u.seen, model,
					 u.input_tokens, u.output_tokens, text);
			usage_free(&u);
		}
	}
}

static void test_json_body_return(void **state)
{
	(void)state;
	struct usage u;
	usage_init(&u, 100);
	assert_int_equal(usage_json_body(&u, "nope", 4), -1);
	assert_int_equal(usage_json_body(&u, "{}", 2), 0);
	assert_int_equal(usage_json_body(&u, "[1, \"x\", null, {}]", 18), 0);
	assert_false(u.seen);
	/* Data that is not NUL-terminated: only len bytes count. */
	assert_int_equal(usage_json_body(&u, "{\"candidates\":[]}garbage", 17), 0);
	assert_true(u.seen);
	usage_free(&u);
	usage_free(&u);
}

/* Text deltas that would pass the cap are dropped, not squeezed in later. */
static void test_cap_no_holes(void **state)
{
	(void)state;
	static const char big[] =
		"{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"abcdef\"}}";
	static const char small[] =
		"{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"z\"}}";
	struct usage u;
	usage_init(&u, 4);
	usage_sse_event(&u, "content_block_delta", big, sizeof(big) - 1);
	usage_sse_event(&u, "content_block_delta", small, sizeof(small) - 1);
	assert_string_equal(u.text.data, "abcd");
	assert_true(u.text_full);
	usage_free(&u);

	usage_init(&u, 0);	/* RESPAN_LOG_BODY_MAX=0 keeps no text */
	usage_sse_event(&u, "content_block_delta", small, sizeof(small) - 1);
	assert_int_equal(u.text.len, 0);
	assert_true(u.seen);
	usage_free(&u);
}

/* The reference: every event parsed whole, as before the stream gate. */
static void feed_whole(void *ctx, const char *event, const char *data, size_t len)
{
	(void)event;
	if (len && data[0] == '{')
		usage_json_body(ctx, data, len);
}

static void feed_stream(const char *in, size_t len, struct usage *u, size_t text_max,
			sse_event_fn fn)
{
	struct sse s;
	usage_init(u, text_max);
	sse_init(&s);
	sse_feed(&s, in, len, fn, u);
	sse_finish(&s, fn, u);
	sse_free(&s);
}

static void assert_same(const struct usage *a, const struct usage *b, const char *what)
{
	const char *ta = a->text.data ? a->text.data : "", *tb = b->text.data ? b->text.data : "";
	const char *ma = a->model ? a->model : "", *mb = b->model ? b->model : "";
	if (a->seen != b->seen || a->input_tokens != b->input_tokens ||
	    a->output_tokens != b->output_tokens || strcmp(ta, tb) != 0 ||
	    strcmp(ma, mb) != 0 || a->text_full != b->text_full)
		fail_msg("%s: gated: model %s in %lld out %lld full %d text \"%.60s\"; "
			 "whole: model %s in %lld out %lld full %d text \"%.60s\"", what,
			 ma, a->input_tokens, a->output_tokens, a->text_full, ta,
			 mb, b->input_tokens, b->output_tokens, b->text_full, tb);
}

/* A long stream of each kind, with what makes the gate look twice: usage
 * null in every chunk, a second choice, tool calls (more indexes), "delta"
 * and "usage" inside the text, escapes, UTF-8. */
static void make_stream(struct buf *b, int kind, int n, bool tricky)
{
	static const char *const words[] = {
		"word ", "caf\\u00e9 ", "\\\"delta\\\": ", "\\\"usage\\\": 5 ", "\\n", "\xc3\xa9t\xc3\xa9 ",
	};
	if (kind == 0)
		buf_puts(b, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
			    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],"
			    "\"usage\":null}\n\n");
	else if (kind == 1)
		buf_puts(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
			    "{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n");
	else
		buf_puts(b, "data: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\","
			    "\"usage\":null}}\n\n");
	for (int i = 0; i < n; i++) {
		const char *w = words[i % (tricky ? 6 : 3)];
		if (kind == 0 && tricky && i % 7 == 3)
			buf_printf(b, "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
				      "\"choices\":[{\"index\":1,\"delta\":{\"content\":\"OTHER \"}}],"
				      "\"usage\":null}\n\n");
		else if (kind == 0 && tricky && i % 11 == 5)
			buf_printf(b, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
				      "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
				      "\"{}\"}}]}}],\"usage\" : null}\n\n");
		else if (kind == 0)
			buf_printf(b, "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
				      "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
				      "\"finish_reason\":null}],\"usage\":null}%s", w,
				      tricky ? "\r\n\r\n" : "\n\n");
		else if (kind == 1)
			buf_printf(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
				      "\"index\":%d,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
				      i % 2, w);
		else
			buf_printf(b, "data: {\"type\":\"response.output_text.delta\",\"output_index\":0,"
				      "\"delta\":\"%s\"}\n\n", w);
	}
	if (kind == 0)
		buf_puts(b, "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],"
			    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":777}}\n\ndata: [DONE]\n\n");
	else if (kind == 1)
		buf_puts(b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
			    "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":777}}\n\n");
	else
		buf_puts(b, "data: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\","
			    "\"usage\":{\"input_tokens\":9,\"output_tokens\":777}}}\n\n");
}

/*
 * The gate parses few events whole and gives what parsing all of them
 * gives: the same model, counts, text and cut, for each kind of stream,
 * with the text cap wide open, tight, and none.
 */
static void test_stream_gate_same_as_parsing_all(void **state)
{
	(void)state;
	static const size_t caps[] = { USAGE_TEXT_MAX, 100, 0 };
	for (int k = 0; k < 6; k++) {
		int kind = k % 3;
		bool tricky = k >= 3;
		struct buf in;
		buf_init(&in, 1 << 24);
		make_stream(&in, kind, 3000, tricky);
		for (size_t c = 0; c < 3; c++) {
			struct usage gated, whole;
			char what[64];
			snprintf(what, sizeof(what), "kind %d%s, text cap %zu", kind,
				 tricky ? " (tricky)" : "", caps[c]);
			feed_stream(in.data, in.len, &gated, caps[c], feed_event);
			feed_stream(in.data, in.len, &whole, caps[c], feed_whole);
			assert_same(&gated, &whole, what);
			assert_true(gated.output_tokens == 777);
			/* Parsed whole: the first and the last, and in the tricky
			 * streams the odd ones and where the text says "usage":. */
			if (!tricky)
				assert_int_equal(gated.parsed, 2);
			if (!tricky && caps[c] < USAGE_TEXT_MAX)
				assert_true(gated.skipped > 2900);
			usage_free(&gated);
			usage_free(&whole);
		}
		buf_free(&in);
	}
}

static unsigned long events_seen;

static void count_event(void *ctx, const char *event, const char *data, size_t len)
{
	events_seen++;
	usage_sse_event(ctx, event, data, len);
}

/* As the exchange feeds a stream: in pieces, skimming once the text is full. */
static void feed_skimming(const char *in, size_t len, size_t piece, struct usage *u,
			  size_t text_max)
{
	struct sse s;
	usage_init(u, text_max);
	sse_init(&s);
	events_seen = 0;
	for (size_t off = 0; off < len; off += piece) {
		sse_feed(&s, in + off, len - off < piece ? len - off : piece, count_event, u);
		if (u->text_full && u->seen)
			sse_skim(&s, usage_wanted);
	}
	sse_finish(&s, count_event, u);
	sse_free(&s);
}

/*
 * Skimming the tail of a stream gives what framing every event gives, for
 * every kind of stream and every way of cutting it into pieces: the usage
 * event split across pieces, "usage" itself cut in two, usage null in every
 * event, the usage event last without a blank line after it, a CRLF stream
 * (not skimmed), an event too big to keep. And it dispatches almost nothing.
 */
static void test_skimming_same_as_framing(void **state)
{
	(void)state;
	static const size_t pieces[] = { 1, 2, 5, 7, 64, 333, 4096, SIZE_MAX };
	for (int k = 0; k < 9; k++) {
		struct buf in;
		buf_init(&in, 1 << 26);
		make_stream(&in, k % 3, 2000, k >= 3 && k < 6);
		if (k == 6) {
			/* The last event unended, right after a long one. */
			buf_puts(&in, "data: {\"x\":\"");
			for (int i = 0; i < 5000; i++)
				buf_puts(&in, "long ");
			buf_puts(&in, "\"}\n\ndata: {\"object\":\"chat.completion.chunk\",\"choices\":[],"
				      "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":778}}");
		} else if (k == 7) {
			/* CRLF: framed line by line throughout. */
			for (size_t i = 0; i < in.len; i++)
				if (in.data[i] == '\n' && (i == 0 || in.data[i - 1] != '\r')) {
					struct buf t;
					buf_init(&t, 1 << 26);
					for (size_t j = 0; j < in.len; j++) {
						if (in.data[j] == '\n' && (j == 0 || in.data[j - 1] != '\r'))
							buf_append(&t, "\r", 1);
						buf_append(&t, in.data + j, 1);
					}
					buf_free(&in);
					in = t;
					break;
				}
		} else if (k == 8) {
			/* An event past SSE_EVENT_MAX in the tail: dropped both ways. */
			struct buf t;
			buf_init(&t, 1 << 26);
			size_t cut = in.len / 2;
			while (in.data[cut] != '\n' || in.data[cut - 1] != '\n')
				cut++;
			buf_append(&t, in.data, cut + 1);
			buf_puts(&t, "data: {\"usage\":{\"prompt_tokens\":5},\"pad\":\"");
			for (size_t i = 0; i < SSE_EVENT_MAX; i += 8)
				buf_puts(&t, "padding.");
			buf_puts(&t, "\"}\n\n");
			buf_append(&t, in.data + cut + 1, in.len - cut - 1);
			buf_free(&in);
			in = t;
		}
		for (size_t c = 0; c < sizeof(pieces) / sizeof(pieces[0]); c++) {
			if (k == 8 && pieces[c] < 64)
				continue;	/* 4 MiB a byte at a time: slow, and nothing new */
			struct usage skimmed, framed;
			char what[64];
			snprintf(what, sizeof(what), "stream %d in pieces of %zu", k, pieces[c]);
			feed_skimming(in.data, in.len, pieces[c], &skimmed, 100);
			unsigned long skim_events = events_seen;
			feed_stream(in.data, in.len, &framed, 100, feed_whole);
			assert_same(&skimmed, &framed, what);
			assert_true(skimmed.output_tokens >= 777);
			/* Counted where skimming can show: not in small pieces (they
			 * cut "usage": null apart often, and a value cut off counts
			 * as wanted), not in one piece (nothing is left to skim),
			 * not where the text itself says "usage": (tricky), not in
			 * CRLF streams. */
			bool countable = (k < 3 || k > 5) && !memchr(in.data, '\r', in.len) &&
					 pieces[c] >= 4096 && pieces[c] != SIZE_MAX;
			if (countable && skim_events > 100)
				fail_msg("%s: %lu events dispatched while skimming", what, skim_events);
			usage_free(&skimmed);
			usage_free(&framed);
		}
		buf_free(&in);
	}
}

/*
 * A chat completion read from its members gives what parsing it whole
 * gives, for every body of the table and chat completions with the traps
 * (escapes and UTF-8 in the text, "usage" and "message" inside it, null
 * content, tool calls, two choices, no usage, usage null), under caps
 * that cut the text or not. The plain ones are not parsed whole.
 */
static void test_json_members_same_as_whole(void **state)
{
	(void)state;
	static const char *const chats[] = {
		"{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o\","
		"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
		"\"Hi \\\"there\\\" \\u00e9\\n\\\"usage\\\": {} \\\"message\\\":\"},\"finish_reason\":"
		"\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}",
		"{\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
		"\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}],"
		"\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
		"{\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"message\":{\"content\":\"caf\xc3\xa9 \xe2\x82\xac\"}}]}",
		"{\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"message\":{\"content\":\"x\"}}],\"usage\":null}",
		"{ \"object\" : \"chat.completion\" , \"model\" : \"m\" , \"choices\" : [ { \"index\" : 0 ,"
		" \"message\" : { \"content\" : \"spaced\" } } ] , \"usage\" : { \"prompt_tokens\" : 3 } }",
	};
	static const size_t caps[] = { USAGE_TEXT_MAX, 5, 0 };
	size_t n_cases = sizeof(cases) / sizeof(cases[0]);
	size_t n_chats = sizeof(chats) / sizeof(chats[0]);
	for (size_t i = 0; i < n_cases + n_chats; i++) {
		const char *in = i < n_cases ? cases[i].input : chats[i - n_cases];
		if (i < n_cases && cases[i].kind != BODY)
			continue;
		for (size_t c = 0; c < 3; c++) {
			struct usage fast, whole;
			char what[64];
			snprintf(what, sizeof(what), "body %zu, text cap %zu", i, caps[c]);
			usage_init(&fast, caps[c]);
			usage_init(&whole, caps[c]);
			usage_json_body(&fast, in, strlen(in));
			usage_json_whole(&whole, in, strlen(in));
			assert_same(&fast, &whole, what);
			if (i == n_cases || i == n_cases + 2 || i == n_cases + 4)
				assert_int_equal(fast.parsed, 0);
			usage_free(&fast);
			usage_free(&whole);
		}
	}
}

/* Deep nesting stops at cJSON's limit instead of exhausting the stack. */
static void test_deep_nesting(void **state)
{
	(void)state;
	size_t n = 100000;
	char *p = malloc(2 * n);
	assert_non_null(p);
	memset(p, '[', n);
	memset(p + n, ']', n);
	struct usage u;
	usage_init(&u, 100);
	assert_int_equal(usage_json_body(&u, p, 2 * n), -1);
	usage_sse_event(&u, "message", p, 2 * n);
	assert_false(u.seen);
	usage_free(&u);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_json_body_return),
		cmocka_unit_test(test_json_members_same_as_whole),
		cmocka_unit_test(test_cap_no_holes),
		cmocka_unit_test(test_stream_gate_same_as_parsing_all),
		cmocka_unit_test(test_skimming_same_as_framing),
		cmocka_unit_test(test_deep_nesting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
