#include "doctor_int.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "envlayer.h"
#include "libdeps.h"
#include "preloadvar.h"
#include "reexec.h"
#include "route.h"
#include "upstream.h"

#define ROUTER_TIMEOUT_MS 10000
#define CONFIG_FILE_MAX (1024 * 1024)
#define SHOWN_MAX 100		/* bytes of a long value shown */

/* The variables of SPEC section 5, with their config-file keys. */
enum {
	V_API_KEY, V_BASE_URL, V_MODE, V_LOG, V_BODY_MAX, V_ROUTE_PROVIDER,
	V_RP_FIRST, V_RP_LAST = V_RP_FIRST + PROVIDER_COUNT - 1,
	V_PARAMS, V_CA_FILE, V_FAIL, V_DEBUG, V_COUNT
};

static const struct var {
	const char *env, *key;
} vars[V_COUNT] = {
	[V_API_KEY] = { "RESPAN_API_KEY", "api_key" },
	[V_BASE_URL] = { "RESPAN_BASE_URL", "base_url" },
	[V_MODE] = { "RESPAN_MODE", "mode" },
	[V_LOG] = { "RESPAN_LOG", "log" },
	[V_BODY_MAX] = { "RESPAN_LOG_BODY_MAX", "log_body_max" },
	[V_ROUTE_PROVIDER] = { "RESPAN_ROUTE_PROVIDER", "route_provider" },
	[V_RP_FIRST + PROVIDER_OPENAI] = { "RESPAN_ROUTE_PROVIDER_OPENAI", "route_provider_openai" },
	[V_RP_FIRST + PROVIDER_ANTHROPIC] = { "RESPAN_ROUTE_PROVIDER_ANTHROPIC",
					      "route_provider_anthropic" },
	[V_RP_FIRST + PROVIDER_GEMINI] = { "RESPAN_ROUTE_PROVIDER_GEMINI", "route_provider_gemini" },
	[V_RP_FIRST + PROVIDER_VERTEXAI] = { "RESPAN_ROUTE_PROVIDER_VERTEXAI",
					     "route_provider_vertexai" },
	[V_PARAMS] = { "RESPAN_PARAMS", "params" },
	[V_CA_FILE] = { "RESPAN_CA_FILE", "ca_file" },
	[V_FAIL] = { "RESPAN_FAIL", "fail" },
	[V_DEBUG] = { "RESPAN_DEBUG", "debug" },
};

/* ---- where a value came from --------------------------------------------------- */

/* NAME's value in env like config_load reads it: the first, empty = unset. */
static const char *env_value(char *const *env, const char *name)
{
	const char *v = envlayer_get(env, name);
	return v && v[0] ? v : NULL;
}

/* config_load warned about NAME (from file, or the environment when NULL). */
static bool warned(const struct config *cfg, const char *file, const char *name)
{
	char prefix[PATH_MAX + 200];
	snprintf(prefix, sizeof(prefix), "respan: %s%s%s", file ? file : "", file ? ": " : "",
		 name);
	size_t n = strlen(prefix);
	for (size_t i = 0; i < cfg->n_warnings; i++)
		if (strncmp(cfg->warnings[i], prefix, n) == 0 &&
		    (cfg->warnings[i][n] == '=' || cfg->warnings[i][n] == ':'))
			return true;
	return false;
}

static bool file_has(const struct doctor *d, const char *key)
{
	const cJSON *v = d->file ? cJSON_GetObjectItemCaseSensitive(d->file, key) : NULL;
	/* An empty string in the file counts as unset, as in config_load. */
	return v && !(cJSON_IsString(v) && v->valuestring[0] == '\0');
}

static void source_of(const struct doctor *d, const struct var *v, char *out, size_t size)
{
	bool env_set = env_value(d->env, v->env) != NULL;
	bool env_bad = env_set && warned(&d->cfg, NULL, v->env);
	bool in_file = file_has(d, v->key);
	bool file_bad = in_file && warned(&d->cfg, d->cfg.config_file, v->key);
	const char *refused = env_bad ? "; the environment's value was refused, see warnings" :
			      file_bad ? "; the config file's value was refused, see warnings" : "";

	if (env_set && !env_bad)
		snprintf(out, size, "environment");
	else if (in_file && !file_bad)
		snprintf(out, size, "config file %s%s", d->cfg.config_file, refused);
	else
		snprintf(out, size, "default%s", refused);
}

