/*
 * respan log har: the log as HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/).
 *
 * Entries are written as their exchanges complete (logpair.h), one per
 * line, so a large log never has to be held; events, which HAR has no
 * place for, go to a temporary file and end up in the custom "_events"
 * list after the entries. Strings from the records (bodies, up to a MiB)
 * are referenced, not copied, while an entry is printed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "logpair.h"
#include "version.h"

struct har {
	FILE *out;
	FILE *events;		/* the events' JSON, comma-separated; NULL: none kept */
	unsigned long n_entries, n_events, n_orphans;
	bool failed;		/* out of memory at some point */
};

static cJSON *str_or_null(const char *s)
{
	return s ? cJSON_CreateStringReference(s) : cJSON_CreateNull();
}

/* The first value of header name (any case) in [[name, value], ...], or NULL. */
static const char *header(const cJSON *hs, const char *name)
{
	const cJSON *h;
	cJSON_ArrayForEach(h, hs) {
		const cJSON *n = cJSON_GetArrayItem(h, 0), *v = cJSON_GetArrayItem(h, 1);
		if (cJSON_IsString(n) && cJSON_IsString(v) &&
		    strcasecmp(n->valuestring, name) == 0)
			return v->valuestring;
	}
	return NULL;
}

/* [[name, value], ...] -> [{"name": ..., "value": ...}, ...] */
static cJSON *har_headers(const cJSON *hs)
{
	cJSON *out = cJSON_CreateArray(), *o;
	const cJSON *h;
	cJSON_ArrayForEach(h, hs) {
		const cJSON *n = cJSON_GetArrayItem(h, 0), *v = cJSON_GetArrayItem(h, 1);
		if (!cJSON_IsString(n) || !cJSON_IsString(v))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "name", cJSON_CreateStringReference(n->valuestring));
		cJSON_AddItemToObject(o, "value", cJSON_CreateStringReference(v->valuestring));
		cJSON_AddItemToArray(out, o);
	}
	return out;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a') + 10 : -1;
}

/* (s, n) with %XX and '+' decoded, as a new item (a %00 ends the string). */
static cJSON *decoded(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	size_t j = 0;
	cJSON *item;
	if (d == NULL)
		return cJSON_CreateString("");
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			d[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			d[j++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	d[j] = '\0';
	item = cJSON_CreateString(d);
	free(d);
	return item;
}

/* The query of url as [{"name", "value"}, ...], decoded. */
static cJSON *har_query(const char *url)
{
	cJSON *out = cJSON_CreateArray();
	const char *q = url ? strchr(url, '?') : NULL, *end;
	if (q == NULL)
		return out;
	q++;
	end = q + strcspn(q, "#");
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(stop - q));
		if (stop > q) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddItemToObject(o, "name", decoded(q, (size_t)((eq ? eq : stop) - q)));
			cJSON_AddItemToObject(o, "value", eq ? decoded(eq + 1, (size_t)(stop - eq - 1))
							     : cJSON_CreateString(""));
			cJSON_AddItemToArray(out, o);
		}
		q = stop + 1;
	}
	return out;
}

static double num(const cJSON *rec, const char *name, double dflt)
{
	double v;
	return rec && logread_num(rec, name, &v) ? v : dflt;
}

/* "truncated: N of M bytes kept" for a body cut at RESPAN_LOG_BODY_MAX. */
static void truncation_comment(cJSON *o, const cJSON *rec)
{
	char text[96];
	if (!logread_true(rec, "body_truncated"))
		return;
	snprintf(text, sizeof(text), "body truncated in the log: %s bytes in all",
		 LOG_NUM(num(rec, "body_bytes", 0)));
	cJSON_AddStringToObject(o, "comment", text);
}

