#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

extern char **environ;

enum { CMD_SHOW, CMD_HAR, CMD_SUMMARY, CMD_CURL };

/* The options, as bits of struct subcommand's takes. */
enum {
	OPT_FOLLOW = 1 << 0,
	OPT_VERBOSE = 1 << 1,
	OPT_PROVIDER = 1 << 2,
	OPT_PID = 1 << 3,
	OPT_STATUS = 1 << 4,
	OPT_SINCE = 1 << 5,
	OPT_ID = 1 << 6,
	OPT_FORMAT = 1 << 7,
};

static const struct subcommand {
	const char *name;
	const char *synopsis;
	const char *help;
	unsigned takes;		/* OPT_* */
	int min_args, max_args;	/* operands: FILE, or ID [FILE] */
} cmds[] = {
	[CMD_SHOW] = { "show", "[FILE] [-f] [-v] [--provider ID] [--pid PID]\n"
		"                       [--status STATUS] [--since TIME] [--id ID]",
		"One block per exchange, in the order of the requests: time, pid and\n"
		"program, provider, method, url -> routed url, status, duration, tokens\n"
		"and model, error; events one line each.\n"
		"\n"
		"Options:\n"
		"  -f, --follow         keep reading as the log grows (as tail -f), across\n"
		"                       truncation and rotation; Ctrl-C ends it\n"
		"  -v, --verbose        add the headers (credentials are [REDACTED] in the\n"
		"                       log) and bodies; an event stream shows its merged text\n"
		"      --provider ID    only exchanges with that provider (openai, anthropic,\n"
		"                       gemini, vertexai; \"-\" for none)\n"
		"      --pid PID        only exchanges and events of that process\n"
		"      --status STATUS  only exchanges whose response has that status: 429;\n"
		"                       a class, 1xx to 5xx; or error: no response, a status\n"
		"                       outside 100-399 (0: no response head), or an error\n"
		"                       recorded; a comma-separated list matches any of them\n"
		"      --since TIME     only exchanges (their request) and events from TIME\n"
		"                       on: an RFC 3339 time as in the log, such as\n"
		"                       2026-11-25T08:49:55Z (UTC when it has no offset), or\n"
		"                       a duration back from now: 90s, 10m, 2h, 1d, 1h30m\n"
		"      --id ID          only the exchange with that id (shown in [brackets])\n"
		"  -h, --help           this help\n"
		"\n"
		"Filters combine: what is shown passes all of them. Events have no\n"
		"provider, status or id: --provider, --status and --id leave them out.\n",
		OPT_FOLLOW | OPT_VERBOSE | OPT_PROVIDER | OPT_PID | OPT_STATUS | OPT_SINCE | OPT_ID,
		0, 1 },
	[CMD_HAR] = { "har", "[FILE]",
		"The exchanges as HAR 1.2 (JSON) on standard output, for browser\n"
		"developer tools and HAR viewers. url is what the program asked for;\n"
		"_routed_url, _provider, _pid, _exe, _usage and _error carry the rest.\n"
		"\n"
		"Options:\n"
		"  -h, --help      this help\n", 0, 0, 1 },
	[CMD_SUMMARY] = { "summary", "[FILE] [--format text|json|markdown]",
		"Per provider and model: exchanges, errors (no response, a status outside\n"
		"100-399 (0: no response head), or an error recorded), input and output\n"
		"tokens, and latency (duration_ms: how many were timed, median, 95th\n"
		"percentile, max); then the totals, the events by type, and the first\n"
		"and last time in the log.\n"
		"\n"
		"Options:\n"
		"      --format text|json|markdown\n"
		"                  text (the default): an aligned table; json: one JSON\n"
		"                  document with the same content; markdown: GitHub-\n"
		"                  flavoured Markdown tables, for a CI job summary such\n"
		"                  as $GITHUB_STEP_SUMMARY\n"
		"  -h, --help      this help\n", OPT_FORMAT, 0, 1 },
	[CMD_CURL] = { "curl", "ID [FILE]",
		"The request of exchange ID as a curl command line that sends it to the\n"
		"router again: its method, routed url (its url when it was not routed),\n"
		"headers and body, over HTTP/1.1. Every credential (the Authorization,\n"
		"x-api-key, x-goog-api-key and api-key headers, key= in the url) is\n"
		"written as \"$RESPAN_API_KEY\", for the shell to expand when the command\n"
		"runs: no key is printed. Hop-by-hop headers (Host, Content-Length,\n"
		"Connection, Transfer-Encoding, ...) and Accept-Encoding are left to\n"
		"curl; Cookie and Proxy-Authorization, whose values the log does not\n"
		"keep, are left out. A binary body goes through base64 -d, a long one\n"
		"through printf. Run it with sh or bash; for a router whose CA is not\n"
		"one of the system's, set CURL_CA_BUNDLE. Status 1 when ID is not in\n"
		"the log, or when the log cut its body (RESPAN_LOG_BODY_MAX): that\n"
		"command would not send the same request.\n"
		"\n"
		"Options:\n"
		"  -h, --help      this help\n", 0, 1, 2 },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char file_help[] =
	"FILE is the traffic log; by default the configured one (RESPAN_LOG, else\n"
	"\"log\" in the config file, else $XDG_STATE_HOME/respan/traffic.jsonl).\n"
	"- reads standard input.\n";

void log_usage(FILE *out)
{
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(out, "%s respan log %s %s\n", i == 0 ? "usage:" : "      ",
			cmds[i].name, cmds[i].synopsis);
	fputs("\n"
	      "Read the JSON Lines traffic log librespan.so writes.\n"
	      "\n"
	      "Commands:\n"
	      "  show      one block per exchange (time, pid/program, url -> routed url,\n"
	      "            status, duration, tokens); -v adds headers and bodies,\n"
	      "            -f follows the log as it grows; --provider, --pid,\n"
	      "            --status, --since and --id choose what is shown\n"
	      "  har       the exchanges as HAR 1.2 on standard output\n"
	      "  summary   counts, errors, tokens and latency per provider and model,\n"
	      "            as text, json or markdown (--format)\n"
	      "  curl      the request of one exchange as a curl command line, the key\n"
	      "            left as $RESPAN_API_KEY\n"
	      "\n", out);
	fputs(file_help, out);
	fputs("\nrespan log COMMAND --help for more.\n", out);
}

static void cmd_usage(FILE *out, const struct subcommand *c)
{
	fprintf(out, "usage: respan log %s %s\n\n%s\n%s", c->name, c->synopsis, c->help,
		file_help);
}

static int usage_error(const struct subcommand *c)
{
	fprintf(stderr, "usage: respan log %s %s\n(respan log %s --help)\n", c->name,
		c->synopsis, c->name);
	return 2;
}

void log_put_text(FILE *out, const char *s, const char *indent)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == '\n') {
			fputc('\n', out);
			if (indent && p[1])
				fputs(indent, out);
		} else if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
			/* C1 controls (U+0080..U+009F) can drive some terminals too */
			if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
				fprintf(out, "\\u%04x", p[1]);
				p++;
			} else {
				fputc(c, out);
			}
		} else {
			fprintf(out, "\\x%02x", c);
		}
	}
}