/* Read and parse the config file config_load read (NULL when none or bad). */
static cJSON *read_config_file(const char *path)
{
	struct buf text;
	char chunk[8192];
	cJSON *root = NULL;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	if (fd < 0)
		return NULL;
	buf_init(&text, CONFIG_FILE_MAX);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf_append(&text, chunk, (size_t)n) < 0)
			break;
	}
	close(fd);
	if (text.data)
		root = cJSON_ParseWithLength(text.data, text.len);
	if (root && !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		root = NULL;
	}
	buf_free(&text);
	return root;
}

/* ---- the configuration ------------------------------------------------------------ */

/* text, the key taken out first (a shortened copy could hide part of it
 * from doctor_say()), then shortened to SHOWN_MAX bytes. */
static void shown(const struct doctor *d, char *out, size_t size, const char *text)
{
	struct buf clean;
	buf_init(&clean, SIZE_MAX);
	if (redact_scrub(d->red, text, strlen(text), &clean) < 0)
		text = "[not shown]";
	else if (clean.data)
		text = clean.data;
	size_t n = strlen(text);
	if (n <= SHOWN_MAX)
		snprintf(out, size, "%s", text);
	else
		snprintf(out, size, "%.*s... (%zu bytes)", SHOWN_MAX, text, n);
	buf_free(&clean);
}

static void value_of(const struct doctor *d, int i, char *out, size_t size)
{
	const struct config *c = &d->cfg;
	const char *s = NULL;

	switch (i) {
	case V_API_KEY:
		if (c->api_key)
			snprintf(out, size, "set (%zu characters)", strlen(c->api_key));
		else
			snprintf(out, size, "unset: traffic is logged, not routed");
		return;
	case V_BASE_URL:
		s = c->base_url;
		break;
	case V_MODE:
		s = config_mode_name(c->mode);
		break;
	case V_LOG:
		s = c->log_path ? c->log_path : "off";
		break;
	case V_BODY_MAX:
		snprintf(out, size, "%zu", c->log_body_max);
		return;
	case V_ROUTE_PROVIDER:
		s = c->route_provider;
		break;
	case V_PARAMS:
		if (c->params_b64) {
			size_t n = strlen(c->params_b64);
			unsigned char *json = malloc(n / 4 * 3 + 4);
			int len = json ? EVP_DecodeBlock(json, (const unsigned char *)c->params_b64,
							 (int)n) : -1;
			if (len >= 0) {
				json[len] = '\0';
				/* EVP_DecodeBlock counts base64 padding as zero bytes. */
				shown(d, out, size, (const char *)json);
			} else {
				snprintf(out, size, "set");
			}
			free(json);
			return;
		}
		break;
	case V_CA_FILE:
		s = c->ca_file;
		break;
	case V_FAIL:
		s = c->fail == RESPAN_FAIL_CLOSED ? "closed" : "open";
		break;
	case V_DEBUG:
		s = c->debug ? "1" : "0";
		break;
	default:
		s = c->route_provider_by_id[i - V_RP_FIRST];
		break;
	}
	shown(d, out, size, s ? s : "unset");
}

static void config_file_row(struct doctor *d)
{
	const char *named = env_value(d->env, "RESPAN_CONFIG");
	const char *xdg = env_value(d->env, "XDG_CONFIG_HOME");
	const char *home = env_value(d->env, "HOME");
	char text[PATH_MAX + 200], user[PATH_MAX] = "";
	struct stat st;

	if (xdg && xdg[0] == '/')
		snprintf(user, sizeof(user), "%s/respan/config.json", xdg);
	else if (home && home[0] == '/')
		snprintf(user, sizeof(user), "%s/.config/respan/config.json", home);
	if (named && strcmp(named, "off") == 0)
		snprintf(text, sizeof(text), "off: no file is read");
	else if (d->cfg.config_file)
		snprintf(text, sizeof(text), "%s (read)", d->cfg.config_file);
	else if (named)
		snprintf(text, sizeof(text), "%s: not read, see warnings", named);
	else
		snprintf(text, sizeof(text), "none (looked for %s%s/etc/respan/config.json)",
			 user, user[0] ? " and " : "");
	doctor_row(d, "RESPAN_CONFIG", text, named ? "environment" : "default search");
	if (d->cfg.config_file && file_has(d, "api_key") &&
	    stat(d->cfg.config_file, &st) == 0 && (st.st_mode & 077)) {
		snprintf(text, sizeof(text), "the config file holds the key and others can read "
			 "it (mode %04o): chmod 600 it", (unsigned)(st.st_mode & 07777));
		doctor_row(d, "", text, NULL);
	}
}

