/*
 * doctor: `respan doctor [--check-router] [--run] [PROGRAM]` (docs/contract.md#the-respan-command).
 *
 * Prints the effective configuration (every variable of docs/contract.md#configuration,
 * its value and where it came from; the key only as set/unset and its
 * length), the warnings config_load() gives, the library `respan run`
 * would preload, the log file, the router and RESPAN_CA_FILE, and what the
 * environment layer would set; for PROGRAM, which layers can act on it
 * (progcheck.h finds the facts, assess.h weighs them), ending with one line
 * "verdict: ...". Nothing touches the network without --check-router, and
 * PROGRAM is never run (--run lets a Python interpreter be asked one
 * question). docs/doctor.md has the checks and their heuristics.
 *
 * doctor.c prints the report through struct doctor below: its own
 * sections (PROGRAM's) and, before them, those of doctor_setup.h.
 */
#ifndef RESPAN_CLI_DOCTOR_H
#define RESPAN_CLI_DOCTOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "elf/elfinfo.h"
#include "redact.h"

/* The help of `respan doctor`. */
void doctor_usage(FILE *out);

/*
 * argv[0] is "respan", argv[1] "doctor". Returns the exit status: 0 once
 * the report is printed, whatever it found (the verdict line says it);
 * 1 when PROGRAM cannot be looked at (not found, a directory, unreadable);
 * 2 for a usage error.
 */
int doctor_main(int argc, char **argv);

/* ---- for the report's sections ---------------------------------------------- */

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

#endif
