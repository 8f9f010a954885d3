/* environ: layer 1 of docs/contract.md#layers, applied once from the constructor. */
#ifndef RESPAN_HOOKS_ENVIRON_H
#define RESPAN_HOOKS_ENVIRON_H

#include <stddef.h>

#include "config.h"
#include "envlayer.h"

/*
 * Set and remove the SDK variables for cfg (nothing unless routing), with
 * relay as the base when it is not NULL (the library's relay, chosen by
 * lazyrelay.h) and node_ca as the CA node must trust then (the
 * interception CA, or NULL), else as envlayer_plan() finds them. detail
 * gets the names that changed ("OPENAI_BASE_URL ... -ANTHROPIC_API_KEY")
 * for the debug line. Returns 0, or -1 when nothing could be planned.
 */
int environ_apply(const struct config *cfg, const char *relay, const char *node_ca,
		  enum envlayer_client client, char *detail, size_t size);

/*
 * Which program this process is, for layer 1 (envlayer_client): for a node
 * process (exe's name starts with "node"), the real path of the script its
 * command line runs; ENVLAYER_ANY for every other process, without a look.
 */
enum envlayer_client environ_client(const char *exe);

#endif
