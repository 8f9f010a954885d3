/* cassette: recorded exchanges and request matching; see cassette.h. */
#include "cassette.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log/logpair.h"
#include "log/logread.h"
#include "route.h"

/* ---- canonical JSON ------------------------------------------------------ */

static int put_string(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int rc = buf_append(out, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', (char)*p };
			rc = buf_append(out, esc, 2);
		} else if (*p < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
			rc = buf_append(out, esc, 6);
		} else {
			rc = buf_append(out, p, 1);
		}
	}
	return rc ? rc : buf_append(out, "\"", 1);
}

struct member {
	const cJSON *item;
	size_t index;		/* the tie-break for duplicate names: stable order */
};

static int by_name(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->item->string ? x->item->string : "",
		       y->item->string ? y->item->string : "");
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int put_value(struct buf *out, const cJSON *v)
{
	char num[40];
	int rc = 0;

	if (cJSON_IsObject(v)) {
		size_t n = 0;
		for (const cJSON *c = v->child; c; c = c->next)
			n++;
		struct member *m = n ? malloc(n * sizeof(*m)) : NULL;
		if (n && m == NULL)
			return -ENOMEM;
		n = 0;
		for (const cJSON *c = v->child; c; c = c->next, n++)
			m[n] = (struct member){ c, n };
		qsort(m, n, sizeof(*m), by_name);
		rc = buf_append(out, "{", 1);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (i)
				rc = buf_append(out, ",", 1);
			if (rc == 0)
				rc = put_string(out, m[i].item->string ? m[i].item->string : "");
			if (rc == 0)
				rc = buf_append(out, ":", 1);
			if (rc == 0)
				rc = put_value(out, m[i].item);
		}
		free(m);
		return rc ? rc : buf_append(out, "}", 1);
	}
	if (cJSON_IsArray(v)) {
		rc = buf_append(out, "[", 1);
		for (const cJSON *c = v->child; rc == 0 && c; c = c->next) {
			if (c != v->child)
				rc = buf_append(out, ",", 1);
			if (rc == 0)
				rc = put_value(out, c);
		}
		return rc ? rc : buf_append(out, "]", 1);
	}
	if (cJSON_IsString(v))
		return put_string(out, v->valuestring ? v->valuestring : "");
	if (cJSON_IsNumber(v)) {
		/* Both sides are parsed by cJSON: the same double, the same text. */
		snprintf(num, sizeof(num), "%.17g", v->valuedouble);
		return buf_puts(out, num);
	}
	if (cJSON_IsTrue(v))
		return buf_puts(out, "true");
	if (cJSON_IsFalse(v))
		return buf_puts(out, "false");
	return buf_puts(out, "null");
}

int cassette_canonical_json(const char *body, size_t len, struct buf *out)
{
	const char *end = NULL;
	if (len == 0)
		return 0;
	cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (root == NULL)
		return 0;
	/* Only whitespace may follow the value. */
	for (const char *p = end; p && p < body + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			cJSON_Delete(root);
			return 0;
		}
	size_t start = out->len;
	int rc = put_value(out, root);
	cJSON_Delete(root);
	if (rc < 0) {
		out->len = start;
		return rc;
	}
	return 1;
}

/* ---- targets ----------------------------------------------------------- */

/* Is the query parameter (p, n) ("name" or "name=value") a key= one? */
static bool is_key_param(const char *p, size_t n)
{
	size_t name = 0;
	while (name < n && p[name] != '=')
		name++;
	return name == 3 && memcmp(p, "key", 3) == 0;
}

