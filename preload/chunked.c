#include "chunked.h"

#include <limits.h>

/*
 * Lines (size lines, trailer lines) end at LF; one CR right before the LF is
 * dropped. A bare LF is accepted everywhere a CRLF is due, as curl, Go and
 * browsers do: servers that send one exist, and refusing them would lose the
 * rest of the connection. A CR that is not followed by LF is malformed.
 */

#define CHUNKED_LINE_MAX 4096

enum {
	CK_SIZE,	/* chunk-size hex digits */
	CK_SIZE_WS,	/* blanks after the size (BWS before ';') */
	CK_EXT,		/* chunk extensions: skipped */
	CK_SIZE_CR,	/* CR at the end of the size line */
	CK_DATA,	/* chunk data */
	CK_DATA_END,	/* the CRLF after chunk data */
	CK_DATA_CR,	/* CR of that CRLF seen */
	CK_TRAILER,	/* a trailer line (or the final empty line) */
	CK_TRAILER_CR,	/* CR at the end of a trailer line */
	CK_DONE,
};

void chunked_init(struct chunked *c)
{
	c->state = CK_SIZE;
	c->remaining = 0;
	c->line_len = 0;
	c->done = false;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Extension bytes: anything visible, blanks and obs-text, no controls. */
static bool ext_byte_ok(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* The size line is complete: start the chunk's data or the trailers. */
static void size_line_done(struct chunked *c)
{
	c->line_len = 0;
	c->state = c->remaining ? CK_DATA : CK_TRAILER;
}

/* The end of a trailer line: an empty one ends the body. */
static void trailer_line_done(struct chunked *c)
{
	if (c->line_len == 0) {
		c->state = CK_DONE;
		c->done = true;
	} else {
		c->line_len = 0;
		c->state = CK_TRAILER;
	}
}

/* One more byte of a size or trailer line; false past the cap. */
static bool line_byte(struct chunked *c)
{
	return ++c->line_len <= CHUNKED_LINE_MAX;
}

ssize_t chunked_feed(struct chunked *c, const char *in, size_t len,
		     chunked_data_fn fn, void *ctx)
{
	size_t i = 0;

	while (i < len && c->state != CK_DONE) {
		if (c->state == CK_DATA) {
			/* The one state that takes a run, not a byte. */
			size_t n = len - i;
			if ((unsigned long long)n > c->remaining)
				n = (size_t)c->remaining;
			if (fn)
				fn(ctx, in + i, n);
			c->remaining -= n;
			i += n;
			if (c->remaining == 0)
				c->state = CK_DATA_END;
			continue;
		}

		unsigned char ch = (unsigned char)in[i++];
		switch (c->state) {
		case CK_SIZE: {
			int v = hex_value((char)ch);
			if (v >= 0) {
				if (c->remaining > (ULLONG_MAX >> 4) ||
				    !line_byte(c))
					return -1;
				c->remaining = (c->remaining << 4) |
					       (unsigned long long)v;
				break;
			}
			/* A size needs at least one digit. */
			if (c->line_len == 0)
				return -1;
			if (ch == '\r') {
				c->state = CK_SIZE_CR;
			} else if (ch == '\n') {
				size_line_done(c);
			} else if (ch == ' ' || ch == '\t' || ch == ';') {
				c->state = ch == ';' ? CK_EXT : CK_SIZE_WS;
				if (!line_byte(c))
					return -1;
			} else {
				return -1;
			}
			break;
		}
		case CK_SIZE_WS:
		case CK_EXT:
			if (ch == '\r') {
				c->state = CK_SIZE_CR;
			} else if (ch == '\n') {
				size_line_done(c);
			} else {
				if (ch == ';')
					c->state = CK_EXT;
				else if (c->state == CK_SIZE_WS ?
					 ch != ' ' && ch != '\t' :
					 !ext_byte_ok(ch))
					return -1;
				if (!line_byte(c))
					return -1;
			}
			break;
		case CK_SIZE_CR:
			if (ch != '\n')
				return -1;
			size_line_done(c);
			break;
		case CK_DATA_END:
			if (ch == '\r')
				c->state = CK_DATA_CR;
			else if (ch == '\n')
				c->state = CK_SIZE;
			else
				return -1;
			break;
		case CK_DATA_CR:
			if (ch != '\n')
				return -1;
			c->state = CK_SIZE;
			break;
		case CK_TRAILER:
			if (ch == '\r')
				c->state = CK_TRAILER_CR;
			else if (ch == '\n')
				trailer_line_done(c);
			else if (!ext_byte_ok(ch) || !line_byte(c))
				return -1;
			break;
		case CK_TRAILER_CR:
			if (ch != '\n')
				return -1;
			trailer_line_done(c);
			break;
		default:
			return -1;
		}
	}
	return (ssize_t)i;
}
