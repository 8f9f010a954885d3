/*
 * cassette: the recorded exchanges `respan replay` answers from, and how a
 * request is matched to one (docs/replay.md).
 *
 * A cassette is a traffic log (docs/log-format.md). Each exchange of it
 * whose request was read whole becomes an entry, keyed by:
 *   - the method;
 *   - the request-target on the router relative to the router's base path
 *     ("chat/completions", "anthropic/v1/messages?beta=true"), with every
 *     `key` query parameter taken out (a credential); a request the program
 *     sent to a provider's URL is taken where the library would route it
 *     (route_target), one it sent to the router already by its path;
 *   - the body, canonical when it is JSON (object keys sorted, no
 *     whitespace: key order and spacing do not matter), else its bytes.
 * The provider is part of the target (the router path names it).
 *
 * A request is answered by the first entry, in the cassette's order, with
 * the same key that has not answered yet: identical requests get the
 * recorded answers in recorded order, and one asked more often than it was
 * recorded is a miss.
 *
 * Memory: the entries and their response records are held for the life of
 * the cassette (a cassette is read once, whole, at start).
 */
#ifndef RESPAN_CLI_CASSETTE_H
#define RESPAN_CLI_CASSETTE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"

struct cassette_key {
	char *method;
	char *target;		/* relative to the base path, no key= parameters */
	char *body;		/* canonical JSON, or the bytes as they were */
	size_t body_len;
};

struct cassette_entry {
	struct cassette_key key;
	cJSON *req;		/* the request record */
	cJSON *resp;		/* the response record, NULL when there was none */
	char *id;		/* the request record's id, for messages */
	bool used;
};

struct cassette {
	struct cassette_entry *v;
	size_t n, cap;
	size_t cut_requests;	/* requests left out: their body was cut in the log */
	size_t records;		/* records read */
};

/*
 * Read path into c, from byte offset on (0: all of it). cfg is the
 * configuration requests will be matched under (its router path is the
 * base), recorded_base the router path the cassette's router URLs were made
 * with (the user's configuration; NULL: cfg's). Returns 0, or a negative
 * errno with a one-line reason in err.
 */
int cassette_load(struct cassette *c, const char *path, long long offset,
		  const struct config *cfg, const char *recorded_base, char *err,
		  size_t errsize);

/*
 * The key of a request as it reaches the replay server: method, its
 * request-target on the router (origin form), its body. Returns 0 or
 * -ENOMEM. Free with cassette_key_free().
 */
int cassette_key_of(const struct config *cfg, const char *method, const char *target,
		    size_t target_len, const char *body, size_t body_len,
		    struct cassette_key *out);

void cassette_key_free(struct cassette_key *k);

/* The first unused entry with key k, now marked used; or NULL. Not locked. */
struct cassette_entry *cassette_match(struct cassette *c, const struct cassette_key *k);

void cassette_free(struct cassette *c);

/*
 * The body of a request or response record: "body", or "body_base64"
 * decoded; "" when it has neither. A malloc'd copy (NUL-terminated, *len
 * bytes before it), or NULL when out of memory or not valid base64.
 */
char *cassette_record_body(const cJSON *rec, size_t *len);

/*
 * Append to out the canonical form of the JSON text (body, len): object
 * members sorted by name (bytewise), no whitespace, strings and numbers as
 * cJSON prints them. Returns 1 when body was JSON, 0 when it was not (out
 * unchanged), -ENOMEM.
 */
int cassette_canonical_json(const char *body, size_t len, struct buf *out);

/*
 * The router-relative form of a request-target: base (the router path,
 * "/api/") taken off its front when it is there, else the leading '/';
 * then every `key` query parameter removed. Appended to out; 0 or -ENOMEM.
 */
int cassette_relative_target(const char *target, size_t len, const char *base,
			     struct buf *out);

#endif
