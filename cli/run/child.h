/*
 * child: run PROGRAM the way a shell would, as respan's child.
 *
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to respan by another process
 * (kill, a supervisor, a CI runner) are forwarded to the child. The same
 * signals from the terminal (Ctrl-C, Ctrl-\, hangup) are not: the kernel
 * sends those to the whole foreground process group, the child included,
 * and a second copy would make "press Ctrl-C again to quit" programs quit.
 * A signal respan's parent ignored (nohup) stays ignored for the child.
 */
#ifndef RESPAN_CLI_CHILD_H
#define RESPAN_CLI_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Block the forwarded signals and SIGCHLD (made SIG_DFL) for good: call
 * before starting threads, so none of them takes a signal meant for
 * child_wait. The child gets the mask respan started with.
 */
void child_block_signals(void);

/*
 * Start argv[0] with environment env (posix_spawnp: searched in respan's
 * own PATH, as pathsearch.h describes). Returns the pid, or a negative
 * errno (the program was not found, could not be run).
 */
pid_t child_spawn(char *const *argv, char *const *env);

/*
 * Forward signals to pid until it ends; returns its exit status, 128 + the
 * signal that killed it, or 125 when it cannot be waited for.
 */
int child_wait(pid_t pid);

/*
 * The absolute path of the program argv0 would run (pathsearch_find with
 * path_var, the PATH value child_spawn's search uses), for the log's "exe";
 * argv0 itself when it is not found.
 */
void child_program_path(const char *argv0, const char *path_var, char *out,
			size_t size);

#endif
