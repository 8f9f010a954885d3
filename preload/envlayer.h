/*
 * envlayer: layer 1 of docs/contract.md#layers, the SDK variables set before main().
 *
 * Programs with TLS compiled in (Claude Code is a Bun binary, nodesource
 * Node, Go, rustls) cannot be taken over inside their TLS library, but their
 * SDKs read base-URL and key variables. envlayer_plan() works out, from the
 * configuration and the environment the process started with, which
 * variables to set and which to remove; hooks/environ.c applies the plan
 * with setenv()/unsetenv() in the constructor, so glibc hands the changed
 * environment to main() and children inherit it.
 *
 * For each provider the base-URL variable decides: when it is unset, empty,
 * or names the provider's own host (the built-in one or a config-file
 * addition), the base URL and the key variables are set and the provider
 * key variables that would send the provider's credential are removed; a
 * base URL the user pointed anywhere else is left alone, and so are that
 * provider's key variables (they belong to the user's endpoint).
 *
 *   OPENAI_BASE_URL={base}            OPENAI_API_KEY=KEY
 *   ANTHROPIC_BASE_URL={base}anthropic/  ANTHROPIC_AUTH_TOKEN=KEY,
 *                                     ANTHROPIC_API_KEY removed
 *   GOOGLE_GEMINI_BASE_URL={base}google/gemini   GEMINI_API_KEY=KEY,
 *                                     GOOGLE_API_KEY=KEY
 *     (when GOOGLE_GENAI_USE_VERTEXAI is true: {base}google/vertexai/, and
 *     GOOGLE_VERTEX_BASE_URL too, which is where @google/genai looks in
 *     Vertex mode)
 *   NODE_EXTRA_CA_CERTS=RESPAN_CA_FILE when the base is https (with the
 *     library's relay: the interception CA, envlayer_plan_relay) and the
 *     variable is unset; when the user set another file, the caller is told
 *     to build a bundle of both (node reads one file only).
 *
 * {base} is RESPAN_BASE_URL, or the relay's URL when `respan run` started
 * one and exported RESPAN_RELAY (a plain-HTTP loopback URL).
 *
 * Nothing is planned unless the mode is route and a key is set.
 */
#ifndef RESPAN_ENVLAYER_H
#define RESPAN_ENVLAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "envget.h"

#define ENVLAYER_MAX_OPS 16
/* Bundles made for NODE_EXTRA_CA_CERTS are named so (never merged again). */
#define ENVLAYER_BUNDLE_PREFIX "respan-node-ca-"

struct envlayer_op {
	const char *name;	/* static string */
	char *value;		/* malloc'ed; NULL: remove the variable */
};

struct envlayer_plan {
	struct envlayer_op ops[ENVLAYER_MAX_OPS];
	size_t n_ops;
	/*
	 * Set when NODE_EXTRA_CA_CERTS names a file of the user's and
	 * RESPAN_CA_FILE must be added to it: the caller writes a bundle of
	 * both and points the variable at it. Points into env or cfg.
	 */
	const char *ca_merge_user;
	const char *ca_merge_respan;
};

/*
 * Plan the changes for a process whose environment is env (NULL-terminated
 * "NAME=value" strings). Returns 0, or -1 when out of memory (the plan is
 * then empty). Free with envlayer_free().
 */
int envlayer_plan(const struct config *cfg, char *const *env,
		  struct envlayer_plan *plan);

/*
 * The same with relay (a base URL envlayer_relay() accepts, or NULL) in
 * place of env's RESPAN_RELAY: the library's constructor chose it in a
 * process whose environ may not show it yet (bash keeps its own
 * environment, and its setenv() fills that one). With a relay, node_ca
 * (or NULL) is the CA file node must trust instead of RESPAN_CA_FILE: the
 * interception CA, whose certificates the relay answers provider
 * connections with.
 */
int envlayer_plan_relay(const struct config *cfg, char *const *env, const char *relay,
			const char *node_ca, struct envlayer_plan *plan);