static void config_section(struct doctor *d)
{
	char value[SHOWN_MAX + 64], source[PATH_MAX + 100];
	bool any_id = false;

	doctor_say(d, "configuration (environment over config file over default)");
	for (int i = V_RP_FIRST; i <= V_RP_LAST; i++)
		any_id |= d->cfg.route_provider_by_id[i - V_RP_FIRST] != NULL ||
			  env_value(d->env, vars[i].env) || file_has(d, vars[i].key);
	for (int i = 0; i < V_COUNT; i++) {
		if (i >= V_RP_FIRST && i <= V_RP_LAST && !any_id) {
			if (i == V_RP_FIRST)
				doctor_row(d, "RESPAN_ROUTE_PROVIDER_<ID>", "unset", "default");
			continue;
		}
		value_of(d, i, value, sizeof(value));
		source_of(d, &vars[i], source, sizeof(source));
		doctor_row(d, vars[i].env, value, source);
	}
	config_file_row(d);
	for (size_t i = 0; i < d->cfg.n_extra_hosts; i++) {
		char text[400];
		snprintf(text, sizeof(text), "%s -> %s", d->cfg.extra_hosts[i].pattern,
			 route_provider_name(d->cfg.extra_hosts[i].provider));
		doctor_row(d, i == 0 ? "providers (config file)" : "", text, NULL);
	}
	doctor_say(d, "%s", "");
	doctor_say(d, "warnings (config_load; the library prints each once per process)");
	for (size_t i = 0; i < d->cfg.n_warnings; i++)
		doctor_say(d, "  %s", d->cfg.warnings[i]);
	if (d->cfg.n_warnings == 0)
		doctor_say(d, "  none");
}

/* ---- the library, the log --------------------------------------------------------- */

static void library_section(struct doctor *d)
{
	const char *named = env_value(d->env, "RESPAN_LIBRARY");
	const char *pre = envlayer_get(d->env, "LD_PRELOAD");
	char text[PATH_MAX + 300];

	doctor_say(d, "%s", "");
	doctor_say(d, "library");
	if (d->lib[0] == '\0') {
		doctor_row(d, "librespan.so", d->lib_err, "respan run cannot start programs");
	} else {
		doctor_row(d, "librespan.so", d->lib, named ? "RESPAN_LIBRARY" :
		    "found from the respan binary: what respan run preloads");
		if (d->have_lib_elf) {
			struct libdeps deps;
			char m[32], missing[300] = "";
			libdeps_resolve(d->lib, &d->lib_elf, envlayer_get(d->env, "LD_LIBRARY_PATH"),
					false, &deps);
			for (size_t i = 0; i < deps.n; i++)
				if (deps.v[i].path == NULL && strlen(missing) < 200)
					snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
						 "%s%s", missing[0] ? ", " : "", deps.v[i].name);
			snprintf(text, sizeof(text), "ELF %d-bit %s; %s%s", d->lib_elf.bits,
				 elfinfo_machine_name(d->lib_elf.machine, m, sizeof(m)),
				 missing[0] ? "ld.so would not find: " : "its libraries are all found",
				 missing);
			libdeps_free(&deps);
		} else {
			snprintf(text, sizeof(text), "cannot be read as ELF: %s", d->lib_elf.error);
		}
		doctor_row(d, "", text, NULL);
	}
	bool ours = getenv(REEXEC_MARK) != NULL;
	for (const char *p = pre; p && *p && !ours;) {
		size_t n = strcspn(p, ": \t");
		ours = preload_is_ours(p, n);
		p += n + (p[n] ? 1 : 0);
	}
	if (ours)
		doctor_row(d, "LD_PRELOAD", "this shell preloads librespan.so into every program it "
		    "starts (respan itself runs without it)", NULL);
}

