#include "sse.h"

#include <stdbool.h>
#include <string.h>

/*
 * The longest line that can still belong to an event within the cap:
 * "data: " plus SSE_EVENT_MAX bytes. Anything longer sinks its event.
 */
#define SSE_LINE_MAX (SSE_EVENT_MAX + 6)
#define SSE_NAME_MAX 256
/* Buffers above this are released after use rather than kept for reuse. */
#define SSE_KEEP_MAX (64 * 1024)

/* Every field but the buffers, as a new parser has them. */
static void reset_state(struct sse *s)
{
	s->skip_lf = 0;
	s->overflow = 0;
	s->line_skip = 0;
	s->started = 0;
	s->view = NULL;
	s->view_len = 0;
	s->at_boundary = 1;
	s->want = NULL;
	s->skimming = 0;
	s->skim_off = 0;
	s->collecting = 0;
	s->tail_lost = 0;
	s->last2[0] = s->last2[1] = '\n';
}

void sse_init(struct sse *s)
{
	buf_init(&s->line, SSE_LINE_MAX);
	buf_init(&s->event, SSE_NAME_MAX);
	/* Each data line is stored with its LF; the last LF is not event data. */
	buf_init(&s->data, (size_t)SSE_EVENT_MAX + 1);
	/* Skimming: an event's bytes, and a blank line. */
	buf_init(&s->tail, (size_t)SSE_EVENT_MAX + 2);
	reset_state(s);
}

void sse_free(struct sse *s)
{
	buf_free(&s->tail);
	buf_free(&s->line);
	buf_free(&s->event);
	buf_free(&s->data);
	reset_state(s);
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
	s->view = NULL;
	shrink(&s->data);
	buf_reset(&s->event);
}

/* Append one data line (and its LF) to the event's data. */
static void add_data(struct sse *s, const char *v, size_t vn)
{
	if (buf_reserve(&s->data, vn + 1) < 0) {
		drop_event(s);
		return;
	}
	memcpy(s->data.data + s->data.len, v, vn);
	s->data.len += vn;
	s->data.data[s->data.len++] = '\n';
	s->data.data[s->data.len] = '\0';
}

/* The input is about to go: copy a data line still only seen in it. */
static void keep_view(struct sse *s)
{
	if (s->view) {
		const char *v = s->view;
		s->view = NULL;
		add_data(s, v, s->view_len);
	}
}

