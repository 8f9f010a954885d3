/*
 * reqhead: the grammar of an HTTP/1.x request head (RFC 9112 sections 2-3,
 * 5-6), for the request rewriter. Two parts: a byte-at-a-time scanner that
 * finds where a head ends and refuses a non-HTTP stream from its first
 * bytes, and a strict parser of a complete head into views.
 *
 * Line ends: CR LF, or a bare LF (RFC 9112 2.2 lets a recipient accept it).
 * A bare CR, obs-fold, CTLs, a space before a colon and conflicting framing
 * are refused: each is a way two parsers can disagree on where a request
 * ends (RFC 9112 11.2).
 */
#ifndef RESPAN_REQHEAD_H
#define RESPAN_REQHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http.h"

/* REWRITE_MAX_HEADERS plus the four headers the rewriter may add. */
#define REQHEAD_MAX_FIELDS (128 + 4)

/* Scanner state; private apart from being copyable by value. */
struct reqhead_scan {
	int rl;			/* where in the request line */
	int eoh;		/* where relative to line ends */
	unsigned vpos;		/* bytes of "HTTP/1.x" seen */
};

/* A parsed head: views into the bytes given to reqhead_parse(). */
struct reqhead {
	const char *method, *target;
	size_t method_len, target_len;
	int minor;		/* 0 or 1 */
	int host;		/* index of the Host header, or -1 */
	bool has_cl, has_te, chunked, expect_continue;
	unsigned long long cl;	/* Content-Length, when has_cl */
	size_t n;
	struct http_header h[REQHEAD_MAX_FIELDS];
	size_t line_len[REQHEAD_MAX_FIELDS];	/* raw line from h[i].name, no line end */
};

/* Ready for the first byte of a head. */
void reqhead_scan_reset(struct reqhead_scan *s);

/*
 * Look at the next head byte. Returns 1 when c ends the head (the blank
 * line; a blank line as the very first line is a head of its own), 0 to go
 * on, -1 when the request line cannot be HTTP/1.x (*why set, static text).
 */
int reqhead_scan_byte(struct reqhead_scan *s, unsigned char c, const char **why);

/*
 * The same over (p, n), past the request line looking only at line ends
 * (memchr): how many bytes up to and including the one that ends the head,
 * 0 when the head goes on past n, or -1 (*why) when the request line is not
 * HTTP/1.x.
 */
ssize_t reqhead_scan(struct reqhead_scan *s, const char *p, size_t n, const char **why);

/* True for a "head" that is only an empty line (CR LF or LF). */
bool reqhead_is_empty_line(const char *p, size_t n);

/*
 * Parse a complete head (p, n), ending with its blank line, allowing at
 * most max (<= REQHEAD_MAX_FIELDS) header fields. Returns 0, or -1 with
 * *why set (static text).
 */
int reqhead_parse(const char *p, size_t n, struct reqhead *h, size_t max,
		  const char **why);

/* True when s is a non-empty string that can be a field value as it is. */
bool reqhead_value_ok(const char *s);

/* True when s is an origin-form path that can go into a request line. */
bool reqhead_path_ok(const char *s);

#endif
