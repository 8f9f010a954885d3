/*
 * respan log summary: counts, errors, tokens and latency per provider and
 * model, as text, JSON or Markdown (formats in docs/respan-log.md). Records
 * are cut down to the fields counted here as they are read; what grows
 * with the log is one duration per exchange, for the median and the 95th
 * percentile. The three formats print the same numbers, computed by
 * stats_of and row_cells.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "logpair.h"
#include "quote.h"

#define MODEL_MAX 200

struct lat {
	double *v;
	size_t n, cap;
};

struct group {
	char *provider, *model;
	unsigned long exchanges, errors;
	double in_tokens, out_tokens;
	struct lat lat;
};

struct evcount {
	char *name;
	unsigned long n;
};

struct summary {
	struct group *g;
	size_t n, cap;
	struct group total;
	struct evcount *ev;
	size_t n_ev, cap_ev;
	char first[40], last[40];	/* timestamps seen, as written */
	bool failed;
};

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p;
	if (n < *cap)
		return true;
	if ((p = realloc(*v, c * size)) == NULL)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static struct group *group_for(struct summary *s, const char *provider, const char *model)
{
	struct group *g;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->g[i].provider, provider) == 0 && strcmp(s->g[i].model, model) == 0)
			return &s->g[i];
	if (!grow((void **)&s->g, &s->cap, s->n, sizeof(*s->g)))
		return NULL;
	g = &s->g[s->n];
	memset(g, 0, sizeof(*g));
	g->provider = strdup(provider);
	g->model = strdup(model);
	if (!g->provider || !g->model) {
		free(g->provider);
		free(g->model);
		return NULL;
	}
	s->n++;
	return g;
}

static void count(struct summary *s, struct group *g, bool error, const cJSON *usage,
		  const cJSON *resp)
{
	double v;
	g->exchanges++;
	g->errors += error;
	if (logread_num(usage, "input_tokens", &v))
		g->in_tokens += v;
	if (logread_num(usage, "output_tokens", &v))
		g->out_tokens += v;
	if (resp && logread_num(resp, "duration_ms", &v)) {
		if (grow((void **)&g->lat.v, &g->lat.cap, g->lat.n, sizeof(double)))
			g->lat.v[g->lat.n++] = v;
		else
			s->failed = true;
	}
}

static void note_ts(struct summary *s, const cJSON *rec)
{
	const char *ts = logread_str(rec, "ts");
	if (ts == NULL || strlen(ts) >= sizeof(s->first))
		return;
	/* RFC 3339 UTC with fixed digits: text order is time order */
	if (s->first[0] == '\0' || strcmp(ts, s->first) < 0)
		strcpy(s->first, ts);
	if (strcmp(ts, s->last) > 0)
		strcpy(s->last, ts);
}

static void count_event(struct summary *s, const char *name)
{
	for (size_t i = 0; i < s->n_ev; i++)
		if (strcmp(s->ev[i].name, name) == 0) {
			s->ev[i].n++;
			return;
		}
	if (!grow((void **)&s->ev, &s->cap_ev, s->n_ev, sizeof(*s->ev)) ||
	    (s->ev[s->n_ev].name = strdup(name)) == NULL) {
		s->failed = true;
		return;
	}
	s->ev[s->n_ev++].n = 1;
}

static void emit(void *ctx, const struct logitem *it)
{
	struct summary *s = ctx;
	const cJSON *req = it->req, *resp = it->resp, *usage;
	const char *provider, *model;
	bool error;
	struct group *g;

	if (it->event) {
		const char *name = logread_str(it->event, "event");
		note_ts(s, it->event);
		count_event(s, name ? name : "?");
		return;
	}
	if (req)
		note_ts(s, req);
	if (resp)
		note_ts(s, resp);
	usage = resp ? cJSON_GetObjectItemCaseSensitive(resp, "usage") : NULL;
	provider = req ? logread_str(req, "provider") : NULL;
	if (provider == NULL || provider[0] == '\0')
		provider = "-";
	model = logread_str(usage, "model");
	if (model == NULL || model[0] == '\0')
		model = req ? logread_str(req, "_model") : NULL;
	if (model == NULL || model[0] == '\0')
		model = "-";
	error = logfilter_is_error(resp);
	if ((g = group_for(s, provider, model)) == NULL) {
		s->failed = true;
		return;
	}
	count(s, g, error, usage, resp);
	count(s, &s->total, error, usage, resp);
}

