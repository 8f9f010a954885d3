#include "response.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chunked.h"
#include "decode.h"

/*
 * Lines end at LF, with an optional CR before it (RFC 9112 2.2 lets a
 * recipient accept a bare LF, and some servers send one). CR or LF bytes
 * before a status line are skipped, for servers that send an extra CRLF
 * after a body.
 */

enum {
	RS_HEAD,	/* waiting for, or inside, a head */
	RS_LENGTH,	/* a body framed by Content-Length */
	RS_CHUNKED,	/* a chunked body */
	RS_CLOSE,	/* a body that ends when the connection does */
	RS_UPGRADED,	/* after 101: what follows is not HTTP */
	RS_FAILED,	/* on_error was called */
	RS_CLOSED,	/* response_eof was called */
};

/* Where the head scanner is relative to line ends. */
enum { EOL_MID, EOL_LF, EOL_LF_CR };

struct response_parser {
	struct response_callbacks cb;
	void *ctx;
	int state;

	struct buf head;	/* a head that arrived in pieces */
	size_t head_seen;	/* bytes of the current head so far */
	int eol;

	bool in_response;
	unsigned long long remaining;	/* RS_LENGTH */
	struct chunked ck;		/* RS_CHUNKED */
	struct decoder *dec;		/* NULL: the body goes out raw */
	bool dec_failed;
	unsigned long long body_raw;	/* body bytes received */

	bool pending[RESPONSE_MAX_PENDING];	/* requests sent: is HEAD */
	size_t pend_first;
	size_t pend_n;

	struct http_header hdrs[RESPONSE_MAX_HEADERS];
};

static const char cut_short[] = "connection closed before the response was complete";

struct response_parser *response_new(const struct response_callbacks *cb, void *ctx)
{
	struct response_parser *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	if (cb)
		p->cb = *cb;
	p->ctx = ctx;
	p->state = RS_HEAD;
	buf_init(&p->head, RESPONSE_HEAD_MAX);
	return p;
}

void response_free(struct response_parser *p)
{
	if (p == NULL)
		return;
	decode_free(p->dec);
	buf_free(&p->head);
	free(p);
}

int response_expect(struct response_parser *p, bool is_head)
{
	if (p->pend_n == RESPONSE_MAX_PENDING)
		return -1;
	p->pending[(p->pend_first + p->pend_n) % RESPONSE_MAX_PENDING] = is_head;
	p->pend_n++;
	return 0;
}

/* The request a final response answers; unknown ones are taken as GET. */
static bool pop_is_head(struct response_parser *p)
{
	if (p->pend_n == 0)
		return false;
	bool is_head = p->pending[p->pend_first];
	p->pend_first = (p->pend_first + 1) % RESPONSE_MAX_PENDING;
	p->pend_n--;
	return is_head;
}

bool response_busy(const struct response_parser *p)
{
	return p->in_response;
}

static void fail(struct response_parser *p, const char *why)
{
	decode_free(p->dec);
	p->dec = NULL;
	buf_free(&p->head);
	p->state = RS_FAILED;
	if (p->cb.on_error)
		p->cb.on_error(p->ctx, why);
}

static void end_response(struct response_parser *p, const char *error)
{
	if (error == NULL && p->dec) {
		if (p->dec_failed)
			error = "content decoding failed";
		else if (p->body_raw > 0 && !decode_finished(p->dec))
			error = "content decoding incomplete";
	}
	decode_free(p->dec);
	p->dec = NULL;
	p->dec_failed = false;
	p->body_raw = 0;
	p->remaining = 0;
	p->in_response = false;
	p->state = RS_HEAD;
	if (p->cb.on_end)
		p->cb.on_end(p->ctx, error);
}

static void body_out(void *arg, const char *data, size_t len)
{
	struct response_parser *p = arg;
	if (len && p->cb.on_body)
		p->cb.on_body(p->ctx, data, len);
}

