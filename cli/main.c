/*
 * respan: the command-line companion of librespan.so (docs/contract.md#the-respan-command).
 *
 *     respan run [OPTIONS] [--] PROGRAM [ARGS...]
 *     respan replay [--log F] [--miss fail|live] CASSETTE [--] PROGRAM [ARGS...]
 *     respan log show|har|summary|curl ...
 *     respan doctor [--check-router] [--run] [PROGRAM]
 *     respan ca path|show|rotate
 *     respan --help | --version
 */
#include <stdio.h>
#include <string.h>

#include "ca/cacmd.h"
#include "doctor/doctor.h"
#include "log/log.h"
#include "relay/serve.h"
#include "replay/replay.h"
#include "run/run.h"
#include "version.h"

static void usage(FILE *out)
{
	fputs("usage: respan run [OPTIONS] [--] PROGRAM [ARGS...]\n"
	      "       respan replay [--log FILE] [--miss fail|live] CASSETTE [--] PROGRAM [ARGS...]\n"
	      "       respan log show|har|summary [FILE]\n"
	      "       respan log curl ID [FILE]\n"
	      "       respan doctor [--check-router] [--run] [PROGRAM]\n"
	      "       respan ca path|show|rotate\n"
	      "       respan --help | --version\n"
	      "\n"
	      "Commands:\n"
	      "  run     run PROGRAM with librespan.so: its LLM API calls go through the\n"
	      "          Respan router and are logged (respan run --help)\n"
	      "  replay  run PROGRAM with its LLM requests answered from a recorded log,\n"
	      "          offline (respan replay --help)\n"
	      "  log     read the traffic log: show [-f] [-v] [filters], har, summary\n"
	      "          [--format text|json|markdown], curl ID\n"
	      "          (respan log --help)\n"
	      "  doctor  the effective configuration, and which layers can act on\n"
	      "          PROGRAM (respan doctor --help)\n"
	      "  ca      the local interception CA (respan ca --help)\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help     this help\n"
	      "  --version      the version\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("respan %s\n", RESPAN_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return run_main(argc, argv);
	if (strcmp(cmd, "replay") == 0)
		return replay_main(argc, argv);
	if (strcmp(cmd, "log") == 0)
		return log_main(argc, argv);
	if (strcmp(cmd, "doctor") == 0)
		return doctor_main(argc, argv);
	if (strcmp(cmd, "ca") == 0)
		return ca_main(argc, argv);
	if (strcmp(cmd, "relay-serve") == 0)	/* librespan.so's, not a user's */
		return serve_main(argc, argv);
	if (cmd[0] == '-')
		fprintf(stderr, "respan: unknown option %s (see respan --help)\n", cmd);
	else
		fprintf(stderr, "respan: '%s' is not a respan command (see respan --help)\n",
			cmd);
	return 2;
}
