#include "reqhead.h"

#include <string.h>

/* Where the scanner is in the request line. */
enum { RL_START, RL_METHOD, RL_TARGET0, RL_TARGET, RL_VERSION, RL_DONE };

/* Where the scanner is relative to line ends: in a line, after LF, after LF CR. */
enum { EOH_LINE, EOH_LF, EOH_LFCR };

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A field value byte (RFC 9110 5.5): VCHAR, obs-text, SP, HTAB. */
static bool is_field_char(unsigned char c)
{
	return !is_ctl(c) || c == '\t';
}

bool reqhead_value_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!is_field_char((unsigned char)*s))
			return false;
	return true;
}

bool reqhead_path_ok(const char *s)
{
	if (s == NULL || s[0] != '/')
		return false;
	for (; *s; s++)
		if (is_ctl((unsigned char)*s) || *s == ' ')
			return false;
	return true;
}

void reqhead_scan_reset(struct reqhead_scan *s)
{
	s->rl = RL_START;
	s->eoh = EOH_LF;	/* a blank first line is an empty line of its own */
	s->vpos = 0;
}

/*
 * The request line is checked as it arrives so that a stream that is not
 * HTTP (TLS, HTTP/2's preface, anything binary) is let go at once instead
 * of being held back up to the head cap.
 */
int reqhead_scan_byte(struct reqhead_scan *s, unsigned char c, const char **why)
{
	static const char version[] = "HTTP/1.";

	switch (s->rl) {
	case RL_START:
		if (c != '\r' && c != '\n') {
			if (!http_is_tchar(c))
				goto bad_line;
			s->rl = RL_METHOD;
		}
		break;
	case RL_METHOD:
		if (c == ' ')
			s->rl = RL_TARGET0;
		else if (!http_is_tchar(c))
			goto bad_line;
		break;
	case RL_TARGET0:
	case RL_TARGET:
		if (c == ' ' && s->rl == RL_TARGET)
			s->rl = RL_VERSION;
		else if (c == ' ' || is_ctl(c))
			goto bad_line;
		else
			s->rl = RL_TARGET;
		break;
	case RL_VERSION:
		if (s->vpos < sizeof(version) - 1) {
			if (c != (unsigned char)version[s->vpos])
				goto bad_version;
		} else if (s->vpos == sizeof(version) - 1) {
			if (c != '0' && c != '1')
				goto bad_version;
		} else if (c == '\r' || c == '\n') {
			s->rl = RL_DONE;
		} else {
			goto bad_version;
		}
		s->vpos++;
		break;
	default:
		break;
	}

	switch (s->eoh) {
	case EOH_LF:
		if (c == '\n')
			return 1;
		s->eoh = c == '\r' ? EOH_LFCR : EOH_LINE;
		break;
	case EOH_LFCR:
		if (c == '\n')
			return 1;
		s->eoh = EOH_LINE;	/* a bare CR: reqhead_parse refuses it */
		break;
	default:
		if (c == '\n')
			s->eoh = EOH_LF;
		break;
	}
	return 0;
bad_line:
	*why = "not an HTTP/1.x request line";
	return -1;
bad_version:
	*why = "not HTTP/1.0 or HTTP/1.1";
	return -1;
}

ssize_t reqhead_scan(struct reqhead_scan *s, const char *p, size_t n, const char **why)
{
	size_t i = 0;

	/* The request line byte by byte (it says early what is not HTTP). */
	while (i < n && s->rl != RL_DONE) {
		int r = reqhead_scan_byte(s, (unsigned char)p[i++], why);
		if (r != 0)
			return r < 0 ? -1 : (ssize_t)i;
	}
	/* Then from line end to line end. */
	while (i < n) {
		if (s->eoh == EOH_LINE) {
			const char *lf = memchr(p + i, '\n', n - i);
			if (lf == NULL)
				return 0;
			i = (size_t)(lf - p) + 1;
			s->eoh = EOH_LF;
			continue;
		}
		char c = p[i++];
		if (c == '\n')
			return (ssize_t)i;
		s->eoh = c == '\r' && s->eoh == EOH_LF ? EOH_LFCR : EOH_LINE;
	}
	return 0;
}

