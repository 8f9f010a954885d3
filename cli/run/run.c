#include "run.h"

#include <errno.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "envlayer.h"
#include "exchange.h"
#include "execenv.h"
#include "ldpreload.h"
#include "logfile.h"
#include "redact.h"
#include "reexec.h"
#include "relay/relay.h"
#include "ca/ca.h"
#include "elf/elfinfo.h"
#include "pembundle.h"
#include "relay/intercept.h"
#include "proxyurl.h"

extern char **environ;


/* The options, and the variable each one sets. */
static const struct flag {
	const char *option;
	const char *var;
	bool path;		/* a file name: made absolute (the program may chdir) */
} flags[] = {
	{ "log", "RESPAN_LOG", true },
	{ "mode", "RESPAN_MODE", false },
	{ "fail", "RESPAN_FAIL", false },
	{ "base-url", "RESPAN_BASE_URL", false },
	{ "route-provider", "RESPAN_ROUTE_PROVIDER", false },
	{ "ca-file", "RESPAN_CA_FILE", true },
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

void run_usage(FILE *out)
{
	fputs("usage: respan run [OPTIONS] [--] PROGRAM [ARGS...]\n"
	      "\n"
	      "Run PROGRAM with librespan.so preloaded: its LLM API calls go to the\n"
	      "Respan router with the Respan key, and their plaintext is logged.\n"
	      "Programs with TLS compiled in (Node, Bun, Go) reach the router through\n"
	      "a loopback relay that lives as long as PROGRAM (route mode with a key).\n"
	      "\n"
	      "Options (each sets the variable shown, for PROGRAM and the relay):\n"
	      "  --log FILE            RESPAN_LOG: the JSONL traffic log, or off\n"
	      "  --mode MODE           RESPAN_MODE: route, capture or off\n"
	      "  --fail open|closed    RESPAN_FAIL: what cannot be routed goes as it is,\n"
	      "                        or is refused\n"
	      "  --base-url URL        RESPAN_BASE_URL: the router (https only)\n"
	      "  --route-provider P    RESPAN_ROUTE_PROVIDER: X-Respan-Route-Provider\n"
	      "  --ca-file FILE        RESPAN_CA_FILE: extra PEM CAs trusted for the router\n"
	      "  --record              RESPAN_LOG_BODY_MAX=" RUN_RECORD_BODY_MAX " (its most): whole\n"
	      "                        bodies, so that respan replay can answer from the log\n"
	      "  -h, --help            this help\n"
	      "\n"
	      "Other settings come from the environment and the config file (see the\n"
	      "README). RESPAN_LIBRARY names the library when it is not in ../lib or\n"
	      "beside the respan binary.\n"
	      "\n"
	      "Exit status: PROGRAM's, or 128+N when signal N killed it; 2 for a bad\n"
	      "option, 125 when respan failed, 126 when PROGRAM could not be run,\n"
	      "127 when it was not found.\n", out);
}

/* ---- options --------------------------------------------------------------- */

/* Put the option values into env. Returns 0, or 2 after saying why not. */
static int apply_flags(struct execenv *env, const char *const *values)
{
	char cwd[PATH_MAX], abs[2 * PATH_MAX];
	for (size_t i = 0; i < N_FLAGS; i++) {
		const char *v = values[i];
		if (v == NULL)
			continue;
		if (v[0] == '\0') {
			fprintf(stderr, "respan: --%s: empty value\n", flags[i].option);
			return 2;
		}
		if (flags[i].path && v[0] != '/' && strcmp(v, "off") != 0 &&
		    getcwd(cwd, sizeof(cwd))) {
			snprintf(abs, sizeof(abs), "%s/%s", cwd, v);
			v = abs;
		}
		if (execenv_set(env, flags[i].var, v) < 0) {
			fprintf(stderr, "respan: out of memory\n");
			return 125;
		}
	}
	return 0;
}

/*
 * A value given as an option and refused by the configuration is an error
 * (the user asked for it by name), not the library's warn-and-default.
 * Returns 0 or 2.
 */
static int check_flags(const struct config *cfg, const char *const *values)
{
	int rc = 0;
	for (size_t w = 0; w < cfg->n_warnings; w++) {
		const char *line = cfg->warnings[w];
		for (size_t i = 0; i < N_FLAGS; i++) {
			size_t n = strlen(flags[i].var);
			if (values[i] == NULL || strncmp(line, "respan: ", 8) != 0 ||
			    strncmp(line + 8, flags[i].var, n) != 0 ||
			    (line[8 + n] != '=' && line[8 + n] != ':'))
				continue;
			fprintf(stderr, "respan: --%s: %s\n", flags[i].option, line + 8);
			rc = 2;
		}
	}
	return rc;
}

/* -1: help printed; 0: *first is PROGRAM's index; 2: usage error. */
static int parse(int argc, char **argv, const char **values, bool *record, int *first)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 0 },
		{ "mode", required_argument, NULL, 1 },
		{ "fail", required_argument, NULL, 2 },
		{ "base-url", required_argument, NULL, 3 },
		{ "route-provider", required_argument, NULL, 4 },
		{ "ca-file", required_argument, NULL, 5 },
		{ "record", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (c >= 0 && c < (int)N_FLAGS) {
			values[c] = optarg;
		} else if (c == 'r') {
			*record = true;
		} else if (c == 'h') {
			run_usage(stdout);
			return -1;
		} else {
			const char *bad = argv[optind - 1];
			fprintf(stderr, c == ':' ? "respan run: %s needs a value\n" :
				"respan run: unknown option %s\n", bad);
			fputs("usage: respan run [OPTIONS] [--] PROGRAM [ARGS...] "
			      "(respan run --help)\n", stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs("respan run: no PROGRAM given\n"
		      "usage: respan run [OPTIONS] [--] PROGRAM [ARGS...] "
		      "(respan run --help)\n", stderr);
		return 2;
	}
	*first = optind;
	return 0;
}

/* ---- the run --------------------------------------------------------------- */

/* The log writer's one line about lost records (the relay's log). */
static void report_line(const char *line)
{
	fprintf(stderr, "%s\n", line);
}

/* RESPAN_RELAY and layer 1 for the relay, applied here too, so that a
 * program librespan.so cannot load into (static Go) still uses it. */
static void point_at_relay(struct execenv *env, const struct config *cfg,
			   const struct relay *relay)
{
	struct envlayer_plan plan;
	execenv_set(env, "RESPAN_RELAY", relay_url(relay));
	if (envlayer_plan(cfg, env->v, &plan) < 0)
		return;
	for (size_t i = 0; i < plan.n_ops; i++) {
		if (plan.ops[i].value)
			execenv_set(env, plan.ops[i].name, plan.ops[i].value);
		else
			execenv_unset(env, plan.ops[i].name);
	}
	envlayer_free(&plan);
}

/*
 * A program the library cannot steer to the relay: a static one (ld.so never
 * loads librespan.so into it: Go, mostly), or a Go one even when dynamic
 * (cgo): Go connects with its own system calls, past the connect() hook.
 */
static bool out_of_reach(const char *exe)
{
	struct elfinfo e;
	bool out = elfinfo_load(exe, 0, &e) == ELF_OK && (e.interp == NULL || e.go);
	elfinfo_free(&e);
	return out;
}

/*
 * The interception CA added to the CA file Go (and rustls-native-certs)
 * read: SSL_CERT_FILE, or OpenSSL's default bundle. Go reads that one file
 * instead of the system's, so the bundle holds both. Returns its path in
 * out (in the CA's directory), or false.
 */
static bool ca_bundle(const struct config *cfg, const char *user, char *out, size_t size)
{
	char ca[4200];
	snprintf(ca, sizeof(ca), "%s/ca.pem", cfg->ca_dir);
	const char *files[] = { user ? user : X509_get_default_cert_file(), ca };
	return pembundle_write(cfg->ca_dir, "bundle-", files, 2, 16u << 20, out, size) == 0;
}

/*
 * The program's own proxy (HTTPS_PROXY, or https_proxy), if any: the relay
 * passes the tunnels it does not intercept on to it (proxyurl.h), for
 * PROGRAM here and for the Codex CLI's binary, which the library points at
 * this relay.
 */
static const char *chain_to_own_proxy(const struct execenv *env, struct relay *relay,
				      char *upstream, size_t size)
{
	const char *had = proxyurl_own(env->v);
	if (had && proxyurl_authority(had, upstream, size))
		relay_chain(relay, upstream);
	return had;
}

/*
 * A program out of the library's reach under respan run, with interception:
 * HTTPS_PROXY (and https_proxy) point at the relay, which intercepts
 * provider hosts and tunnels the rest; and the CA file it reads holds the
 * interception CA too.
 */
static void point_proxy_at_relay(struct execenv *env, const struct config *cfg,
				 struct relay *relay, const char *had)
{
	char url[700], bundle[4300];
	if (proxyurl_relay(had, relay_port(relay), url, sizeof(url))) {
		execenv_set(env, "HTTPS_PROXY", url);
		execenv_set(env, "https_proxy", url);
	}
	if (ca_bundle(cfg, execenv_get(env, "SSL_CERT_FILE"), bundle, sizeof(bundle)))
		execenv_set(env, "SSL_CERT_FILE", bundle);
}

int run_main(int argc, char **argv)
{
	const char *values[N_FLAGS] = { NULL };
	char lib[PATH_MAX], preload[LDPRELOAD_MAX], err[1024], exe[PATH_MAX];
	char runtime[LDPRELOAD_MAX];	/* a sanitizer build: its runtime, then LD_PRELOAD */
	struct execenv env = { NULL, 0, 0 };
	struct config cfg;
	bool have_cfg = false;
	struct exchange_ctx ctx = { .cfg = &cfg };
	struct relay *relay = NULL;
	struct intercept *intercept = NULL;
	char upstream[600] = "";
	int first, status;
	bool record = false;

	status = parse(argc - 1, argv + 1, values, &record, &first);
	if (status != 0)
		return status < 0 ? 0 : status;
	char **prog = argv + 1 + first;

	reexec_without_library(argv);
	child_block_signals();
	if (execenv_init(&env, environ) < 0) {
		fprintf(stderr, "respan: out of memory\n");
		return 125;
	}
	execenv_unset(&env, REEXEC_MARK);
	if ((status = apply_flags(&env, values)) != 0)
		goto out;
	if (record && execenv_set(&env, "RESPAN_LOG_BODY_MAX", RUN_RECORD_BODY_MAX) < 0) {
		fprintf(stderr, "respan: out of memory\n");
		status = 125;
		goto out;
	}
	status = 125;
	if (ldpreload_find_library(getenv("RESPAN_LIBRARY"), lib, sizeof(lib), err,
				   sizeof(err)) < 0) {
		fprintf(stderr, "respan: %s\n", err);
		goto out;
	}
	if (ldpreload_compose(lib, ldpreload_own_runtime(execenv_get(&env, "LD_PRELOAD"),
							 runtime, sizeof(runtime)),
			      preload, sizeof(preload)) < 0 ||
	    execenv_set(&env, "LD_PRELOAD", preload) < 0) {
		fprintf(stderr, "respan: cannot put %s into LD_PRELOAD\n", lib);
		goto out;
	}
	if (config_load(&cfg, env.v) < 0) {
		fprintf(stderr, "respan: out of memory\n");
		goto out;
	}
	have_cfg = true;
	if ((status = check_flags(&cfg, values)) != 0)
		goto out;

	/* Other warnings are the library's to give, in PROGRAM. */
	execenv_unset(&env, "RESPAN_RELAY");
	if (cfg.mode == RESPAN_MODE_ROUTE && cfg.api_key &&
	    (ctx.red = redact_new()) != NULL) {
		redact_add(ctx.red, cfg.api_key, strlen(cfg.api_key));
		struct logfile_owner owner = { .exe = exe, .red = ctx.red,
					       .report = report_line };
		if (cfg.log_path && logfile_open(cfg.log_path, &owner, &ctx.log) < 0)
			ctx.log = NULL;
		child_program_path(prog[0], execenv_get(&env, "PATH"), exe, sizeof(exe));
		/*
		 * Interception: a static PROGRAM's provider calls come through
		 * HTTPS_PROXY; a program's whose TLS the library cannot see
		 * (node, Bun) come from the library, as under the relay it
		 * starts itself (lazyrelay.h).
		 */
		if (cfg.intercept == RESPAN_INTERCEPT_AUTO) {
			struct ca ca;
			if (ca_ensure(&cfg, false, &ca, err, sizeof(err)) < 0 ||
			    (intercept = intercept_new(&cfg, &ca, err, sizeof(err))) == NULL)
				logfile_event(ctx.log, "relay_error", cfg.router_host, err);
		}
		if (relay_start(&ctx, NULL, intercept, &relay, err, sizeof(err)) == 0) {
			const char *had = chain_to_own_proxy(&env, relay, upstream,
							     sizeof(upstream));
			point_at_relay(&env, &cfg, relay);
			if (intercept && out_of_reach(exe))
				point_proxy_at_relay(&env, &cfg, relay, had);
			if (cfg.debug)
				fprintf(stderr, "respan: relay %s -> %s\n", relay_url(relay),
					cfg.base_url);
		} else {
			fprintf(stderr, "respan: relay not started (%s): programs with TLS "
				"compiled in are not logged\n", err);
			logfile_event(ctx.log, "relay_error", cfg.router_host, err);
		}
	}

	pid_t pid = child_spawn(prog, env.v);
	if (pid < 0) {
		fprintf(stderr, "respan: %s: %s\n", prog[0], strerror((int)-pid));
		status = pid == -ENOENT ? 127 : 126;
	} else {
		status = child_wait(pid);
	}
	relay_stop(relay, "process exited");
	intercept_free(intercept);
out:
	logfile_close(ctx.log);
	redact_free(ctx.red);
	if (have_cfg)
		config_free(&cfg);
	execenv_free(&env);
	return status;
}
