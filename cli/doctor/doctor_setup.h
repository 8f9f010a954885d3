/*
 * doctor_setup: the sections of `respan doctor` about the setup, printed
 * before PROGRAM's: the configuration (each variable, its value and where
 * it came from), its warnings, the library, the log, the router (checked
 * with --check-router) and what the environment layer sets; and the
 * verdict when there is no PROGRAM.
 */
#ifndef RESPAN_CLI_DOCTOR_SETUP_H
#define RESPAN_CLI_DOCTOR_SETUP_H

#include <stddef.h>

#include "doctor.h"

/* The sections before PROGRAM's, through doctor_say and doctor_row. */
void doctor_setup_report(struct doctor *d);

/* The verdict when there is no PROGRAM, without "verdict: ". */
void doctor_setup_verdict(const struct doctor *d, char *out, size_t size);

#endif
