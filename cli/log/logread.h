/*
 * logread: reading a librespan traffic log (docs/log-format.md) record by
 * record, for `respan log`.
 *
 * Lines are read through one buffer with a hard cap (LOGREAD_LINE_MAX), so
 * a 1 MiB body escaped into a line is fine and no line can take unbounded
 * memory. A line that is not a JSON object is skipped with one warning on
 * stderr naming its line number; a line longer than the cap likewise.
 *
 * Following (`-f`): at the end of the file logread_next() says so instead
 * of taking a partial last line, and logread_reopen() notices a file that
 * was truncated or replaced (rotation) and starts over on the new one.
 *
 * The fields of a record are read with logread_str/_num/_true, which take
 * a field of another type (the log is input) as absent.
 */
#ifndef RESPAN_CLI_LOGREAD_H
#define RESPAN_CLI_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "buf.h"

#define LOGREAD_LINE_MAX (64u << 20)	/* a record with two 1 MiB bodies is ~10 MiB */
#define LOGREAD_CHUNK 65536

struct logread {
	const char *name;	/* as given: "-" is stdin */
	int fd;
	bool follow;		/* a partial last line is waited for, not taken */
	bool regular;		/* a regular file (truncation and rotation apply) */
	dev_t dev;
	ino_t ino;
	off_t offset;		/* bytes read from fd so far */
	struct buf buf;		/* bytes read, not yet returned as lines */
	size_t pos;		/* start of the next line in buf */
	size_t scanned;		/* buf[pos, scanned) holds no newline */
	bool skipping;		/* inside an over-long line: dropping it */
	bool eof;		/* the last read returned 0 */
	unsigned long lineno;	/* of the last line returned or skipped */
	unsigned long skipped;	/* lines that were not records */
};

/*
 * Open name ("-": stdin) for reading. Returns 0, or a negative errno (the
 * caller says "respan: NAME: strerror").
 */
int logread_open(struct logread *r, const char *name, bool follow);

/*
 * The next record, as a parsed JSON object the caller owns (cJSON_Delete).
 * Returns 1; 0 at the end of the input (following: no complete line yet,
 * call again later); or a negative errno from read(). Bad lines are
 * skipped with a warning and never returned.
 */
int logread_next(struct logread *r, cJSON **rec);

/*
 * Following a regular file that is at its end: when the file at r->name is
 * no longer the one open (rotated) or is shorter than what was read
 * (truncated), say so on stderr and start reading it from the beginning.
 * Returns 1 when it did, 0 when nothing changed.
 */
int logread_reopen(struct logread *r);

void logread_close(struct logread *r);

/* The string value of field name in obj, or NULL (absent, null, not a string). */
const char *logread_str(const cJSON *obj, const char *name);

/* The number value of field name in obj into *out: true, or false (absent, null). */
bool logread_num(const cJSON *obj, const char *name, double *out);

/* true when field name in obj is JSON true. */
bool logread_true(const cJSON *obj, const char *name);

#endif
