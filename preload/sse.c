#include "sse.h"

#include <string.h>

/*
 * The longest line that can still belong to an event within the cap:
 * "data: " plus SSE_EVENT_MAX bytes. Anything longer sinks its event.
 */
#define SSE_LINE_MAX (SSE_EVENT_MAX + 6)
#define SSE_NAME_MAX 256
/* Buffers above this are released after use rather than kept for reuse. */
#define SSE_KEEP_MAX (64 * 1024)

void sse_init(struct sse *s)
{
	buf_init(&s->line, SSE_LINE_MAX);
	buf_init(&s->event, SSE_NAME_MAX);
	/* Each data line is stored with its LF; the last LF is not event data. */
	buf_init(&s->data, (size_t)SSE_EVENT_MAX + 1);
	s->skip_lf = 0;
	s->overflow = 0;
	s->line_skip = 0;
	s->started = 0;
}

void sse_free(struct sse *s)
{
	buf_free(&s->line);
	buf_free(&s->event);
	buf_free(&s->data);
	s->skip_lf = 0;
	s->overflow = 0;
	s->line_skip = 0;
	s->started = 0;
}

/* Empty a buffer, giving a large allocation back. */
static void shrink(struct buf *b)
{
	if (b->cap > SSE_KEEP_MAX)
		buf_free(b);
	else
		buf_reset(b);
}

/* The event is over too big: forget what it had gathered. */
static void drop_event(struct sse *s)
{
	s->overflow = 1;
	shrink(&s->data);
	buf_reset(&s->event);
}

static void dispatch(struct sse *s, sse_event_fn fn, void *ctx)
{
	/* An event without data lines dispatches nothing (WHATWG). */
	if (!s->overflow && s->data.len > 0) {
		s->data.len--;		/* the LF of the last data line */
		s->data.data[s->data.len] = '\0';
		/* The name is handed on as a C string: one cut to "" is no name. */
		const char *name = s->event.len && s->event.data[0] ? s->event.data :
								     "message";
		if (fn)
			fn(ctx, name, s->data.data, s->data.len);
	}
	s->overflow = 0;
	shrink(&s->data);
	buf_reset(&s->event);
}

/* One complete line, without its line ending. */
static void take_line(struct sse *s, const char *p, size_t n, sse_event_fn fn,
		      void *ctx)
{
	if (!s->started) {
		s->started = 1;
		if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
			n -= 3;
		}
	}
	if (n == 0) {
		dispatch(s, fn, ctx);
		return;
	}
	if (p[0] == ':' || s->overflow)
		return;		/* a comment, or an event already lost */

	const char *colon = memchr(p, ':', n);
	size_t fn_len = colon ? (size_t)(colon - p) : n;
	const char *v = colon ? colon + 1 : p + n;
	size_t vn = (size_t)(p + n - v);
	if (vn > 0 && v[0] == ' ') {
		v++;
		vn--;
	}
	if (fn_len == 4 && memcmp(p, "data", 4) == 0) {
		if (buf_append(&s->data, v, vn) < 0 || buf_append(&s->data, "\n", 1) < 0)
			drop_event(s);
	} else if (fn_len == 5 && memcmp(p, "event", 5) == 0) {
		buf_reset(&s->event);
		if (buf_append(&s->event, v, vn) < 0)
			drop_event(s);
	}
	/* "id", "retry" and unknown fields do not matter for the log. */
}

/* End of a line in the input: the buffered part plus (p, n). */
static void end_line(struct sse *s, const char *p, size_t n, sse_event_fn fn,
		     void *ctx)
{
	if (s->line_skip) {
		s->line_skip = 0;
		return;
	}
	if (s->line.len == 0) {
		take_line(s, p, n, fn, ctx);	/* the common case: no copy */
		return;
	}
	if (buf_append(&s->line, p, n) < 0) {
		drop_event(s);
	} else {
		take_line(s, s->line.data, s->line.len, fn, ctx);
	}
	shrink(&s->line);
}

/* Keep the start of a line that the input has not finished yet. */
static void hold_line(struct sse *s, const char *p, size_t n)
{
	if (s->line_skip || n == 0)
		return;
	if (buf_append(&s->line, p, n) < 0) {
		/* No event can hold this line: skip it, and its event. */
		s->line_skip = 1;
		shrink(&s->line);
		drop_event(s);
	}
}

void sse_feed(struct sse *s, const char *in, size_t len, sse_event_fn fn,
	      void *ctx)
{
	size_t i = 0;

	while (i < len) {
		if (s->skip_lf) {
			/* A CR ended the last line; an LF right after it belongs to it. */
			s->skip_lf = 0;
			if (in[i] == '\n') {
				i++;
				continue;
			}
		}
		/* The line's end: the first LF or CR, looked for with memchr
		 * (a stream is megabytes of lines; CR alone is rare). */
		const char *lf = memchr(in + i, '\n', len - i);
		size_t j = lf ? (size_t)(lf - in) : len;
		const char *cr = memchr(in + i, '\r', j - i);
		if (cr)
			j = (size_t)(cr - in);
		if (j == len) {
			hold_line(s, in + i, j - i);
			return;
		}
		s->skip_lf = in[j] == '\r';
		if (j - i > SSE_LINE_MAX && s->line.len == 0 && !s->line_skip) {
			/* Too long even on its own: same as held and overflowed. */
			drop_event(s);
			i = j + 1;
			continue;
		}
		end_line(s, in + i, j - i, fn, ctx);
		i = j + 1;
	}
}

void sse_finish(struct sse *s, sse_event_fn fn, void *ctx)
{
	if (s->line_skip)
		s->line_skip = 0;
	else if (s->line.len > 0)
		take_line(s, s->line.data, s->line.len, fn, ctx);
	dispatch(s, fn, ctx);
	sse_free(s);
	sse_init(s);
}
