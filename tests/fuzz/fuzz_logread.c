/*
 * libFuzzer target for the reader behind `respan log` (cli/log/logread.c,
 * logpair.c) and the three formats (log_show.c, log_har.c, log_summary.c).
 *
 * Input: a traffic log file, as the library writes it (JSON Lines) or not.
 * It is read whole from a memfd; read again while following (-f) a second
 * memfd it is appended to in pieces (sizes drawn from a hash of the
 * input), which is then truncated and read from the start; its records are
 * joined by logpair in order with all the memory they need, as they come,
 * and in order under a budget small enough to shed; and it is shown by
 * `respan log show` (with and without -v, and with filters drawn from a
 * hash of the input), `har`, `summary` in its three formats, and `curl`
 * for the id of its first request. While
 * they run, stdout is a memory stream and the reader's warnings go to
 * /dev/null (glibc's stdout and stderr are plain variables; sanitizer
 * reports write to fd 2 and still show).
 *
 * Checked beyond no crash, leak or over-read:
 *   - following gives the same records as reading whole, less the one of
 *     an unterminated last line, and counts the same lines; after the file
 *     is truncated it starts over and gives the records of the lines that
 *     are left;
 *   - logpair hands out every request, response and event record exactly
 *     once, and nothing else: an event alone, a response with the request
 *     of its id, "early" only for a request without one; in order, with
 *     room, items come in the order of their first record, none early;
 *   - `respan log har` is valid JSON with one entry per request and one
 *     event per event record;
 *   - `respan log show` and `summary` write no control character but
 *     newline and tab, and no C1 control (U+0080..U+009F), whatever the
 *     log holds: text from the log cannot drive the terminal;
 *   - `summary --format json` is valid JSON in valid UTF-8 whose groups
 *     add up to its total; `--format markdown` has no < and every table
 *     row has exactly its columns' unescaped |;
 *   - `respan log curl` is terminal-safe, and as a shell command line it
 *     expands nothing but "$RESPAN_API_KEY": outside single quotes there is
 *     only plain words, |, line continuations and that reference.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log/log.h"
#include "log/logfilter.h"
#include "log/logpair.h"
#include "log/logread.h"
#include "log/quote.h"
#include "fuzzmix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEQ "\x01fuzz_seq"	/* the harness's member (a record's own is removed) */

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_logread: %s\n", what);
		abort();
	}
}

/* ---- the reader's warnings, and the commands' output ---------------------- */

static FILE *real_stderr;

/* The reader says "line N: not a JSON record" per bad line: not here. */
static void mute(void)
{
	static FILE *null;
	if (null == NULL)
		null = fopen("/dev/null", "w");
	must(null != NULL, "/dev/null");
	real_stderr = stderr;
	stderr = null;
}

static void unmute(void)
{
	stderr = real_stderr;
}

static int log_file(int which, char *path, size_t size)
{
	static int fds[2] = { -1, -1 };
	if (fds[which] < 0)
		fds[which] = memfd_create("respan-fuzz-log", MFD_CLOEXEC);
	must(fds[which] >= 0, "memfd_create");
	snprintf(path, size, "/proc/self/fd/%d", fds[which]);
	return fds[which];
}

/* ---- reading ------------------------------------------------------------- */

struct record {
	cJSON *rec;
	uint64_t digest;	/* of its compact text */
	unsigned long line;
};

struct records {
	struct record *v;
	size_t n, cap;
};

static void keep(struct records *rs, cJSON *rec, unsigned long line, bool own)
{
	char *text = cJSON_PrintUnformatted(rec);
	must(text != NULL, "cJSON_PrintUnformatted");
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 64;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		must(rs->v != NULL, "realloc");
	}
	rs->v[rs->n].rec = own ? rec : NULL;
	rs->v[rs->n].digest = fnv(0xcbf29ce484222325ULL, text, strlen(text));
	rs->v[rs->n++].line = line;
	free(text);
	if (!own)
		cJSON_Delete(rec);
}

