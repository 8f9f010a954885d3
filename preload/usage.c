#include "usage.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "memfind.h"

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
	u->parsed = 0;
	u->skipped = 0;
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

/* ---- streams: parse only what can matter --------------------------------
 *
 * A long stream is hundreds of thousands of small events, and parsing each
 * in full cost more than the TLS it came in. Most of them are text deltas,
 * and once the text is full (USAGE_TEXT_MAX) they matter no more. So an
 * event is parsed whole only when it can carry usage or a model (any
 * "usage..." member that is not null), when no format has been seen yet,
 * or when it is of no kind known here. A text delta of a known kind, while
 * the text still has room, has only its "delta" member parsed. Once the
 * text is full, every event but those is skipped (the model was taken from
 * the first event, or comes with the usage). Raw bytes can be looked at this way because
 * a '"' inside a JSON string is always escaped: the text "delta": can only
 * be a member name.
 */

/*
 * What the stream gate looks for, and which of its bytes to look for first:
 * its least common letter in English text and JSON (k).
 */
struct needle {
	const char *s;
	size_t len, k;
};

static const struct needle usage_name = { "\"usage", 6, 4 };		/* g */
static const struct needle index_name = { "\"index\"", 7, 5 };		/* x */
static const struct needle delta_name = { "\"delta\"", 7, 1 };		/* d */
static const struct needle chat_chunk = { "\"chat.completion.chunk\"", 23, 21 };	/* k */
static const struct needle anthropic_delta = { "\"content_block_delta\"", 21, 13 };	/* k */
static const struct needle responses_delta = { "\"response.output_text.delta\"", 28, 19 };	/* x */

/* Where the needle occurs in (p, n), or NULL (memfind.h says why not memmem). */
static const char *find(const char *p, size_t n, const struct needle *nd)
{
	return memfind(p, n, nd->s, nd->len, nd->k);
}

/* The only place needle occurs in (p, n), or NULL (also when twice). */
static const char *find_once(const char *p, size_t n, const struct needle *nd)
{
	const char *at = find(p, n, nd);
	if (at && find(at + nd->len, n - (size_t)(at - p) - nd->len, nd))
		return NULL;
	return at;
}

/* Past blanks from p; end when there are none after. */
static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

size_t usage_wanted(const char *p, size_t n)
{
	const char *end = p + n;
	for (const char *at = p; (at = find(at, (size_t)(end - at), &usage_name)) != NULL;) {
		const char *name = at;
		at += 6;
		const char *q = memchr(at, '"', (size_t)(end - at));
		if (q == NULL)
			return (size_t)(name - p);	/* cut off: maybe */
		const char *v = skip_ws(q + 1, end);
		if (v < end && *v != ':')
			continue;
		v = v < end ? skip_ws(v + 1, end) : v;
		if ((size_t)(end - v) < 4 || memcmp(v, "null", 4) != 0)
			return (size_t)(name - p);
		at = v;
	}
	return n;
}

/* Is there a member "usage..." (usage, usageMetadata) whose value is not null? */
static bool may_carry_usage(const char *p, size_t n)
{
	return usage_wanted(p, n) < n;
}

/* The value of the one member "name": in (p, n), parsed alone; NULL when
 * there is not exactly one. */
static cJSON *member_alone(const char *p, size_t n, const struct needle *name)
{
	const char *at = find_once(p, n, name);
	if (at == NULL)
		return NULL;
	const char *end = p + n;
	const char *v = skip_ws(at + name->len, end);
	if (v == end || *v != ':')
		return NULL;
	v = skip_ws(v + 1, end);
	return cJSON_ParseWithLengthOpts(v, (size_t)(end - v), NULL, 0);
}

/* The index of a one-choice chunk is 0 (tool calls have indexes too: then
 * there is more than one, and the event is parsed whole). */
static bool only_choice_zero(const char *p, size_t n)
{
	const char *at = find_once(p, n, &index_name);
	if (at == NULL)
		return false;
	const char *end = p + n;
	const char *v = skip_ws(at + 7, end);
	if (v == end || *v != ':')
		return false;
	v = skip_ws(v + 1, end);
	return v < end && *v == '0' && (v + 1 == end || v[1] < '0' || v[1] > '9');
}

enum delta_kind { DELTA_NONE, DELTA_CHAT, DELTA_ANTHROPIC, DELTA_RESPONSES };

/* A text delta of a known kind? (Only ever a guess; the parse decides.) */
static enum delta_kind delta_kind(const char *p, size_t n)
{
	if (find(p, n, &chat_chunk))
		return only_choice_zero(p, n) ? DELTA_CHAT : DELTA_NONE;
	if (find(p, n, &anthropic_delta))
		return DELTA_ANTHROPIC;
	if (find(p, n, &responses_delta))
		return DELTA_RESPONSES;
	return DELTA_NONE;
}

/* Take the text of a delta event from its "delta" member alone. Returns
 * false when that did not work out (then the event is parsed whole). */