const char *log_num(char *buf, double v)
{
	snprintf(buf, LOG_NUM_MAX, v > -1e15 && v < 1e15 ? "%.0f" : "%g", v);
	return buf;
}

int log_read_error(const struct logread *r, int err)
{
	fprintf(stderr, "respan: %s: %s\n", strcmp(r->name, "-") == 0 ? "<stdin>" : r->name,
		strerror(-err));
	return 1;
}

/* What the command line says. */
struct log_args {
	const char *file;	/* NULL: the configured log */
	const char *id;		/* curl's ID */
	bool follow, verbose;
	struct logfilter filter;
	enum log_format format;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Say why value of option is wrong; returns 2. */
static int bad_value(const struct subcommand *c, const char *option, const char *value,
		     const char *expected)
{
	fprintf(stderr, "respan log %s: %s ", c->name, option);
	log_put_text(stderr, value, NULL);
	fprintf(stderr, ": expected %s\n", expected);
	return usage_error(c);
}

/* Option ch with its value into a; 0, or 2 after saying why. */
static int take(const struct subcommand *c, int ch, const char *v, struct log_args *a)
{
	switch (ch) {
	case OPT_FOLLOW:
		a->follow = true;
		break;
	case OPT_VERBOSE:
		a->verbose = true;
		break;
	case OPT_PROVIDER:
		if (v[0] == '\0')
			return bad_value(c, "--provider", v, "a provider id such as openai");
		a->filter.provider = v;
		break;
	case OPT_PID:
		if (logfilter_set_pid(&a->filter, v) < 0)
			return bad_value(c, "--pid", v, "a process id");
		break;
	case OPT_STATUS:
		if (logfilter_set_status(&a->filter, v) < 0)
			return bad_value(c, "--status", v, "a status such as 429, a class "
					 "such as 4xx, or error (a comma-separated list of these)");
		break;
	case OPT_SINCE:
		if (logfilter_set_since(&a->filter, v, now_ms()) < 0)
			return bad_value(c, "--since", v, "an RFC 3339 time such as "
					 "2026-11-25T08:49:55Z, or a duration such as 10m, 2h or 1d");
		break;
	case OPT_ID:
		if (v[0] == '\0')
			return bad_value(c, "--id", v, "an exchange id such as 11352-1");
		a->filter.id = v;
		break;
	case OPT_FORMAT:
		if (strcmp(v, "text") == 0)
			a->format = LOG_FORMAT_TEXT;
		else if (strcmp(v, "json") == 0)
			a->format = LOG_FORMAT_JSON;
		else if (strcmp(v, "markdown") == 0)
			a->format = LOG_FORMAT_MARKDOWN;
		else
			return bad_value(c, "--format", v, "text, json or markdown");
		break;
	}
	return 0;
}

/* -1: help printed; 0: parsed; 2: usage error. */
static int parse(const struct subcommand *c, int argc, char **argv, struct log_args *a)
{
	enum { HELP = 'h' };
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "provider", required_argument, NULL, OPT_PROVIDER },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "id", required_argument, NULL, OPT_ID },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help", no_argument, NULL, HELP },
		{ NULL, 0, NULL, 0 },
	};
	int ch, n, li = -1;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":fvh", opts, &li)) != -1) {
		/* ':' is an option without its value: optopt says which */
		int opt = ch == ':' ? optopt : ch == 'f' ? OPT_FOLLOW : ch == 'v' ? OPT_VERBOSE : ch;
		/* The option as written, for messages: argv[optind - 1] is its
		 * value when it took one, so a known one is named from opts. */
		char flag[3] = { '-', (char)(ch == '?' ? optopt : ch), '\0' }, name[32];
		const char *given = flag;
		if (li >= 0) {
			snprintf(name, sizeof(name), "--%s", opts[li].name);
			given = name;
		} else if (ch == ':' || (ch == '?' && optopt == 0)) {
			given = argv[optind - 1];	/* without its value, or unknown */
		}
		li = -1;
		if (ch == HELP) {
			cmd_usage(stdout, c);
			return -1;
		} else if (ch == '?' || opt <= 0 || opt > OPT_FORMAT ||
			   !(c->takes & (unsigned)opt)) {
			fprintf(stderr, "respan log %s: unknown option %s\n", c->name, given);
			return usage_error(c);
		} else if (ch == ':') {
			fprintf(stderr, "respan log %s: %s needs a value\n", c->name, given);
			return usage_error(c);
		} else if ((n = take(c, opt, optarg, a)) != 0) {
			return n;
		}
	}
	n = argc - optind;
	if (n < c->min_args) {
		fprintf(stderr, "respan log %s: which exchange? (an ID as shown in [brackets] "
			"by respan log show)\n", c->name);
		return usage_error(c);
	}
	if (n > c->max_args) {
		fprintf(stderr, "respan log %s: one FILE at most\n", c->name);
		return usage_error(c);
	}
	if (c->min_args > 0)
		a->id = argv[optind++];
	a->file = optind < argc ? argv[optind] : NULL;
	return 0;
}