bool reqhead_is_empty_line(const char *p, size_t n)
{
	return (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n');
}

/* Step over a line end (CR LF or LF) at *i. */
static bool eol(const char *p, size_t n, size_t *i)
{
	if (*i < n && p[*i] == '\n') {
		*i += 1;
		return true;
	}
	if (*i + 1 < n && p[*i] == '\r' && p[*i + 1] == '\n') {
		*i += 2;
		return true;
	}
	return false;
}

/* Framing, and the few headers the rewriter cares about. */
static int note_header(struct reqhead *ph, const struct http_header *h,
		       const char **why)
{
	if (http_token_is(h->name, h->name_len, "content-length")) {
		unsigned long long v;
		if (http_parse_content_length(h->value, h->value_len, &v) < 0) {
			*why = "bad Content-Length";
			return -1;
		}
		if (ph->has_cl && v != ph->cl) {
			*why = "conflicting Content-Length headers";
			return -1;
		}
		ph->has_cl = true;
		ph->cl = v;
	} else if (http_token_is(h->name, h->name_len, "transfer-encoding")) {
		/* Only the last coding matters: it must be chunked (9112 6.1). */
		ph->has_te = true;
		ph->chunked = http_te_is_chunked(h->value, h->value_len);
	} else if (http_token_is(h->name, h->name_len, "host")) {
		if (ph->host >= 0) {
			*why = "more than one Host header";
			return -1;
		}
		ph->host = (int)ph->n;
	} else if (http_token_is(h->name, h->name_len, "expect")) {
		ph->expect_continue = http_token_is(h->value, h->value_len,
						    "100-continue");
	}
	return 0;
}

int reqhead_parse(const char *p, size_t n, struct reqhead *ph, size_t max,
		  const char **why)
{
	size_t i = 0;

	if (max > REQHEAD_MAX_FIELDS)
		max = REQHEAD_MAX_FIELDS;
	ph->n = 0;
	ph->host = -1;
	ph->has_cl = ph->has_te = ph->chunked = ph->expect_continue = false;
	ph->cl = 0;

	while (i < n && http_is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		goto bad_line;
	ph->method = p;
	ph->method_len = i++;
	ph->target = p + i;
	while (i < n && p[i] != ' ' && !is_ctl((unsigned char)p[i]))
		i++;
	ph->target_len = (size_t)(p + i - ph->target);
	if (ph->target_len == 0 || i >= n || p[i] != ' ')
		goto bad_line;
	i++;
	if (n - i < 8 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
	    (p[i + 7] != '0' && p[i + 7] != '1'))
		goto bad_line;
	ph->minor = p[i + 7] - '0';
	i += 8;
	if (!eol(p, n, &i))
		goto bad_line;

	while (!eol(p, n, &i)) {
		if (i >= n)
			goto bad_line;
		if (is_blank(p[i])) {
			*why = "obsolete line folding in a header";
			return -1;
		}
		size_t start = i;
		while (i < n && http_is_tchar((unsigned char)p[i]))
			i++;
		if (i == start || i >= n || p[i] != ':')
			goto bad_header;
		size_t name_end = i++;
		while (i < n && is_blank(p[i]))
			i++;
		size_t vstart = i;
		while (i < n && is_field_char((unsigned char)p[i]))
			i++;
		size_t line_end = i;
		if (!eol(p, n, &i))
			goto bad_header;
		size_t vend = line_end;
		while (vend > vstart && is_blank(p[vend - 1]))
			vend--;
		if (ph->n == max) {
			*why = "too many headers";
			return -1;
		}
		struct http_header *h = &ph->h[ph->n];
		h->name = p + start;
		h->name_len = name_end - start;
		h->value = p + vstart;
		h->value_len = vend - vstart;
		ph->line_len[ph->n] = line_end - start;
		if (note_header(ph, h, why) < 0)
			return -1;
		ph->n++;
	}
	if (i != n)
		goto bad_line;
	if (ph->has_te && ph->has_cl) {
		*why = "both Content-Length and Transfer-Encoding";
		return -1;
	}
	if (ph->has_te && !ph->chunked) {
		*why = "Transfer-Encoding does not end in chunked";
		return -1;
	}
	return 0;
bad_line:
	*why = "bad request line";
	return -1;
bad_header:
	*why = "bad header line";
	return -1;
}
