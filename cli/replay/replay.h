/*
 * replay: `respan replay [--log F] [--miss fail|live] CASSETTE -- PROGRAM
 * [ARGS...]` (docs/replay.md).
 *
 * PROGRAM runs as under `respan run`, with the router replaced by the
 * replay server (replayserve.h): RESPAN_BASE_URL names it (keeping the
 * user's base path), RESPAN_CA_FILE its CA of this run, and RESPAN_API_KEY
 * is a stand-in when the user has none (a full replay needs no key). With
 * --miss live the user's router answers the misses, whole bodies are
 * logged (as `respan run --record`), and those exchanges are appended to
 * CASSETTE afterwards, so the next run replays them.
 */
#ifndef RESPAN_CLI_REPLAY_H
#define RESPAN_CLI_REPLAY_H

#include <stdio.h>

/* The command; argv[1] is "replay". Returns the exit status. */
int replay_main(int argc, char **argv);

void replay_usage(FILE *out);

#endif
