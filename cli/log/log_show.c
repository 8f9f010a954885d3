/*
 * respan log show: the log as text, one block per exchange (format in
 * docs/respan-log.md). Without -v the headers and bodies are dropped as
 * soon as a record is read, so what waits for its response stays small.
 * The filters (logfilter.h) are applied as each item is complete, so they
 * work the same while following.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "logpair.h"

#define FOLLOW_POLL_MS 200

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct show {
	FILE *out;
	bool verbose;
	const struct logfilter *filter;	/* NULL: everything */
	bool block_before;	/* the last thing written was a block */
	bool any;
};

static void put(struct show *s, const char *text)
{
	log_put_text(s->out, text, NULL);
}

/* The last part of a path ("/usr/bin/python3.11" -> "python3.11"); "?" for NULL. */
static const char *program_name(const char *path)
{
	const char *slash;
	if (path == NULL || path[0] == '\0')
		return "?";
	slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/* When and which process: "2026-...Z  pid 123 (python3.11)" */
static void put_time_process(struct show *s, const cJSON *rec, const char *exe)
{
	double pid = 0;
	put(s, logread_str(rec, "ts") ? logread_str(rec, "ts") : "?");
	if (logread_num(rec, "pid", &pid))
		fprintf(s->out, "  pid %s", LOG_NUM(pid));
	if (exe) {
		fputs(" (", s->out);
		put(s, program_name(exe));
		fputc(')', s->out);
	}
}

static void put_ms(struct show *s, const cJSON *resp)
{
	double ms, ttfb;
	if (!logread_num(resp, "duration_ms", &ms))
		return;
	fprintf(s->out, "  %s ms", LOG_NUM(ms));
	if (logread_num(resp, "ttfb_ms", &ttfb) && logread_true(resp, "sse"))
		fprintf(s->out, " (first byte %s ms)", LOG_NUM(ttfb));
}

static void put_usage(struct show *s, const cJSON *resp)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(resp, "usage");
	double in, out;
	bool have_in, have_out;
	if (!cJSON_IsObject(u))
		return;
	have_in = logread_num(u, "input_tokens", &in);
	have_out = logread_num(u, "output_tokens", &out);
	if (have_in || have_out) {
		fputs("  tokens ", s->out);
		if (have_in)
			fputs(LOG_NUM(in), s->out);
		else
			fputc('?', s->out);
		fputs(" in / ", s->out);
		if (have_out)
			fputs(LOG_NUM(out), s->out);
		else
			fputc('?', s->out);
		fputs(" out", s->out);
	}
	if (logread_str(u, "model")) {
		fputs("  model ", s->out);
		put(s, logread_str(u, "model"));
	}
}

static void put_headers(struct show *s, const char *title, const cJSON *rec)
{
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(rec, "headers"), *h;
	if (!cJSON_IsArray(hs) || cJSON_GetArraySize(hs) == 0)
		return;
	fprintf(s->out, "  %s headers:\n", title);
	cJSON_ArrayForEach(h, hs) {
		const cJSON *n = cJSON_GetArrayItem(h, 0), *v = cJSON_GetArrayItem(h, 1);
		fputs("    ", s->out);
		put(s, cJSON_IsString(n) ? n->valuestring : "?");
		fputs(": ", s->out);
		put(s, cJSON_IsString(v) ? v->valuestring : "");
		fputc('\n', s->out);
	}
}

static void put_block_text(struct show *s, const char *text)
{
	fputs("    ", s->out);
	log_put_text(s->out, text, "    ");
	if (text[0] == '\0' || text[strlen(text) - 1] != '\n')
		fputc('\n', s->out);
}

/* Bytes in base64 text b (padded, as the log writes it). */
static size_t b64_bytes(const char *b)
{
	size_t n = strlen(b), pad = 0;
	if (n < 4)
		return 0;
	if (b[n - 1] == '=')
		pad++;
	if (b[n - 2] == '=')
		pad++;
	return n / 4 * 3 - pad;
}

static void put_body(struct show *s, const char *title, const cJSON *rec)
{
	const char *text = logread_str(rec, "body"), *b64 = logread_str(rec, "body_base64");
	double bytes = 0;
	logread_num(rec, "body_bytes", &bytes);
	if (bytes <= 0 && !text && !b64)
		return;
	if (logread_true(rec, "sse")) {
		const char *merged = logread_str(rec, "output_text");
		fprintf(s->out, "  %s body: an event stream of %s bytes, as its merged text:\n",
			title, LOG_NUM(bytes));
		put_block_text(s, merged && merged[0] ? merged : "(no text in the stream)");
		return;
	}
	fprintf(s->out, "  %s body (%s bytes", title, LOG_NUM(bytes));
	if (logread_true(rec, "body_truncated"))
		fprintf(s->out, ", %zu kept", text ? strlen(text) : b64 ? b64_bytes(b64) : 0);
	fputs("):\n", s->out);
	if (b64)
		fprintf(s->out, "    (%s bytes binary)\n", LOG_NUM(bytes));
	else if (text)
		put_block_text(s, text);
	else
		fputs("    (not kept)\n", s->out);
}

