#include "logpair.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logread.h"

#define TABLE_MIN 64
#define MALLOC_OVERHEAD 16

struct logpair {
	logpair_fn emit;
	void *ctx;
	size_t max_bytes;
	bool ordered;
	size_t bytes;			/* of the items in the queue */
	struct logitem *head, *tail;	/* in the order of their first record */
	struct logitem **table;		/* open requests by id, chained */
	size_t n_buckets, n_open;
};

static uint64_t hash_id(const char *s)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static const char *item_id(const struct logitem *it)
{
	return logread_str(it->req, "id");
}

static struct logitem **bucket(struct logpair *p, const char *id)
{
	return &p->table[hash_id(id) & (p->n_buckets - 1)];
}

/* Grow the table when it is fuller than one per bucket; failing is harmless. */
static void grow(struct logpair *p)
{
	size_t n = p->n_buckets * 2;
	struct logitem **t;
	if (p->n_open < p->n_buckets || (t = calloc(n, sizeof(*t))) == NULL)
		return;
	for (size_t i = 0; i < p->n_buckets; i++) {
		struct logitem *it = p->table[i], *next;
		for (; it; it = next) {
			struct logitem **b = &t[hash_id(item_id(it)) & (n - 1)];
			next = it->hnext;
			it->hnext = *b;
			*b = it;
		}
	}
	free(p->table);
	p->table = t;
	p->n_buckets = n;
}

static struct logitem *table_take(struct logpair *p, const char *id)
{
	for (struct logitem **pp = bucket(p, id); *pp; pp = &(*pp)->hnext) {
		struct logitem *it = *pp;
		if (strcmp(item_id(it), id) == 0) {
			*pp = it->hnext;
			it->hnext = NULL;
			p->n_open--;
			return it;
		}
	}
	return NULL;
}

struct logpair *logpair_new(logpair_fn emit, void *ctx, size_t max_bytes, bool ordered)
{
	struct logpair *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->table = calloc(TABLE_MIN, sizeof(*p->table));
	if (p->table == NULL) {
		free(p);
		return NULL;
	}
	p->n_buckets = TABLE_MIN;
	p->emit = emit;
	p->ctx = ctx;
	p->max_bytes = max_bytes;
	p->ordered = ordered;
	return p;
}

static void item_free(struct logitem *it)
{
	cJSON_Delete(it->req);
	cJSON_Delete(it->resp);
	cJSON_Delete(it->event);
	free(it);
}

static void emit(struct logpair *p, struct logitem *it)
{
	p->emit(p->ctx, it);
	item_free(it);
}

/* What rec holds in memory: its nodes, names and strings. */
static size_t rec_size(const cJSON *rec)
{
	size_t n = 0;
	for (const cJSON *it = rec; it; it = it->next) {
		n += sizeof(cJSON) + MALLOC_OVERHEAD;
		if (it->string)
			n += strlen(it->string) + 1 + MALLOC_OVERHEAD;
		if (it->valuestring)
			n += strlen(it->valuestring) + 1 + MALLOC_OVERHEAD;
		if (it->child)
			n += rec_size(it->child);
	}
	return n;
}

/* Unlink it from the queue and emit it. */
static void emit_queued(struct logpair *p, struct logitem *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		p->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		p->tail = it->prev;
	p->bytes -= it->bytes;
	if (!it->done) {
		const char *id = item_id(it);
		if (id)
			table_take(p, id);
	}
	emit(p, it);
}

static void emit_ready(struct logpair *p)
{
	while (p->head && p->head->done)
		emit_queued(p, p->head);
}

void logpair_flush_done(struct logpair *p)
{
	struct logitem *it, *next;
	for (it = p->head; it; it = next) {
		next = it->next;
		if (it->done)
			emit_queued(p, it);
	}
}

/* Over budget: complete items first, then the oldest open requests. */
static void shed(struct logpair *p)
{
	if (p->bytes <= p->max_bytes)
		return;
	logpair_flush_done(p);
	while (p->bytes > p->max_bytes && p->head) {
		p->head->early = !p->head->done;
		emit_queued(p, p->head);
	}
}

static void enqueue(struct logpair *p, struct logitem *it)
{
	if (it->done && (p->head == NULL || !p->ordered)) {
		emit(p, it);
		return;
	}
	it->prev = p->tail;
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->bytes += it->bytes;
	shed(p);
}

int logpair_add(struct logpair *p, cJSON *rec)
{
	const char *type = logread_str(rec, "type"), *id = logread_str(rec, "id");
	struct logitem *it;

	if (type && strcmp(type, "response") == 0 && id && (it = table_take(p, id))) {
		it->resp = rec;
		it->done = 1;
		if (!p->ordered) {
			emit_queued(p, it);
			return 0;
		}
		size_t more = rec_size(rec);
		it->bytes += more;
		p->bytes += more;
		emit_ready(p);
		shed(p);
		return 0;
	}
	if (type == NULL || (strcmp(type, "request") != 0 && strcmp(type, "response") != 0 &&
			     strcmp(type, "event") != 0)) {
		cJSON_Delete(rec);	/* a record type this reader does not know */
		return 0;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		cJSON_Delete(rec);
		return -ENOMEM;
	}
	it->bytes = sizeof(*it) + MALLOC_OVERHEAD + rec_size(rec);
	if (strcmp(type, "event") == 0) {
		it->event = rec;
		it->done = 1;
	} else if (strcmp(type, "response") == 0) {
		it->resp = rec;		/* its request is not in the log */
		it->done = 1;
	} else {
		it->req = rec;
		if (id) {
			struct logitem *old = table_take(p, id);
			if (old)
				old->done = 1;	/* the same id again: the first one ended */
			struct logitem **b = bucket(p, id);
			it->hnext = *b;
			*b = it;
			p->n_open++;
			grow(p);
		} else {
			it->done = 1;	/* nothing can ever join it */
		}
	}
	enqueue(p, it);
	emit_ready(p);
	return 0;
}

void logpair_finish(struct logpair *p)
{
	while (p->head)
		emit_queued(p, p->head);
}

void logpair_free(struct logpair *p)
{
	struct logitem *it, *next;
	if (p == NULL)
		return;
	for (it = p->head; it; it = next) {
		next = it->next;
		item_free(it);
	}
	free(p->table);
	free(p);
}
