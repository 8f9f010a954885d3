#include "doctor_setup.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "elf/libdeps.h"
#include "envlayer.h"
#include "execenv.h"
#include "ldpreload.h"
#include "reexec.h"
#include "route.h"
#include "routertls.h"
#include "upstream.h"

#define ROUTER_TIMEOUT_MS 10000
#define SHOWN_MAX 100		/* bytes of a long value shown */

/* ---- where a value came from --------------------------------------------------- */

/* config_load's own record of where setting i came from, in words. */
static void source_of(const struct doctor *d, int i, char *out, size_t size)
{
	const struct config_source *src = &d->cfg.source[i];
	const char *refused = src->origin == CONFIG_FROM_ENV ? "" :
			      src->refused == CONFIG_FROM_ENV ?
			      "; the environment's value was refused, see warnings" :
			      src->refused == CONFIG_FROM_FILE && src->origin == CONFIG_FROM_DEFAULT ?
			      "; the config file's value was refused, see warnings" : "";

	if (src->origin == CONFIG_FROM_ENV)
		snprintf(out, size, "environment");
	else if (src->origin == CONFIG_FROM_FILE)
		snprintf(out, size, "config file %s%s", d->cfg.config_file, refused);
	else
		snprintf(out, size, "default%s", refused);
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
	case CONFIG_API_KEY:
		if (c->api_key)
			snprintf(out, size, "set (%zu characters)", strlen(c->api_key));
		else
			snprintf(out, size, "unset: traffic is logged, not routed");
		return;
	case CONFIG_BASE_URL:
		s = c->base_url;
		break;
	case CONFIG_MODE:
		s = config_mode_name(c->mode);
		break;
	case CONFIG_LOG:
		s = c->log_path ? c->log_path : "off";
		break;
	case CONFIG_LOG_BODY_MAX:
		snprintf(out, size, "%zu", c->log_body_max);
		return;
	case CONFIG_ROUTE_PROVIDER:
		s = c->route_provider;
		break;
	case CONFIG_PARAMS:
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
	case CONFIG_CA_FILE:
		s = c->ca_file;
		break;
	case CONFIG_FAIL:
		s = c->fail == RESPAN_FAIL_CLOSED ? "closed" : "open";
		break;
	case CONFIG_INTERCEPT:
		s = c->intercept == RESPAN_INTERCEPT_OFF ? "off" : "auto";
		break;
	case CONFIG_DEBUG:
		s = c->debug ? "1" : "0";
		break;
	default:
		s = c->route_provider_by_id[i - CONFIG_ROUTE_PROVIDER_ID];
		break;
	}
	shown(d, out, size, s ? s : "unset");
}

