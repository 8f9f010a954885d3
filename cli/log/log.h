/*
 * log: `respan log show|har|summary [FILE]` (SPEC section 7), the readers
 * of the traffic log librespan.so writes (docs/log-format.md, output
 * formats in docs/respan-log.md).
 */
#ifndef RESPAN_CLI_LOG_H
#define RESPAN_CLI_LOG_H

#include <stdio.h>

/* The help of `respan log`. */
void log_usage(FILE *out);

/*
 * argv[0] is "respan", argv[1] "log". Returns the exit status: 0; 1 when
 * the log could not be read (or the output written); 2 for a usage error.
 */
int log_main(int argc, char **argv);

#endif