/*
 * Programs layer 1 treats apart, because a variable that routes other
 * programs changes what they do.
 *
 *   ENVLAYER_GEMINI_CLI   Google's Gemini CLI (@google/gemini-cli). With
 *       GOOGLE_GEMINI_BASE_URL set it chooses its "gateway" auth type,
 *       which its headless mode refuses (exit 41): the library would break
 *       a program that works without it. It calls
 *       generativelanguage.googleapis.com by URL, so it is routed by
 *       interception instead, when the library's relay intercepts (relay
 *       and node_ca): GOOGLE_GEMINI_BASE_URL and GOOGLE_API_KEY are not set
 *       (and taken back when an ancestor's layer 1 set them), and
 *       GEMINI_API_KEY gets the Respan key (its own never leaves the
 *       machine). Without interception (RESPAN_INTERCEPT=off, no CA) it
 *       cannot be routed without breaking it: nothing of ours is left for
 *       Google (an ancestor's GOOGLE_GEMINI_BASE_URL, and the Respan key in
 *       GEMINI_API_KEY or GOOGLE_API_KEY, are taken back) and the library
 *       in the CLI logs a not_routed event saying why. Its calls go to
 *       Google with its own key (bypass events); where an ancestor's layer
 *       1 (the `env` of its #! line) had already replaced that key, the CLI
 *       has none and stops at once, asking for one (exit 41), rather than
 *       send the Respan key to Google. Vertex mode
 *       (GOOGLE_GENAI_USE_VERTEXAI) is planned as for any program: the CLI
 *       takes its base URL from GOOGLE_VERTEX_BASE_URL.
 *
 *   ENVLAYER_CODEX_CLI   OpenAI's Codex CLI (@openai/codex): a node
 *       launcher that starts a static Rust binary, which the library
 *       cannot load into and which reads neither OPENAI_BASE_URL nor
 *       OPENAI_API_KEY. Neither is set, and those an ancestor's layer 1
 *       set are taken back. The library instead gives the launcher's
 *       environment HTTPS_PROXY (the relay) and SSL_CERT_FILE (with the
 *       interception CA) when its relay intercepts (hooks/environ.h).
 */
enum envlayer_client { ENVLAYER_ANY, ENVLAYER_GEMINI_CLI, ENVLAYER_CODEX_CLI };

/* envlayer_plan_relay() for a program recognised as client. */
int envlayer_plan_client(const struct config *cfg, char *const *env, const char *relay,
			 const char *node_ca, enum envlayer_client client,
			 struct envlayer_plan *plan);

/*
 * The script a node command line runs (cmdline: len bytes of NUL-separated
 * arguments, as /proc/self/cmdline gives them): the first argument after
 * node's own options, skipping the values of those that take one (-r,
 * --require, --import, --loader, ...). NULL when there is none (-e, -p, a
 * REPL, a cut command line). Points into cmdline.
 */
const char *envlayer_node_script(const char *cmdline, size_t len);

/* Which program a script is, from its real path (realpath). */
enum envlayer_client envlayer_client_of_script(const char *path);

/* Google's SDKs in Vertex mode (GOOGLE_GENAI_USE_VERTEXAI true, 1 or yes)? */
bool envlayer_vertex(char *const *env);

void envlayer_free(struct envlayer_plan *plan);

/*
 * The variable of env that holds the Respan key for provider id, or NULL.
 * Layer 1 puts the key into OPENAI_API_KEY (openai), ANTHROPIC_AUTH_TOKEN
 * (anthropic; ANTHROPIC_API_KEY too, should a user put it there), and
 * GEMINI_API_KEY and GOOGLE_API_KEY (gemini; GOOGLE_API_KEY for vertexai).
 * A process whose environment holds the key so, its own doing or its
 * parent's, would hand the key to the provider on any connection that is not
 * routed: the egress audit refuses those whatever RESPAN_FAIL says.
 * Returns a static string; NULL without a key or for PROVIDER_NONE.
 */
const char *envlayer_keyed(const struct config *cfg, char *const *env,
			   enum provider_id id);

/*
 * The relay URL from RESPAN_RELAY when it is a usable plain-HTTP loopback
 * base URL (http://127.0.0.1:PORT/... or http://[::1]:PORT/..., or the
 * stand-in address of the relay the library starts, relayname.h), else NULL.
 */
const char *envlayer_relay(char *const *env);

#endif
