/*
 * config: the environment and the JSON config file, read once into one
 * immutable struct (docs/contract.md#configuration).
 *
 * Precedence: environment variables win over the config file; the file is
 * RESPAN_CONFIG, else $XDG_CONFIG_HOME/respan/config.json (XDG_CONFIG_HOME
 * defaulting to $HOME/.config), else /etc/respan/config.json.  Its keys are
 * the variable names in lower case without the RESPAN_ prefix ("api_key",
 * "base_url", "mode", "log", "log_body_max", "route_provider",
 * "route_provider_anthropic", "params", "ca_file", "fail", "intercept", "debug"), plus
 * "providers": an object mapping extra host names to a built-in provider id
 * ({"llm.corp.example": "openai"}).  A host may start with "*." or "*-" to
 * match any one label prefix.
 *
 * A bad value never stops the program: it yields one warning line of the form
 * "respan: RESPAN_MODE=foo: expected route, capture or off" (a key value is
 * never quoted), and the safe default is used instead.
 */
#ifndef RESPAN_CONFIG_H
#define RESPAN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum respan_mode { RESPAN_MODE_ROUTE, RESPAN_MODE_CAPTURE, RESPAN_MODE_OFF };
enum respan_fail { RESPAN_FAIL_OPEN, RESPAN_FAIL_CLOSED };
enum respan_intercept { RESPAN_INTERCEPT_AUTO, RESPAN_INTERCEPT_OFF };

/* Ids of the built-in providers (docs/contract.md#routes), usable as array indexes. */
enum provider_id {
	PROVIDER_NONE = -1,
	PROVIDER_OPENAI = 0,
	PROVIDER_ANTHROPIC,
	PROVIDER_GEMINI,
	PROVIDER_VERTEXAI,
	PROVIDER_COUNT
};

#define CONFIG_MAX_EXTRA_HOSTS 64
#define CONFIG_MAX_WARNINGS 16
#define CONFIG_DEFAULT_BASE_URL "https://api.respan.ai/api/"
#define CONFIG_DEFAULT_BODY_MAX 1048576UL

/*
 * The settings, in the order `respan doctor` shows them. Each has an
 * environment variable and a config-file key (config_setting_env/_key).
 */
enum config_setting {
	CONFIG_API_KEY,
	CONFIG_BASE_URL,
	CONFIG_MODE,
	CONFIG_LOG,
	CONFIG_LOG_BODY_MAX,
	CONFIG_ROUTE_PROVIDER,
	CONFIG_ROUTE_PROVIDER_ID,	/* + provider id: _OPENAI ... _VERTEXAI */
	CONFIG_PARAMS = CONFIG_ROUTE_PROVIDER_ID + PROVIDER_COUNT,
	CONFIG_CA_FILE,
	CONFIG_FAIL,
	CONFIG_INTERCEPT,
	CONFIG_DEBUG,
	CONFIG_SETTING_COUNT
};

/* Where a value came from. */
enum config_origin { CONFIG_FROM_DEFAULT, CONFIG_FROM_FILE, CONFIG_FROM_ENV };

/* What config_load saw of one setting, so nobody has to work it out again. */
struct config_source {
	enum config_origin origin;	/* where the value in effect came from */
	enum config_origin refused;	/* where the last refused value was given
					 * (see warnings); CONFIG_FROM_DEFAULT: none */
	bool in_file;			/* the config file gives a value */
};

/* How the config file was chosen. */
enum config_file_how {
	CONFIG_FILE_SEARCHED,		/* the default search */
	CONFIG_FILE_NAMED,		/* RESPAN_CONFIG=PATH */
	CONFIG_FILE_OFF,		/* RESPAN_CONFIG=off: none is read */
};

struct config_host {
	char *pattern;		/* lower case; may start with "*." or "*-" */
	enum provider_id provider;
};

struct config {
	char *api_key;		/* NULL: none (capture only, one warning) */

	char *base_url;		/* normalised, always ends with '/' */
	char *router_host;	/* host of base_url, brackets removed for IPv6 */
	unsigned short router_port;
	char *router_path;	/* path of base_url, starts and ends with '/' */
	char *router_authority;	/* Host header value: host, [v6], plus :port when not 443 */

	enum respan_mode mode;
	char *log_path;		/* NULL: RESPAN_LOG=off */
	size_t log_body_max;
	char *route_provider;	/* RESPAN_ROUTE_PROVIDER or NULL */
	char *route_provider_by_id[PROVIDER_COUNT];	/* RESPAN_ROUTE_PROVIDER_<ID> */
	char *params_b64;	/* base64 of the compact RESPAN_PARAMS object, or NULL */
	char *params_pending;	/* RESPAN_PARAMS not parsed yet (config_load_deferred) */
	char *ca_file;		/* RESPAN_CA_FILE or NULL */
	enum respan_fail fail;
	/*
	 * RESPAN_INTERCEPT: auto, provider connections of programs with TLS
	 * compiled in go through the relay, which answers with a certificate
	 * from the local interception CA; off, they stay bypass events.
	 */
	enum respan_intercept intercept;
	char *ca_dir;		/* the interception CA's directory (not a setting) */
	bool debug;
	char *config_file;	/* the file that was read, or NULL */
	enum config_file_how config_file_how;
	char *config_user_file;	/* the per-user file searched for, or NULL */

	struct config_source source[CONFIG_SETTING_COUNT];

	struct config_host extra_hosts[CONFIG_MAX_EXTRA_HOSTS];
	size_t n_extra_hosts;

	/* Warning lines ("respan: VAR=value: expected ...") without newline. */
	char *warnings[CONFIG_MAX_WARNINGS];
	size_t n_warnings;
};

/*
 * Fill cfg from the NULL-terminated environment array env (as environ) and
 * the config file it names. Never fails: every problem becomes a warning and
 * a default. Returns 0, or -ENOMEM when memory ran out (cfg then holds the
 * defaults). The caller owns cfg and frees it with config_free().
 */
int config_load(struct config *cfg, char *const *env);

/*
 * The same, except that RESPAN_PARAMS from the environment is only kept as
 * text (params_pending): parsing it needs cJSON, which a process that
 * never calls a provider should not load. config_settle() finishes the
 * job before the first request; until then params_b64 is the config file's.
 * One exception: a RESPAN_PARAMS that holds a key (pasted there by mistake)
 * is parsed at once, so that its warning is scrubbed of every key seen, not
 * only of the one in effect.
 */
int config_load_deferred(struct config *cfg, char *const *env);

/*
 * Parse what config_load_deferred left (once; later calls do nothing).
 * Returns how many warnings it added at the end of cfg->warnings, or
 * -ENOMEM. Not thread-safe: the caller runs it once, before any reader of
 * params_b64.
 */
int config_settle(struct config *cfg);

/* Release everything config_load allocated. */
void config_free(struct config *cfg);

/* The value of X-Respan-Route-Provider for provider id, or NULL. */
const char *config_route_provider(const struct config *cfg, enum provider_id id);

/* "RESPAN_MODE" and "mode" for CONFIG_MODE; NULL out of range. */
const char *config_setting_env(enum config_setting s);
const char *config_setting_key(enum config_setting s);

/* "route", "capture", "off". */
const char *config_mode_name(enum respan_mode mode);

#endif