static void drop(struct records *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		cJSON_Delete(rs->v[i].rec);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* Read what r has now; following, up to the end for now. */
static void read_all(struct logread *r, struct records *rs, bool own)
{
	cJSON *rec;
	int rc;
	for (;;) {
		mute();
		rc = logread_next(r, &rec);
		unmute();
		must(rc >= 0, "logread_next failed");
		if (rc == 0)
			return;
		must(cJSON_IsObject(rec), "a record that is not an object");
		keep(rs, rec, r->lineno, own);
	}
}

static size_t newlines(const char *p, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/* rs holds the records of whole on complete lines up to line max, in order. */
static void same_records(const struct records *whole, const struct records *rs,
			 unsigned long max, const char *what)
{
	size_t k = 0;
	for (size_t i = 0; i < whole->n && whole->v[i].line <= max; i++, k++)
		must(k < rs->n && rs->v[k].digest == whole->v[i].digest &&
		     rs->v[k].line == whole->v[i].line, what);
	must(k == rs->n, what);
}

static void check_follow(const char *in, size_t size, const struct records *whole, uint64_t seed)
{
	char path[40];
	struct logread r;
	struct records rs = { NULL, 0, 0 };
	int fd = log_file(1, path, sizeof(path));
	size_t nl = newlines(in, size);

	must(ftruncate(fd, 0) == 0, "ftruncate");
	must(logread_open(&r, path, true) == 0 && r.follow, "logread_open to follow");
	read_all(&r, &rs, false);
	for (size_t off = 0; off < size;) {
		uint64_t x = next(&seed);
		/* Mostly a dozen large pieces (each costs a read), some tiny. */
		size_t n = 1 + (size_t)(x & 0x300 ? x % (size / 6 + 1) : x % 5);
		if (n > size - off)
			n = size - off;
		must(pwrite(fd, in + off, n, (off_t)off) == (ssize_t)n, "pwrite");
		off += n;
		read_all(&r, &rs, false);
	}
	same_records(whole, &rs, nl, "following gave other records");
	must(r.lineno == nl, "following counted other lines");
	mute();
	int reopened = logread_reopen(&r);
	unmute();
	must(reopened == 0, "reopened a file that did not change");

	/* Truncated: from the start, the lines that are left. */
	size_t cut = (size_t)(next(&seed) % (size + 1));
	if (cut < size) {
		must(ftruncate(fd, (off_t)cut) == 0, "ftruncate");
		mute();
		reopened = logread_reopen(&r);
		unmute();
		must(reopened == 1 && r.lineno == 0, "a truncated file was not read again");
		drop(&rs);
		read_all(&r, &rs, false);
		same_records(whole, &rs, newlines(in, cut), "after truncation, other records");
	}
	drop(&rs);
	logread_close(&r);
}

/* ---- pairing --------------------------------------------------------------- */

struct pairing {
	bool *out;		/* by seq: handed out already */
	size_t n, emitted;
	bool check_order;
	double last_first;	/* seq of the last item's first record */
};

static bool is_type(const cJSON *rec, const char *type)
{
	const char *t = logread_str(rec, "type");
	return t && strcmp(t, type) == 0;
}

static void count_out(struct pairing *p, const cJSON *rec)
{
	double seq;
	if (rec == NULL)
		return;
	must(logread_num(rec, SEQ, &seq) && seq >= 0 && seq < (double)p->n, "a record not ours");
	must(!p->out[(size_t)seq], "a record handed out twice");
	p->out[(size_t)seq] = true;
	p->emitted++;
}

static void on_item(void *ctx, const struct logitem *it)
{
	struct pairing *p = ctx;
	if (it->event) {
		must(it->req == NULL && it->resp == NULL && is_type(it->event, "event"),
		     "an event item with more");
	} else {
		must(it->req || it->resp, "an empty item");
		must(it->req == NULL || is_type(it->req, "request"), "a req that is none");
		must(it->resp == NULL || is_type(it->resp, "response"), "a resp that is none");
	}
	if (it->req && it->resp) {
		const char *a = logread_str(it->req, "id"), *b = logread_str(it->resp, "id");
		must(a && b && strcmp(a, b) == 0, "a response joined to another id");
	}
	must(!it->early || (it->req && !it->resp), "early, but not an open request");
	if (p->check_order) {
		double first;
		const cJSON *rec = it->event ? it->event : it->req ? it->req : it->resp;
		must(logread_num(rec, SEQ, &first) && first > p->last_first && !it->early,
		     "items out of order, or early, with room");
		p->last_first = first;
	}
	count_out(p, it->event);
	count_out(p, it->req);
	count_out(p, it->resp);
}

static void check_pairing(const struct records *rs, bool ordered, size_t max_bytes,
			  uint64_t seed)
{
	struct pairing p = { calloc(rs->n + 1, 1), rs->n, 0, false, -1 };
	size_t in = 0;
	struct logpair *lp = logpair_new(on_item, &p, max_bytes, ordered);
	must(lp && p.out, "logpair_new");
	p.check_order = ordered && max_bytes == LOGPAIR_MAX_BYTES;
	for (size_t i = 0; i < rs->n; i++) {
		cJSON *rec = cJSON_Duplicate(rs->v[i].rec, 1);
		must(rec != NULL, "cJSON_Duplicate");
		while (cJSON_GetObjectItemCaseSensitive(rec, SEQ))
			cJSON_DeleteItemFromObjectCaseSensitive(rec, SEQ);
		cJSON_AddNumberToObject(rec, SEQ, (double)i);
		if (is_type(rec, "request") || is_type(rec, "response") || is_type(rec, "event"))
			in++;
		must(logpair_add(lp, rec) == 0, "logpair_add");
		/* While following, complete items go out when the input is idle. */
		if (!p.check_order && (next(&seed) & 7) == 0)
			logpair_flush_done(lp);
	}
	logpair_finish(lp);
	must(p.emitted == in, "records lost or made up by pairing");
	logpair_free(lp);
	free(p.out);
}

/* ---- the commands' output ------------------------------------------------- */

enum command { SHOW, SHOW_VERBOSE, SHOW_FILTERED, HAR, SUMMARY, SUMMARY_JSON,
	       SUMMARY_MARKDOWN, CURL };

/* Filters drawn from seed, some of each kind. */
static void draw_filter(struct logfilter *f, uint64_t seed)
{
	static const char *const providers[] = { "openai", "anthropic", "-", "gemini" };
	static const char *const statuses[] = { "200", "4xx,5xx", "error", "0,1xx,error" };
	static const char *const times[] = { "2026-11-25T08:49:55.592Z", "1970-01-01", "1h",
					     "2026-11-25T08:49:55+01:00" };
	memset(f, 0, sizeof(*f));
	if (seed & 1)
		f->provider = providers[(seed >> 8) % 4];
	if (seed & 2)
		must(logfilter_set_status(f, statuses[(seed >> 10) % 4]) == 0, "--status");
	if (seed & 4)
		must(logfilter_set_since(f, times[(seed >> 12) % 4], 1795596595592LL) == 0,
		     "--since");
	if (seed & 8)
		must(logfilter_set_pid(f, (seed >> 14) & 1 ? "1" : "11352") == 0, "--pid");
	if (seed & 16)
		f->id = (seed >> 16) & 1 ? "11352-1" : "1-1";
}

/* Run one command on the log at path; its output, malloc'd; *status its status. */
static char *output_of(enum command c, const char *path, size_t *len, uint64_t seed,
		       const char *id, int *status)
{
	struct logread r;
	struct logfilter f;
	char *text = NULL;
	FILE *mem = open_memstream(&text, len);
	must(mem != NULL, "open_memstream");
	must(logread_open(&r, path, false) == 0, "logread_open");
	draw_filter(&f, seed);
	FILE *saved = stdout;
	stdout = mem;
	mute();
	switch (c) {
	case HAR: *status = log_har(&r); break;
	case SUMMARY: *status = log_summary(&r, LOG_FORMAT_TEXT); break;
	case SUMMARY_JSON: *status = log_summary(&r, LOG_FORMAT_JSON); break;
	case SUMMARY_MARKDOWN: *status = log_summary(&r, LOG_FORMAT_MARKDOWN); break;
	case CURL: *status = log_curl(&r, id); break;
	case SHOW_FILTERED: *status = log_show(&r, (seed >> 20) & 1, &f); break;
	default: *status = log_show(&r, c == SHOW_VERBOSE, NULL); break;
	}
	unmute();
	stdout = saved;
	must(c == CURL || *status == 0, "a log command failed");
	must(fclose(mem) == 0, "fclose");
	logread_close(&r);
	return text;
}

/* Nothing that steers a terminal: C0 but \t and \n, DEL, C1 as UTF-8. */
static void check_terminal_safe(const char *s, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool bad = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ||
			   (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			    (unsigned char)s[i + 1] <= 0x9f);
		if (bad)
			fprintf(stderr, "fuzz_logread: byte %zu is 0x%02x\n", i, c);
		must(!bad, what);
	}
}

static void check_har(const char *text, size_t requests, size_t events)
{
	cJSON *har = cJSON_Parse(text);
	must(cJSON_IsObject(har), "respan log har is not JSON");
	const cJSON *log = cJSON_GetObjectItemCaseSensitive(har, "log");
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(log, "entries");
	const cJSON *evs = cJSON_GetObjectItemCaseSensitive(log, "_events");
	must(cJSON_IsArray(entries) && (size_t)cJSON_GetArraySize(entries) == requests,
	     "HAR entries are not the requests");
	must(cJSON_IsArray(evs) && (size_t)cJSON_GetArraySize(evs) == events,
	     "HAR events are not the events");
	cJSON_Delete(har);
}

static void check_utf8(const char *s, size_t n, const char *what)
{
	for (size_t i = 0, k; i < n; i += k) {
		k = quote_utf8_len((const unsigned char *)s + i, n - i);
		must(k > 0, what);
	}
}

static void check_summary_json(const char *text, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *g, *total;
	double sum = 0, n;
	must(cJSON_IsObject(doc), "summary --format json is not JSON");
	check_utf8(text, len, "summary --format json is not UTF-8");
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(doc, "groups")) {
		must(logread_num(g, "exchanges", &n), "a group without exchanges");
		sum += n;
	}
	total = cJSON_GetObjectItemCaseSensitive(doc, "total");
	must(logread_num(total, "exchanges", &n) && n == sum,
	     "summary --format json: the groups do not add up to the total");
	must(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "events")), "no events");
	cJSON_Delete(doc);
}