static void log_section(struct doctor *d)
{
	const char *path = d->cfg.log_path;
	char dir[PATH_MAX], text[PATH_MAX + 200];
	struct stat st;

	doctor_say(d, "%s", "");
	doctor_say(d, "log");
	if (path == NULL) {
		doctor_row(d, "path", "off (RESPAN_LOG=off): nothing is logged", NULL);
		return;
	}
	doctor_row(d, "path", path, NULL);
	if (path[0] != '/')
		doctor_row(d, "", "a relative path: each process writes it relative to its own "
		    "working directory", NULL);
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir ? 1 : 0] = '\0';
	if (stat(dir, &st) == 0) {
		bool w = access(dir, W_OK | X_OK) == 0;
		snprintf(text, sizeof(text), "%s: exists, mode %04o, %s", dir,
			 (unsigned)(st.st_mode & 07777), w ? "writable" :
			 "NOT writable by you: the library cannot log (log_error)");
	} else {
		char up[PATH_MAX];
		snprintf(up, sizeof(up), "%s", dir);
		while (stat(up, &st) != 0 && strrchr(up, '/') && strcmp(up, "/") != 0) {
			char *s = strrchr(up, '/');
			s[s == up ? 1 : 0] = '\0';
		}
		bool w = access(up, W_OK | X_OK) == 0;
		snprintf(text, sizeof(text), "%s: does not exist yet; %s", dir, w ?
			 "the first process creates it (mode 0700)" :
			 "it cannot be created (its parent is not writable): nothing is logged");
	}
	doctor_row(d, "directory", text, NULL);
	if (stat(path, &st) != 0) {
		doctor_row(d, "file", "does not exist yet: the first record creates it, mode 0600", NULL);
		return;
	}
	snprintf(text, sizeof(text), "exists, mode %04o, %lld bytes%s%s",
		 (unsigned)(st.st_mode & 07777), (long long)st.st_size,
		 (st.st_mode & 077) ? "; others can read it (the library creates the file 0600 "
		 "but leaves an existing file's mode alone)" : "",
		 access(path, W_OK) != 0 ? "; NOT writable by you" : "");
	doctor_row(d, "file", text, NULL);
}

/* ---- the router -------------------------------------------------------------------- */

static void ca_row(struct doctor *d)
{
	const char *ca = d->cfg.ca_file;
	char text[PATH_MAX + 400], subject[256] = "";
	int count = 0, expired = 0;

	if (ca == NULL) {
		doctor_row(d, "RESPAN_CA_FILE", "unset: the router must chain to the system CAs", NULL);
		return;
	}
	BIO *bio = BIO_new_file(ca, "r");
	if (bio == NULL) {
		snprintf(text, sizeof(text), "%s: cannot be read", ca);
		doctor_row(d, "RESPAN_CA_FILE", text, NULL);
		ERR_clear_error();
		return;
	}
	X509 *x;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (count++ == 0)
			X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			expired++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(bio);
	if (count == 0)
		snprintf(text, sizeof(text), "%s: no PEM certificate in it: the router cannot be "
			 "verified with it", ca);
	else
		snprintf(text, sizeof(text), "%s: %d PEM certificate%s, the first %s%s", ca, count,
			 count == 1 ? "" : "s", subject, expired ? "; SOME HAVE EXPIRED" : "");
	doctor_row(d, "RESPAN_CA_FILE", text, NULL);
}

static void check_router(struct doctor *d)
{
	char err[1024], text[1500], subject[256] = "", issuer[256] = "";
	SSL_CTX *tls = upstream_tls_new(&d->cfg, err, sizeof(err));
	SSL *ssl = tls ? upstream_connect(tls, &d->cfg, -1, ROUTER_TIMEOUT_MS, err,
					  sizeof(err)) : NULL;

	d->router = ssl != NULL;
	if (ssl) {
		X509 *peer = SSL_get1_peer_certificate(ssl);
		if (peer) {
			X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
			X509_NAME_oneline(X509_get_issuer_name(peer), issuer, sizeof(issuer));
			X509_free(peer);
		}
		snprintf(text, sizeof(text), "ok: %s, certificate verified for %s (subject %s, "
			 "issuer %s)", SSL_get_version(ssl), d->cfg.router_host, subject, issuer);
	} else {
		snprintf(text, sizeof(text), "FAILED: %s", err);
	}
	doctor_row(d, "check", text, NULL);
	upstream_close(ssl);
	SSL_CTX_free(tls);
}

