#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassette.h"
#include "config.h"
#include "logfile.h"
#include "reexec.h"
#include "replayserve.h"
#include "run/run.h"

extern char **environ;

/* The key a full replay runs with when the user has none: the library
 * needs one to route, and the replay server takes any. */
#define REPLAY_STANDIN_KEY "rk-replay-no-key-needed"

void replay_usage(FILE *out)
{
	fputs("usage: respan replay [--log FILE] [--miss fail|live] CASSETTE [--] PROGRAM [ARGS...]\n"
	      "\n"
	      "Run PROGRAM as respan run does, but answer its LLM requests from the\n"
	      "traffic log CASSETTE instead of the router: offline, and the same every\n"
	      "time. A request is matched by method, path and query (without\n"
	      "credentials) and body (JSON compared canonically); identical requests\n"
	      "get the recorded answers in recorded order; streams are replayed event\n"
	      "by event. No Respan key is needed.\n"
	      "\n"
	      "Options:\n"
	      "  --log FILE        RESPAN_LOG for this run (where replay_miss events go)\n"
	      "  --miss fail       an unmatched request gets a 404 that names it, a\n"
	      "                    replay_miss event, and respan exits non-zero (default)\n"
	      "  --miss live       it goes to the router (RESPAN_BASE_URL, RESPAN_API_KEY),\n"
	      "                    and the exchange is appended to CASSETTE afterwards\n"
	      "  -h, --help        this help\n"
	      "\n"
	      "Record a cassette with `respan run --record` (whole bodies: an answer\n"
	      "cut by RESPAN_LOG_BODY_MAX cannot be replayed).\n"
	      "\n"
	      "Exit status: PROGRAM's; 1 when it succeeded but requests were missed;\n"
	      "2 for a bad option; 125 when respan failed; as respan run otherwise.\n",
	      out);
}

struct options {
	const char *log;
	bool live;
	const char *cassette;
	int first;		/* PROGRAM's index in argv */
};

/* -1: help printed; 0: parsed; 2: usage error. */
static int parse(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "miss", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (c == 'l') {
			o->log = optarg;
		} else if (c == 'm' && (strcmp(optarg, "fail") == 0 || strcmp(optarg, "live") == 0)) {
			o->live = strcmp(optarg, "live") == 0;
		} else if (c == 'm') {
			fprintf(stderr, "respan replay: --miss: expected fail or live, not %s\n", optarg);
			return 2;
		} else if (c == 'h') {
			replay_usage(stdout);
			return -1;
		} else {
			fprintf(stderr, c == ':' ? "respan replay: %s needs a value\n" :
				"respan replay: unknown option %s\n", argv[optind - 1]);
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	o->cassette = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc) {
		fputs("respan replay: no PROGRAM given\n", stderr);
		goto usage;
	}
	o->first = optind;
	return 0;
usage:
	fputs("usage: respan replay [--log FILE] [--miss fail|live] CASSETTE [--] PROGRAM "
	      "[ARGS...] (respan replay --help)\n", stderr);
	return 2;
}

static void report_line(const char *line)
{
	fprintf(stderr, "%s\n", line);
}

/* The size of path now (0 when it does not exist). */
static long long size_of(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static int append_record(int fd, const cJSON *rec)
{
	char *line = cJSON_PrintUnformatted(rec);
	if (line == NULL)
		return -ENOMEM;
	size_t n = strlen(line);
	line[n] = '\n';		/* over the NUL: one write, one line */
	ssize_t w = write(fd, line, n + 1);
	free(line);
	return w == (ssize_t)(n + 1) ? 0 : -EIO;
}

/*
 * The exchanges this run sent to the live router, taken from the run's log
 * (written after log_start) and appended to the cassette, request then
 * response, in the order they went. Returns how many, or a negative errno.
 */
static long append_live(const char *cassette, const char *log, long long log_start,
			const struct config *cfg, const char *recorded_base,
			const struct cassette_key *keys, size_t n_keys)
{
	struct cassette got;
	char err[600];
	long added = 0;
	if (log == NULL) {
		fputs("respan replay: RESPAN_LOG is off: the live answers cannot be added "
		      "to the cassette\n", stderr);
		return -EINVAL;
	}
	if (cassette_load(&got, log, log_start, cfg, recorded_base, err, sizeof(err)) < 0) {
		fprintf(stderr, "respan replay: %s\n", err);
		return -EIO;
	}
	int fd = open(cassette, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "respan replay: %s: %s\n", cassette, strerror(errno));
		cassette_free(&got);
		return -errno;
	}
	for (size_t i = 0; i < n_keys; i++) {
		struct cassette_entry *e = cassette_match(&got, &keys[i]);
		if (e == NULL || e->resp == NULL) {
			fprintf(stderr, "respan replay: a live exchange (%s %s) is not in %s whole: "
				"not added\n", keys[i].method, keys[i].target, log);
			continue;
		}
		if (append_record(fd, e->req) < 0 || append_record(fd, e->resp) < 0) {
			fprintf(stderr, "respan replay: %s: cannot append\n", cassette);
			break;
		}
		added++;
	}
	close(fd);
	cassette_free(&got);
	return added;
}