/* Cells of every table row (a line starting with |): the | not escaped. */
static void check_summary_markdown(const char *text, size_t len)
{
	must(memchr(text, '<', len) == NULL, "summary --format markdown has a <");
	for (const char *line = text; line < text + len;) {
		const char *end = memchr(line, '\n', (size_t)(text + len - line));
		size_t pipes = 0;
		must(end != NULL, "summary --format markdown: a last line without newline");
		if (*line == '|') {
			for (const char *p = line; p < end; p++) {
				if (*p == '\\')
					p++;
				else
					pipes += *p == '|';
			}
			/* the provider/model table (10 columns), or the events table (2) */
			must(pipes == 11 || pipes == 3, "summary --format markdown: a row's cells");
		}
		line = end + 1;
	}
}

/*
 * As a POSIX shell would read it, the command expands nothing but
 * "$RESPAN_API_KEY": outside single quotes only plain words, |, a
 * backslash before ' or a newline, and that one double-quoted reference
 * (in a header: "Name: Bearer $RESPAN_API_KEY", letters and - before it).
 */
static void check_curl_command(const char *s, size_t n)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789 \n|@.-%";
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'') {
			const char *close = memchr(s + i + 1, '\'', n - i - 1);
			must(close != NULL, "curl: a quote not closed");
			i = (size_t)(close - s);
		} else if (s[i] == '\\') {
			must(i + 1 < n && (s[i + 1] == '\'' || s[i + 1] == '\n'),
			     "curl: a backslash outside quotes");
			i++;
		} else if (s[i] == '"') {
			const char *close = memchr(s + i + 1, '"', n - i - 1);
			must(close != NULL, "curl: a double quote not closed");
			size_t k = i + 1, end = (size_t)(close - s);
			while (k < end && s[k] != '$') {
				must(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-: ",
					    s[k]) != NULL, "curl: text before the key reference");
				k++;
			}
			must(end - k == strlen("$RESPAN_API_KEY") &&
			     memcmp(s + k, "$RESPAN_API_KEY", end - k) == 0,
			     "curl: a double-quoted word that is not the key reference");
			i = end;
		} else {
			must(s[i] != '\0' && strchr(plain, s[i]) != NULL,
			     "curl: a character the shell would act on, outside quotes");
		}
	}
}

