/*
 * route: which provider a host belongs to, and where its requests go on the
 * Respan router (docs/contract.md#routes).
 *
 *   openai     api.openai.com                       /v1/X      -> {path}X
 *   anthropic  api.anthropic.com                    /X         -> {path}anthropic/X
 *   gemini     generativelanguage.googleapis.com    /X         -> {path}google/gemini/X
 *   vertexai   aiplatform.googleapis.com,
 *              REGION-aiplatform.googleapis.com     /X         -> {path}google/vertexai/X
 *
 * {path} is the router base URL's path (config.router_path, "/api/" by
 * default).  Query strings are kept.
 */
#ifndef RESPAN_ROUTE_H
#define RESPAN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"

/* How a provider expects its credential when the request carries none. */
enum cred_style {
	CRED_BEARER,		/* Authorization: Bearer KEY */
	CRED_X_API_KEY,		/* x-api-key: KEY */
	CRED_X_GOOG_API_KEY	/* x-goog-api-key: KEY */
};

/* "openai", "anthropic", "gemini", "vertexai"; NULL for PROVIDER_NONE. */
const char *route_provider_name(enum provider_id id);

/* Inverse of route_provider_name (case-insensitive); PROVIDER_NONE if unknown. */
enum provider_id route_provider_from_name(const char *name);

/* Upper-case suffix used in RESPAN_ROUTE_PROVIDER_<ID>: "OPENAI", ... */
const char *route_provider_env_suffix(enum provider_id id);

/* The credential style of the provider's passthrough (table above). */
enum cred_style route_cred_style(enum provider_id id);

/*
 * The provider of a host name (len bytes, no port; a trailing dot and upper
 * case are accepted). Built-in hosts first, then cfg->extra_hosts (cfg may be
 * NULL). Returns PROVIDER_NONE for any other host.
 */
enum provider_id route_lookup_host(const struct config *cfg, const char *host,
				   size_t len);

/*
 * The names the local interception CA may vouch for (its X.509 Name
 * Constraints, docs/relay.md): the built-in provider hosts, Vertex AI's
 * regional hosts (REGION-aiplatform.googleapis.com cannot be one
 * constraint, so the regions are listed), and cfg's extra hosts ("*.x"
 * gives x, which covers every name under it; "*-x" cannot be expressed and
 * is left out). Fills names[0..max) with pointers into static storage or
 * into cfg, in a fixed order, and returns how many (at most max).
 */
size_t route_intercept_names(const struct config *cfg, const char **names, size_t max);

/*
 * True when host (len bytes, no port) is the router's own host name, so a
 * request to it is already routed (base URL set by the user or layer 1).
 */
bool route_is_router_host(const struct config *cfg, const char *host, size_t len);

/*
 * For a request already sent to the router, guess the provider from its path
 * ("{path}anthropic/..." -> anthropic, "{path}google/gemini..." -> gemini,
 * "{path}google/vertexai/..." -> vertexai, anything else -> openai).
 */
enum provider_id route_provider_for_router_path(const struct config *cfg,
						const char *target, size_t len);

/*
 * Append to out the request-target on the router for a request whose
 * original request-target is (target, len), in origin form ("/v1/x?y") or
 * absolute form ("https://host/v1/x?y"). Returns 0, -EINVAL for a target
 * that is neither, or buf_append's error.
 */
int route_target(const struct config *cfg, enum provider_id id,
		 const char *target, size_t len, struct buf *out);

/*
 * Append "https://AUTHORITY" + target: the full URL for the log. authority is
 * host[:port] as the program named it; an absolute-form target (a proxy
 * request, "http://h/x") is already a URL and is appended as it is. Returns
 * 0 or buf_append's error (out is then as it was).
 */
int route_url(const char *authority, size_t alen, const char *target,
	      size_t tlen, struct buf *out);

#endif
