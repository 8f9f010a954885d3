#include "doctor.h"

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "assess.h"
#include "buf.h"
#include "config.h"
#include "doctor_setup.h"
#include "elf/elfinfo.h"
#include "envlayer.h"
#include "ldpreload.h"
#include "progcheck.h"
#include "redact.h"
#include "reexec.h"

extern char **environ;

#define LINE_MAX_OUT 4096

void doctor_usage(FILE *out)
{
	fputs("usage: respan doctor [--check-router] [--run] [--] [PROGRAM]\n"
	      "\n"
	      "Show the effective configuration (each RESPAN_* variable, its value and\n"
	      "where it came from; the key only as set or unset), its warnings, the\n"
	      "library respan run preloads, the log file and the router. With PROGRAM\n"
	      "(searched in PATH like a shell does; #! scripts are followed to their\n"
	      "interpreter), also which layers can act on it: the environment,\n"
	      "libcurl, the resolver, OpenSSL and GnuTLS, and what happens to the\n"
	      "libraries it loads later (PHP's extensions among them), ending with one\n"
	      "line 'verdict: ...'.\n"
	      "PROGRAM is read, never run.\n"
	      "\n"
	      "Options:\n"
	      "  --check-router   connect to the router and verify its certificate (the\n"
	      "                   only network access doctor makes; no request is sent)\n"
	      "  --run            for a Python PROGRAM, ask the interpreter where its _ssl\n"
	      "                   module is (runs it once, without LD_PRELOAD), instead of\n"
	      "                   looking for the file\n"
	      "  -h, --help       this help\n"
	      "\n"
	      "Exit status: 0 once the report is printed, whatever it found; 1 when\n"
	      "PROGRAM cannot be looked at (not found, unreadable); 2 for a bad option.\n",
	      out);
}

/* ---- output --------------------------------------------------------------------- */

void doctor_say(struct doctor *d, const char *fmt, ...)
{
	char line[LINE_MAX_OUT];
	struct buf clean;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* File names and #! lines come from anywhere: one line stays one line. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	buf_init(&clean, SIZE_MAX);
	if (redact_scrub(d->red, line, strlen(line), &clean) < 0)
		fputs("  [a line that could not be checked for the key is left out]", stdout);
	else if (clean.len)
		fwrite(clean.data, 1, clean.len, stdout);
	fputc('\n', stdout);
	buf_free(&clean);
}

void doctor_row(struct doctor *d, const char *name, const char *value, const char *source)
{
	if (source && source[0])
		doctor_say(d, "  %-31s %s  [%s]", name, value, source);
	else
		doctor_say(d, "  %-31s %s", name, value);
}

/* ---- PROGRAM ----------------------------------------------------------------------- */

static void hops_rows(struct doctor *d, const struct prog_facts *f)
{
	char text[2 * PATH_MAX + 300];
	for (size_t i = 0; i < f->n_hops; i++) {
		const struct prog_hop *h = &f->hops[i];
		if (h->env_name[0])
			snprintf(text, sizeof(text), "%s: #!%s -> env finds %s in PATH: %s",
				 h->script, h->line, h->env_name, h->interp[0] ? h->interp : "?");
		else
			snprintf(text, sizeof(text), "%s: #!%s", h->script, h->line);
		doctor_row(d, "script", text, NULL);
	}
	if (f->chain_error[0])
		doctor_row(d, "", f->chain_error, NULL);
}

static void facts_rows(struct doctor *d, const struct prog_facts *f, const struct assessment *a)
{
	char text[2 * PATH_MAX + 300];
	const struct elfinfo *e = &f->elf;

	if (strcmp(f->exe, f->path) != 0 || (f->exe_real[0] && strcmp(f->exe_real, f->exe))) {
		snprintf(text, sizeof(text), "%s%s%s%s", f->exe,
			 f->n_hops ? " (the interpreter, analysed below)" : "",
			 f->exe_real[0] && strcmp(f->exe_real, f->exe) ? " -> " : "",
			 f->exe_real[0] && strcmp(f->exe_real, f->exe) ? f->exe_real : "");
		doctor_row(d, "runs", text, NULL);
	}
	if (f->elf_rc != ELF_OK) {
		doctor_row(d, "format", e->error, NULL);
		return;
	}
	doctor_row(d, "format", a->kind, NULL);
	if (e->n_needed) {
		size_t len = 0;
		text[0] = '\0';
		for (size_t i = 0; i < e->n_needed && len < sizeof(text) - 300; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s",
						i ? ", " : "", e->needed[i]);
		if (f->have_deps)
			snprintf(text + len, sizeof(text) - len, " (%zu libraries in all)", f->deps.n);
		doctor_row(d, "needs", text, NULL);
	}
	if (a->runtime[0])
		doctor_row(d, "runtime", a->runtime, NULL);
	if (a->client[0])
		doctor_row(d, "known client", a->client, NULL);
	if (f->python) {
		snprintf(text, sizeof(text), "%s; %s%s%s", f->py_ssl[0] ? f->py_ssl : "not found",
			 f->py_note, f->py_openssl[0] ? "; " : "", f->py_openssl);
		doctor_row(d, "Python _ssl", text, NULL);
	}
	doctor_row(d, "TLS libraries", a->tls_libs, NULL);
	doctor_row(d, "TLS compiled in", a->tls_inside, NULL);
	if (f->setuid || f->setgid || f->caps) {
		struct stat st = f->st;
		snprintf(text, sizeof(text), "%s%s%s%s%s (owner uid %u, gid %u): %s",
			 f->setuid ? "setuid" : "", f->setuid && f->setgid ? ", " : "",
			 f->setgid ? "setgid" : "", (f->setuid || f->setgid) && f->caps ? ", " : "",
			 f->caps ? "file capabilities" : "", (unsigned)st.st_uid, (unsigned)st.st_gid,
			 f->nosuid ? "ignored: its file system is mounted nosuid" :
			 f->secure ? "secure execution when you run it" :
			 "not secure execution when you run it (it is for other users)");
		doctor_row(d, "setuid/setgid", text, NULL);
	} else {
		doctor_row(d, "setuid/setgid", "no", NULL);
	}
}

