/*
 * doctor: `respan doctor [--check-router] [--run] [PROGRAM]` (SPEC section 7).
 *
 * Prints the effective configuration (every variable of SPEC section 5,
 * its value and where it came from; the key only as set/unset and its
 * length), the warnings config_load() gives, the library `respan run`
 * would preload, the log file, the router and RESPAN_CA_FILE, and what the
 * environment layer would set; for PROGRAM, which layers can act on it
 * (progcheck.h finds the facts, assess.h weighs them), ending with one line
 * "verdict: ...". Nothing touches the network without --check-router, and
 * PROGRAM is never run (--run lets a Python interpreter be asked one
 * question). docs/doctor.md has the checks and their heuristics.
 */
#ifndef RESPAN_CLI_DOCTOR_H
#define RESPAN_CLI_DOCTOR_H

#include <stdio.h>

/* The help of `respan doctor`. */
void doctor_usage(FILE *out);

/*
 * argv[0] is "respan", argv[1] "doctor". Returns the exit status: 0 once
 * the report is printed, whatever it found (the verdict line says it);
 * 1 when PROGRAM cannot be looked at (not found, a directory, unreadable);
 * 2 for a usage error.
 */
int doctor_main(int argc, char **argv);

#endif
