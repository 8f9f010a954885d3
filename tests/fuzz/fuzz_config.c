/*
 * libFuzzer target for preload/config.c: the environment and the JSON file.
 *
 * Input: the environment, one "NAME=value" entry a line (at most 64), then
 * optionally a line "---" and after it the config file's bytes. The file
 * goes into a memfd that an appended RESPAN_CONFIG names; HOME and
 * XDG_CONFIG_HOME come last and name a directory that does not exist, so
 * the default search reads none of the machine's files. The input's own
 * entries come first and win (the first of two entries does, as with
 * getenv), so an input may set RESPAN_CONFIG=off or HOME itself.
 *
 * The input is loaded twice, with config_load (as respan does) and with
 * config_load_deferred + config_settle (as the library does). Checked
 * beyond no crash, leak or over-read:
 *   - every value in effect is one a setting may hold: the base URL is
 *     https://AUTHORITY/PATH/ made of router_authority and router_path,
 *     the authority is the router host (bracketed when IPv6) with the port
 *     unless 443; the key is printable ASCII without spaces; the route
 *     providers are tokens; params_b64 is base64 of a compact JSON object
 *     of at most 12288 bytes; the extra hosts are lower-case patterns of
 *     known providers, none twice; enums in range; the body cap <= 1 GiB;
 *   - every warning is one line ("respan: ...", no control character), at
 *     most CONFIG_MAX_WARNINGS of them;
 *   - no warning holds 16 bytes in a row (or the whole of a shorter one,
 *     8 or more) of a key given in RESPAN_API_KEY or the file's "api_key";
 *   - where each value came from (source[]) agrees with the input;
 *   - the deferred load settles to the same configuration and the same
 *     warnings (in any order) as the direct one, and settling twice adds
 *     nothing;
 *   - config_free leaves the struct zeroed, and freeing it again is safe.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64
#define PARAMS_JSON_MAX 12288	/* config.c's cap on the compact object */
#define NO_DIR "/nonexistent/respan-fuzz"

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: %s\n", what);
		abort();
	}
}

/* A memfd for the config file, made once per process; its path in path. */
static int config_fd(char *path, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = memfd_create("respan-fuzz-config", MFD_CLOEXEC);
	must(fd >= 0, "memfd_create");
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

static bool streq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool printable_no_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool token(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			     "0123456789_.-");
	return n > 0 && n <= 128 && s[n] == '\0';
}