/* Raw body bytes of the current response, still content-coded. */
static void body_in(void *arg, const char *data, size_t len)
{
	struct response_parser *p = arg;
	p->body_raw += len;
	if (p->dec == NULL)
		body_out(p, data, len);
	else if (!p->dec_failed &&
		 decode_feed(p->dec, data, len, body_out, p) < 0)
		p->dec_failed = true;	/* the rest is not decoded */
}

/* ---- the head ---------------------------------------------------------- */



/* Field values and reason phrases: no controls but HT (obs-text allowed). */
static bool text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The next line of a complete head, without its CRLF or LF. */
static bool next_line(const char *h, size_t n, size_t *pos, const char **line,
		      size_t *len)
{
	const char *lf = memchr(h + *pos, '\n', n - *pos);
	if (lf == NULL)
		return false;
	*line = h + *pos;
	*len = (size_t)(lf - *line);
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	*pos = (size_t)(lf - h) + 1;
	return true;
}

static const char *parse_status_line(const char *l, size_t n,
				     struct response_head *out)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ')
		return "malformed status line";
	int status = 0;
	for (size_t i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9')
			return "malformed status line";
		status = status * 10 + (l[i] - '0');
	}
	if (status < 100 || (n > 12 && l[12] != ' '))
		return "malformed status line";
	out->status = status;
	out->minor_version = l[7] - '0';
	out->reason = n > 12 ? l + 13 : l + 12;
	out->reason_len = n > 12 ? n - 13 : 0;
	if (!text_ok(out->reason, out->reason_len))
		return "malformed status line";
	return NULL;
}

static const char *parse_header(const char *l, size_t n, struct http_header *h)
{
	if (is_blank(l[0]))
		return "obsolete line folding in a response header";
	const char *colon = memchr(l, ':', n);
	if (colon == NULL || colon == l)
		return "malformed response header";
	for (const char *c = l; c < colon; c++)
		if (!http_is_tchar((unsigned char)*c))
			return "malformed response header";
	const char *v = colon + 1;
	const char *end = l + n;
	while (v < end && is_blank(*v))
		v++;
	while (end > v && is_blank(end[-1]))
		end--;
	if (!text_ok(v, (size_t)(end - v)))
		return "malformed response header";
	h->name = l;
	h->name_len = (size_t)(colon - l);
	h->value = v;
	h->value_len = (size_t)(end - v);
	return NULL;
}

/* Content-Length, allowing a list of one repeated value ("5, 5"). */
static int parse_length(const char *v, size_t n, unsigned long long *out)
{
	bool any = false;
	size_t i = 0;
	while (i <= n) {
		size_t start = i;
		while (i < n && v[i] != ',')
			i++;
		unsigned long long x;
		if (http_parse_content_length(v + start, i - start, &x) < 0 ||
		    (any && x != *out))
			return -1;
		*out = x;
		any = true;
		i++;
	}
	return 0;
}

/* True when a Content-Encoding value names any coding but identity. */
static bool is_encoded(const char *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && v[i] != ',')
			i++;
		size_t end = i++;
		while (start < end && is_blank(v[start]))
			start++;
		while (end > start && is_blank(v[end - 1]))
			end--;
		if (end > start && !http_token_is(v + start, end - start, "identity"))
			return true;
	}
	return false;
}

/* What the header fields say about framing and coding. */
struct framing {
	bool te;		/* Transfer-Encoding present */
	bool cl_bad;		/* Content-Length invalid or conflicting */
};

static void read_fields(const struct http_header *hs, struct response_head *h,
			struct framing *f)
{
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *x = &hs[i];
		if (http_token_is(x->name, x->name_len, "transfer-encoding")) {
			/* the last coding of the last field decides */
			f->te = true;
			h->chunked = http_te_is_chunked(x->value, x->value_len);
		} else if (http_token_is(x->name, x->name_len, "content-length")) {
			unsigned long long v = 0;
			if (parse_length(x->value, x->value_len, &v) < 0 ||
			    (h->has_length && v != h->content_length))
				f->cl_bad = true;
			h->has_length = true;
			h->content_length = v;
		} else if (http_token_is(x->name, x->name_len, "content-type")) {
			if (h->content_type == NULL) {
				h->content_type = x->value;
				h->content_type_len = x->value_len;
			}
		} else if (http_token_is(x->name, x->name_len, "content-encoding") &&
			   is_encoded(x->value, x->value_len)) {
			h->encoded = true;
		}
	}
	if (f->cl_bad || f->te) {
		h->has_length = false;
		h->content_length = 0;
	}
}

