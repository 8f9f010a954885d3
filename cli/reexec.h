/*
 * reexec: librespan.so preloaded into respan itself.
 *
 * With LD_PRELOAD=librespan.so exported in the shell, respan starts with
 * the library loaded: its hooks would take over the relay's own TLS
 * connections (a second record of every request), and its constructor has
 * already pointed the SDK variables at the router rather than the relay.
 * respan then runs itself again, from the environment it was started with
 * (/proc/self/environ, which setenv() does not change), without the library
 * in LD_PRELOAD.
 */
#ifndef RESPAN_CLI_REEXEC_H
#define RESPAN_CLI_REEXEC_H

/* Set in the second run so that it never loops; not passed to PROGRAM. */
#define REEXEC_MARK "RESPAN_RUN_REEXEC"

/*
 * When librespan.so is loaded into this process (and REEXEC_MARK is not
 * set), execute /proc/self/exe again with argv as described above. Returns
 * only when the library is not loaded, or after saying on stderr that the
 * re-execution could not be done.
 */
void reexec_without_library(char **argv);

#endif