static bool take_delta(struct usage *u, enum delta_kind kind, const char *p, size_t n)
{
	cJSON *delta = member_alone(p, n, &delta_name);
	bool ok = true;
	if (kind == DELTA_CHAT && cJSON_IsObject(delta))
		add_text(u, str_of(delta, "content"));
	else if (kind == DELTA_ANTHROPIC && cJSON_IsObject(delta))
		add_text(u, str_is(delta, "type", "text_delta") ? str_of(delta, "text") : NULL);
	else if (kind == DELTA_RESPONSES && cJSON_IsString(delta))
		add_text(u, delta->valuestring);
	else
		ok = false;
	cJSON_Delete(delta);
	return ok;
}

void usage_sse_event(struct usage *u, const char *event, const char *data,
		     size_t len)
{
	(void)event;	/* every format repeats the event name in its JSON */
	if (u->seen && !may_carry_usage(data, len)) {
		/* With the text full, only usage (and the model beside it) is
		 * still wanted: one look per event. */
		if (u->text_full) {
			u->skipped++;
			return;
		}
		enum delta_kind kind = delta_kind(data, len);
		if (kind != DELTA_NONE && take_delta(u, kind, data, len))
			return;
	}
	cJSON *root = cJSON_ParseWithLength(data, len);
	if (root == NULL)
		return;
	u->parsed++;
	take_object(u, root);
	cJSON_Delete(root);
}

static cJSON *last_member(const char *p, size_t n, const struct needle *name);

/*
 * The answer most programs get, an OpenAI chat completion with one choice,
 * from its members alone: "message" (for the text), "usage" and "model"
 * are parsed, each by itself. Parsing the whole answer cost 80
 * instructions a byte, most of it in allocating nodes for what is not
 * read. Any other shape (more choices, tool-call indexes, no message)
 * returns false, and the answer is parsed whole.
 */
static bool chat_completion_members(struct usage *u, const char *p, size_t n)
{
	static const struct needle object = { "\"chat.completion\"", 17, 15 };	/* m */
	static const struct needle message = { "\"message\"", 9, 1 };	/* m */
	static const struct needle usage_exact = { "\"usage\"", 7, 4 };	/* g */
	static const struct needle model = { "\"model\"", 7, 5 };		/* l */

	if (!find(p, n, &object) || !only_choice_zero(p, n))
		return false;
	cJSON *msg = member_alone(p, n, &message);
	cJSON *name = member_alone(p, n, &model);
	cJSON *use = last_member(p, n, &usage_exact);
	bool ok = cJSON_IsObject(msg) && cJSON_IsString(name);
	if (ok) {
		set_model(u, name->valuestring);
		add_text(u, str_of(msg, "content"));
		usage_counts(u, use, "prompt_tokens", "completion_tokens");
		u->seen = true;
	}
	cJSON_Delete(msg);
	cJSON_Delete(name);
	cJSON_Delete(use);
	return ok;
}

int usage_json_body(struct usage *u, const char *body, size_t len)
{
	if (chat_completion_members(u, body, len))
		return 0;
	return usage_json_whole(u, body, len);
}

int usage_json_whole(struct usage *u, const char *body, size_t len)
{
	const cJSON *item;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (root == NULL)
		return -1;
	u->parsed++;
	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(item, root)
			take_object(u, item);
	} else {
		take_object(u, root);
	}
	cJSON_Delete(root);
	return 0;
}

/* The value of the last member "name": in (p, n) that parses alone. */
static cJSON *last_member(const char *p, size_t n, const struct needle *name)
{
	cJSON *found = NULL;
	const char *end = p + n;
	for (const char *at = p; (at = find(at, (size_t)(end - at), name)) != NULL;) {
		const char *v = skip_ws(at + name->len, end);
		at += name->len;
		if (v == end || *v != ':')
			continue;
		v = skip_ws(v + 1, end);
		cJSON *item = cJSON_ParseWithLengthOpts(v, (size_t)(end - v), NULL, 0);
		if (item) {
			cJSON_Delete(found);
			found = item;
		}
	}
	return found;
}

void usage_json_tail(struct usage *u, const char *tail, size_t len)
{
	static const struct needle usage_exact = { "\"usage\"", 7, 4 };	/* g */
	static const struct needle meta = { "\"usageMetadata\"", 15, 4 };	/* g */
	static const struct needle model = { "\"model\"", 7, 5 };		/* l */
	static const struct needle model_version = { "\"modelVersion\"", 14, 9 };	/* V */
	cJSON *usage = last_member(tail, len, &usage_exact);
	cJSON *gemini = last_member(tail, len, &meta);
	cJSON *name = last_member(tail, len, &model);
	cJSON *version = last_member(tail, len, &model_version);

	if (cJSON_IsObject(usage)) {
		u->seen = true;
		if (get(usage, "prompt_tokens") || get(usage, "completion_tokens"))
			usage_counts(u, usage, "prompt_tokens", "completion_tokens");
		else
			usage_counts(u, usage, "input_tokens", "output_tokens");
	}
	if (cJSON_IsObject(gemini)) {
		u->seen = true;
		usage_counts(u, gemini, "promptTokenCount", "candidatesTokenCount");
	}
	if (u->seen) {
		set_model(u, cJSON_IsString(name) ? name->valuestring : NULL);
		set_model(u, cJSON_IsString(version) ? version->valuestring : NULL);
	}
	cJSON_Delete(usage);
	cJSON_Delete(gemini);
	cJSON_Delete(name);
	cJSON_Delete(version);
}