/* A decoder for all Content-Encoding fields (several make one list).
 * Sets head->encoding_unknown when the body has to go out raw. */
static int make_decoder(struct response_parser *p, struct response_head *h)
{
	struct buf list;
	int rc = 0;

	buf_init(&list, RESPONSE_HEAD_MAX);
	for (size_t i = 0; i < h->n_headers && rc == 0; i++) {
		const struct http_header *x = &p->hdrs[i];
		if (!http_token_is(x->name, x->name_len, "content-encoding"))
			continue;
		if (list.len)
			rc = buf_append(&list, ",", 1);
		if (rc == 0)
			rc = buf_append(&list, x->value, x->value_len);
	}
	if (rc == 0) {
		p->dec = decode_new(list.data, list.len, &h->encoding_unknown);
		if (p->dec == NULL)
			h->encoding_unknown = true;	/* or out of memory */
	}
	buf_free(&list);
	return rc;
}

/* A complete head (h, n) including its blank line: report it and set up
 * the body. Returns NULL or why the stream cannot be followed. */
static const char *head_done(struct response_parser *p, const char *h, size_t n)
{
	struct response_head head;
	struct framing f;
	const char *line;
	size_t len;
	size_t pos = 0;
	const char *why;

	memset(&head, 0, sizeof(head));
	memset(&f, 0, sizeof(f));
	if (!next_line(h, n, &pos, &line, &len))
		return "malformed status line";
	why = parse_status_line(line, len, &head);
	if (why)
		return why;
	while (next_line(h, n, &pos, &line, &len) && len > 0) {
		if (head.n_headers == RESPONSE_MAX_HEADERS)
			return "too many response header fields";
		why = parse_header(line, len, &p->hdrs[head.n_headers]);
		if (why)
			return why;
		head.n_headers++;
	}
	head.headers = p->hdrs;
	read_fields(p->hdrs, &head, &f);

	if (head.status < 200 && head.status != 101) {
		/* 100 Continue, 103 Early Hints: the final response follows */
		head.interim = true;
		head.no_body = true;
		if (p->cb.on_head)
			p->cb.on_head(p->ctx, &head);
		return NULL;
	}
	bool is_head = pop_is_head(p);
	head.no_body = is_head || head.status == 101 || head.status == 204 ||
		       head.status == 304;
	if (f.cl_bad && !f.te && !head.no_body)
		return "invalid Content-Length in a response";
	if (head.encoded) {
		if (make_decoder(p, &head) < 0)
			return "out of memory";
		if (head.no_body) {
			decode_free(p->dec);
			p->dec = NULL;
		}
	}

	p->in_response = true;
	p->body_raw = 0;
	p->dec_failed = false;
	if (p->cb.on_head)
		p->cb.on_head(p->ctx, &head);

	if (head.status == 101) {
		/* The response to this request is complete; the connection now
		 * speaks another protocol, which is not ours to parse. */
		end_response(p, NULL);
		p->state = RS_UPGRADED;
	} else if (head.no_body) {
		end_response(p, NULL);
	} else if (f.te) {
		/* RFC 9112 6.3: a final coding other than chunked means the
		 * body runs until the connection closes. */
		if (head.chunked) {
			chunked_init(&p->ck);
			p->state = RS_CHUNKED;
		} else {
			p->state = RS_CLOSE;
		}
	} else if (head.has_length) {
		p->remaining = head.content_length;
		p->state = RS_LENGTH;
		if (p->remaining == 0)
			end_response(p, NULL);
	} else {
		p->state = RS_CLOSE;
	}
	return NULL;
}

