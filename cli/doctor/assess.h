/*
 * assess: what the facts progcheck found about a program mean for each of
 * librespan's layers (docs/contract.md#layers), under a configuration, and the
 * one-line verdict of `respan doctor PROGRAM`. Pure: prints nothing.
 *
 * Verdicts start with one of these, so scripts can match them:
 *   "routed in-process"            the OpenSSL or GnuTLS layer (and libcurl's) can act
 *   "logged in-process, not routed" the same, in capture mode or without a key
 *   "routed via environment only"  TLS compiled in: base-URL variables only
 *   "routed by interception"       a known client (the Gemini CLI, the Codex CLI)
 *                                  whose provider calls the relay intercepts
 *   "not routed"                   TLS compiled in, and layer 1 cannot act
 *   "cannot be routed"             librespan.so never acts in the program
 *   "nothing routed or logged"     RESPAN_MODE=off
 *   "nothing to route found"       no TLS library, none compiled in recognised
 */
#ifndef RESPAN_CLI_ASSESS_H
#define RESPAN_CLI_ASSESS_H

#include <stdbool.h>

#include "config.h"
#include "elf/elfinfo.h"
#include "progcheck.h"

enum { LAYER_ENV, LAYER_CURL, LAYER_RESOLVER, LAYER_OPENSSL, LAYER_GNUTLS, LAYER_RELAY,
       LAYER_COUNT };

#define ASSESS_TEXT 512
#define ASSESS_LONG 2048
#define ASSESS_MAX_NOTES 4

struct assessment {
	char kind[160];		/* "dynamic ELF 64-bit x86-64 (PIE)", ... */
	char runtime[200];	/* "Python 3.11", "PHP 8.2.36", "looks like Node.js", "Go go1.22"... */
	char client[ASSESS_TEXT];	/* a program layer 1 treats apart (envlayer.h), or "" */
	char tls_libs[ASSESS_TEXT];	/* TLS libraries ld.so loads, or "none" */
	char tls_inside[ASSESS_TEXT];	/* TLS compiled in, or "none recognised" */
	char blocked[ASSESS_TEXT];	/* why librespan.so never acts, or "" */
	struct {
		bool can;
		char why[ASSESS_TEXT];
	} layer[LAYER_COUNT];
	char dlopen[ASSESS_TEXT];	/* libraries it loads later (it imports dlopen), or "" */
	char php_ext[ASSESS_LONG];	/* PHP's extensions with libcurl or TLS, or "" */
	char notes[ASSESS_MAX_NOTES][ASSESS_TEXT];
	int n_notes;
	char verdict[ASSESS_TEXT];	/* without the "verdict: " prefix */
};

/*
 * Assess f (after progcheck_analyse) under cfg. lib is librespan.so's own
 * ELF facts (its class and machine), or NULL when it was not found.
 */
void assess_program(const struct config *cfg, const struct prog_facts *f,
		    const struct elfinfo *lib, struct assessment *a);

/* The name of a layer: "environment", "libcurl", "resolver", "OpenSSL", "GnuTLS", "relay". */
const char *assess_layer_name(int layer);

#endif
