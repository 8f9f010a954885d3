#include "redact.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "memfind.h"

struct secret {
	char *data;
	size_t len;
	size_t k;		/* the byte looked for first: the least common */
};

/* The position in s of its least common byte, by a rough ranking of bytes
 * in JSON and English text (digits and capitals are rarer than '"' or 'e'). */
static size_t rare_byte(const char *s, size_t n)
{
	static const char common[] = " \":,etaoinsrhldcumfpywgbvkxjqz{}[]-_.0123456789";
	size_t k = 0, rank = 0;
	for (size_t i = 0; i < n; i++) {
		const char *c = memchr(common, s[i], sizeof(common) - 1);
		size_t r = c ? (size_t)(c - common) : sizeof(common);
		if (r > rank) {
			rank = r;
			k = i;
		}
	}
	return k;
}

struct redact {
	pthread_mutex_t lock;
	struct secret secrets[REDACT_MAX_SECRETS];
	size_t n;
	size_t next_evict;	/* ring position among slots 1..MAX-1 */
};

struct redact *redact_new(void)
{
	struct redact *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->next_evict = 1;
	return r;
}

void redact_free(struct redact *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->secrets[i].data);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void redact_add(struct redact *r, const char *secret, size_t len)
{
	if (r == NULL || len < REDACT_MIN_SECRET)
		return;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		if (r->secrets[i].len == len &&
		    memcmp(r->secrets[i].data, secret, len) == 0)
			goto out;
	}
	char *copy = malloc(len);
	if (copy == NULL)
		goto out;
	memcpy(copy, secret, len);
	size_t slot;
	if (r->n < REDACT_MAX_SECRETS) {
		slot = r->n++;
	} else {
		/* Slot 0 holds the first secret learned (the Respan key): keep it. */
		slot = r->next_evict;
		r->next_evict = r->next_evict + 1 < REDACT_MAX_SECRETS ?
					r->next_evict + 1 : 1;
		free(r->secrets[slot].data);
	}
	r->secrets[slot].data = copy;
	r->secrets[slot].len = len;
	r->secrets[slot].k = rare_byte(copy, len);
out:
	pthread_mutex_unlock(&r->lock);
}

/*
 * Where each secret next occurs at or after i (len when nowhere).
 */
static size_t next_at(const struct secret *sec, const char *in, size_t len, size_t i)
{
	const char *p = memfind(in + i, len - i, sec->data, sec->len, sec->k);
	return p ? (size_t)(p - in) : len;
}

size_t redact_find(struct redact *r, const char *in, size_t len, size_t from,
		   size_t *hit_len)
{
	size_t at = len, hit = 0;
	*hit_len = 0;
	if (r == NULL || from >= len)
		return len;
	pthread_mutex_lock(&r->lock);
	for (size_t s = 0; s < r->n; s++) {
		/* Only where it could start before the best so far, and end in. */
		size_t end = at < len ? at + r->secrets[s].len : len;
		size_t p = next_at(&r->secrets[s], in, end < len ? end : len, from);
		if (p < at || (p == at && p < len && r->secrets[s].len > hit)) {
			at = p;
			hit = r->secrets[s].len;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (at < len)
		*hit_len = hit;
	return at;
}

int redact_scrub(struct redact *r, const char *in, size_t len, struct buf *out)
{
	if (r == NULL)
		return buf_append(out, in, len);

	int rc = 0;
	size_t i = 0;
	size_t next[REDACT_MAX_SECRETS];
	pthread_mutex_lock(&r->lock);
	for (size_t s = 0; s < r->n; s++)
		next[s] = next_at(&r->secrets[s], in, len, 0);
	for (;;) {
		/* The earliest hit; of those starting there, the longest. */
		size_t at = len, hit = 0;
		for (size_t s = 0; s < r->n; s++) {
			if (next[s] < i)	/* inside the previous hit */
				next[s] = next_at(&r->secrets[s], in, len, i);
			if (next[s] < at || (next[s] == at && at < len &&
					     r->secrets[s].len > hit)) {
				at = next[s];
				hit = r->secrets[s].len;
			}
		}
		if (at == len)
			break;
		if ((rc = buf_append(out, in + i, at - i)) < 0 ||
		    (rc = buf_puts(out, REDACT_MARK)) < 0)
			goto out;
		i = at + hit;
	}
	rc = buf_append(out, in + i, len - i);
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int redact_url(const char *url, size_t len, struct buf *out)
{
	const char *q = memchr(url, '?', len);
	if (q == NULL)
		return buf_append(out, url, len);

	const char *end = url + len;
	const char *p = q + 1;
	int rc = buf_append(out, url, (size_t)(p - url));
	while (rc == 0 && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (eq && eq - p == 3 && memcmp(p, "key", 3) == 0) {
			rc = buf_append(out, p, 4);
			if (rc == 0)
				rc = buf_puts(out, REDACT_MARK);
		} else {
			rc = buf_append(out, p, (size_t)(stop - p));
		}
		if (rc == 0 && amp)
			rc = buf_append(out, "&", 1);
		p = stop + 1;
	}
	return rc;
}

void redact_credential(const char *name, size_t name_len, const char *value,
		       size_t value_len, const char **cred, size_t *cred_len)
{
	const char *p = value;
	const char *end = value + value_len;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (http_token_is(name, name_len, "authorization") ||
	    http_token_is(name, name_len, "proxy-authorization")) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		if (sp) {
			p = sp;
			while (p < end && *p == ' ')
				p++;
		}
	}
	*cred = p;
	*cred_len = (size_t)(end - p);
}

void redact_fork(struct redact *r, enum fork_phase phase)
{
	fork_phase_lock(&r->lock, phase);
}
