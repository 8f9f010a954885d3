#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

extern char **environ;

enum { CMD_SHOW, CMD_HAR, CMD_SUMMARY };

static const struct subcommand {
	const char *name;
	const char *synopsis;
	const char *help;
} cmds[] = {
	[CMD_SHOW] = { "show", "[FILE] [-f] [-v]",
		"One block per exchange, in the order of the requests: time, pid and\n"
		"program, provider, method, url -> routed url, status, duration, tokens\n"
		"and model, error; events one line each.\n"
		"\n"
		"Options:\n"
		"  -f, --follow    keep reading as the log grows (as tail -f), across\n"
		"                  truncation and rotation; Ctrl-C ends it\n"
		"  -v, --verbose   add the headers (credentials are [REDACTED] in the log)\n"
		"                  and bodies; an event stream shows its merged text\n"
		"  -h, --help      this help\n" },
	[CMD_HAR] = { "har", "[FILE]",
		"The exchanges as HAR 1.2 (JSON) on standard output, for browser\n"
		"developer tools and HAR viewers. url is what the program asked for;\n"
		"_routed_url, _provider, _pid, _exe, _usage and _error carry the rest.\n"
		"\n"
		"Options:\n"
		"  -h, --help      this help\n" },
	[CMD_SUMMARY] = { "summary", "[FILE]",
		"Per provider and model: exchanges, errors (status 400 or more, an\n"
		"error, or no response), input and output tokens, and latency\n"
		"(duration_ms: count, median, 95th percentile, max); then the totals\n"
		"and the events by type.\n"
		"\n"
		"Options:\n"
		"  -h, --help      this help\n" },
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
	      "            -f follows the log as it grows\n"
	      "  har       the exchanges as HAR 1.2 on standard output\n"
	      "  summary   counts, errors, tokens and latency per provider and model\n"
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
	fprintf(stderr, "usage: respan log %s %s (respan log %s --help)\n", c->name,
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

/* -1: help printed; 0: parsed; 2: usage error. */
static int parse(const struct subcommand *c, bool show, int argc, char **argv,
		 const char **file, bool *follow, bool *verbose)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":fvh", opts, NULL)) != -1) {
		if (ch == 'h') {
			cmd_usage(stdout, c);
			return -1;
		} else if (show && ch == 'f') {
			*follow = true;
		} else if (show && ch == 'v') {
			*verbose = true;
		} else {
			fprintf(stderr, "respan log %s: unknown option %s\n", c->name,
				argv[optind - 1]);
			return usage_error(c);
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "respan log %s: one FILE at most\n", c->name);
		return usage_error(c);
	}
	*file = optind < argc ? argv[optind] : NULL;
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
	const char *file = NULL;
	bool follow = false, verbose = false;
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
	status = parse(c, c == &cmds[CMD_SHOW], argc - 2, argv + 2, &file, &follow, &verbose);
	if (status != 0)
		return status < 0 ? 0 : status;
	if ((file = log_file(file, &owned)) == NULL)
		return 1;
	if ((e = logread_open(&r, file, follow)) < 0) {
		fprintf(stderr, "respan: %s: %s\n", file, strerror(-e));
		free(owned);
		return 1;
	}
	if (c == &cmds[CMD_SHOW])
		status = log_show(&r, verbose);
	else if (c == &cmds[CMD_HAR])
		status = log_har(&r);
	else
		status = log_summary(&r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "respan: standard output: %s\n", strerror(errno));
		status = 1;
	}
	logread_close(&r);
	free(owned);
	return status;
}