/* The id of the first request record, or a made-up one. */
static const char *first_id(const struct records *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		if (is_type(rs->v[i].rec, "request") && logread_str(rs->v[i].rec, "id"))
			return logread_str(rs->v[i].rec, "id");
	return "1-1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char path[40];
	struct logread r;
	struct records whole = { NULL, 0, 0 };
	uint64_t seed = fnv(0x9e3779b97f4a7c15ULL, data, size) | 1;
	int fd = log_file(0, path, sizeof(path));

	must(ftruncate(fd, 0) == 0 && (size == 0 || pwrite(fd, in, size, 0) == (ssize_t)size),
	     "writing the log");
	must(logread_open(&r, path, false) == 0 && r.regular && !r.follow, "logread_open");
	read_all(&r, &whole, true);
	size_t nl = newlines(in, size);
	bool tail = size > 0 && in[size - 1] != '\n';
	must(r.lineno == nl + tail, "reading counted other lines");
	logread_close(&r);

	check_follow(in, size, &whole, seed);

	check_pairing(&whole, true, LOGPAIR_MAX_BYTES, seed);
	check_pairing(&whole, false, LOGPAIR_MAX_BYTES, seed);
	check_pairing(&whole, true, (size_t)(seed % 4096), seed);

	size_t requests = 0, events = 0, len;
	for (size_t i = 0; i < whole.n; i++) {
		requests += is_type(whole.v[i].rec, "request");
		events += is_type(whole.v[i].rec, "event");
	}
	static const enum command shown[] = { SHOW, SHOW_VERBOSE, SHOW_FILTERED, SUMMARY,
					      SUMMARY_MARKDOWN, CURL };
	int status;
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		char *text = output_of(shown[i], path, &len, seed, first_id(&whole), &status);
		check_terminal_safe(text, len, shown[i] == SUMMARY ? "respan log summary could "
				    "drive a terminal" : shown[i] == SUMMARY_MARKDOWN ?
				    "summary --format markdown could drive a terminal" :
				    shown[i] == CURL ? "respan log curl could drive a terminal" :
				    "respan log show could drive a terminal");
		if (shown[i] == SUMMARY_MARKDOWN)
			check_summary_markdown(text, len);
		if (shown[i] == CURL && status == 0)
			check_curl_command(text, len);
		must(shown[i] != CURL || status == 0 || len == 0,
		     "respan log curl failed, but printed a command");
		free(text);
	}
	char *json = output_of(SUMMARY_JSON, path, &len, seed, NULL, &status);
	check_summary_json(json, len);
	free(json);
	char *har = output_of(HAR, path, &len, seed, NULL, &status);
	check_har(har, requests, events);
	free(har);
	drop(&whole);
	return 0;
}
