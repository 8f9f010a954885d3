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

/*
 * For a program whose provider calls come from a static child the library
 * cannot load into (ENVLAYER_CODEX_CLI): HTTPS_PROXY and https_proxy name
 * the relay at 127.0.0.1:port (the user part of the program's own proxy
 * URL kept: the relay passes other tunnels on to that proxy), and
 * SSL_CERT_FILE a bundle of the CA file the child would read (SSL_CERT_FILE,
 * else the system's) and ca, the interception CA. Appends the names set to
 * detail (size bytes, a string). Returns 0, or -1 when nothing was set.
 */
int environ_proxy_for_child(unsigned port, const char *ca, char *detail, size_t size);

#endif
