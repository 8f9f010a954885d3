#include "usage.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Token counts above this are not counts; they are ignored. */
#define USAGE_COUNT_MAX 1e15

void usage_init(struct usage *u, size_t text_max)
{
	u->model = NULL;
	u->input_tokens = -1;
	u->output_tokens = -1;
	buf_init(&u->text, text_max);
	u->text_full = false;
	u->seen = false;
}

void usage_free(struct usage *u)
{
	free(u->model);
	u->model = NULL;
	buf_free(&u->text);
}

static const char *str_of(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* obj[key] when it is an array, else NULL (cJSON_ArrayForEach wants one). */
static const cJSON *array_of(const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);
	return cJSON_IsArray(v) ? v : NULL;
}

static bool str_is(const cJSON *obj, const char *key, const char *want)
{
	const char *s = str_of(obj, key);
	return s && strcmp(s, want) == 0;
}

static void set_model(struct usage *u, const char *model)
{
	if (model == NULL || model[0] == '\0' ||
	    (u->model && strcmp(u->model, model) == 0))
		return;
	char *copy = strdup(model);
	if (copy == NULL)
		return;		/* best effort: keep the old name */
	free(u->model);
	u->model = copy;
}

/* Last value wins; a missing or odd value leaves the old one. */
static void set_count(long long *slot, const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= USAGE_COUNT_MAX)
		*slot = (long long)v->valuedouble;
}

/*
 * Append as much as fits under the cap, not cutting a UTF-8 sequence; once
 * full, later pieces are dropped too so the text never has holes.
 */
static void add_text(struct usage *u, const char *s)
{
	if (s == NULL || u->text_full)
		return;
	size_t n = strlen(s);
	size_t room = u->text.max - u->text.len;
	if (n > room) {
		u->text_full = true;
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0 && buf_append(&u->text, s, n) < 0)
		u->text_full = true;	/* out of memory: stop here as well */
}

static void usage_counts(struct usage *u, const cJSON *usage, const char *in,
			 const char *out)
{
	if (!cJSON_IsObject(usage))
		return;
	set_count(&u->input_tokens, usage, in);
	set_count(&u->output_tokens, usage, out);
}

/* The choice with index 0 (its position when it has no index). */
static const cJSON *first_choice(const cJSON *obj)
{
	const cJSON *c, *choices = array_of(obj, "choices");
	int pos = 0;
	cJSON_ArrayForEach(c, choices) {
		const cJSON *idx = get(c, "index");
		if (cJSON_IsNumber(idx) ? idx->valuedouble == 0 : pos == 0)
			return c;
		pos++;
	}
	return NULL;
}

/* OpenAI chat completions (object and stream chunk), completions, embeddings. */
static void openai_chat(struct usage *u, const cJSON *obj, const char *kind)
{
	const cJSON *choice = first_choice(obj);

	set_model(u, str_of(obj, "model"));
	if (strcmp(kind, "chat.completion") == 0)
		add_text(u, str_of(get(choice, "message"), "content"));
	else if (strcmp(kind, "chat.completion.chunk") == 0)
		add_text(u, str_of(get(choice, "delta"), "content"));
	else if (strcmp(kind, "text_completion") == 0)
		add_text(u, str_of(choice, "text"));
	usage_counts(u, get(obj, "usage"), "prompt_tokens", "completion_tokens");
}

/* OpenAI responses: the whole response object (non-streaming). */
static void openai_response(struct usage *u, const cJSON *resp, bool with_text)
{
	const cJSON *item, *part, *output = array_of(resp, "output");

	set_model(u, str_of(resp, "model"));
	usage_counts(u, get(resp, "usage"), "input_tokens", "output_tokens");
	if (!with_text)
		return;
	cJSON_ArrayForEach(item, output) {
		const cJSON *content = array_of(item, "content");
		if (!str_is(item, "type", "message"))
			continue;
		cJSON_ArrayForEach(part, content)
			if (str_is(part, "type", "output_text"))
				add_text(u, str_of(part, "text"));
	}
}