static void config_file_row(struct doctor *d)
{
	const struct config *c = &d->cfg;
	const char *user = c->config_user_file;
	char text[PATH_MAX + 200];
	struct stat st;

	if (c->config_file_how == CONFIG_FILE_OFF)
		snprintf(text, sizeof(text), "off: no file is read");
	else if (c->config_file)
		snprintf(text, sizeof(text), "%s (read)", c->config_file);
	else if (c->config_file_how == CONFIG_FILE_NAMED)
		snprintf(text, sizeof(text), "%s: not read, see warnings",
			 envget_set(d->env, "RESPAN_CONFIG"));
	else
		snprintf(text, sizeof(text), "none (looked for %s%s/etc/respan/config.json)",
			 user ? user : "", user ? " and " : "");
	doctor_row(d, "RESPAN_CONFIG", text, c->config_file_how == CONFIG_FILE_SEARCHED ?
		   "default search" : "environment");
	if (c->config_file && c->source[CONFIG_API_KEY].in_file &&
	    stat(c->config_file, &st) == 0 && (st.st_mode & 077)) {
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
	for (int p = 0; p < PROVIDER_COUNT; p++) {
		const struct config_source *src = &d->cfg.source[CONFIG_ROUTE_PROVIDER_ID + p];
		any_id |= src->origin != CONFIG_FROM_DEFAULT ||
			  src->refused != CONFIG_FROM_DEFAULT || src->in_file;
	}
	for (int i = 0; i < CONFIG_SETTING_COUNT; i++) {
		if (i >= CONFIG_ROUTE_PROVIDER_ID && i < CONFIG_PARAMS && !any_id) {
			if (i == CONFIG_ROUTE_PROVIDER_ID)
				doctor_row(d, "RESPAN_ROUTE_PROVIDER_<ID>", "unset", "default");
			continue;
		}
		value_of(d, i, value, sizeof(value));
		source_of(d, i, source, sizeof(source));
		doctor_row(d, config_setting_env((enum config_setting)i), value, source);
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
	const char *named = envget_set(d->env, "RESPAN_LIBRARY");
	const char *pre = envget(d->env, "LD_PRELOAD");
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
			libdeps_resolve(d->lib, &d->lib_elf, envget(d->env, "LD_LIBRARY_PATH"),
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
		ours = ldpreload_is_ours(p, n);
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
	struct routertls policy;

	doctor_say(d, "%s", "");
	doctor_say(d, "router");
	doctor_row(d, "base URL", c->base_url, NULL);
	snprintf(text, sizeof(text), "%s, port %u, path %s (Host: %s)", c->router_host,
		 c->router_port, c->router_path, c->router_authority);
	doctor_row(d, "host", text, NULL);
	routertls_policy(c, &policy);
	if (policy.is_ip)
		doctor_row(d, "", "named by address: sessions to it carry no SNI (see the README, "
		    "\"What cannot be routed\")", NULL);
	ca_row(d);
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "SSL_CERT_DIR" : "SSL_CERT_FILE";
		const char *v = envget_set(d->env, name);
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
		const char *v = envget_set(d->env, bases[i]);
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
	doctor_say(d, "  (in a program where no libssl or libgnutls is loaded at start, the base");
	doctor_say(d, "  URLs name the library's relay instead, RESPAN_RELAY=http://127.A.B.C:PORT/...;");
	doctor_say(d, "  under respan run, respan's own relay)");
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


/* url with any user:password@ taken out (a proxy URL may carry one). */
static void without_userinfo(const char *url, char *out, size_t size)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	const char *at = strchr(host, '@');
	const char *slash = strchr(host, '/');
	if (at && (slash == NULL || at < slash))
		snprintf(out, size, "%.*s[REDACTED]@%.300s", (int)(host - url), url, at + 1);
	else
		snprintf(out, size, "%.300s", url);
}

/*
 * What may leave unrouted: RESPAN_FAIL, the providers whose unrouted
 * connections are refused anyway (the Respan key is in their key variables
 * once layer 1 has run), and the proxy variables programs will honour.
 */
static void egress_section(struct doctor *d)
{
	static const char *const proxies[] = { "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
					       "all_proxy", "NO_PROXY", "no_proxy", NULL };
	struct envlayer_plan plan;
	struct execenv after;
	char text[700] = "";

	doctor_say(d, "%s", "");
	doctor_say(d, "egress (connections to a provider that are not routed)");
	doctor_row(d, "RESPAN_FAIL", d->cfg.fail == RESPAN_FAIL_CLOSED ? "closed: refused" :
		   "open: let through as bypass events, but see below", NULL);
	/* The environment PROGRAM will have: d->env with layer 1's changes. */
	if (d->cfg.mode == RESPAN_MODE_ROUTE && d->cfg.api_key &&
	    execenv_init(&after, d->env) == 0) {
		if (envlayer_plan(&d->cfg, after.v, &plan) == 0) {
			for (size_t i = 0; i < plan.n_ops; i++) {
				if (plan.ops[i].value)
					execenv_set(&after, plan.ops[i].name, plan.ops[i].value);
				else
					execenv_unset(&after, plan.ops[i].name);
			}
			envlayer_free(&plan);
		}
		size_t n = 0;
		for (int id = 0; id < PROVIDER_COUNT && n < sizeof(text); id++) {
			const char *var = envlayer_keyed(&d->cfg, after.v, (enum provider_id)id);
			if (var)
				n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s (%s)",
						      n ? ", " : "",
						      route_provider_name((enum provider_id)id), var);
		}
		execenv_free(&after);
		if (text[0])
			doctor_row(d, "always refused", text, "the Respan key is in these "
				   "key variables");
	}
	bool any = false;
	for (int i = 0; proxies[i]; i++) {
		const char *v = envget_set(d->env, proxies[i]);
		if (v == NULL)
			continue;
		without_userinfo(v, text, sizeof(text));
		doctor_row(d, proxies[i], text, NULL);
		any = true;
	}
	if (any)
		doctor_say(d, "  (programs keep their proxy: an OpenSSL program's tunnel to a provider "
			   "is asked for the router instead; libcurl's URL is the router's already)");
}

/*
 * The interception CA (docs/relay.md#interception), read, never made: doctor
 * changes nothing. Its names are compared with what the configuration
 * would need now.
 */
static void intercept_section(struct doctor *d)
{
	char path[4200], text[700];
	doctor_say(d, "%s", "");
	doctor_say(d, "interception (provider calls of programs with TLS compiled in)");
	doctor_row(d, "RESPAN_INTERCEPT", d->cfg.intercept == RESPAN_INTERCEPT_OFF ?
		   "off: such calls stay bypass events, or are refused" :
		   "auto: they go to the library's relay, which answers with the local CA",
		   NULL);
	if (d->cfg.ca_dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/ca.pem", d->cfg.ca_dir);
	FILE *f = fopen(path, "re");
	X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	ERR_clear_error();
	if (cert == NULL) {
		snprintf(text, sizeof(text), "%.500s: not made yet (made on first need, by "
			 "the first program whose TLS the library cannot see)", path);
		doctor_row(d, "CA", text, NULL);
		return;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t used = (size_t)snprintf(text, sizeof(text), "%.500s, sha256 ", path);
	if (X509_digest(cert, EVP_sha256(), md, &n) == 1)
		for (unsigned int i = 0; i < 8 && used < sizeof(text); i++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%02X%s",
						 md[i], i < 7 ? ":" : "...");
	doctor_row(d, "CA", text, NULL);
	const char *names[256];
	size_t want = route_intercept_names(&d->cfg, names, 256), missing = 0;
	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(cert, NID_name_constraints, NULL, NULL);
	for (size_t i = 0; nc && i < want; i++) {
		bool found = false;
		for (int k = 0; k < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) && !found; k++) {
			const GENERAL_SUBTREE *t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, k);
			found = t->base->type == GEN_DNS &&
				strcmp((const char *)ASN1_STRING_get0_data(t->base->d.dNSName),
				       names[i]) == 0;
		}
		missing += !found;
	}
	snprintf(text, sizeof(text), nc == NULL ? "none: not a CA respan made" :
		 missing ? "%zu of the configured provider names are missing: a new CA "
		 "is made at the next start" : "the %zu provider names, no IP address",
		 missing ? missing : want);
	doctor_row(d, "permits", text, NULL);
	NAME_CONSTRAINTS_free(nc);
	X509_free(cert);
}

void doctor_setup_report(struct doctor *d)
{
	config_section(d);
	library_section(d);
	log_section(d);
	router_section(d);
	envlayer_section(d);
	egress_section(d);
	intercept_section(d);
}