static cJSON *har_request(const cJSON *req)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(req, "headers");
	const char *body = logread_str(req, "body"), *b64 = logread_str(req, "body_base64");
	const char *url = logread_str(req, "url") ? logread_str(req, "url") : "";
	const char *type = header(hs, "content-type");

	cJSON_AddItemToObject(o, "method", cJSON_CreateStringReference(
		logread_str(req, "method") ? logread_str(req, "method") : ""));
	cJSON_AddItemToObject(o, "url", cJSON_CreateStringReference(url));
	cJSON_AddStringToObject(o, "httpVersion", "HTTP/1.1");
	cJSON_AddItemToObject(o, "cookies", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "headers", har_headers(hs));
	cJSON_AddItemToObject(o, "queryString", har_query(url));
	if (body || b64) {
		cJSON *pd = cJSON_CreateObject();
		cJSON_AddItemToObject(pd, "mimeType", cJSON_CreateStringReference(
			type ? type : "application/octet-stream"));
		if (body) {
			cJSON_AddItemToObject(pd, "text", cJSON_CreateStringReference(body));
			truncation_comment(pd, req);
		} else {
			/* postData has no encoding field: the bytes go in a custom one. */
			cJSON_AddStringToObject(pd, "text", "");
			cJSON_AddStringToObject(pd, "comment", "binary body: base64 in _base64");
			cJSON_AddItemToObject(pd, "_base64", cJSON_CreateStringReference(b64));
		}
		cJSON_AddItemToObject(o, "postData", pd);
	}
	cJSON_AddNumberToObject(o, "headersSize", -1);
	cJSON_AddNumberToObject(o, "bodySize", num(req, "body_bytes", -1));
	return o;
}

static cJSON *har_response(const cJSON *resp)
{
	cJSON *o = cJSON_CreateObject(), *content = cJSON_CreateObject();
	const cJSON *hs = resp ? cJSON_GetObjectItemCaseSensitive(resp, "headers") : NULL;
	const char *body = resp ? logread_str(resp, "body") : NULL;
	const char *b64 = resp ? logread_str(resp, "body_base64") : NULL;
	const char *type = header(hs, "content-type"), *location = header(hs, "location");

	cJSON_AddNumberToObject(o, "status", num(resp, "status", 0));
	cJSON_AddStringToObject(o, "statusText", "");
	cJSON_AddStringToObject(o, "httpVersion", "HTTP/1.1");
	cJSON_AddItemToObject(o, "cookies", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "headers", har_headers(hs));
	cJSON_AddNumberToObject(content, "size", num(resp, "body_bytes", 0));
	cJSON_AddItemToObject(content, "mimeType", cJSON_CreateStringReference(
		type ? type : "x-unknown"));
	if (body) {
		cJSON_AddItemToObject(content, "text", cJSON_CreateStringReference(body));
	} else if (b64) {
		cJSON_AddItemToObject(content, "text", cJSON_CreateStringReference(b64));
		cJSON_AddStringToObject(content, "encoding", "base64");
	}
	if (resp)
		truncation_comment(content, resp);
	cJSON_AddItemToObject(o, "content", content);
	cJSON_AddItemToObject(o, "redirectURL", cJSON_CreateStringReference(
		location ? location : ""));
	cJSON_AddNumberToObject(o, "headersSize", -1);
	/* The log has the body decoded: its size on the wire is known only
	 * when it was not compressed. */
	cJSON_AddNumberToObject(o, "bodySize", resp == NULL ? 0 :
				header(hs, "content-encoding") ? -1 : num(resp, "body_bytes", -1));
	return o;
}

static cJSON *har_timings(const cJSON *resp, double *total)
{
	cJSON *t = cJSON_CreateObject();
	double duration = num(resp, "duration_ms", 0), wait = num(resp, "ttfb_ms", duration);
	if (duration < 0)
		duration = 0;
	if (wait < 0 || wait > duration)
		wait = duration;
	cJSON_AddNumberToObject(t, "blocked", -1);
	cJSON_AddNumberToObject(t, "dns", -1);
	cJSON_AddNumberToObject(t, "connect", -1);
	cJSON_AddNumberToObject(t, "ssl", -1);
	cJSON_AddNumberToObject(t, "send", 0);
	cJSON_AddNumberToObject(t, "wait", wait);
	cJSON_AddNumberToObject(t, "receive", duration - wait);
	*total = duration;
	return t;
}