int replay_main(int argc, char **argv)
{
	struct options o = { 0 };
	struct config user, cfg;
	struct cassette tape;
	struct replayserve *server = NULL;
	struct logfile *log = NULL;
	char err[1024], base[PATH_MAX + 64], log_abs[2 * PATH_MAX], cwd[PATH_MAX];
	bool have_user = false, have_cfg = false, have_tape = false;
	int status;

	status = parse(argc - 1, argv + 1, &o);
	if (status != 0)
		return status < 0 ? 0 : status;
	reexec_without_library(argv);
	/* The program may chdir: the files are named absolutely. */
	if (o.log && o.log[0] != '/' && strcmp(o.log, "off") != 0 && getcwd(cwd, sizeof(cwd))) {
		snprintf(log_abs, sizeof(log_abs), "%s/%s", cwd, o.log);
		o.log = log_abs;
	}
	if (o.log && setenv("RESPAN_LOG", o.log, 1) < 0)
		return 125;
	status = 125;
	if (config_load(&user, environ) < 0) {
		fputs("respan: out of memory\n", stderr);
		return 125;
	}
	have_user = true;
	if (o.live && (user.api_key == NULL || user.mode != RESPAN_MODE_ROUTE)) {
		fputs("respan replay: --miss live needs a Respan key (RESPAN_API_KEY) and route "
		      "mode: misses will fail\n", stderr);
		o.live = false;
	}

	/* replay_miss events go to the run's log (the one --log names). */
	struct logfile_owner owner = { .exe = "respan", .report = report_line };
	if (user.log_path && logfile_defer(user.log_path, &owner, &log) < 0)
		log = NULL;
	struct replayserve_opts opts = { .cassette = &tape, .cfg = &cfg,
					 .live = o.live ? &user : NULL, .log = log };
	if (replayserve_new(&opts, &server, err, sizeof(err)) < 0) {
		fprintf(stderr, "respan replay: %s\n", err);
		goto out;
	}
	/* The router, for PROGRAM, the relay and the library: this server. */
	snprintf(base, sizeof(base), "https://127.0.0.1:%u%s", (unsigned)replayserve_port(server),
		 user.router_path);
	if (setenv("RESPAN_BASE_URL", base, 1) < 0 ||
	    setenv("RESPAN_CA_FILE", replayserve_ca_file(server), 1) < 0 ||
	    setenv("RESPAN_MODE", "route", 1) < 0 ||
	    (user.api_key == NULL && setenv("RESPAN_API_KEY", REPLAY_STANDIN_KEY, 1) < 0) ||
	    (o.live && setenv("RESPAN_LOG_BODY_MAX", RUN_RECORD_BODY_MAX, 1) < 0)) {
		fputs("respan: out of memory\n", stderr);
		goto out;
	}
	if (config_load(&cfg, environ) < 0) {
		fputs("respan: out of memory\n", stderr);
		goto out;
	}
	have_cfg = true;
	if (cassette_load(&tape, o.cassette, 0, &cfg, user.router_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "respan replay: %s\n", err);
		status = 2;
		goto out;
	}
	have_tape = true;
	if (tape.cut_requests)
		fprintf(stderr, "respan replay: %s: %zu requests were logged cut short "
			"(RESPAN_LOG_BODY_MAX) and cannot be matched\n", o.cassette,
			tape.cut_requests);
	if (cfg.debug)
		fprintf(stderr, "respan replay: %zu exchanges from %s, served at %s\n", tape.n,
			o.cassette, base);
	long long log_start = size_of(cfg.log_path);
	if (replayserve_start(server) < 0) {
		fputs("respan replay: cannot start the replay server\n", stderr);
		goto out;
	}

	/* respan run, with the environment set above. */
	int n = argc - 1 - o.first;
	char **run_argv = calloc((size_t)n + 4, sizeof(*run_argv));
	if (run_argv == NULL)
		goto out;
	run_argv[0] = argv[0];
	run_argv[1] = (char *)"run";
	run_argv[2] = (char *)"--";
	memcpy(run_argv + 3, argv + 1 + o.first, (size_t)n * sizeof(*run_argv));
	status = run_main(n + 3, run_argv);
	free(run_argv);

	unsigned long replayed, missed, live;
	replayserve_counts(server, &replayed, &missed, &live);
	if (live) {
		size_t n_keys;
		const struct cassette_key *keys = replayserve_live_keys(server, &n_keys);
		long added = append_live(o.cassette, cfg.log_path, log_start, &cfg,
					 user.router_path, keys, n_keys);
		if (added >= 0)
			fprintf(stderr, "respan replay: %lu requests went to the router; %ld "
				"exchanges added to %s\n", live, added, o.cassette);
	}
	if (missed) {
		fprintf(stderr, "respan replay: %lu of %lu requests had no recorded answer in %s "
			"(replay_miss events in %s)\n", missed, missed + replayed + live,
			o.cassette, cfg.log_path ? cfg.log_path : "no log: RESPAN_LOG=off");
		if (status == 0)
			status = 1;
	}
out:
	replayserve_free(server);
	logfile_close(log);
	if (have_tape)
		cassette_free(&tape);
	if (have_cfg)
		config_free(&cfg);
	if (have_user)
		config_free(&user);
	return status;
}