static int b64_value(char c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Standard padded base64 into a malloc'd NUL-terminated string, or NULL. */
static char *b64_decode_text(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n % 4 != 0)
		return NULL;
	char *out = malloc(n / 4 * 3 + 1);
	size_t o = 0;
	must(out != NULL, "malloc");
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			bool pad = s[i + (size_t)k] == '=' && i + 4 == n && k >= 2;
			v[k] = pad ? 0 : b64_value(s[i + (size_t)k]);
			if (v[k] < 0 || (pad && k == 2 && s[i + 3] != '=')) {
				free(out);
				return NULL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[o++] = (char)(w >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(w >> 8 & 0xff);
		if (s[i + 3] != '=')
			out[o++] = (char)(w & 0xff);
	}
	out[o] = '\0';
	if (strlen(out) != o) {	/* a NUL inside is no JSON text */
		free(out);
		return NULL;
	}
	return out;
}

static void check_params(const char *b64)
{
	if (b64 == NULL)
		return;
	char *text = b64_decode_text(b64);
	must(text != NULL, "params_b64 is not base64 of text");
	must(strlen(text) <= PARAMS_JSON_MAX, "params longer than the cap");
	cJSON *obj = cJSON_Parse(text);
	must(cJSON_IsObject(obj), "params_b64 is not a JSON object");
	char *again = cJSON_PrintUnformatted(obj);
	must(again && strcmp(again, text) == 0, "params_b64 is not compact JSON");
	free(again);
	cJSON_Delete(obj);
	free(text);
}

static void check_router(const struct config *cfg)
{
	char want[300];
	const char *h = cfg->router_host;
	must(cfg->base_url && h && cfg->router_path && cfg->router_authority,
	     "router fields missing");
	must(h[0] != '\0' && strlen(h) < 256 && cfg->router_port != 0,
	     "router host empty or too long, or port 0");
	for (const char *p = h; *p; p++)
		must(!(*p >= 'A' && *p <= 'Z'), "router host not lower case");
	size_t pl = strlen(cfg->router_path);
	must(cfg->router_path[0] == '/' && cfg->router_path[pl - 1] == '/',
	     "router path not /.../");
	for (const char *p = cfg->router_path; *p; p++)
		must((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '?' &&
		     *p != '#', "router path unfit for a request line");
	int n = snprintf(want, sizeof(want), strchr(h, ':') ? "[%s]" : "%s", h);
	if (cfg->router_port != 443)
		snprintf(want + n, sizeof(want) - (size_t)n, ":%u", cfg->router_port);
	must(strcmp(want, cfg->router_authority) == 0, "authority is not host[:port]");
	size_t al = strlen(want);
	must(strncmp(cfg->base_url, "https://", 8) == 0 &&
	     strncmp(cfg->base_url + 8, want, al) == 0 &&
	     strcmp(cfg->base_url + 8 + al, cfg->router_path) == 0,
	     "base URL is not https:// + authority + path");
}

static bool host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == '_';
}

static void check_hosts(const struct config *cfg)
{
	must(cfg->n_extra_hosts <= CONFIG_MAX_EXTRA_HOSTS, "too many extra hosts");
	for (size_t i = 0; i < cfg->n_extra_hosts; i++) {
		const struct config_host *e = &cfg->extra_hosts[i];
		const char *p = e->pattern;
		must(p != NULL && e->provider >= 0 && e->provider < PROVIDER_COUNT,
		     "bad extra host");
		if (p[0] == '*' && (p[1] == '.' || p[1] == '-'))
			p += 2;
		size_t n = strlen(p);
		must(n > 0 && n < 254 && p[0] != '.', "bad host pattern");
		for (size_t k = 0; k < n; k++)
			must(host_char_ok(p[k]), "host pattern with a bad byte");
		for (size_t j = 0; j < i; j++)
			must(strcmp(cfg->extra_hosts[j].pattern, e->pattern) != 0,
			     "an extra host twice");
	}
}

/*
 * w with every "[REDACTED]" as one \x01 (a byte no warning and no printable
 * key holds), so a key prefix found in it is one the scrubber left.
 */
static char *neutralised(const char *w)
{
	static const char mark[] = "[REDACTED]";
	char *out = malloc(strlen(w) + 1), *o = out;
	must(out != NULL, "malloc");
	while (*w) {
		if (strncmp(w, mark, sizeof(mark) - 1) == 0) {
			*o++ = '\x01';
			w += sizeof(mark) - 1;
		} else {
			*o++ = *w++;
		}
	}
	*o = '\0';
	return out;
}

static void check_warnings(const struct config *cfg, const char *const *keys, size_t n_keys)
{
	must(cfg->n_warnings <= CONFIG_MAX_WARNINGS, "too many warnings");
	for (size_t i = 0; i < cfg->n_warnings; i++) {
		const char *w = cfg->warnings[i];
		must(w != NULL && strncmp(w, "respan: ", 8) == 0, "warning not 'respan: ...'");
		for (const char *p = w; *p; p++)
			must((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in a warning");
		char *plain = neutralised(w);
		for (size_t k = 0; k < n_keys; k++) {
			size_t kn = strlen(keys[k]), run = kn < 16 ? kn : 16;
			if (kn >= 8 && printable_no_space(keys[k]) &&
			    memmem(plain, strlen(plain), keys[k], run)) {
				fprintf(stderr, "fuzz_config: in \"%s\":\n", w);
				must(0, "a key in a warning");
			}
		}
		free(plain);
	}
}

static void check_sources(const struct config *cfg, char *const *env)
{
	for (int i = 0; i < CONFIG_SETTING_COUNT; i++) {
		const struct config_source *s = &cfg->source[i];
		const char *name = config_setting_env((enum config_setting)i);
		size_t nl = strlen(name);
		const char *given = NULL;
		for (char *const *e = env; *e && given == NULL; e++)
			if (strncmp(*e, name, nl) == 0 && (*e)[nl] == '=')
				given = *e + nl + 1;
		if (s->origin == CONFIG_FROM_ENV || s->refused == CONFIG_FROM_ENV)
			must(given && given[0], "from the environment, but not in it");
		if (s->origin == CONFIG_FROM_FILE || s->refused == CONFIG_FROM_FILE)
			must(s->in_file && cfg->config_file, "from the file, but none was read");
		if (s->in_file)
			must(cfg->config_file != NULL, "in a file that was not read");
	}
	must(config_setting_env(CONFIG_SETTING_COUNT) == NULL &&
	     config_setting_key(CONFIG_SETTING_COUNT) == NULL, "a setting past the table");
}

static void check(const struct config *cfg, char *const *env, const char *const *keys,
		  size_t n_keys)
{
	check_router(cfg);
	must(cfg->mode == RESPAN_MODE_ROUTE || cfg->mode == RESPAN_MODE_CAPTURE ||
	     cfg->mode == RESPAN_MODE_OFF, "mode");
	must(cfg->fail == RESPAN_FAIL_OPEN || cfg->fail == RESPAN_FAIL_CLOSED, "fail");
	must(cfg->intercept == RESPAN_INTERCEPT_AUTO || cfg->intercept == RESPAN_INTERCEPT_OFF,
	     "intercept");
	must(cfg->log_body_max <= 1024UL * 1024 * 1024, "body cap over 1 GiB");
	must(cfg->api_key == NULL || (cfg->api_key[0] && printable_no_space(cfg->api_key)),
	     "a key that cannot go into a header");
	must(cfg->route_provider == NULL || token(cfg->route_provider), "route provider");
	for (int i = 0; i < PROVIDER_COUNT; i++) {
		const char *v = cfg->route_provider_by_id[i];
		must(v == NULL || token(v), "route provider by id");
		must(streq(config_route_provider(cfg, (enum provider_id)i),
			   v ? v : cfg->route_provider), "config_route_provider");
	}
	must(cfg->params_pending == NULL, "params still pending");
	check_params(cfg->params_b64);
	must(cfg->log_path == NULL || cfg->log_path[0], "empty log path");
	must(cfg->ca_file == NULL || cfg->ca_file[0], "empty CA file");
	size_t dl = cfg->ca_dir ? strlen(cfg->ca_dir) : 0;
	must(dl >= 3 && strcmp(cfg->ca_dir + dl - 3, "/ca") == 0, "CA directory");
	check_hosts(cfg);
	check_warnings(cfg, keys, n_keys);
	check_sources(cfg, env);
}

/* Each warning of a is one of b, as often (a and b have as many). */
static bool same_warnings(const struct config *a, const struct config *b)
{
	bool used[CONFIG_MAX_WARNINGS] = { false };
	if (a->n_warnings != b->n_warnings)
		return false;
	for (size_t i = 0; i < a->n_warnings; i++) {
		size_t j = 0;
		while (j < b->n_warnings && (used[j] || strcmp(a->warnings[i], b->warnings[j])))
			j++;
		if (j == b->n_warnings)
			return false;
		used[j] = true;
	}
	return true;
}

/* The same configuration; the deferred load's RESPAN_PARAMS source is not
 * compared (settling leaves it; the library never reads source[]). */
static void compare(const struct config *a, const struct config *b)
{
	must(streq(a->api_key, b->api_key) && streq(a->base_url, b->base_url) &&
	     streq(a->router_host, b->router_host) && a->router_port == b->router_port &&
	     streq(a->router_path, b->router_path) &&
	     streq(a->router_authority, b->router_authority), "deferred: router or key differ");
	must(a->mode == b->mode && a->fail == b->fail && a->intercept == b->intercept &&
	     a->debug == b->debug && a->log_body_max == b->log_body_max &&
	     streq(a->log_path, b->log_path) && streq(a->ca_file, b->ca_file) &&
	     streq(a->ca_dir, b->ca_dir) && streq(a->config_file, b->config_file) &&
	     a->config_file_how == b->config_file_how &&
	     streq(a->config_user_file, b->config_user_file), "deferred: settings differ");
	must(streq(a->route_provider, b->route_provider), "deferred: route provider differs");
	for (int i = 0; i < PROVIDER_COUNT; i++)
		must(streq(a->route_provider_by_id[i], b->route_provider_by_id[i]),
		     "deferred: route provider by id differs");
	must(streq(a->params_b64, b->params_b64), "deferred: params differ");
	must(a->n_extra_hosts == b->n_extra_hosts, "deferred: extra hosts differ");
	for (size_t i = 0; i < a->n_extra_hosts; i++)
		must(streq(a->extra_hosts[i].pattern, b->extra_hosts[i].pattern) &&
		     a->extra_hosts[i].provider == b->extra_hosts[i].provider,
		     "deferred: extra hosts differ");
	for (int i = 0; i < CONFIG_SETTING_COUNT; i++)
		must(i == CONFIG_PARAMS || memcmp(&a->source[i], &b->source[i],
						  sizeof(a->source[i])) == 0,
		     "deferred: sources differ");
	/* At the cap the two orders keep different warnings. */
	if (a->n_warnings < CONFIG_MAX_WARNINGS && b->n_warnings < CONFIG_MAX_WARNINGS)
		must(same_warnings(a, b), "deferred: warnings differ");
}

static void free_twice(struct config *cfg)
{
	static const struct config zero;
	config_free(cfg);
	must(memcmp(cfg, &zero, sizeof(zero)) == 0, "config_free left something");
	config_free(cfg);
}

/*
 * The value of the last string "api_key" of the file (each is applied),
 * parsed as config.c does: text[len] is a NUL, trailing bytes are an error.
 */
static char *file_key(const char *text, size_t len)
{
	cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1), *item;
	cJSON *obj = cJSON_IsObject(root) ? root : NULL;
	char *key = NULL;
	cJSON_ArrayForEach(item, obj) {
		if (strcmp(item->string, "api_key") == 0 && cJSON_IsString(item) &&
		    item->valuestring[0]) {
			free(key);
			key = strdup(item->valuestring);
		}
	}
	cJSON_Delete(root);
	return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *env[MAX_ENTRIES + 4];
	char config_env[64], path[40] = "";
	size_t n = 0;
	const char *file = NULL;
	size_t file_len = 0;

	must(text != NULL, "malloc");
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *line = text; line && n < MAX_ENTRIES;) {
		char *nl = memchr(line, '\n', size - (size_t)(line - text));
		if (nl)
			*nl = '\0';
		if (strcmp(line, "---") == 0 && nl) {
			file = nl + 1;
			file_len = size - (size_t)(file - text);
			break;
		}
		env[n++] = line;
		line = nl ? nl + 1 : NULL;
	}
	if (file) {
		int fd = config_fd(path, sizeof(path));
		must(ftruncate(fd, 0) == 0, "ftruncate");
		must(file_len == 0 || pwrite(fd, file, file_len, 0) == (ssize_t)file_len,
		     "pwrite");
		snprintf(config_env, sizeof(config_env), "RESPAN_CONFIG=%s", path);
		env[n++] = config_env;
	}
	env[n++] = (char *)"HOME=" NO_DIR;
	env[n++] = (char *)"XDG_CONFIG_HOME=" NO_DIR "/config";
	env[n] = NULL;

	struct config direct, deferred;
	int rc = config_load(&direct, env);
	must(rc == 0 || rc == -ENOMEM, "config_load");

	/* The keys given: the first RESPAN_API_KEY, the last of our file's. */
	const char *keys[2];
	size_t n_keys = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(env[i], "RESPAN_API_KEY=", 15) == 0) {
			keys[n_keys++] = env[i] + 15;
			break;
		}
	}
	bool ours = file && direct.config_file && strcmp(direct.config_file, path) == 0;
	char *fkey = ours ? file_key(file, file_len) : NULL;
	if (fkey)
		keys[n_keys++] = fkey;
	check(&direct, env, keys, n_keys);

	rc = config_load_deferred(&deferred, env);
	must(rc == 0 || rc == -ENOMEM, "config_load_deferred");
	size_t before = deferred.n_warnings;
	rc = config_settle(&deferred);
	must(rc >= 0 && (size_t)rc == deferred.n_warnings - before, "config_settle's count");
	must(config_settle(&deferred) == 0, "settling twice added something");
	check(&deferred, env, keys, n_keys);
	compare(&direct, &deferred);

	free_twice(&direct);
	free_twice(&deferred);
	free(fkey);
	free(text);
	return 0;
}
