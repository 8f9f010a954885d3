/*
 * version: the version respan reports (`respan --version`, the HAR creator).
 * The build may set it with -DRESPAN_VERSION=...
 */
#ifndef RESPAN_CLI_VERSION_H
#define RESPAN_CLI_VERSION_H

#ifndef RESPAN_VERSION
#define RESPAN_VERSION "0.1.0"
#endif

#endif
