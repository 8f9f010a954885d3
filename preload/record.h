/*
 * record: the traffic log's record format (see docs/log-format.md).
 *
 * Pure functions: a record (request, response or event) in, one JSON object
 * and a newline appended to a buf out. Every byte of the line passes the
 * redactor (a body as it is escaped, the rest after), so no remembered
 * secret can be in it. Where lines go is logfile.h's business.
 */
#ifndef RESPAN_RECORD_H
#define RESPAN_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "http.h"
#include "redact.h"

/* Facts every record carries about the process. */
struct record_proc {
	pid_t pid;
	pid_t ppid;
	const char *exe;
};

/* A body for the log: the kept bytes and the total seen. */
struct record_body {
	const char *data;		/* kept bytes (at most body_max) */
	size_t len;
	unsigned long long total;	/* body_bytes: every byte seen */
	bool truncated;			/* total > len */
};

struct record_request {
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
	struct record_body body;
};

struct record_usage {
	const char *model;		/* or NULL */
	long long input_tokens;		/* -1: unknown */
	long long output_tokens;	/* -1: unknown */
};

struct record_response {
	const char *id;
	long long ts_ms;
	int status;			/* 0 when no head arrived */
	const struct http_header *headers;
	size_t n_headers;
	struct record_body body;
	bool sse;
	long long ttfb_ms;		/* -1: no byte arrived */
	long long duration_ms;
	const struct record_usage *usage;	/* or NULL */
	const char *output_text;	/* or NULL */
	size_t output_text_len;
	bool output_text_truncated;	/* the merged text reached its cap */
	const char *error;		/* or NULL */
};

struct record_event {
	long long ts_ms;
	const char *event;		/* "bypass", "blocked", "not_routed", ... */
	const char *host;		/* or NULL */
	const char *detail;		/* or NULL */
};

/*
 * Append one record (a JSON object and a newline) to out. Header values of
 * credential headers and key= parameters in URLs become "[REDACTED]", and
 * every secret red knows (red may be NULL) anywhere in the line.
 * Text bodies that are valid UTF-8 go in "body", others in "body_base64".
 * Returns 0, -ENOMEM or -E2BIG.
 */
int record_format_request(const struct record_proc *proc,
			  const struct record_request *r, struct redact *red,
			  struct buf *out);
int record_format_response(const struct record_proc *proc,
			   const struct record_response *r, struct redact *red,
			   struct buf *out);
int record_format_event(const struct record_proc *proc,
			const struct record_event *e, struct redact *red,
			struct buf *out);

/* "2026-11-25T01:23:57.123Z" into out (at least 25 bytes). */
void record_timestamp(long long ts_ms, char *out, size_t size);

/* A fresh record id, "<pid>-<n>", unique across the processes sharing a log. */
void record_new_id(char *out, size_t size);

#endif
