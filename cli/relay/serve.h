/*
 * serve: `respan relay-serve SOCKET EXE`, the relay librespan.so starts by
 * itself, for one process tree (docs/relay.md). See serve.c.
 */
#ifndef RESPAN_CLI_SERVE_H
#define RESPAN_CLI_SERVE_H

/* The command; argv[1] is "relay-serve". Returns the exit status. */
int serve_main(int argc, char **argv);

#endif
