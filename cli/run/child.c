#include "child.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pathsearch.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

static sigset_t saved_mask;	/* respan's mask at start: the child's */
static sigset_t waited;		/* what child_wait takes with sigtimedwait */

void child_block_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	sigemptyset(&waited);
	for (size_t i = 0; i < N_FORWARDED; i++) {
		struct sigaction old;
		/* Ignored for respan (nohup): ignored for the child, not forwarded. */
		if (sigaction(forwarded[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&waited, forwarded[i]);
	}
	/* An ignored SIGCHLD would reap the child for us and lose its status. */
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, NULL);
	sigaddset(&waited, SIGCHLD);
	sigprocmask(SIG_BLOCK, &waited, &saved_mask);
}

pid_t child_spawn(char *const *argv, char *const *env)
{
	posix_spawnattr_t attr;
	pid_t pid;

	if (posix_spawnattr_init(&attr) != 0)
		return -ENOMEM;
	/* The child starts with the signal mask respan was started with. */
	posix_spawnattr_setsigmask(&attr, &saved_mask);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	int rc = posix_spawnp(&pid, argv[0], NULL, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	return rc == 0 ? pid : -rc;
}

/*
 * Signals are taken synchronously (sigtimedwait), not by a handler: no
 * async-signal-safety to worry about, no EINTR, and the child's exit
 * (SIGCHLD) and a signal to forward are handled in one loop.
 */
int child_wait(pid_t pid)
{
	int status = 0;
	bool failed = false;
	const struct timespec tick = { 1, 0 };	/* re-check even if SIGCHLD coalesced */

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "respan: waitpid: %s\n", strerror(errno));
			failed = true;
			break;
		}
		siginfo_t si;
		int sig = sigtimedwait(&waited, &si, &tick);
		/* SI_KERNEL: from the terminal, which signalled the child too. */
		if (sig > 0 && sig != SIGCHLD && si.si_code != SI_KERNEL)
			kill(pid, sig);
	}
	/* Still blocked: a late signal must not cut the relay's last records. */
	if (failed)
		return 125;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

void child_program_path(const char *argv0, const char *path_var, char *out,
			size_t size)
{
	char found[PATH_MAX], real[PATH_MAX];

	snprintf(out, size, "%s", argv0);
	if (pathsearch_find(argv0, path_var, found, sizeof(found)) == 0 &&
	    realpath(found, real))
		snprintf(out, size, "%s", real);
}