/* FILE, else the configured log (malloc'd into *owned); NULL after saying why. */
static const char *log_file(const char *file, char **owned)
{
	struct config cfg;
	*owned = NULL;
	if (file)
		return file;
	if (config_load(&cfg, environ) < 0) {
		fputs("respan: out of memory\n", stderr);
		return NULL;
	}
	if (cfg.log_path == NULL)
		fputs("respan: the log is off (RESPAN_LOG=off): name a FILE\n", stderr);
	else if ((*owned = strdup(cfg.log_path)) == NULL)
		fputs("respan: out of memory\n", stderr);
	config_free(&cfg);
	return *owned;
}

int log_main(int argc, char **argv)
{
	const struct subcommand *c = NULL;
	struct log_args a;
	const char *file;
	char *owned;
	struct logread r;
	int status, e;

	if (argc < 3) {
		log_usage(stderr);
		return 2;
	}
	if (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0 ||
	    strcmp(argv[2], "help") == 0) {
		log_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(argv[2], cmds[i].name) == 0)
			c = &cmds[i];
	if (c == NULL) {
		fprintf(stderr, "respan log: '%s' is not a log command (see respan log --help)\n",
			argv[2]);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	status = parse(c, argc - 2, argv + 2, &a);
	if (status != 0)
		return status < 0 ? 0 : status;
	if ((file = log_file(a.file, &owned)) == NULL)
		return 1;
	if ((e = logread_open(&r, file, a.follow)) < 0) {
		fprintf(stderr, "respan: %s: %s\n", file, strerror(-e));
		free(owned);
		return 1;
	}
	if (c == &cmds[CMD_SHOW])
		status = log_show(&r, a.verbose, &a.filter);
	else if (c == &cmds[CMD_HAR])
		status = log_har(&r);
	else if (c == &cmds[CMD_SUMMARY])
		status = log_summary(&r, a.format);
	else
		status = log_curl(&r, a.id);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "respan: standard output: %s\n", strerror(errno));
		status = 1;
	}
	logread_close(&r);
	free(owned);
	return status;
}
