/*
 * run: `respan run [OPTIONS] -- PROGRAM [ARGS]` (docs/contract.md#the-respan-command).
 *
 * PROGRAM runs with librespan.so first in LD_PRELOAD and the RESPAN_*
 * variables the options name; in route mode with a key, a loopback relay
 * (relay.h) lives as long as PROGRAM and RESPAN_RELAY points layer 1 at it.
 * respan exits with PROGRAM's status (128 + N when signal N killed it).
 */
#ifndef RESPAN_CLI_RUN_H
#define RESPAN_CLI_RUN_H

#include <stdio.h>

/* RESPAN_LOG_BODY_MAX under `respan run --record`: the most it takes, so
 * that the log keeps whole bodies and can be replayed. */
#define RUN_RECORD_BODY_MAX "1073741824"

/* The help of `respan run`. */
void run_usage(FILE *out);

/*
 * argv[0] is "respan", argv[1] "run". Returns the exit status: PROGRAM's;
 * 2 for a usage error or a bad option value (PROGRAM not started); 125 when
 * respan itself failed; 126 when PROGRAM could not be run, 127 when it was
 * not found.
 */
int run_main(int argc, char **argv);

#endif
