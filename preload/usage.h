/*
 * usage: the assistant text and token usage of an LLM response, best effort,
 * from the JSON bodies and SSE events of OpenAI chat completions and
 * responses, Anthropic messages and Gemini generateContent (also
 * streamGenerateContent, SSE or a JSON array). The format is recognised by
 * the shape of the JSON, not by the host, since the router answers in each
 * provider's own shape.
 */
#ifndef RESPAN_USAGE_H
#define RESPAN_USAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * The merged text is kept up to this (or RESPAN_LOG_BODY_MAX when smaller);
 * output_text_truncated says when it was cut. Past it, a stream's text
 * deltas are not parsed at all.
 */
#define USAGE_TEXT_MAX (64 * 1024)

struct usage {
	char *model;			/* NULL when unknown (owned) */
	long long input_tokens;		/* -1 when unknown */
	long long output_tokens;	/* -1 when unknown */
	struct buf text;		/* merged assistant text, capped */
	bool text_full;			/* text reached text_max: the rest was dropped */
	bool seen;			/* any recognised object was seen */
	unsigned long parsed;		/* events parsed whole (for tests) */
	unsigned long skipped;		/* text deltas skipped, the text full */
};

/* Prepare an empty result keeping at most text_max bytes of text. */
void usage_init(struct usage *u, size_t text_max);
/* Release the model name and the text. */
void usage_free(struct usage *u);

/*
 * Take one SSE event (its name and data) of a streaming response. Data that
 * is not JSON ("[DONE]") is ignored. Only events that can carry usage or a
 * model, or are of a kind not known, are parsed whole; text deltas have
 * their "delta" member parsed while the text has room, and are skipped
 * once it is full (usage.c says why that is safe).
 */
void usage_sse_event(struct usage *u, const char *event, const char *data,
		     size_t len);

/*
 * For sse_skim once the text is full: where in (p, n) a "usage..." member
 * (usage, usageMetadata) with a value other than null begins, or n. A
 * member cut off at n counts. The events with one are all a stream's tail
 * still has to give: the model came with the first event or comes with
 * the usage, and the counts of the last such event are the totals.
 */
size_t usage_wanted(const char *p, size_t n);

/*
 * Take a whole non-streaming JSON body (an object, or an array of objects as
 * Gemini's streamGenerateContent sends without alt=sse). Returns 0, or -1
 * when it is not JSON.
 */
int usage_json_body(struct usage *u, const char *body, size_t len);

/* The same, every object parsed whole (what usage_json_body gives; the
 * unit tests hold one to the other). */
int usage_json_whole(struct usage *u, const char *body, size_t len);

/*
 * A JSON body too big to keep whole: from its last bytes (tail, len), the
 * last "usage" (or Gemini's "usageMetadata") member and the model beside
 * it, each parsed alone. They come at the end of every format's answer
 * (after the embeddings, the choices, the candidates). No text: that was
 * at the start.
 */
void usage_json_tail(struct usage *u, const char *tail, size_t len);

#endif
