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

/* One dispatched event: its name ("message" when none) and data. */
typedef void (*sse_event_fn)(void *ctx, const char *event, const char *data,
			     size_t data_len);

struct sse {
	struct buf line;	/* the current unfinished line */
	struct buf event;	/* the current event name */
	struct buf data;	/* the current event's data */
	int skip_lf;		/* the last byte was CR */
	int overflow;		/* current event exceeded SSE_EVENT_MAX: dropped */
};

void sse_init(struct sse *s);
void sse_free(struct sse *s);

/* Feed len bytes; fn is called for every complete event. */
void sse_feed(struct sse *s, const char *in, size_t len, sse_event_fn fn,
	      void *ctx);

/* End of stream: an event not followed by a blank line is dispatched too. */
void sse_finish(struct sse *s, sse_event_fn fn, void *ctx);

#endif