int cassette_relative_target(const char *target, size_t len, const char *base,
			     struct buf *out)
{
	size_t blen = base ? strlen(base) : 0;
	if (blen && len >= blen && memcmp(target, base, blen) == 0) {
		target += blen;
		len -= blen;
	} else if (len && target[0] == '/') {
		target++;
		len--;
	}
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;
	int rc = buf_append(out, target, plen);
	bool first = true;
	for (const char *p = q ? q + 1 : NULL, *end = target + len; rc == 0 && p && p <= end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);
		if (n && !is_key_param(p, n)) {
			rc = buf_append(out, first ? "?" : "&", 1);
			if (rc == 0)
				rc = buf_append(out, p, n);
			first = false;
		}
		p = amp ? amp + 1 : NULL;
	}
	/* An empty target is still a string. */
	if (rc == 0 && (rc = buf_reserve(out, 1)) == 0)
		out->data[out->len] = '\0';
	return rc;
}

/*
 * The router-relative target of a recorded request's url: where the library
 * routes a provider URL, or the path of a URL that named the router itself.
 */
static int recorded_target(const struct config *cfg, const char *recorded_base,
			   const char *url, struct buf *out)
{
	size_t len = strlen(url);
	const char *scheme = strstr(url, "://");
	if (scheme == NULL)
		return cassette_relative_target(url, len, recorded_base, out);
	const char *host = scheme + 3;
	const char *path = host + strcspn(host, "/?");
	size_t hlen = (size_t)(path - host);
	if (hlen && host[0] == '[') {
		const char *close = memchr(host, ']', hlen);
		hlen = close ? (size_t)(close - host) + 1 : hlen;
	} else {
		const char *colon = memchr(host, ':', hlen);
		hlen = colon ? (size_t)(colon - host) : hlen;
	}
	enum provider_id id = route_lookup_host(cfg, host, hlen);
	if (id != PROVIDER_NONE) {
		struct buf routed;
		buf_init(&routed, SIZE_MAX);
		int rc = route_target(cfg, id, url, len, &routed);
		if (rc == 0)
			rc = cassette_relative_target(routed.data, routed.len, cfg->router_path, out);
		buf_free(&routed);
		if (rc != -EINVAL)
			return rc;
	}
	return cassette_relative_target(*path ? path : "/", *path ? strlen(path) : 1,
					recorded_base, out);
}

/* ---- keys and entries ---------------------------------------------------- */

static int make_body(const char *body, size_t len, struct cassette_key *k)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	int rc = cassette_canonical_json(body, len, &b);
	if (rc == 0)
		rc = buf_append(&b, body, len);
	if (rc < 0 || buf_reserve(&b, 1) < 0) {
		buf_free(&b);
		return -ENOMEM;
	}
	b.data[b.len] = '\0';
	k->body_len = b.len;
	k->body = buf_steal(&b);
	return k->body ? 0 : -ENOMEM;
}

int cassette_key_of(const struct config *cfg, const char *method, const char *target,
		    size_t target_len, const char *body, size_t body_len,
		    struct cassette_key *out)
{
	struct buf t;
	memset(out, 0, sizeof(*out));
	buf_init(&t, SIZE_MAX);
	if (cassette_relative_target(target, target_len, cfg->router_path, &t) < 0 ||
	    (out->target = buf_steal(&t)) == NULL || (out->method = strdup(method)) == NULL ||
	    make_body(body, body_len, out) < 0) {
		buf_free(&t);
		cassette_key_free(out);
		return -ENOMEM;
	}
	return 0;
}

void cassette_key_free(struct cassette_key *k)
{
	free(k->method);
	free(k->target);
	free(k->body);
	memset(k, 0, sizeof(*k));
}

static bool key_equal(const struct cassette_key *a, const struct cassette_key *b)
{
	return strcmp(a->method, b->method) == 0 && strcmp(a->target, b->target) == 0 &&
	       a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0;
}

struct cassette_entry *cassette_match(struct cassette *c, const struct cassette_key *k)
{
	for (size_t i = 0; i < c->n; i++)
		if (!c->v[i].used && key_equal(&c->v[i].key, k)) {
			c->v[i].used = true;
			return &c->v[i];
		}
	return NULL;
}