static cJSON *har_entry(const cJSON *req, const cJSON *resp, bool early)
{
	cJSON *e = cJSON_CreateObject(), *timings;
	const cJSON *usage = resp ? cJSON_GetObjectItemCaseSensitive(resp, "usage") : NULL;
	const char *error = resp ? logread_str(resp, "error") : early ?
		"no response yet (too much was waiting)" : "no response in the log";
	double total;

	cJSON_AddItemToObject(e, "startedDateTime", cJSON_CreateStringReference(
		logread_str(req, "ts") ? logread_str(req, "ts") : ""));
	timings = har_timings(resp, &total);
	cJSON_AddNumberToObject(e, "time", total);
	cJSON_AddItemToObject(e, "request", har_request(req));
	cJSON_AddItemToObject(e, "response", har_response(resp));
	cJSON_AddItemToObject(e, "cache", cJSON_CreateObject());
	cJSON_AddItemToObject(e, "timings", timings);
	cJSON_AddItemToObject(e, "_id", str_or_null(logread_str(req, "id")));
	cJSON_AddItemToObject(e, "_provider", str_or_null(logread_str(req, "provider")));
	cJSON_AddItemToObject(e, "_routed_url", str_or_null(logread_str(req, "routed_url")));
	cJSON_AddItemToObject(e, "_layer", str_or_null(logread_str(req, "layer")));
	cJSON_AddNumberToObject(e, "_pid", num(req, "pid", 0));
	cJSON_AddItemToObject(e, "_exe", str_or_null(logread_str(req, "exe")));
	cJSON_AddItemToObject(e, "_usage", cJSON_IsObject(usage) ? cJSON_Duplicate(usage, 1)
							    : cJSON_CreateNull());
	cJSON_AddItemToObject(e, "_output_text", str_or_null(resp ? logread_str(resp, "output_text")
								  : NULL));
	cJSON_AddItemToObject(e, "_error", str_or_null(error));
	return e;
}

static void emit(void *ctx, const struct logitem *it)
{
	struct har *h = ctx;
	cJSON *entry;
	char *text;

	if (it->event) {
		text = cJSON_PrintUnformatted(it->event);
		if (text && h->events) {
			fprintf(h->events, "%s%s", h->n_events ? ",\n" : "\n", text);
			h->n_events++;
		}
		free(text);
		return;
	}
	if (it->req == NULL) {	/* HAR has no entry without a request */
		h->n_orphans++;
		return;
	}
	entry = har_entry(it->req, it->resp, it->early);
	text = entry ? cJSON_PrintUnformatted(entry) : NULL;
	if (text) {
		fprintf(h->out, "%s%s", h->n_entries ? ",\n" : "\n", text);
		h->n_entries++;
	} else {
		h->failed = true;
	}
	free(text);
	cJSON_Delete(entry);
}

int log_har(struct logread *r)
{
	struct har h = { stdout, tmpfile(), 0, 0, 0, false };
	struct logpair *p = logpair_new(emit, &h, LOGPAIR_MAX_BYTES, true);
	char chunk[8192];
	size_t n;
	cJSON *rec;
	int rc, status = 0;

	if (p == NULL) {
		fputs("respan: out of memory\n", stderr);
		if (h.events)
			fclose(h.events);
		return 1;
	}
	if (h.events == NULL)
		fputs("respan: no temporary file: events left out of the HAR\n", stderr);
	fprintf(h.out, "{\"log\": {\n\"version\": \"1.2\",\n"
		"\"creator\": {\"name\": \"respan\", \"version\": \"%s\"},\n"
		"\"entries\": [", RESPAN_VERSION);
	while ((rc = logread_next(r, &rec)) > 0) {
		if (logpair_add(p, rec) < 0) {
			h.failed = true;
			break;
		}
	}
	if (rc < 0)
		status = log_read_error(r, rc);
	logpair_finish(p);
	logpair_free(p);
	fputs(h.n_entries ? "\n],\n\"_events\": [" : "],\n\"_events\": [", h.out);
	if (h.events) {
		rewind(h.events);
		while ((n = fread(chunk, 1, sizeof(chunk), h.events)) > 0)
			fwrite(chunk, 1, n, h.out);
		fclose(h.events);
	}
	fputs(h.n_events ? "\n]\n}}\n" : "]\n}}\n", h.out);
	if (h.n_orphans)
		fprintf(stderr, "respan: %lu response%s without a request in the log left out\n",
			h.n_orphans, h.n_orphans == 1 ? "" : "s");
	if (h.failed) {
		fputs("respan: out of memory: entries are missing\n", stderr);
		status = 1;
	}
	return status;
}