static void dispatch(struct sse *s, sse_event_fn fn, void *ctx)
{
	/* An event without data lines dispatches nothing (WHATWG). */
	if (!s->overflow && s->view) {
		const char *name = s->event.len && s->event.data[0] ? s->event.data :
								     "message";
		if (fn)
			fn(ctx, name, s->view, s->view_len);
		s->view = NULL;
	} else if (!s->overflow && s->data.len > 0) {
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
	s->at_boundary = 1;
}

/* One complete line, without its line ending; in_input: (p, n) lies in
 * the input being fed, which outlives the line until sse_feed returns. */
static void take_line(struct sse *s, const char *p, size_t n, bool in_input,
		      sse_event_fn fn, void *ctx)
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
	s->at_boundary = 0;
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
		if (in_input && s->view == NULL && s->data.len == 0) {
			s->view = v;
			s->view_len = vn;
			return;
		}
		keep_view(s);
		add_data(s, v, vn);
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
		take_line(s, p, n, true, fn, ctx);	/* the common case: no copy */
		return;
	}
	if (buf_append(&s->line, p, n) < 0) {
		drop_event(s);
	} else {
		take_line(s, s->line.data, s->line.len, false, fn, ctx);
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

/*
 * Frame (in, len) line by line. Returns the bytes used: all of them, or
 * fewer when skimming was asked for and an event just ended (the rest is
 * then skimmed).
 */
static size_t feed_lines(struct sse *s, const char *in, size_t len, sse_event_fn fn,
			 void *ctx)
{
	size_t i = 0;
	/* Streams end lines with LF; one look says whether CR needs looking for. */
	bool any_cr = memchr(in, '\r', len) != NULL;

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
		const char *cr = any_cr ? memchr(in + i, '\r', j - i) : NULL;
		if (cr)
			j = (size_t)(cr - in);
		if (j == len) {
			hold_line(s, in + i, j - i);
			break;
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
		if (s->want && s->at_boundary && !s->skip_lf && !any_cr) {
			s->skimming = 1;
			break;
		}
	}
	keep_view(s);		/* the input goes away now */
	return i;
}

/* ---- skimming ------------------------------------------------------------
 *
 * Lines end in LF or CRLF (a chunk with a CR in it ends skimming), so an
 * event ends where an LF follows LF or LF CR. tail holds the bytes since
 * the last such end, which is all a wanted event needs to be framed again,
 * line by line, once its end is in.
 */

/* The byte k before in + at, reaching back into the stream's last bytes. */
static char before(const struct sse *s, const char *in, size_t at, size_t k)
{
	return at >= k ? in[at - k] : s->last2[2 - (k - at)];
}

/* Does the LF at in[at] end an event (a blank line before it)? */
static bool ends_event(const struct sse *s, const char *in, size_t at)
{
	char b1 = before(s, in, at, 1);
	return b1 == '\n' || (b1 == '\r' && before(s, in, at, 2) == '\n');
}

/* Just past the first event end in in[from, len), or 0 when none. */
static size_t next_end(const struct sse *s, const char *in, size_t from, size_t len)
{
	for (const char *lf; (lf = memchr(in + from, '\n', len - from)) != NULL;) {
		size_t at = (size_t)(lf - in);
		if (ends_event(s, in, at))
			return at + 1;
		from = at + 1;
	}
	return 0;
}

/* Just past the last event end in in[from, to), or 0 when none. */
static size_t last_end(const struct sse *s, const char *in, size_t from, size_t to)
{
	while (to > from) {
		const char *lf = memrchr(in + from, '\n', to - from);
		if (lf == NULL)
			break;
		size_t at = (size_t)(lf - in);
		if (ends_event(s, in, at))
			return at + 1;
		to = at;
	}
	return 0;
}

static void tail_add(struct sse *s, const char *p, size_t n)
{
	if (!s->tail_lost && buf_append(&s->tail, p, n) < 0) {
		s->tail_lost = 1;	/* too big an event: dropped, as framed */
		shrink(&s->tail);
	}
}

static void tail_reset(struct sse *s)
{
	shrink(&s->tail);
	s->tail_lost = 0;
	s->collecting = 0;
}

/* The wanted event in tail is complete (or the stream ended): frame it. */
static void tail_dispatch(struct sse *s, sse_event_fn fn, void *ctx)
{
	if (!s->tail_lost && s->tail.len) {
		s->skimming = 0;
		feed_lines(s, s->tail.data, s->tail.len, fn, ctx);
		s->skimming = 1;
	}
	tail_reset(s);
}

static void remember_last2(struct sse *s, const char *in, size_t len)
{
	if (len >= 2) {
		s->last2[0] = in[len - 2];
		s->last2[1] = in[len - 1];
	} else if (len == 1) {
		s->last2[0] = s->last2[1];
		s->last2[1] = in[0];
	}
}

/* A CR seen: frame line by line again from the start of this event. */
static void stop_skimming(struct sse *s, const char *in, size_t len, sse_event_fn fn,
			  void *ctx)
{
	s->skimming = 0;
	s->want = NULL;
	s->skim_off = 1;
	if (s->tail_lost)
		s->overflow = 1;	/* the rest of that event is not framed */
	else if (s->tail.len)
		feed_lines(s, s->tail.data, s->tail.len, fn, ctx);
	tail_reset(s);
	feed_lines(s, in, len, fn, ctx);
}

static void skim(struct sse *s, const char *in, size_t len, sse_event_fn fn, void *ctx)
{
	size_t i = 0;

	if (memchr(in, '\r', len)) {
		stop_skimming(s, in, len, fn, ctx);
		return;
	}
	while (i < len) {
		if (s->collecting) {
			size_t end = next_end(s, in, i, len);
			tail_add(s, in + i, (end ? end : len) - i);
			if (end == 0)
				break;
			tail_dispatch(s, fn, ctx);
			i = end;
			continue;
		}
		/* Something wanted in this event's bytes so far, or in the
		 * ones that join them to this input? */
		size_t at = i;
		if (s->tail.len && i == 0) {
			char joint[64];
			size_t a = s->tail.len < 16 ? s->tail.len : 16;
			size_t b = len < sizeof(joint) - a ? len : sizeof(joint) - a;
			memcpy(joint, s->tail.data + s->tail.len - a, a);
			memcpy(joint + a, in, b);
			if (s->want(joint, a + b) < a + b)
				at = 0, s->collecting = 1;
		}
		if (!s->collecting)
			at = i + s->want(in + i, len - i);
		if (at >= len) {
			/* Nothing wanted: keep only the event still open. */
			size_t end = last_end(s, in, i, len);
			if (end)
				tail_reset(s);
			tail_add(s, in + (end ? end : i), len - (end ? end : i));
			break;
		}
		/* The wanted bytes' event starts at the last end before them. */
		size_t start = last_end(s, in, i, at);
		if (start)
			tail_reset(s);
		else
			start = i;
		s->collecting = 1;
		tail_add(s, in + start, at - start);
		i = at;
	}
	remember_last2(s, in, len);
}

void sse_skim(struct sse *s, sse_want_fn want)
{
	if (!s->skim_off)
		s->want = want;
}

void sse_feed(struct sse *s, const char *in, size_t len, sse_event_fn fn,
	      void *ctx)
{
	size_t used = 0;
	if (!s->skimming) {
		used = feed_lines(s, in, len, fn, ctx);
		if (!s->skimming)
			return;
		/* Skimming starts at an event's end: the bytes before it are
		 * that end. */
		remember_last2(s, in, used);
	}
	skim(s, in + used, len - used, fn, ctx);
}

void sse_finish(struct sse *s, sse_event_fn fn, void *ctx)
{
	if (s->skimming) {
		/* The last event, unended: framed if anything in it is wanted. */
		if (!s->tail_lost && s->tail.len &&
		    (s->collecting || s->want(s->tail.data, s->tail.len) < s->tail.len)) {
			s->skimming = 0;
			s->want = NULL;
			feed_lines(s, s->tail.data, s->tail.len, fn, ctx);
		}
		tail_reset(s);
		s->skimming = 0;
	}
	if (s->line_skip)
		s->line_skip = 0;
	else if (s->line.len > 0)
		take_line(s, s->line.data, s->line.len, false, fn, ctx);
	dispatch(s, fn, ctx);
	sse_free(s);
	sse_init(s);
}