static void router_section(struct doctor *d)
{
	const struct config *c = &d->cfg;
	char text[600];
	unsigned char ip[16];

	doctor_say(d, "%s", "");
	doctor_say(d, "router");
	doctor_row(d, "base URL", c->base_url, NULL);
	snprintf(text, sizeof(text), "%s, port %u, path %s (Host: %s)", c->router_host,
		 c->router_port, c->router_path, c->router_authority);
	doctor_row(d, "host", text, NULL);
	if (inet_pton(AF_INET, c->router_host, ip) == 1 ||
	    inet_pton(AF_INET6, c->router_host, ip) == 1)
		doctor_row(d, "", "named by address: sessions to it carry no SNI (see the README, "
		    "\"What cannot be routed\")", NULL);
	ca_row(d);
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "SSL_CERT_DIR" : "SSL_CERT_FILE";
		const char *v = env_value(d->env, name);
		if (v) {
			snprintf(text, sizeof(text), "%.400s: OpenSSL takes the system CAs from here",
				 v);
			doctor_row(d, name, text, "environment");
		}
	}
	if (d->check_router)
		check_router(d);
	else
		doctor_row(d, "check", "not done (--check-router connects and verifies it)", NULL);
}

static void envlayer_section(struct doctor *d)
{
	static const char *const bases[] = { "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
					     "GOOGLE_GEMINI_BASE_URL", NULL };
	struct envlayer_plan plan;
	char text[600];

	doctor_say(d, "%s", "");
	doctor_say(d, "environment layer (what librespan.so sets before main())");
	if (d->cfg.mode != RESPAN_MODE_ROUTE || d->cfg.api_key == NULL) {
		doctor_say(d, "  nothing: it needs route mode and a key");
		return;
	}
	if (envlayer_plan(&d->cfg, d->env, &plan) < 0) {
		doctor_say(d, "  (out of memory)");
		return;
	}
	for (size_t i = 0; i < plan.n_ops; i++) {
		const char *v = plan.ops[i].value;
		doctor_row(d, plan.ops[i].name, v == NULL ? "removed" :
		    strcmp(v, d->cfg.api_key) == 0 ? "the Respan key" : v, NULL);
	}
	for (int i = 0; bases[i]; i++) {
		const char *v = env_value(d->env, bases[i]);
		bool planned = false;
		for (size_t k = 0; k < plan.n_ops; k++)
			planned |= strcmp(plan.ops[k].name, bases[i]) == 0;
		if (v && !planned) {
			struct buf u;
			buf_init(&u, 4096);
			redact_url(v, strlen(v), &u);
			snprintf(text, sizeof(text), "yours (%.300s): left alone, with that "
				 "provider's key variables", u.data ? u.data : "");
			buf_free(&u);
			doctor_row(d, bases[i], text, NULL);
		}
	}
	if (plan.ca_merge_user)
		doctor_row(d, "NODE_EXTRA_CA_CERTS", "a bundle of yours and RESPAN_CA_FILE", NULL);
	doctor_say(d, "  (under respan run the base URLs point at its loopback relay instead)");
	envlayer_free(&plan);
}

void doctor_setup_verdict(const struct doctor *d, char *out, size_t size)
{
	const struct config *c = &d->cfg;
	size_t n;
	if (c->mode == RESPAN_MODE_OFF)
		n = (size_t)snprintf(out, size, "off (RESPAN_MODE=off): nothing is routed or logged");
	else if (c->mode == RESPAN_MODE_CAPTURE)
		n = (size_t)snprintf(out, size, "capture only (RESPAN_MODE=capture): traffic is "
				     "logged, not routed");
	else if (c->api_key == NULL)
		n = (size_t)snprintf(out, size, "capture only: RESPAN_API_KEY is not set");
	else
		n = (size_t)snprintf(out, size, "ready: route mode with a key, router %s",
				     c->base_url);
	if (n < size && c->n_warnings)
		n += (size_t)snprintf(out + n, size - n, "; %zu configuration warning%s",
				      c->n_warnings, c->n_warnings == 1 ? "" : "s");
	if (n < size && d->router == 0)
		n += (size_t)snprintf(out + n, size - n, "; the router check FAILED");
	if (n < size && d->lib[0] == '\0')
		snprintf(out + n, size - n, "; librespan.so not found");
}


void doctor_setup_report(struct doctor *d)
{
	d->file = read_config_file(d->cfg.config_file);
	config_section(d);
	library_section(d);
	log_section(d);
	router_section(d);
	envlayer_section(d);
	cJSON_Delete(d->file);
	d->file = NULL;
}
