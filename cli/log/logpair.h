/*
 * logpair: joining a traffic log's request and response records by id, as
 * they are read, and handing out each exchange (or event) in the order its
 * first record was written.
 *
 * A response may come long after its request, with other records in
 * between (threads, processes sharing the file), so requests wait in a
 * table keyed by id and the queue is let out in order once its head is
 * complete. Memory stays bounded: when what waits exceeds max_bytes (a
 * request whose response never came holds up everything behind it), the
 * complete items go out first, out of order, then the oldest open request
 * goes out without its response. A response that turns up after that, or
 * whose request is not in the log at all, is an item of its own.
 *
 * The size of a record is reckoned from its parsed tree (nodes, names and
 * strings, with allocator overhead), so max_bytes is close to real memory.
 */
#ifndef RESPAN_CLI_LOGPAIR_H
#define RESPAN_CLI_LOGPAIR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#ifndef LOGPAIR_MAX_BYTES
#define LOGPAIR_MAX_BYTES (64u << 20)
#endif

/* One thing to show: an exchange, or an event. */
struct logitem {
	cJSON *req;	/* NULL: a response whose request is not in the log */
	cJSON *resp;	/* NULL: no response (the log ended, or it was given up on) */
	cJSON *event;	/* an event record (req and resp are NULL) */
	bool early;	/* given up on to bound memory: the response may follow */
	/* private */
	size_t bytes;
	int done;
	struct logitem *prev, *next, *hnext;
};

/* Called for each item; the records are freed after it returns. */
typedef void (*logpair_fn)(void *ctx, const struct logitem *it);

struct logpair;

/*
 * A joiner that hands items to emit(ctx, item): in order, or (ordered
 * false) each as soon as it is complete. NULL when out of memory.
 */
struct logpair *logpair_new(logpair_fn emit, void *ctx, size_t max_bytes, bool ordered);

/*
 * Take rec (a record from logread_next; owned from now on). Records of
 * other types are dropped. Emits what is ready. Returns 0 or -ENOMEM.
 */
int logpair_add(struct logpair *p, cJSON *rec);

/* Emit every complete item now, leaving the open requests waiting (used
 * while following, when the input is idle). */
void logpair_flush_done(struct logpair *p);

/* The end of the input: emit everything, open requests without response. */
void logpair_finish(struct logpair *p);

/* Free p and whatever still waits, without emitting it. NULL is fine. */
void logpair_free(struct logpair *p);

#endif