char *cassette_record_body(const cJSON *rec, size_t *len)
{
	const char *text = logread_str(rec, "body"), *b64 = logread_str(rec, "body_base64");
	if (text) {
		*len = strlen(text);
		return strdup(text);
	}
	if (b64 == NULL) {
		*len = 0;
		return strdup("");
	}
	size_t n = strlen(b64);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	if (out == NULL)
		return NULL;
	int got = n % 4 ? -1 : EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n && b64[n - 1] == '=' && got > 0) {
		n--;
		got--;
	}
	*len = (size_t)got;
	return (char *)out;
}

struct loader {
	struct cassette *c;
	const struct config *cfg;
	const char *recorded_base;
	int error;
};

static void take_item(void *arg, const struct logitem *it)
{
	struct loader *ld = arg;
	struct cassette *c = ld->c;
	const char *method = it->req ? logread_str(it->req, "method") : NULL;
	const char *url = it->req ? logread_str(it->req, "url") : NULL;
	if (ld->error || method == NULL || url == NULL)
		return;
	if (logread_true(it->req, "body_truncated")) {
		c->cut_requests++;
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cassette_entry *v = realloc(c->v, cap * sizeof(*v));
		if (v == NULL) {
			ld->error = -ENOMEM;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	struct cassette_entry *e = &c->v[c->n];
	memset(e, 0, sizeof(*e));
	struct buf t;
	size_t blen;
	buf_init(&t, SIZE_MAX);
	char *body = cassette_record_body(it->req, &blen);
	const char *id = logread_str(it->req, "id");
	if (body == NULL || recorded_target(ld->cfg, ld->recorded_base, url, &t) < 0 ||
	    (e->key.target = buf_steal(&t)) == NULL ||
	    (e->key.method = strdup(method)) == NULL || make_body(body, blen, &e->key) < 0 ||
	    (e->id = strdup(id ? id : "?")) == NULL ||
	    (e->req = cJSON_Duplicate(it->req, true)) == NULL ||
	    (it->resp && (e->resp = cJSON_Duplicate(it->resp, true)) == NULL)) {
		buf_free(&t);
		cassette_key_free(&e->key);
		free(e->id);
		cJSON_Delete(e->req);
		cJSON_Delete(e->resp);
		ld->error = -ENOMEM;
	} else {
		c->n++;
	}
	free(body);
}

int cassette_load(struct cassette *c, const char *path, long long offset,
		  const struct config *cfg, const char *recorded_base, char *err,
		  size_t errsize)
{
	struct logread r;
	struct loader ld = { c, cfg, recorded_base ? recorded_base : cfg->router_path, 0 };
	memset(c, 0, sizeof(*c));
	int rc = logread_open(&r, path, false);
	if (rc < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* Only what was written after offset (a log that grew during a run). */
	if (offset > 0) {
		if (lseek(r.fd, (off_t)offset, SEEK_SET) < 0) {
			rc = -errno;
			snprintf(err, errsize, "%s: %s", path, strerror(errno));
			logread_close(&r);
			return rc;
		}
		r.offset = (off_t)offset;
	}
	struct logpair *p = logpair_new(take_item, &ld, LOGPAIR_MAX_BYTES, true);
	if (p == NULL) {
		logread_close(&r);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	cJSON *rec;
	while (ld.error == 0 && (rc = logread_next(&r, &rec)) > 0) {
		c->records++;
		if (logpair_add(p, rec) < 0)
			ld.error = -ENOMEM;
	}
	if (rc < 0 && ld.error == 0)
		ld.error = rc;
	if (ld.error == 0)
		logpair_finish(p);
	logpair_free(p);
	logread_close(&r);
	if (ld.error < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(-ld.error));
		cassette_free(c);
		return ld.error;
	}
	return 0;
}

void cassette_free(struct cassette *c)
{
	for (size_t i = 0; i < c->n; i++) {
		cassette_key_free(&c->v[i].key);
		cJSON_Delete(c->v[i].req);
		cJSON_Delete(c->v[i].resp);
		free(c->v[i].id);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}