/* Anthropic messages: the message object or one stream event. */
static bool anthropic(struct usage *u, const cJSON *obj, const char *type)
{
	const cJSON *part;

	if (strcmp(type, "message") == 0) {
		set_model(u, str_of(obj, "model"));
		usage_counts(u, get(obj, "usage"), "input_tokens", "output_tokens");
		const cJSON *content = array_of(obj, "content");
		cJSON_ArrayForEach(part, content)
			if (str_is(part, "type", "text"))
				add_text(u, str_of(part, "text"));
	} else if (strcmp(type, "message_start") == 0) {
		const cJSON *msg = get(obj, "message");
		set_model(u, str_of(msg, "model"));
		usage_counts(u, get(msg, "usage"), "input_tokens", "output_tokens");
	} else if (strcmp(type, "content_block_delta") == 0) {
		const cJSON *delta = get(obj, "delta");
		if (str_is(delta, "type", "text_delta"))
			add_text(u, str_of(delta, "text"));
	} else if (strcmp(type, "message_delta") == 0) {
		/* Cumulative output count; input only in newer API versions. */
		usage_counts(u, get(obj, "usage"), "input_tokens", "output_tokens");
	} else if (strcmp(type, "content_block_start") != 0 &&
		   strcmp(type, "content_block_stop") != 0 &&
		   strcmp(type, "message_stop") != 0 && strcmp(type, "ping") != 0) {
		return false;
	}
	return true;
}

/* Gemini / Vertex AI generateContent, or one streamGenerateContent chunk. */
static void gemini(struct usage *u, const cJSON *obj)
{
	const cJSON *cands = array_of(obj, "candidates"), *part;
	const cJSON *first = cands ? cands->child : NULL;
	const cJSON *parts = array_of(get(first, "content"), "parts");

	set_model(u, str_of(obj, "modelVersion"));
	cJSON_ArrayForEach(part, parts) {
		/* Thought summaries are not the answer. */
		if (!cJSON_IsTrue(get(part, "thought")))
			add_text(u, str_of(part, "text"));
	}
	usage_counts(u, get(obj, "usageMetadata"), "promptTokenCount",
		     "candidatesTokenCount");
}

/* One JSON object of any known shape; others are left alone. */
static void take_object(struct usage *u, const cJSON *obj)
{
	const char *kind = str_of(obj, "object");
	const char *type = str_of(obj, "type");

	if (!cJSON_IsObject(obj))
		return;
	if (kind && (strcmp(kind, "chat.completion") == 0 ||
		     strcmp(kind, "chat.completion.chunk") == 0 ||
		     strcmp(kind, "text_completion") == 0 ||
		     (strcmp(kind, "list") == 0 && get(obj, "usage")))) {
		openai_chat(u, obj, kind);
	} else if (kind && strcmp(kind, "response") == 0) {
		openai_response(u, obj, true);
	} else if (type && strncmp(type, "response.", 9) == 0) {
		/* Responses stream: text from deltas only, so none is doubled. */
		if (strcmp(type, "response.output_text.delta") == 0)
			add_text(u, str_of(obj, "delta"));
		else if (cJSON_IsObject(get(obj, "response")))
			openai_response(u, get(obj, "response"), false);
	} else if (type && anthropic(u, obj, type)) {
		/* done */
	} else if (get(obj, "candidates") || get(obj, "usageMetadata")) {
		gemini(u, obj);
	} else {
		return;
	}
	u->seen = true;
}

void usage_sse_event(struct usage *u, const char *event, const char *data,
		     size_t len)
{
	(void)event;	/* every format repeats the event name in its JSON */
	cJSON *root = cJSON_ParseWithLength(data, len);
	if (root == NULL)
		return;
	take_object(u, root);
	cJSON_Delete(root);
}

int usage_json_body(struct usage *u, const char *body, size_t len)
{
	const cJSON *item;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (root == NULL)
		return -1;
	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(item, root)
			take_object(u, item);
	} else {
		take_object(u, root);
	}
	cJSON_Delete(root);
	return 0;
}
