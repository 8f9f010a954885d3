#include "record.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"

#define RECORD_LINE_MAX (64u * 1024 * 1024)

/* Length of the valid UTF-8 sequence at p, or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t need;
	unsigned min;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2; min = 0x80; cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3; min = 0x800; cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4; min = 0x10000; cp = c & 0x07u;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/*
 * The line is written straight into out, escaped as it goes: no tree of
 * values, no second copy. JSON text is written by hand here because the
 * JSON library builds a tree and prints it, which for a megabyte body is
 * three more copies of it (docs/engine.md, "The log writer").
 *
 * Secrets: a body is cut around each secret the redactor knows before it
 * is escaped; everything else is scrubbed after it is written, a region at
 * a time (the text between two bodies), which in the usual case finds
 * nothing and copies nothing. Either way each byte is searched once.
 */
struct jw {
	struct buf *out;
	struct redact *red;
	size_t mark;		/* start of the region not yet scrubbed */
	int rc;			/* the first error; later writes do nothing */
};

/* Room for n more bytes at out->data + out->len. */
static char *room(struct jw *w, size_t n)
{
	struct buf *b = w->out;
	if (b->data && b->cap - b->len > n)	/* the usual case: no call */
		return w->rc == 0 ? b->data + b->len : NULL;
	if (w->rc == 0)
		w->rc = buf_reserve(b, n);
	return w->rc == 0 ? b->data + b->len : NULL;
}

static void raw(struct jw *w, const char *s, size_t n)
{
	char *o = room(w, n);
	if (o) {
		memcpy(o, s, n);
		w->out->len += n;
	}
}

static void lit(struct jw *w, const char *s)
{
	raw(w, s, strlen(s));
}

/* Bytes from u[i] on that JSON takes as they are: ASCII from space on, but
 * '"' and '\\'. Eight at a time while none of them is special. */
static size_t plain_run(const unsigned char *u, size_t i, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	while (n - i >= 8) {
		uint64_t v, q, b;
		memcpy(&v, u + i, 8);
		q = v ^ (ones * '"');
		b = v ^ (ones * '\\');
		if (((v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) |
		      ((b - ones) & ~b)) & highs) != 0)
			break;
		i += 8;
	}
	/* '1': a byte JSON takes as it is, one per byte value from 0. */
	static const char plain[257] =
		"0000000000000000000000000000000011011111111111111111111111111111"
		"1111111111111111111111111111011111111111111111111111111111111111"
		"0000000000000000000000000000000000000000000000000000000000000000"
		"0000000000000000000000000000000000000000000000000000000000000000";
	while (i < n && plain[u[i]] == '1')
		i++;
	return i;
}

/* Make out->data + out->len hold at least k bytes; a chunk more when the
 * cap allows, so the escaper below seldom comes back. */
static char *more(struct jw *w, size_t k, size_t *avail)
{
	struct buf *b = w->out;
	size_t want = k < 16384 ? 16384 : k;
	if (b->max - b->len < want)
		want = k;
	if (w->rc == 0)
		w->rc = buf_reserve(b, want);
	if (w->rc)
		return NULL;
	*avail = b->cap - b->len - 1;
	return b->data + b->len;
}

/*
 * (p, n) escaped, without quotes. strict: stop at a NUL or a byte that is
 * not valid UTF-8 and return -1 (a body that is not text goes in base64).
 * Otherwise NULs are dropped and such bytes are taken as Latin-1 (header
 * values may hold obs-text), so the line is always valid JSON. Escapes as
 * cJSON prints them: \" \\ \b \f \n \r \t, other controls \u00xx.
 */
static int escape(struct jw *w, const char *p, size_t n, bool strict)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)p;
	struct buf *b = w->out;
	size_t avail = b->data && w->rc == 0 ? b->cap - b->len - 1 : 0;
	char *o = b->data ? b->data + b->len : NULL;
	int rc = 0;

	for (size_t i = 0; i < n;) {
		size_t run = plain_run(u, i, n) - i;
		if (avail < run + 6 && (o = more(w, run + 6, &avail)) == NULL)
			return 0;
		memcpy(o, p + i, run);
		o += run;
		avail -= run;
		b->len += run;
		i += run;
		if (i == n)
			break;
		unsigned char c = u[i];
		size_t k = 1, put = 0;
		if (c >= 0x80) {
			k = utf8_seq(u + i, n - i);
			if (k == 0 && strict) {
				rc = -1;
				break;
			}
			if (k > 0) {
				memcpy(o, p + i, k);
				put = k;
			} else {
				o[0] = (char)(0xc0 | c >> 6);
				o[1] = (char)(0x80 | (c & 0x3f));
				put = 2;
				k = 1;
			}
		} else if (c == '"' || c == '\\') {
			o[0] = '\\';
			o[1] = (char)c;
			put = 2;
		} else if (c == 0) {
			if (strict) {
				rc = -1;
				break;
			}
		} else {
			const char *short_form = c == '\b' ? "b" : c == '\f' ? "f" :
						 c == '\n' ? "n" : c == '\r' ? "r" :
						 c == '\t' ? "t" : NULL;
			o[0] = '\\';
			if (short_form) {
				o[1] = short_form[0];
				put = 2;
			} else {
				memcpy(o + 1, "u00", 3);
				o[4] = hex[c >> 4];
				o[5] = hex[c & 15];
				put = 6;
			}
		}
		o += put;
		avail -= put;
		b->len += put;
		i += k;
	}
	if (b->data)
		b->data[b->len] = '\0';
	return rc;
}

