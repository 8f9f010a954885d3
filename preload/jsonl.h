/*
 * jsonl: the traffic log (SPEC section 6).
 *
 * Records are formatted into a buffer first (pure functions, unit-tested)
 * and then written with exactly one write() to a file opened O_APPEND, so
 * lines from many processes and threads never interleave. The file is
 * created 0600 and missing directories 0700. Every record passes through
 * the redactor last, so no remembered secret can reach the file.
 */
#ifndef RESPAN_JSONL_H
#define RESPAN_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "forkphase.h"
#include "http.h"
#include "redact.h"

/* Facts every record carries about the process. */
struct log_proc {
	pid_t pid;
	pid_t ppid;
	const char *exe;
};

/* A body for the log: the kept bytes and the total seen. */
struct log_body {
	const char *data;		/* kept bytes (at most body_max) */
	size_t len;
	unsigned long long total;	/* body_bytes: every byte seen */
	bool truncated;			/* total > len */
};

struct log_request {
	const char *id;
	long long ts_ms;		/* Unix time in milliseconds */
	const char *layer;		/* "openssl", "curl", ... */
	const char *provider_name;	/* "openai", ... or NULL */
	bool routed;
	const char *method;
	const char *url;		/* what the program asked for */
	const char *routed_url;		/* or NULL */
	const struct http_header *headers;	/* as sent */
	size_t n_headers;
	struct log_body body;
};

struct log_usage {
	const char *model;		/* or NULL */
	long long input_tokens;		/* -1: unknown */
	long long output_tokens;	/* -1: unknown */
};

struct log_response {
	const char *id;
	long long ts_ms;
	int status;			/* 0 when no head arrived */
	const struct http_header *headers;
	size_t n_headers;
	struct log_body body;
	bool sse;
	long long ttfb_ms;		/* -1: no byte arrived */
	long long duration_ms;
	const struct log_usage *usage;	/* or NULL */
	const char *output_text;	/* or NULL */
	size_t output_text_len;
	const char *error;		/* or NULL */
};

struct log_event {
	long long ts_ms;
	const char *event;		/* "bypass", "blocked", "not_routed", ... */
	const char *host;		/* or NULL */
	const char *detail;		/* or NULL */
};

/*
 * Append one record (a JSON object and a newline) to out. Header values of
 * credential headers and key= parameters in URLs become "[REDACTED]"; the
 * whole line is then scrubbed of every secret red knows (red may be NULL).
 * Text bodies that are valid UTF-8 go in "body", others in "body_base64".
 * Returns 0, -ENOMEM or -E2BIG.
 */
int jsonl_format_request(const struct log_proc *proc, const struct log_request *r,
			 struct redact *red, struct buf *out);
int jsonl_format_response(const struct log_proc *proc,
			  const struct log_response *r, struct redact *red,
			  struct buf *out);
int jsonl_format_event(const struct log_proc *proc, const struct log_event *e,
		       struct redact *red, struct buf *out);

/* "2026-11-25T01:23:57.123Z" into out (at least 25 bytes). */
void jsonl_timestamp(long long ts_ms, char *out, size_t size);

/* The current time as Unix milliseconds (CLOCK_REALTIME). */
long long jsonl_now_ms(void);

/* The log file. */
struct jsonl;

/*
 * Open (creating) the log at path: missing directories are made 0700, the
 * file is created 0600 and opened O_WRONLY|O_APPEND|O_CLOEXEC. Returns 0 and
 * *out, or a negative errno.
 */
int jsonl_open(const char *path, struct jsonl **out);

/* The descriptor, so the hooks can tell the library's own writes apart. */
int jsonl_fd(const struct jsonl *log);

/*
 * Write one formatted record with a single write(). Returns 0, or a negative
 * errno (-ENOSPC also for a short write: the file is shared by other writers,
 * so nothing is cut back; a newline is attempted so the next record starts a
 * line of its own, and readers skip a line that is not JSON).
 */
int jsonl_write(struct jsonl *log, const char *line, size_t len);

/*
 * The log is kept at a descriptor of 100 or more (programs treat the low
 * numbers as theirs), and before each record jsonl_write checks that the
 * descriptor is still the log file (device and inode): a program that
 * closed it and got the number back for a file of its own never receives a
 * record; the log is opened again instead.
 */

void jsonl_close(struct jsonl *log);

/* Around fork(): see forkphase.h. */
void jsonl_fork(struct jsonl *log, enum fork_phase phase);

#endif
