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

/*
 * For skimming: where in (p, n) the first bytes lie that may belong to an
 * event worth dispatching (n when none may). It may say yes too often,
 * never too seldom; a match cut off at n counts as a yes.
 */
typedef size_t (*sse_want_fn)(const char *p, size_t n);

struct sse {
	struct buf line;	/* the current unfinished line */
	struct buf event;	/* the current event name */
	struct buf data;	/* the current event's data */
	/* Its only data line so far, still in the input being fed (no copy
	 * yet): the usual event is one line, dispatched in the same feed. */
	const char *view;
	size_t view_len;
	int skip_lf;		/* the last byte was CR */
	int overflow;		/* current event exceeded SSE_EVENT_MAX: dropped */
	int line_skip;		/* the current line is too long: ignore up to its end */
	int started;		/* a line was seen (a BOM may only come first) */
	int at_boundary;	/* the last line ended an event (or none came yet) */

	/* Skimming (sse_skim): see there. */
	sse_want_fn want;	/* set: skim from the next event on */
	int skimming;		/* lines are no longer framed one by one */
	int skim_off;		/* a CR was seen: never skim this stream */
	int collecting;		/* tail holds the start of a wanted event */
	int tail_lost;		/* the event in tail grew past SSE_EVENT_MAX */
	struct buf tail;	/* the bytes of the event in progress */
	char last2[2];		/* the stream's last two bytes, for boundaries */
};

/* Prepare an empty parser (allocates nothing). */
void sse_init(struct sse *s);
/* Release the parser's memory; it can be sse_init'ed again. */
void sse_free(struct sse *s);

/*
 * Feed len bytes; fn(ctx, ...) is called for every complete event. The event
 * name and data are valid only during the call; data is not NUL-terminated
 * (an event of one data line is handed on from the input itself, uncopied).
 * The same events come out however the input is split. An event whose data
 * is over SSE_EVENT_MAX bytes is dropped whole.
 */
void sse_feed(struct sse *s, const char *in, size_t len, sse_event_fn fn,
	      void *ctx);

/*
 * From the next event on, dispatch only the events in which want() finds
 * something; every other byte costs a search for what want looks for, not
 * framing line by line. For the long tail of a stream whose text is
 * already full, where only the usage at its end still matters. Streams
 * whose lines end in CR are not skimmed (they keep being framed line by
 * line). Stays on until sse_finish.
 */
void sse_skim(struct sse *s, sse_want_fn want);

/*
 * End of stream: an unfinished last line is taken as a line and an event not
 * followed by a blank line is dispatched too (a cut stream still yields its
 * text). The parser is then empty, ready for another stream.
 */
void sse_finish(struct sse *s, sse_event_fn fn, void *ctx);

#endif
