/*
 * log: `respan log show|har|summary [FILE]` and `respan log curl ID [FILE]`
 * (docs/contract.md#the-respan-command), the readers of the traffic log
 * librespan.so writes (docs/log-format.md, output formats in
 * docs/respan-log.md).
 *
 * log.c parses the command line and opens the log; each subcommand
 * (log_show.c, log_har.c, log_summary.c, log_curl.c) takes the opened log
 * and returns the exit status (0, or 1 after saying why), using the
 * helpers below. show's filters are logfilter.h; quote.h makes text from
 * the log safe for a shell, Markdown or JSON.
 */
#ifndef RESPAN_CLI_LOG_H
#define RESPAN_CLI_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "logfilter.h"
#include "logread.h"

/* The help of `respan log`. */
void log_usage(FILE *out);

/*
 * argv[0] is "respan", argv[1] "log". Returns the exit status: 0; 1 when
 * the log could not be read (or the output written); 2 for a usage error.
 */
int log_main(int argc, char **argv);

/* ---- the subcommands -------------------------------------------------------- */

/*
 * respan log show: one block per exchange; -f (r->follow) follows, -v
 * (verbose) adds headers and bodies; only what passes filter is shown
 * (NULL: everything).
 */
int log_show(struct logread *r, bool verbose, const struct logfilter *filter);

/* respan log har: HAR 1.2 on stdout. */
int log_har(struct logread *r);

/* The formats of respan log summary. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_MARKDOWN };

/* respan log summary: the table per provider and model, in format. */
int log_summary(struct logread *r, enum log_format format);

/*
 * respan log curl: the request of exchange id as a curl command line on
 * stdout. 1 (after saying why on stderr, with nothing on stdout) when id
 * is not in the log or its request cannot be reproduced.
 */
int log_curl(struct logread *r, const char *id);

/* ---- what they share -------------------------------------------------------- */

/*
 * Write s to out with control characters (other than tab and newline)
 * shown as \xNN, so that text from the log cannot drive the terminal;
 * with indent, each line after a newline starts with it.
 */
void log_put_text(FILE *out, const char *s, const char *indent);

/*
 * A number from the log as text in buf (LOG_NUM_MAX bytes): whole, as an
 * integer, while it is below 1e15; otherwise %g, so that no value can make
 * a cell hundreds of digits wide. Returns buf.
 */
#define LOG_NUM_MAX 32
const char *log_num(char *buf, double v);
#define LOG_NUM(v) log_num((char[LOG_NUM_MAX]){ 0 }, (v))

/* Say "respan: NAME: strerror(-err)" for a read error; returns 1. */
int log_read_error(const struct logread *r, int err);

#endif