/* The model a request names: "model" in its JSON body, or .../models/NAME:... in its url. */
static void request_model(cJSON *req)
{
	const char *body = logread_str(req, "body"), *url = logread_str(req, "url"), *m;
	char name[MODEL_MAX + 1] = "";
	cJSON *parsed = body ? cJSON_Parse(body) : NULL;

	if (logread_str(parsed, "model") && strlen(logread_str(parsed, "model")) <= MODEL_MAX)
		strcpy(name, logread_str(parsed, "model"));
	cJSON_Delete(parsed);
	if (name[0] == '\0' && url && (m = strstr(url, "/models/")) != NULL) {
		size_t n = strcspn(m + 8, ":?/#");
		if (n > 0 && n <= MODEL_MAX) {
			memcpy(name, m + 8, n);
			name[n] = '\0';
		}
	}
	if (name[0])
		cJSON_AddStringToObject(req, "_model", name);
}

/* Keep what is counted: a record waiting for its pair stays small. */
static void trim(cJSON *rec)
{
	static const char *const drop[] = { "headers", "body", "body_base64", "output_text" };
	const char *type = logread_str(rec, "type");
	if (type && strcmp(type, "request") == 0)
		request_model(rec);
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(rec, drop[i]);
}

/* ---- the numbers ----------------------------------------------------------- */

