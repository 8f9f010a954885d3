/*
 * sse: an incremental text/event-stream parser (WHATWG HTML "server-sent
 * events" framing: lines ending in LF, CRLF or CR; "event:" and "data:"
 * fields; a blank line dispatches; multiple data lines are joined with LF;
 * lines starting with ':' are comments).
 */
#ifndef RESPAN_SSE_H
#define RESPAN_SSE_H

#include <stddef.h>

#include "buf.h"

#define SSE_EVENT_MAX (4 * 1024 * 1024)

/*
 * One dispatched event: its name ("message" when none; a name is cut at its
 * first NUL byte) and data (data_len bytes, may hold NULs).
 */
typedef void (*sse_event_fn)(void *ctx, const char *event, const char *data,
			     size_t data_len);

struct sse {
	struct buf line;	/* the current unfinished line */
	struct buf event;	/* the current event name */
	struct buf data;	/* the current event's data */
	int skip_lf;		/* the last byte was CR */
	int overflow;		/* current event exceeded SSE_EVENT_MAX: dropped */
	int line_skip;		/* the current line is too long: ignore up to its end */
	int started;		/* a line was seen (a BOM may only come first) */
};

/* Prepare an empty parser (allocates nothing). */
void sse_init(struct sse *s);
/* Release the parser's memory; it can be sse_init'ed again. */
void sse_free(struct sse *s);

/*
 * Feed len bytes; fn(ctx, ...) is called for every complete event. The event
 * name and data are the parser's, valid only during the call; data is also
 * NUL-terminated. The same events come out however the input is split. An
 * event whose data is over SSE_EVENT_MAX bytes is dropped whole.
 */
void sse_feed(struct sse *s, const char *in, size_t len, sse_event_fn fn,
	      void *ctx);

/*
 * End of stream: an unfinished last line is taken as a line and an event not
 * followed by a blank line is dispatched too (a cut stream still yields its
 * text). The parser is then empty, ready for another stream.
 */
void sse_finish(struct sse *s, sse_event_fn fn, void *ctx);

#endif