static void show_exchange(struct show *s, const cJSON *req, const cJSON *resp, bool early)
{
	double status;
	const char *routed = req ? logread_str(req, "routed_url") : NULL;
	const char *error = resp ? logread_str(resp, "error") : NULL;

	put_time_process(s, req ? req : resp, req ? logread_str(req, "exe") : NULL);
	if (req) {
		fputs("  ", s->out);
		put(s, logread_str(req, "provider") ? logread_str(req, "provider") : "-");
		if (logread_str(req, "layer")) {
			fputs(" via ", s->out);
			put(s, logread_str(req, "layer"));
		}
	}
	if (logread_str(req ? req : resp, "id")) {
		fputs("  [", s->out);
		put(s, logread_str(req ? req : resp, "id"));
		fputc(']', s->out);
	}
	fputc('\n', s->out);

	if (req) {
		fputs("  ", s->out);
		put(s, logread_str(req, "method") ? logread_str(req, "method") : "?");
		fputc(' ', s->out);
		put(s, logread_str(req, "url") ? logread_str(req, "url") : "?");
		if (routed) {
			fputs(" -> ", s->out);
			put(s, routed);
		} else {
			fputs("  (not routed)", s->out);
		}
		fputc('\n', s->out);
	} else {
		fputs("  (its request is not in the log, or was shown without it)\n", s->out);
	}

	if (resp == NULL) {
		fputs(early ? "  no response yet (too much was waiting: it may follow on its own)\n"
			    : "  no response\n", s->out);
	} else {
		if (logread_num(resp, "status", &status) && status > 0)
			fprintf(s->out, "  status %s", LOG_NUM(status));
		else
			fputs("  no status", s->out);
		put_ms(s, resp);
		put_usage(s, resp);
		fputc('\n', s->out);
		if (error) {
			fputs("  error: ", s->out);
			put(s, error);
			fputc('\n', s->out);
		}
	}

	if (s->verbose) {
		if (req) {
			put_headers(s, "request", req);
			put_body(s, "request", req);
		}
		if (resp) {
			put_headers(s, "response", resp);
			put_body(s, "response", resp);
		}
	}
}

/* "TS  event bypass api.anthropic.com (pid 123, python3.11): detail" */
static void show_event(struct show *s, const cJSON *ev)
{
	double pid;
	put(s, logread_str(ev, "ts") ? logread_str(ev, "ts") : "?");
	fputs("  event ", s->out);
	put(s, logread_str(ev, "event") ? logread_str(ev, "event") : "?");
	if (logread_str(ev, "host")) {
		fputc(' ', s->out);
		put(s, logread_str(ev, "host"));
	}
	fputs(" (", s->out);
	if (logread_num(ev, "pid", &pid))
		fprintf(s->out, "pid %s, ", LOG_NUM(pid));
	put(s, program_name(logread_str(ev, "exe")));
	fputc(')', s->out);
	if (logread_str(ev, "detail")) {
		fputs(": ", s->out);
		put(s, logread_str(ev, "detail"));
	}
	fputc('\n', s->out);
}

static void emit(void *ctx, const struct logitem *it)
{
	struct show *s = ctx;
	bool block = it->event == NULL;
	if (s->filter && !logfilter_match(s->filter, it))
		return;
	if (s->any && (block || s->block_before))
		fputc('\n', s->out);
	if (block)
		show_exchange(s, it->req, it->resp, it->early);
	else
		show_event(s, it->event);
	s->any = true;
	s->block_before = block;
}

/* Without -v: drop what will not be shown, before the record waits. */
static void trim(cJSON *rec)
{
	static const char *const drop[] = { "headers", "body", "body_base64", "output_text" };
	if (cJSON_HasObjectItem(rec, "event"))
		return;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(rec, drop[i]);
}

static void nap(void)
{
	struct timespec ts = { 0, FOLLOW_POLL_MS * 1000000L };
	nanosleep(&ts, NULL);	/* SIGINT cuts it short */
}

int log_show(struct logread *r, bool verbose, const struct logfilter *filter)
{
	struct show s = { stdout, verbose, filter && !logfilter_empty(filter) ? filter : NULL,
			  false, false };
	struct logpair *p = logpair_new(emit, &s, LOGPAIR_MAX_BYTES, true);
	struct sigaction sa = { .sa_handler = on_sigint };	/* no SA_RESTART */
	cJSON *rec;
	int rc, status = 0;

	if (p == NULL) {
		fputs("respan: out of memory\n", stderr);
		return 1;
	}
	if (r->follow)
		sigaction(SIGINT, &sa, NULL);
	while (!interrupted) {
		rc = logread_next(r, &rec);
		if (rc > 0) {
			if (!verbose)
				trim(rec);
			if (logpair_add(p, rec) < 0) {
				fputs("respan: out of memory\n", stderr);
				status = 1;
				break;
			}
			continue;
		}
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			status = log_read_error(r, rc);
			break;
		}
		if (!r->follow) {
			logpair_finish(p);
			break;
		}
		/* Following, at the end for now: show what is complete. */
		logpair_flush_done(p);
		fflush(s.out);
		if (!logread_reopen(r))
			nap();
	}
	logpair_free(p);
	return status;
}