struct stats {
	bool timed;		/* any duration: the three below are known */
	double median, p95, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least pct % of them at or below it. */
static double percentile(const double *sorted, size_t n, unsigned pct)
{
	size_t rank = (n * pct + 99) / 100;
	return sorted[rank > 0 ? rank - 1 : 0];
}

static struct stats stats_of(struct group *g)
{
	struct lat *l = &g->lat;
	struct stats st = { false, 0, 0, 0 };
	if (l->n == 0)
		return st;
	qsort(l->v, l->n, sizeof(double), cmp_double);
	st.timed = true;
	st.median = percentile(l->v, l->n, 50);
	st.p95 = percentile(l->v, l->n, 95);
	st.max = l->v[l->n - 1];
	return st;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	int c = strcmp(x->provider, y->provider);
	return c ? c : strcmp(x->model, y->model);
}

#define N_COLS 10
static const char *const col_names[N_COLS] = {
	"provider", "model", "exchanges", "errors", "in_tokens", "out_tokens",
	"timed", "median_ms", "p95_ms", "max_ms",
};

/* The cells of one row, as text (the log's text as it is). */
static void row_cells(struct group *g, const char *provider, const char *model,
		      char cells[N_COLS][MODEL_MAX + 24])
{
	struct stats st = stats_of(g);
	snprintf(cells[0], sizeof(cells[0]), "%s", provider);
	snprintf(cells[1], sizeof(cells[1]), "%s", model);
	snprintf(cells[2], sizeof(cells[2]), "%lu", g->exchanges);
	snprintf(cells[3], sizeof(cells[3]), "%lu", g->errors);
	snprintf(cells[4], sizeof(cells[4]), "%s", LOG_NUM(g->in_tokens));
	snprintf(cells[5], sizeof(cells[5]), "%s", LOG_NUM(g->out_tokens));
	snprintf(cells[6], sizeof(cells[6]), "%zu", g->lat.n);
	snprintf(cells[7], sizeof(cells[7]), "%s", st.timed ? LOG_NUM(st.median) : "-");
	snprintf(cells[8], sizeof(cells[8]), "%s", st.timed ? LOG_NUM(st.p95) : "-");
	snprintf(cells[9], sizeof(cells[9]), "%s", st.timed ? LOG_NUM(st.max) : "-");
}

/* ---- text ------------------------------------------------------------------- */

static void print_table(struct summary *s, FILE *out)
{
	size_t rows = s->n + 2, width[N_COLS];
	char (*cells)[N_COLS][MODEL_MAX + 24] = calloc(rows, sizeof(*cells));
	if (cells == NULL) {
		s->failed = true;
		return;
	}
	for (size_t c = 0; c < N_COLS; c++)
		snprintf(cells[0][c], sizeof(cells[0][c]), "%s", col_names[c]);
	for (size_t i = 0; i < s->n; i++)
		row_cells(&s->g[i], s->g[i].provider, s->g[i].model, cells[i + 1]);
	row_cells(&s->total, "total", "all", cells[rows - 1]);
	for (size_t i = 1; i < rows; i++)
		for (int c = 0; c < 2; c++)	/* text from the log cannot drive the terminal */
			for (unsigned char *t = (unsigned char *)cells[i][c]; *t; t++)
				if (*t < 0x20 || *t == 0x7f)
					*t = '?';
				else if (*t == 0xc2 && t[1] >= 0x80 && t[1] <= 0x9f)
					t[0] = t[1] = '?';	/* a C1 control (log_put_text) */
	for (size_t c = 0; c < N_COLS; c++) {
		width[c] = 0;
		for (size_t i = 0; i < rows; i++)
			if (strlen(cells[i][c]) > width[c])
				width[c] = strlen(cells[i][c]);
	}
	for (size_t i = 0; i < rows; i++) {
		for (size_t c = 0; c < N_COLS; c++) {
			if (c < 2)
				fprintf(out, "%s%-*s", c ? "  " : "", (int)width[c], cells[i][c]);
			else
				fprintf(out, "  %*s", (int)width[c], cells[i][c]);
		}
		fputc('\n', out);
	}
	free(cells);
}

static void print_text(struct summary *s, FILE *out)
{
	print_table(s, out);
	fputs("\nevents:", out);
	for (size_t i = 0; i < s->n_ev; i++) {
		fputs(i ? ", " : " ", out);
		log_put_text(out, s->ev[i].name, NULL);
		fprintf(out, " %lu", s->ev[i].n);
	}
	fputs(s->n_ev ? "\n" : " none\n", out);
	if (s->first[0]) {
		fputs("from ", out);
		log_put_text(out, s->first, NULL);
		fputs(" to ", out);
		log_put_text(out, s->last, NULL);
		fputc('\n', out);
	}
}

/* ---- JSON ------------------------------------------------------------------- */

/* Text from the log as a JSON string: UTF-8 whatever the log held. */
static void add_text(cJSON *o, const char *name, const char *text, bool *failed)
{
	char *clean = quote_utf8(text);
	if (clean == NULL || !cJSON_AddStringToObject(o, name, clean))
		*failed = true;
	free(clean);
}

static void add_ms(cJSON *o, const char *name, bool known, double v)
{
	if (known)
		cJSON_AddNumberToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

/* The numbers of one group, under the text table's column names. */
static cJSON *json_counts(struct group *g, bool *failed)
{
	cJSON *o = cJSON_CreateObject();
	struct stats st = stats_of(g);
	if (o == NULL) {
		*failed = true;
		return NULL;
	}
	if (g->provider) {	/* not the total; "-" (not known) is null */
		for (int c = 0; c < 2; c++) {
			const char *v = c == 0 ? g->provider : g->model;
			if (strcmp(v, "-") == 0)
				cJSON_AddNullToObject(o, col_names[c]);
			else
				add_text(o, col_names[c], v, failed);
		}
	}
	cJSON_AddNumberToObject(o, col_names[2], (double)g->exchanges);
	cJSON_AddNumberToObject(o, col_names[3], (double)g->errors);
	cJSON_AddNumberToObject(o, col_names[4], g->in_tokens);
	cJSON_AddNumberToObject(o, col_names[5], g->out_tokens);
	cJSON_AddNumberToObject(o, col_names[6], (double)g->lat.n);
	add_ms(o, col_names[7], st.timed, st.median);
	add_ms(o, col_names[8], st.timed, st.p95);
	add_ms(o, col_names[9], st.timed, st.max);
	return o;
}

/*
 * {"groups": [{"provider", "model", "exchanges", ...}], "total": {...},
 *  "events": {"bypass": 1, ...}, "from": ts or null, "to": ts or null}
 */
static void print_json(struct summary *s, FILE *out)
{
	cJSON *doc = cJSON_CreateObject(), *groups = cJSON_CreateArray();
	cJSON *events = cJSON_CreateObject();
	char *text;

	if (!doc || !groups || !events) {
		cJSON_Delete(doc);
		cJSON_Delete(groups);
		cJSON_Delete(events);
		s->failed = true;
		return;
	}
	cJSON_AddItemToObject(doc, "groups", groups);
	for (size_t i = 0; i < s->n; i++)
		cJSON_AddItemToArray(groups, json_counts(&s->g[i], &s->failed));
	cJSON_AddItemToObject(doc, "total", json_counts(&s->total, &s->failed));
	cJSON_AddItemToObject(doc, "events", events);
	for (size_t i = 0; i < s->n_ev; i++) {
		char *name = quote_utf8(s->ev[i].name);
		cJSON *seen = name ? cJSON_GetObjectItemCaseSensitive(events, name) : NULL;
		/* two names that differ only in bytes that are not UTF-8 add up */
		if (seen)
			cJSON_SetNumberValue(seen, seen->valuedouble + (double)s->ev[i].n);
		else if (name == NULL || !cJSON_AddNumberToObject(events, name, (double)s->ev[i].n))
			s->failed = true;
		free(name);
	}
	if (s->first[0]) {
		add_text(doc, "from", s->first, &s->failed);
		add_text(doc, "to", s->last, &s->failed);
	} else {
		cJSON_AddNullToObject(doc, "from");
		cJSON_AddNullToObject(doc, "to");
	}
	if ((text = cJSON_PrintUnformatted(doc)) == NULL)
		s->failed = true;
	else
		fprintf(out, "%s\n", text);
	free(text);
	cJSON_Delete(doc);
}

/* ---- Markdown --------------------------------------------------------------- */

static void md_row(FILE *out, struct group *g, const char *provider, const char *model,
		   bool bold)
{
	char cells[N_COLS][MODEL_MAX + 24];
	row_cells(g, provider, model, cells);
	for (size_t c = 0; c < N_COLS; c++) {
		fputs(c ? " | " : "| ", out);
		if (c < 2) {
			fputs(bold ? "**" : "", out);
			quote_md(out, c == 0 ? provider : model);
			fputs(bold ? "**" : "", out);
		} else {
			fputs(cells[c], out);
		}
	}
	fputs(" |\n", out);
}

/* GitHub-flavoured Markdown, for a CI job summary ($GITHUB_STEP_SUMMARY). */
static void print_markdown(struct summary *s, FILE *out)
{
	fputs("### respan log summary\n\n|", out);
	for (size_t c = 0; c < N_COLS; c++)
		fprintf(out, " %s |", col_names[c]);
	fputs("\n|", out);
	for (size_t c = 0; c < N_COLS; c++)
		fputs(c < 2 ? " --- |" : " ---: |", out);
	fputc('\n', out);
	for (size_t i = 0; i < s->n; i++)
		md_row(out, &s->g[i], s->g[i].provider, s->g[i].model, false);
	md_row(out, &s->total, "total", "all", true);
	if (s->n_ev == 0) {
		fputs("\nNo events.\n", out);
	} else {
		fputs("\n| event | count |\n| --- | ---: |\n", out);
		for (size_t i = 0; i < s->n_ev; i++) {
			fputs("| ", out);
			quote_md(out, s->ev[i].name);
			fprintf(out, " | %lu |\n", s->ev[i].n);
		}
	}
	if (s->first[0]) {
		fputs("\nFrom ", out);
		quote_md(out, s->first);
		fputs(" to ", out);
		quote_md(out, s->last);
		fputs(".\n", out);
	}
}

/* ---- the command ------------------------------------------------------------ */

static void free_summary(struct summary *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->g[i].provider);
		free(s->g[i].model);
		free(s->g[i].lat.v);
	}
	free(s->g);
	free(s->total.lat.v);
	for (size_t i = 0; i < s->n_ev; i++)
		free(s->ev[i].name);
	free(s->ev);
}

int log_summary(struct logread *r, enum log_format format)
{
	struct summary s;
	struct logpair *p;
	cJSON *rec;
	int rc, status = 0;

	memset(&s, 0, sizeof(s));
	/* Order does not matter here: each exchange is counted when complete. */
	if ((p = logpair_new(emit, &s, LOGPAIR_MAX_BYTES, false)) == NULL) {
		fputs("respan: out of memory\n", stderr);
		return 1;
	}
	while ((rc = logread_next(r, &rec)) > 0) {
		trim(rec);
		if (logpair_add(p, rec) < 0) {
			s.failed = true;
			break;
		}
	}
	if (rc < 0)
		status = log_read_error(r, rc);
	logpair_finish(p);
	logpair_free(p);

	if (s.n > 1)
		qsort(s.g, s.n, sizeof(*s.g), cmp_group);
	if (format == LOG_FORMAT_JSON)
		print_json(&s, stdout);
	else if (format == LOG_FORMAT_MARKDOWN)
		print_markdown(&s, stdout);
	else
		print_text(&s, stdout);
	if (s.failed) {
		fputs("respan: out of memory: the counts are incomplete\n", stderr);
		status = 1;
	}
	free_summary(&s);
	return status;
}
