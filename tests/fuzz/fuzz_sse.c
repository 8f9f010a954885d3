/*
 * libFuzzer target for preload/sse.c and preload/usage.c.
 *
 * The input is an event stream as a server would send it (so the seeds are
 * plain SSE or JSON files). It is parsed three times: in one piece, and in
 * pieces of pseudo-random sizes chosen from a hash of the input; both must
 * yield the same events (the split-independence promise of sse.h). Every
 * event of the second goes to usage_sse_event. The third is fed in the same
 * pieces the way the exchange feeds a stream, skimming (sse_skim) once the
 * text is full: it must find the same usage, model, text and cut. The whole
 * input also goes to usage_json_body and usage_json_tail.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "usage.h"
#include "fuzzmix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
	uint64_t hash;		/* FNV-1a over every event's name, length and data */
	size_t events;
	struct usage *usage;	/* NULL: only digest */
};

static void on_event(void *ctx, const char *event, const char *data, size_t len)
{
	struct digest *d = ctx;
	if (len > SSE_EVENT_MAX || event[0] == '\0')
		abort();
	d->hash = fnv(d->hash, event, strlen(event) + 1);
	d->hash = fnv(d->hash, &len, sizeof(len));
	d->hash = fnv(d->hash, data, len);
	d->events++;
	if (d->usage)
		usage_sse_event(d->usage, event, data, len);
}

/*
 * Feed (in, size) in pieces of sizes drawn from seed, then finish. skim:
 * as the exchange does, skim once the digest's usage has its text full.
 */
static void feed_in_pieces(const char *in, size_t size, uint64_t seed, struct digest *d,
			   bool skim)
{
	struct sse s;
	sse_init(&s);
	for (size_t off = 0; off < size;) {
		uint64_t r = next(&seed);
		size_t n = r & 0x100 ? (size_t)(r % 4) : (size_t)(r % 97);
		if (n > size - off)
			n = size - off;
		sse_feed(&s, in + off, n, on_event, d);
		if (skim && d->usage->text_full && d->usage->seen)
			sse_skim(&s, usage_wanted);
		off += n;
	}
	sse_finish(&s, on_event, d);
	sse_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct digest whole = { 0xcbf29ce484222325ULL, 0, NULL };
	struct digest split = { 0xcbf29ce484222325ULL, 0, NULL };
	struct usage u;
	struct sse s;
	uint64_t seed = fnv(0x9e3779b97f4a7c15ULL, data, size) | 1;
	size_t text_max = seed & 2 ? 16 : USAGE_TEXT_MAX;

	sse_init(&s);
	sse_feed(&s, in, size, on_event, &whole);
	sse_finish(&s, on_event, &whole);

	sse_free(&s);
	usage_init(&u, text_max);
	split.usage = &u;
	feed_in_pieces(in, size, seed, &split, false);
	if (whole.hash != split.hash || whole.events != split.events)
		abort();
	if (u.text.len > text_max)
		abort();

	/* Skimming, as the exchange does it, against framing every event. */
	struct usage k;
	struct digest skim = { 0xcbf29ce484222325ULL, 0, &k };
	usage_init(&k, text_max);
	feed_in_pieces(in, size, seed, &skim, true);
	/* The same text and cut always; the same counts unless a member name
	 * is written with \u escapes (past the text cap only raw "usage is
	 * looked for). Not the model: one that changes mid-stream without
	 * usage beside it is, by design, not seen past the cap. */
	bool escaped_names = memmem(in, size, "\\u", 2) != NULL;
	if (k.text_full != u.text_full || k.text.len != u.text.len ||
	    (k.text.len && memcmp(k.text.data, u.text.data, k.text.len) != 0) ||
	    (!escaped_names && (k.input_tokens != u.input_tokens ||
				k.output_tokens != u.output_tokens)))
		abort();
	usage_free(&k);
	usage_json_tail(&k, in, size);
	usage_free(&k);
	usage_json_body(&u, in, size);
	if (u.text.len > text_max || (u.text.data && u.text.data[u.text.len] != '\0'))
		abort();
	usage_free(&u);
	return 0;
}
