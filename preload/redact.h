/*
 * redact: the secrets that must never reach the log, and the scrubbing of
 * them from anything about to be written.
 *
 * Credential headers are redacted by name (http_header_is_secret) and key=
 * query parameters by name; on top of that every secret value the library
 * has seen (the Respan key, each provider credential a program sent) is
 * remembered here and replaced wherever it appears, in any record, by
 * "[REDACTED]". Thread-safe.
 */
#ifndef RESPAN_REDACT_H
#define RESPAN_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "forkphase.h"

#define REDACT_MARK "[REDACTED]"
#define REDACT_MAX_SECRETS 64
#define REDACT_MIN_SECRET 6	/* shorter values are too common to scrub */

struct redact;

struct redact *redact_new(void);
void redact_free(struct redact *r);

/* Around fork(): see forkphase.h. */
void redact_fork(struct redact *r, enum fork_phase phase);

/*
 * Remember a secret (copied). A "Bearer " or other scheme prefix is not
 * stripped here: pass the credential itself. Values shorter than
 * REDACT_MIN_SECRET and duplicates are ignored; past REDACT_MAX_SECRETS the
 * oldest learned (not the first, which is the Respan key) is replaced.
 */
void redact_add(struct redact *r, const char *secret, size_t len);

/*
 * Append (in, len) to out with every remembered secret replaced by
 * REDACT_MARK. Returns 0 or buf_append's error.
 */
int redact_scrub(struct redact *r, const char *in, size_t len, struct buf *out);

/*
 * Where the first remembered secret at or after from begins in (in, len),
 * and its length in *hit_len (the longest of those starting there); len and
 * 0 when there is none. For writers that copy around the secrets
 * themselves: redact_scrub's result is the text up to each hit, REDACT_MARK,
 * then on from the hit's end.
 */
size_t redact_find(struct redact *r, const char *in, size_t len, size_t from,
		   size_t *hit_len);

/*
 * Append a request-target or URL with the value of every key= query
 * parameter replaced by REDACT_MARK. Returns 0 or buf_append's error.
 */
int redact_url(const char *url, size_t len, struct buf *out);

/*
 * The credential inside a header value: for Authorization the part after the
 * scheme ("Bearer sk-1" -> "sk-1"), otherwise the whole value, blanks
 * trimmed.
 */
void redact_credential(const char *name, size_t name_len, const char *value,
		       size_t value_len, const char **cred, size_t *cred_len);

#endif
