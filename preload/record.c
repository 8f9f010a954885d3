#include "record.h"

#include <cjson/cJSON.h>
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

/* Bytes from u[i] on that are ASCII other than NUL; returns where they end. */
static size_t ascii_run(const unsigned char *u, size_t i, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	/* Eight at a time: no high bit set, and no zero byte. */
	while (n - i >= 8) {
		uint64_t v;
		memcpy(&v, u + i, 8);
		if ((v & highs) != 0 || ((v - ones) & ~v & highs) != 0)
			break;
		i += 8;
	}
	while (i < n && (unsigned)u[i] - 1u < 0x7fu)
		i++;
	return i;
}

/* Text for the log: valid UTF-8 without NUL bytes. */
static bool is_text(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		i = ascii_run(u, i, n);
		if (i == n)
			break;
		if (u[i] == 0)
			return false;
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/*
 * A JSON string from (p, n). Header values may hold obs-text that is not
 * UTF-8: such bytes are taken as Latin-1 so the record stays valid JSON.
 */
static cJSON *json_str(const char *p, size_t n)
{
	char *s = malloc(n * 2 + 1);
	if (s == NULL)
		return NULL;
	const unsigned char *u = (const unsigned char *)p;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t run = ascii_run(u, i, n);
		memcpy(s + o, u + i, run - i);	/* the usual case, in one piece */
		o += run - i;
		i = run;
		if (i == n)
			break;
		size_t k = u[i] ? utf8_seq(u + i, n - i) : 0;
		if (k > 0) {
			memcpy(s + o, u + i, k);
			o += k;
			i += k;
		} else if (u[i] == 0) {
			i++;	/* NUL cannot travel in a C string; drop it */
		} else {
			s[o++] = (char)(0xc0 | u[i] >> 6);
			s[o++] = (char)(0x80 | (u[i] & 0x3f));
			i++;
		}
	}
	s[o] = '\0';
	cJSON *j = cJSON_CreateString(s);
	free(s);
	return j;
}

static cJSON *json_cstr(const char *s)
{
	return s ? json_str(s, strlen(s)) : cJSON_CreateNull();
}

void record_timestamp(long long ts_ms, char *out, size_t size)
{
	time_t secs = (time_t)(ts_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ts_ms % 1000));
}

static atomic_ulong record_counter;

void record_new_id(char *out, size_t size)
{
	unsigned long n = atomic_fetch_add(&record_counter, 1) + 1;
	snprintf(out, size, "%ld-%lu", (long)getpid(), n);
}

static void add_common(cJSON *o, const char *type, const char *id,
		       long long ts_ms, pid_t pid)
{
	char ts[40];
	record_timestamp(ts_ms, ts, sizeof(ts));
	cJSON_AddItemToObject(o, "type", cJSON_CreateString(type));
	if (id)
		cJSON_AddItemToObject(o, "id", cJSON_CreateString(id));
	cJSON_AddItemToObject(o, "ts", cJSON_CreateString(ts));
	cJSON_AddItemToObject(o, "pid", cJSON_CreateNumber((double)pid));
}

static cJSON *json_headers(const struct http_header *h, size_t n)
{
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; list && i < n; i++) {
		cJSON *pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, json_str(h[i].name, h[i].name_len));
		if (http_header_is_secret(h[i].name, h[i].name_len))
			cJSON_AddItemToArray(pair, cJSON_CreateString(REDACT_MARK));
		else
			cJSON_AddItemToArray(pair,
					     json_str(h[i].value, h[i].value_len));
		cJSON_AddItemToArray(list, pair);
	}
	return list;
}

/* body or body_base64, then body_bytes and body_truncated. */
static int add_body(cJSON *o, const struct record_body *b, struct redact *red)
{
	struct buf clean;
	buf_init(&clean, RECORD_LINE_MAX);
	int rc = redact_scrub(red, b->data ? b->data : "", b->len, &clean);
	if (rc < 0)
		goto out;
	if (is_text(clean.data ? clean.data : "", clean.len)) {
		cJSON_AddItemToObject(o, "body",
				      json_str(clean.data ? clean.data : "", clean.len));
	} else {
		struct buf enc;
		buf_init(&enc, RECORD_LINE_MAX);
		rc = b64_encode(clean.data, clean.len, &enc);
		if (rc == 0)
			cJSON_AddItemToObject(o, "body_base64",
					      cJSON_CreateString(enc.data ? enc.data : ""));
		buf_free(&enc);
		if (rc < 0)
			goto out;
	}
	cJSON_AddItemToObject(o, "body_bytes", cJSON_CreateNumber((double)b->total));
	cJSON_AddItemToObject(o, "body_truncated", cJSON_CreateBool(b->truncated));
out:
	buf_free(&clean);
	return rc;
}