static void program_section(struct doctor *d, struct prog_facts *f, const char *arg,
			    bool args, struct assessment *a)
{
	doctor_say(d, "%s", "");
	doctor_say(d, "program");
	doctor_row(d, "PROGRAM", strcmp(arg, f->path) ? f->path : arg, strcmp(arg, f->path) ?
	    "found in PATH" : NULL);
	if (args)
		doctor_row(d, "", "(the arguments after PROGRAM are not looked at)", NULL);
	hops_rows(d, f);
	if (progcheck_analyse(f, d->env, d->run_python) < 0)
		fprintf(stderr, "respan doctor: out of memory: the library list is incomplete\n");
	assess_program(&d->cfg, f, d->have_lib_elf ? &d->lib_elf : NULL, a);
	if (!f->chain_error[0])
		facts_rows(d, f, a);
	doctor_say(d, "%s", "");
	doctor_say(d, "layers for %s", f->exe);
	if (a->blocked[0])
		doctor_row(d, "blocked", a->blocked, NULL);
	for (int i = 0; i < LAYER_COUNT; i++) {
		char name[40], text[ASSESS_TEXT + 20];
		snprintf(name, sizeof(name), "%d %s", i + 1, assess_layer_name(i));
		snprintf(text, sizeof(text), "%s: %s", a->layer[i].can ? "can act" :
			 "cannot act", a->layer[i].why);
		doctor_row(d, name, text, NULL);
	}
	if (a->dlopen[0])
		doctor_row(d, "dlopen", a->dlopen, NULL);
	if (a->php_ext[0])
		doctor_row(d, "PHP extensions", a->php_ext, NULL);
	for (int i = 0; i < a->n_notes; i++)
		doctor_row(d, "note", a->notes[i], NULL);
}

/* ---- the command ---------------------------------------------------------------------- */

/* -1: help printed; 0: *first is PROGRAM's index or argc; 2: usage error. */
static int parse(int argc, char **argv, struct doctor *d, int *first)
{
	static const struct option opts[] = {
		{ "check-router", no_argument, NULL, 'c' },
		{ "run", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (c == 'c') {
			d->check_router = true;
		} else if (c == 'r') {
			d->run_python = true;
		} else if (c == 'h') {
			doctor_usage(stdout);
			return -1;
		} else {
			fprintf(stderr, "respan doctor: unknown option %s\n"
				"usage: respan doctor [--check-router] [--run] [--] [PROGRAM] "
				"(respan doctor --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	*first = optind;
	return 0;
}

int doctor_main(int argc, char **argv)
{
	struct doctor d = { .env = environ, .router = -1 };
	struct prog_facts *f = NULL;
	struct assessment a;
	char verdict[ASSESS_TEXT + 200], err[PATH_MAX + 200];
	int first, status;

	status = parse(argc - 1, argv + 1, &d, &first);
	if (status != 0)
		return status < 0 ? 0 : status;
	const char *prog = first < argc - 1 ? argv[1 + first] : NULL;

	/* librespan.so inside doctor would change the environment it reports on. */
	reexec_without_library(argv);
	d.env = environ;
	/* A PROGRAM that cannot be looked at is the whole answer. */
	if (prog && (f = calloc(1, sizeof(*f))) == NULL) {
		fprintf(stderr, "respan doctor: out of memory\n");
		return 1;
	}
	if (prog && progcheck_find(prog, envget(d.env, "PATH"), f, err, sizeof(err)) < 0) {
		fprintf(stderr, "respan doctor: %s\n", err);
		free(f);
		return 1;
	}
	if (config_load(&d.cfg, d.env) < 0) {
		fprintf(stderr, "respan doctor: out of memory\n");
		free(f);
		return 1;
	}
	/* The key in effect, and one the configuration refused: never printed. */
	const char *refused = envget(d.env, "RESPAN_API_KEY");
	if ((d.red = redact_new()) == NULL) {
		fprintf(stderr, "respan doctor: out of memory\n");
		config_free(&d.cfg);
		free(f);
		return 1;
	}
	if (d.cfg.api_key)
		redact_add(d.red, d.cfg.api_key, strlen(d.cfg.api_key));
	if (refused && refused[0])
		redact_add(d.red, refused, strlen(refused));
	if (ldpreload_find_library(getenv("RESPAN_LIBRARY"), d.lib, sizeof(d.lib), d.lib_err,
				   sizeof(d.lib_err)) < 0)
		d.lib[0] = '\0';
	else
		d.have_lib_elf = elfinfo_load(d.lib, 0, &d.lib_elf) == ELF_OK;

	doctor_say(&d, "respan doctor");
	doctor_say(&d, "%s", "");
	doctor_setup_report(&d);
	if (f) {
		program_section(&d, f, prog, first + 1 < argc - 1, &a);
		snprintf(verdict, sizeof(verdict), "%s", a.verdict);
		progcheck_free(f);
		free(f);
	} else {
		doctor_setup_verdict(&d, verdict, sizeof(verdict));
	}
	doctor_say(&d, "%s", "");
	doctor_say(&d, "verdict: %s", verdict);
	fflush(stdout);
	elfinfo_free(&d.lib_elf);
	redact_free(d.red);
	config_free(&d.cfg);
	return 0;
}
