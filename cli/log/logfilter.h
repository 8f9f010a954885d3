/*
 * logfilter: which exchanges and events `respan log show` prints, from its
 * options --provider, --pid, --status, --since and --id (docs/respan-log.md).
 *
 * The filters combine with AND. --provider, --status and --id describe
 * exchanges only, so when any of them is given events are not shown;
 * --pid and --since apply to events too. An exchange is judged by its
 * request record (its provider, pid and ts: what the first line of its
 * block shows) and by its response (status, error); a response whose
 * request is not in the log by the response alone, and it has no provider.
 *
 * The parsers are pure (no clock, no locale, no time zone): the caller
 * passes "now" for a relative --since.
 */
#ifndef RESPAN_CLI_LOGFILTER_H
#define RESPAN_CLI_LOGFILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "logpair.h"

#define LOGFILTER_STATUS_MAX 16	/* items in one --status list */

struct logfilter {
	const char *provider;	/* NULL: any; "-": an exchange without one */
	bool has_pid;
	double pid;
	size_t n_status;	/* 0: any status */
	struct { int lo, hi; } status[LOGFILTER_STATUS_MAX];	/* hi < 0: "error" */
	bool has_since;
	long long since_ms;	/* ms since the epoch, UTC */
	const char *id;		/* NULL: any */
};

/*
 * --status S: "429" (one status, 0..999; 0 is "no response head"), "4xx"
 * (a class, 1xx..5xx), "error" (logfilter_is_error), or a comma-separated
 * list of these, any of which may match. Returns 0, or -EINVAL for text
 * that is none of these (f unchanged then).
 */
int logfilter_set_status(struct logfilter *f, const char *s);

/*
 * --pid N: a decimal process id, 1 or more. Returns 0 or -EINVAL.
 */
int logfilter_set_pid(struct logfilter *f, const char *s);

/*
 * --since T: a time (logfilter_parse_time) or a duration before now_ms
 * (logfilter_parse_duration). Returns 0 or -EINVAL.
 */
int logfilter_set_since(struct logfilter *f, const char *s, long long now_ms);

/*
 * An RFC 3339 time, as the log's ts ("2026-11-25T08:49:55.592Z"), into
 * *ms (milliseconds since 1970-01-01T00:00:00Z): YYYY-MM-DD, then
 * optionally T (or t, or a space) and HH:MM, :SS, .FRACTION (cut to
 * milliseconds), and Z or an offset +HH:MM (or +HHMM). Without an offset
 * the time is UTC, as every time in the log is; a date alone is its
 * midnight. Returns 0, or -EINVAL (out-of-range fields included).
 */
int logfilter_parse_time(const char *s, long long *ms);

/*
 * A duration, one or more NUMBER UNIT pairs with units s, m, h, d, w
 * ("90s", "10m", "2h", "1d", "1h30m"), into *ms. A number needs its unit.
 * At most 100 years in all. Returns 0 or -EINVAL.
 */
int logfilter_parse_duration(const char *s, long long *ms);

/* True when no filter is set. */
bool logfilter_empty(const struct logfilter *f);

/* True when events are not shown at all (--provider, --status or --id set). */
bool logfilter_hides_events(const struct logfilter *f);

/*
 * What `respan log summary` counts as an error and --status error selects:
 * no response (resp NULL), a status outside 100..399 (0: no response head
 * arrived), or an error recorded in the response.
 */
bool logfilter_is_error(const cJSON *resp);

/* True when the item (an exchange or an event) passes every filter in f. */
bool logfilter_match(const struct logfilter *f, const struct logitem *it);

#endif