/* Print o, scrub the line of every secret, append it and a newline. */
static int finish(cJSON *o, struct redact *red, struct buf *out)
{
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		return -ENOMEM;
	size_t start = out->len;
	int rc = redact_scrub(red, text, strlen(text), out);
	if (rc == 0)
		rc = buf_append(out, "\n", 1);
	if (rc < 0)
		out->len = start;	/* never leave half a record behind */
	if (out->data)
		out->data[out->len] = '\0';
	free(text);
	return rc;
}

int record_format_request(const struct record_proc *proc,
			  const struct record_request *r, struct redact *red,
			  struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -ENOMEM;
	add_common(o, "request", r->id, r->ts_ms, proc->pid);
	cJSON_AddItemToObject(o, "ppid", cJSON_CreateNumber((double)proc->ppid));
	cJSON_AddItemToObject(o, "exe", json_cstr(proc->exe));
	cJSON_AddItemToObject(o, "layer", json_cstr(r->layer));
	cJSON_AddItemToObject(o, "provider", r->provider_name ?
			      cJSON_CreateString(r->provider_name) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "routed", cJSON_CreateBool(r->routed));
	cJSON_AddItemToObject(o, "method", json_cstr(r->method));

	struct buf url;
	buf_init(&url, RECORD_LINE_MAX);
	int rc = 0;
	const char *urls[2] = { r->url, r->routed_url };
	const char *names[2] = { "url", "routed_url" };
	for (int i = 0; i < 2; i++) {
		if (urls[i] == NULL) {
			cJSON_AddItemToObject(o, names[i], cJSON_CreateNull());
			continue;
		}
		buf_reset(&url);
		if ((rc = redact_url(urls[i], strlen(urls[i]), &url)) < 0)
			break;
		cJSON_AddItemToObject(o, names[i], json_str(url.data, url.len));
	}
	buf_free(&url);
	cJSON_AddItemToObject(o, "headers", json_headers(r->headers, r->n_headers));
	if (rc == 0)
		rc = add_body(o, &r->body, red);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	return finish(o, red, out);
}

int record_format_response(const struct record_proc *proc,
			   const struct record_response *r, struct redact *red,
			   struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -ENOMEM;
	add_common(o, "response", r->id, r->ts_ms, proc->pid);
	cJSON_AddItemToObject(o, "status", cJSON_CreateNumber(r->status));
	cJSON_AddItemToObject(o, "headers", json_headers(r->headers, r->n_headers));
	int rc = add_body(o, &r->body, red);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	cJSON_AddItemToObject(o, "sse", cJSON_CreateBool(r->sse));
	cJSON_AddItemToObject(o, "ttfb_ms", r->ttfb_ms < 0 ? cJSON_CreateNull() :
			      cJSON_CreateNumber((double)r->ttfb_ms));
	cJSON_AddItemToObject(o, "duration_ms", cJSON_CreateNumber((double)r->duration_ms));
	if (r->usage) {
		cJSON *u = cJSON_CreateObject();
		cJSON_AddItemToObject(u, "model", json_cstr(r->usage->model));
		cJSON_AddItemToObject(u, "input_tokens", r->usage->input_tokens < 0 ?
				      cJSON_CreateNull() :
				      cJSON_CreateNumber((double)r->usage->input_tokens));
		cJSON_AddItemToObject(u, "output_tokens", r->usage->output_tokens < 0 ?
				      cJSON_CreateNull() :
				      cJSON_CreateNumber((double)r->usage->output_tokens));
		cJSON_AddItemToObject(o, "usage", u);
	} else {
		cJSON_AddItemToObject(o, "usage", cJSON_CreateNull());
	}
	cJSON_AddItemToObject(o, "output_text", r->output_text ?
			      json_str(r->output_text, r->output_text_len) :
			      cJSON_CreateNull());
	cJSON_AddItemToObject(o, "error", json_cstr(r->error));
	return finish(o, red, out);
}

int record_format_event(const struct record_proc *proc,
			const struct record_event *e, struct redact *red,
			struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -ENOMEM;
	add_common(o, "event", NULL, e->ts_ms, proc->pid);
	cJSON_AddItemToObject(o, "exe", json_cstr(proc->exe));
	cJSON_AddItemToObject(o, "event", json_cstr(e->event));
	cJSON_AddItemToObject(o, "host", json_cstr(e->host));
	cJSON_AddItemToObject(o, "detail", json_cstr(e->detail));
	return finish(o, red, out);
}
