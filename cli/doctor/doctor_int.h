/*
 * doctor's private parts, shared by doctor.c (the command and PROGRAM) and
 * doctor_setup.c (the configuration, library, log, router and environment
 * layer sections).
 */
#ifndef RESPAN_CLI_DOCTOR_INT_H
#define RESPAN_CLI_DOCTOR_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "elf/elfinfo.h"
#include "redact.h"

struct doctor {
	struct config cfg;
	struct redact *red;	/* every line is scrubbed of the key before printing */
	char **env;
	bool check_router, run_python;
	char lib[PATH_MAX];	/* what respan run preloads, or "" */
	char lib_err[1024];
	struct elfinfo lib_elf;
	bool have_lib_elf;
	int router;		/* -1 not checked, 0 failed, 1 verified */
};

/*
 * One line on stdout. Control characters become '?' (file names and #!
 * lines come from anywhere) and any run of the key becomes [REDACTED].
 */
void doctor_say(struct doctor *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "  NAME  VALUE  [SOURCE]" (no brackets when source is NULL or ""). */
void doctor_row(struct doctor *d, const char *name, const char *value, const char *source);

/*
 * The sections before PROGRAM's: configuration (each variable, its value
 * and where it came from), warnings, library, log, router (with the check
 * when d->check_router) and what the environment layer sets.
 */
void doctor_setup_report(struct doctor *d);

/* The verdict when there is no PROGRAM, without "verdict: ". */
void doctor_setup_verdict(const struct doctor *d, char *out, size_t size);

#endif