static void str(struct jw *w, const char *p, size_t n)
{
	raw(w, "\"", 1);
	escape(w, p, n, false);
	raw(w, "\"", 1);
}

static void cstr(struct jw *w, const char *s)
{
	if (s)
		str(w, s, strlen(s));
	else
		lit(w, "null");
}

/* ,"name": (the first field of an object has no comma: written with '{'),
 * one copy of a literal made at compile time. */
#define key(w, name) raw(w, ",\"" name "\":", sizeof(",\"" name "\":") - 1)

/* Decimal digits of v (not negative), at the end of tmp[24]; returns the first. */
static char *digits(char *end, unsigned long long v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void num(struct jw *w, long long v)
{
	char tmp[24], *end = tmp + sizeof(tmp), *p;
	if (v < 0) {
		p = digits(end, 0ull - (unsigned long long)v);
		*--p = '-';
	} else {
		p = digits(end, (unsigned long long)v);
	}
	raw(w, p, (size_t)(end - p));
}

/* A count or a time, null when negative (unknown). */
static void num_or_null(struct jw *w, long long v)
{
	if (v < 0)
		lit(w, "null");
	else
		num(w, v);
}

static void boolean(struct jw *w, bool v)
{
	lit(w, v ? "true" : "false");
}

/*
 * Scrub the region written since the last mark. In place when nothing is
 * found, which is nearly always: only a hit costs a copy.
 */
static void scrub_region(struct jw *w)
{
	if (w->rc || w->red == NULL)
		goto out;
	size_t n = w->out->len - w->mark, hit;
	if (redact_find(w->red, w->out->data + w->mark, n, 0, &hit) == n)
		goto out;
	char *copy = malloc(n);
	if (copy == NULL) {
		w->rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, w->out->data + w->mark, n);
	w->out->len = w->mark;
	w->rc = redact_scrub(w->red, copy, n, w->out);
	free(copy);
out:
	w->mark = w->out->len;
}

void record_timestamp(long long ts_ms, char *out, size_t size)
{
	/* The date and time of the last second asked for, per thread: records
	 * come many to a second, and gmtime_r with snprintf is 2,000
	 * instructions. */
	static __thread long long cached_secs = -1;
	static __thread char cached[80];
	long long secs = ts_ms / 1000;
	int ms = (int)(ts_ms % 1000);

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	if (secs != cached_secs) {
		time_t t = (time_t)secs;
		struct tm tm;
		gmtime_r(&t, &tm);
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
		cached_secs = secs;
	}
	if (size < 25) {
		if (size)
			out[0] = '\0';
		return;
	}
	memcpy(out, cached, 19);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

static atomic_ulong record_counter;

void record_new_id(char *out, size_t size)
{
	unsigned long n = atomic_fetch_add(&record_counter, 1) + 1;
	char tmp[48], *end = tmp + sizeof(tmp), *p = digits(end, n);
	*--p = '-';
	p = digits(p, (unsigned long long)getpid());
	size_t len = (size_t)(end - p);
	if (size == 0)
		return;
	if (len >= size)
		len = size - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

static void begin(struct jw *w, const char *type, const char *id,
		  long long ts_ms, pid_t pid)
{
	char ts[40];
	record_timestamp(ts_ms, ts, sizeof(ts));
	lit(w, "{\"type\":");
	cstr(w, type);
	if (id) {
		key(w, "id");
		cstr(w, id);
	}
	key(w, "ts");
	cstr(w, ts);
	key(w, "pid");
	num(w, pid);
}

static void headers(struct jw *w, const struct http_header *h, size_t n)
{
	key(w, "headers");
	raw(w, "[", 1);
	for (size_t i = 0; i < n; i++) {
		raw(w, i ? ",[" : "[", i ? 2 : 1);
		str(w, h[i].name, h[i].name_len);
		raw(w, ",", 1);
		if (http_header_is_secret(h[i].name, h[i].name_len))
			cstr(w, REDACT_MARK);
		else
			str(w, h[i].value, h[i].value_len);
		raw(w, "]", 1);
	}
	raw(w, "]", 1);
}

/* The body as "body" text, cut around secrets as it is escaped; -1 when it
 * is not text (then nothing of it was kept). */
static int body_text(struct jw *w, const char *p, size_t n)
{
	size_t at, hit;
	key(w, "body");
	raw(w, "\"", 1);
	for (size_t i = 0; i < n && w->rc == 0; i = at + hit) {
		at = redact_find(w->red, p, n, i, &hit);
		if (escape(w, p + i, at - i, true) < 0)
			return -1;
		if (at < n)
			lit(w, REDACT_MARK);
	}
	raw(w, "\"", 1);
	return 0;
}

/* body or body_base64, then body_bytes and body_truncated. */
static void body(struct jw *w, const struct record_body *b)
{
	const char *p = b->data ? b->data : "";
	scrub_region(w);
	size_t start = w->out->len;
	if (body_text(w, p, b->len) < 0 && w->rc == 0) {
		/* Binary: base64 of the scrubbed bytes (rare; one copy). */
		struct buf clean;
		buf_init(&clean, RECORD_LINE_MAX);
		w->out->len = start;
		key(w, "body_base64");
		raw(w, "\"", 1);
		if (w->rc == 0 && (w->rc = redact_scrub(w->red, p, b->len, &clean)) == 0)
			w->rc = b64_encode(clean.data, clean.len, w->out);
		raw(w, "\"", 1);
		buf_free(&clean);
	}
	w->mark = w->out->len;
	key(w, "body_bytes");
	num(w, (long long)b->total);
	key(w, "body_truncated");
	boolean(w, b->truncated);
}

/* Close the object, scrub what is left, end the line; on error leave out
 * as it was. */
static int end(struct jw *w, size_t start)
{
	raw(w, "}", 1);
	scrub_region(w);
	raw(w, "\n", 1);
	if (w->rc) {
		w->out->len = start;
		if (w->out->data)
			w->out->data[start] = '\0';
		return w->rc;
	}
	w->out->data[w->out->len] = '\0';
	return 0;
}

static struct jw writer(struct buf *out, struct redact *red)
{
	struct jw w = { out, red, out->len, 0 };
	/* Most records fit in the first allocation; bodies grow it once. */
	w.rc = buf_reserve(out, 1024);
	return w;
}

int record_format_request(const struct record_proc *proc,
			  const struct record_request *r, struct redact *red,
			  struct buf *out)
{
	size_t start = out->len;
	struct jw w = writer(out, red);
	begin(&w, "request", r->id, r->ts_ms, proc->pid);
	key(&w, "ppid");
	num(&w, proc->ppid);
	key(&w, "exe");
	cstr(&w, proc->exe);
	key(&w, "layer");
	cstr(&w, r->layer);
	key(&w, "provider");
	cstr(&w, r->provider_name);
	key(&w, "routed");
	boolean(&w, r->routed);
	key(&w, "method");
	cstr(&w, r->method);

	struct buf url;
	buf_init(&url, RECORD_LINE_MAX);
	const char *urls[2] = { r->url, r->routed_url };
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			key(&w, "url");
		else
			key(&w, "routed_url");
		if (urls[i] == NULL) {
			lit(&w, "null");
			continue;
		}
		buf_reset(&url);
		if (w.rc == 0)
			w.rc = redact_url(urls[i], strlen(urls[i]), &url);
		str(&w, url.data ? url.data : "", url.len);
	}
	buf_free(&url);
	headers(&w, r->headers, r->n_headers);
	body(&w, &r->body);
	return end(&w, start);
}

int record_format_response(const struct record_proc *proc,
			   const struct record_response *r, struct redact *red,
			   struct buf *out)
{
	size_t start = out->len;
	struct jw w = writer(out, red);
	begin(&w, "response", r->id, r->ts_ms, proc->pid);
	key(&w, "status");
	num(&w, r->status);
	headers(&w, r->headers, r->n_headers);
	body(&w, &r->body);
	key(&w, "sse");
	boolean(&w, r->sse);
	key(&w, "ttfb_ms");
	num_or_null(&w, r->ttfb_ms);
	key(&w, "duration_ms");
	num(&w, r->duration_ms);
	key(&w, "usage");
	if (r->usage) {
		lit(&w, "{\"model\":");
		cstr(&w, r->usage->model);
		key(&w, "input_tokens");
		num_or_null(&w, r->usage->input_tokens);
		key(&w, "output_tokens");
		num_or_null(&w, r->usage->output_tokens);
		raw(&w, "}", 1);
	} else {
		lit(&w, "null");
	}
	key(&w, "output_text");
	if (r->output_text)
		str(&w, r->output_text, r->output_text_len);
	else
		lit(&w, "null");
	key(&w, "error");
	cstr(&w, r->error);
	key(&w, "output_text_truncated");
	boolean(&w, r->output_text_truncated);
	return end(&w, start);
}

int record_format_event(const struct record_proc *proc,
			const struct record_event *e, struct redact *red,
			struct buf *out)
{
	size_t start = out->len;
	struct jw w = writer(out, red);
	begin(&w, "event", NULL, e->ts_ms, proc->pid);
	key(&w, "exe");
	cstr(&w, proc->exe);
	key(&w, "event");
	cstr(&w, e->event);
	key(&w, "host");
	cstr(&w, e->host);
	key(&w, "detail");
	cstr(&w, e->detail);
	return end(&w, start);
}