/*
 * Look for the blank line that ends the current head. Returns how many
 * bytes of in belong to the head and sets *complete when they end it, or
 * -1 with *why set.
 */
static ssize_t head_scan(struct response_parser *p, const char *in, size_t len,
			 bool *complete, const char **why)
{
	static const char prefix[] = "HTTP/";

	*complete = false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		/* Say early when this is not HTTP/1.x at all (HTTP/2, TLS). */
		if (p->head_seen < sizeof(prefix) - 1 &&
		    c != prefix[p->head_seen]) {
			*why = "not an HTTP/1.x response";
			return -1;
		}
		if (++p->head_seen > RESPONSE_HEAD_MAX) {
			*why = "response head too large";
			return -1;
		}
		if (c == '\n') {
			if (p->eol != EOL_MID) {
				*complete = true;
				return (ssize_t)(i + 1);
			}
			p->eol = EOL_LF;
		} else if (c == '\r' && p->eol == EOL_LF) {
			p->eol = EOL_LF_CR;
		} else {
			p->eol = EOL_MID;
		}
	}
	return (ssize_t)len;
}

/* Head bytes from in; returns bytes used, or -1 after fail(). */
static ssize_t feed_head(struct response_parser *p, const char *in, size_t len)
{
	size_t skip = 0;
	bool complete;
	const char *why = NULL;

	if (p->head_seen == 0) {
		while (skip < len && (in[skip] == '\r' || in[skip] == '\n'))
			skip++;
		if (skip == len)
			return (ssize_t)len;
		p->eol = EOL_MID;
	}
	ssize_t n = head_scan(p, in + skip, len - skip, &complete, &why);
	if (n < 0) {
		fail(p, why);
		return -1;
	}
	size_t used = (size_t)n;
	if (complete && p->head.len == 0) {
		/* the usual case: the whole head in one piece, no copy */
		why = head_done(p, in + skip, used);
	} else if (buf_append(&p->head, in + skip, used) < 0) {
		why = "out of memory";
	} else if (complete) {
		why = head_done(p, p->head.data, p->head.len);
	}
	if (complete) {
		buf_reset(&p->head);
		p->head_seen = 0;
	}
	if (why) {
		fail(p, why);
		return -1;
	}
	return (ssize_t)(skip + used);
}

int response_feed(struct response_parser *p, const char *in, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = len - i;
		switch (p->state) {
		case RS_HEAD: {
			ssize_t r = feed_head(p, in + i, n);
			if (r < 0)
				return -1;
			i += (size_t)r;
			break;
		}
		case RS_LENGTH:
			if ((unsigned long long)n > p->remaining)
				n = (size_t)p->remaining;
			p->remaining -= n;
			body_in(p, in + i, n);
			i += n;
			if (p->remaining == 0)
				end_response(p, NULL);
			break;
		case RS_CHUNKED: {
			ssize_t r = chunked_feed(&p->ck, in + i, n, body_in, p);
			if (r < 0) {
				fail(p, "malformed chunked body");
				return -1;
			}
			i += (size_t)r;
			if (p->ck.done)
				end_response(p, NULL);
			else if (r == 0)
				return 0;	/* cannot happen: chunked takes all */
			break;
		}
		case RS_CLOSE:
			body_in(p, in + i, n);
			i = len;
			break;
		case RS_FAILED:
			return -1;
		default:	/* RS_UPGRADED, RS_CLOSED: not ours any more */
			return 0;
		}
	}
	return p->state == RS_FAILED ? -1 : 0;
}

void response_eof(struct response_parser *p, const char *why)
{
	switch (p->state) {
	case RS_LENGTH:
	case RS_CHUNKED:
		end_response(p, why ? why : cut_short);
		break;
	case RS_CLOSE:
		/* the normal end of this body, unless the caller says otherwise */
		end_response(p, why);
		break;
	default:
		/* A head cut short was never reported: nothing to end. */
		break;
	}
	if (p->state != RS_FAILED)
		p->state = RS_CLOSED;
}
