/* cacmd: `respan ca path|show|rotate`, the interception CA for a user (ca.h). */
#ifndef RESPAN_CLI_CACMD_H
#define RESPAN_CLI_CACMD_H

#include <stdio.h>

void ca_usage(FILE *out);

/* The command; argv[1] is "ca". Returns the exit status. */
int ca_main(int argc, char **argv);

#endif
