#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "buf.h"
#include "envget.h"
#include "readfile.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define BODY_MAX_CAP (1024UL * 1024 * 1024)
#define PARAMS_JSON_MAX 12288	/* keeps the header well inside a 64 KiB head */
#define TOKEN_MAX 128
#define SHOWN_MAX 80		/* bytes of a bad value quoted in a warning */

/* Kept here rather than taken from route.c so config depends on nothing. */
static const char *const provider_names[PROVIDER_COUNT] = {
	"openai", "anthropic", "gemini", "vertexai",
};

struct loader {
	struct config *cfg;
	int err;		/* -ENOMEM once memory ran out */
	bool refused;		/* the value being applied was refused */
	bool defer_params;	/* RESPAN_PARAMS from the environment: kept as text */
	char *keys[2];		/* every key value seen, good or bad, to scrub */
};

/* One value being applied, and where it came from (for warnings). */
struct val {
	const char *name;	/* "RESPAN_MODE", or "mode" in a file */
	const char *file;	/* NULL: the environment */
	const char *str;	/* the value as text, NULL when it has none */
	const cJSON *json;	/* the file's value, NULL for the environment */
	bool secret;		/* never quote the value */
};

static void add_warning(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_warning(struct loader *ld, const char *fmt, ...)
{
	struct config *cfg = ld->cfg;
	char line[1024];
	va_list ap;

	if (cfg->n_warnings >= CONFIG_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One warning, one line: nothing in a value may break it. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	char *copy = strdup(line);
	if (copy == NULL) {
		ld->err = -ENOMEM;
		return;
	}
	cfg->warnings[cfg->n_warnings++] = copy;
}

/* Copy at most SHOWN_MAX bytes of s, not cutting a UTF-8 sequence. */
static void shorten(char *out, size_t size, const char *s)
{
	size_t n = strlen(s);
	if (n <= SHOWN_MAX && n < size) {
		memcpy(out, s, n + 1);
		return;
	}
	n = SHOWN_MAX < size - 4 ? SHOWN_MAX : size - 4;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(out, s, n);
	memcpy(out + n, "...", 4);
}

static void warn(struct loader *ld, const struct val *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "respan: [FILE: ]NAME[=VALUE]: message"; file values shown as JSON. */
static void warn(struct loader *ld, const struct val *v, const char *fmt, ...)
{
	char msg[512], shown[SHOWN_MAX + 4] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!v->secret && v->json) {
		char *text = cJSON_PrintUnformatted(v->json);
		if (text)
			shorten(shown, sizeof(shown), text);
		free(text);
	} else if (!v->secret && v->str) {
		shorten(shown, sizeof(shown), v->str);
	}
	ld->refused = true;
	add_warning(ld, "respan: %s%s%s%s%s: %s", v->file ? v->file : "",
		    v->file ? ": " : "", v->name, v->secret ? "" : "=", shown, msg);
}

static void replace(struct loader *ld, char **slot, const char *s)
{
	char *copy = NULL;
	if (s && (copy = strdup(s)) == NULL) {
		ld->err = -ENOMEM;
		return;
	}
	free(*slot);
	*slot = copy;
}

static bool is_token(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			     "0123456789_.-");
	return n > 0 && n <= TOKEN_MAX && s[n] == '\0';
}

struct url {
	char host[256];
	unsigned short port;
	struct buf path;
	struct buf authority;
};

/* https://HOST[:PORT][/PATH] with HOST a name, IPv4 or [IPv6] literal. */
static int parse_url(const char *s, struct url *u)
{
	const char *p = s + 8, *end;
	size_t hn;
	bool v6 = false;

	if (strncasecmp(s, "https://", 8) != 0)
		return -EPROTONOSUPPORT;
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL || (size_t)(end - p - 1) >= sizeof(u->host))
			return -EINVAL;
		hn = (size_t)(end - p - 1);
		memcpy(u->host, p + 1, hn);
		u->host[hn] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return -EINVAL;
		v6 = true;
		p = end + 1;
	} else {
		hn = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			       "0123456789.-_");
		if (hn == 0 || hn >= sizeof(u->host))
			return -EINVAL;
		memcpy(u->host, p, hn);
		u->host[hn] = '\0';
		/* No empty label: ".", "..", ".host" and "a..b" name nothing (a
		 * trailing dot, an absolute name, is fine). */
		if (u->host[0] == '.' || strstr(u->host, "..") != NULL)
			return -EINVAL;
		p += hn;
	}
	for (char *h = u->host; *h; h++)
		if (*h >= 'A' && *h <= 'Z')
			*h = (char)(*h - 'A' + 'a');
	u->port = 443;
	if (*p == ':') {
		size_t dn = strspn(++p, "0123456789");
		unsigned long port = 0;
		for (size_t i = 0; i < dn && i < 6; i++)
			port = port * 10 + (unsigned long)(p[i] - '0');
		if (dn == 0 || dn > 5 || port == 0 || port > 65535)
			return -EINVAL;
		u->port = (unsigned short)port;
		p += dn;
	}
	if (*p != '\0' && *p != '/')
		return -EINVAL;
	for (const char *q = p; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f ||
		    *q == '?' || *q == '#')	/* it goes into request lines */
			return -EINVAL;
	if (buf_puts(&u->path, *p ? p : "/") < 0 ||
	    (u->path.data[u->path.len - 1] != '/' && buf_puts(&u->path, "/") < 0) ||
	    buf_printf(&u->authority, v6 ? "[%s]" : "%s", u->host) < 0 ||
	    (u->port != 443 && buf_printf(&u->authority, ":%u", u->port) < 0))
		return -ENOMEM;
	return 0;
}

static void set_base_url(struct loader *ld, const struct val *v, int arg)
{
	struct config *cfg = ld->cfg;
	struct url u;
	struct buf full;
	(void)arg;

	buf_init(&u.path, SIZE_MAX);
	buf_init(&u.authority, SIZE_MAX);
	buf_init(&full, SIZE_MAX);
	int rc = v->str ? parse_url(v->str, &u) : -EPROTONOSUPPORT;
	if (rc == -EPROTONOSUPPORT)
		warn(ld, v, "expected an https:// URL");
	else if (rc == -EINVAL)
		warn(ld, v, "expected https://HOST[:PORT][/PATH]");
	else if (rc < 0 || buf_printf(&full, "https://%s%s", u.authority.data,
				      u.path.data) < 0)
		ld->err = -ENOMEM;
	else {
		replace(ld, &cfg->base_url, full.data);
		replace(ld, &cfg->router_host, u.host);
		replace(ld, &cfg->router_path, u.path.data);
		replace(ld, &cfg->router_authority, u.authority.data);
		cfg->router_port = u.port;
	}
	buf_free(&u.path);
	buf_free(&u.authority);
	buf_free(&full);
}

static void set_api_key(struct loader *ld, const struct val *v, int arg)
{
	(void)arg;
	if (v->str == NULL) {
		warn(ld, v, "expected a string");
		return;
	}
	replace(ld, &ld->keys[v->file != NULL], v->str);
	/* The key goes into header lines: no byte may end or split one. */
	for (const char *p = v->str; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			warn(ld, v, "expected printable ASCII without spaces: ignored");
			return;
		}
	}
	replace(ld, &ld->cfg->api_key, v->str);
}

static void set_mode(struct loader *ld, const struct val *v, int arg)
{
	static const enum respan_mode modes[] = {
		RESPAN_MODE_ROUTE, RESPAN_MODE_CAPTURE, RESPAN_MODE_OFF,
	};
	(void)arg;
	for (size_t i = 0; v->str && i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcasecmp(v->str, config_mode_name(modes[i])) == 0) {
			ld->cfg->mode = modes[i];
			return;
		}
	}
	warn(ld, v, "expected route, capture or off");
}

static void set_fail(struct loader *ld, const struct val *v, int arg)
{
	(void)arg;
	if (v->str && strcasecmp(v->str, "open") == 0)
		ld->cfg->fail = RESPAN_FAIL_OPEN;
	else if (v->str && strcasecmp(v->str, "closed") == 0)
		ld->cfg->fail = RESPAN_FAIL_CLOSED;
	else
		warn(ld, v, "expected open or closed");
}

static void set_intercept(struct loader *ld, const struct val *v, int arg)
{
	(void)arg;
	if (v->str && strcasecmp(v->str, "auto") == 0)
		ld->cfg->intercept = RESPAN_INTERCEPT_AUTO;
	else if (v->str && strcasecmp(v->str, "off") == 0)
		ld->cfg->intercept = RESPAN_INTERCEPT_OFF;
	else
		warn(ld, v, "expected auto or off");
}

static void set_debug(struct loader *ld, const struct val *v, int arg)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	(void)arg;
	for (size_t i = 0; v->str && i < 4; i++) {
		if (strcasecmp(v->str, yes[i]) == 0 || strcasecmp(v->str, no[i]) == 0) {
			ld->cfg->debug = strcasecmp(v->str, yes[i]) == 0;
			return;
		}
	}
	warn(ld, v, "expected 0 or 1");
}

static void set_log(struct loader *ld, const struct val *v, int arg)
{
	(void)arg;
	if (v->str == NULL)
		warn(ld, v, "expected a file name or off");
	else
		replace(ld, &ld->cfg->log_path,
			strcasecmp(v->str, "off") == 0 ? NULL : v->str);
}

static void set_body_max(struct loader *ld, const struct val *v, int arg)
{
	size_t n = v->str ? strspn(v->str, "0123456789") : 0;
	unsigned long long value = 0;
	(void)arg;
	if (n == 0 || v->str[n] != '\0') {
		warn(ld, v, "expected a number of bytes");
		return;
	}
	for (size_t i = 0; i < n && value <= BODY_MAX_CAP; i++)
		value = value * 10 + (unsigned long long)(v->str[i] - '0');
	if (value > BODY_MAX_CAP) {
		warn(ld, v, "more than %lu: %lu used", BODY_MAX_CAP, BODY_MAX_CAP);
		ld->refused = false;	/* capped, but used */
		value = BODY_MAX_CAP;
	}
	ld->cfg->log_body_max = (size_t)value;
}

/* arg: the provider id for RESPAN_ROUTE_PROVIDER_<ID>, -1 for all. */
static void set_route_provider(struct loader *ld, const struct val *v, int arg)
{
	struct config *cfg = ld->cfg;
	if (v->str == NULL || !is_token(v->str)) {
		warn(ld, v, "expected a name of letters, digits, '_', '.' or '-'");
		return;
	}
	replace(ld, arg < 0 ? &cfg->route_provider : &cfg->route_provider_by_id[arg],
		v->str);
}

static void set_params(struct loader *ld, const struct val *v, int arg)
{
	cJSON *parsed = NULL;
	const cJSON *obj = v->json;
	char *text = NULL;
	struct buf out;
	(void)arg;

	if (ld->defer_params && v->json == NULL) {
		replace(ld, &ld->cfg->params_pending, v->str);
		return;
	}
	buf_init(&out, SIZE_MAX);
	if (obj == NULL || cJSON_IsString(obj))
		obj = parsed = v->str ? cJSON_Parse(v->str) : NULL;
	if (!cJSON_IsObject(obj))
		warn(ld, v, "expected a JSON object");
	else if ((text = cJSON_PrintUnformatted(obj)) == NULL)
		ld->err = -ENOMEM;
	else if (strlen(text) > PARAMS_JSON_MAX)
		warn(ld, v, "longer than %d bytes as compact JSON", PARAMS_JSON_MAX);
	else if (b64_encode(text, strlen(text), &out) < 0)
		ld->err = -ENOMEM;
	else
		replace(ld, &ld->cfg->params_b64, out.data);
	free(text);
	cJSON_Delete(parsed);
	buf_free(&out);
}

static void set_ca_file(struct loader *ld, const struct val *v, int arg)
{
	struct stat st;
	(void)arg;
	if (v->str == NULL) {
		warn(ld, v, "expected a file name");
		return;
	}
	int fd = open(v->str, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);	/* a FIFO: no hang */
	if (fd < 0) {
		warn(ld, v, "%s", strerror(errno));
		return;
	}
	bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	if (!ok)
		warn(ld, v, "not a regular file");
	else
		replace(ld, &ld->cfg->ca_file, v->str);
}

typedef void (*setter_fn)(struct loader *ld, const struct val *v, int arg);

#define S_SECRET 1	/* never shown in a warning */
#define S_SCALAR 2	/* a file may give a number or a bool */

static const struct setting {
	const char *env;
	const char *key;
	setter_fn set;
	int arg;
	int flags;
} settings[CONFIG_SETTING_COUNT] = {
	[CONFIG_API_KEY] = { "RESPAN_API_KEY", "api_key", set_api_key, 0, S_SECRET },
	[CONFIG_BASE_URL] = { "RESPAN_BASE_URL", "base_url", set_base_url, 0, 0 },
	[CONFIG_MODE] = { "RESPAN_MODE", "mode", set_mode, 0, 0 },
	[CONFIG_LOG] = { "RESPAN_LOG", "log", set_log, 0, 0 },
	[CONFIG_LOG_BODY_MAX] = { "RESPAN_LOG_BODY_MAX", "log_body_max", set_body_max,
				  0, S_SCALAR },
	[CONFIG_ROUTE_PROVIDER] = { "RESPAN_ROUTE_PROVIDER", "route_provider",
				    set_route_provider, -1, 0 },
	[CONFIG_ROUTE_PROVIDER_ID + PROVIDER_OPENAI] = {
		"RESPAN_ROUTE_PROVIDER_OPENAI", "route_provider_openai",
		set_route_provider, PROVIDER_OPENAI, 0 },
	[CONFIG_ROUTE_PROVIDER_ID + PROVIDER_ANTHROPIC] = {
		"RESPAN_ROUTE_PROVIDER_ANTHROPIC", "route_provider_anthropic",
		set_route_provider, PROVIDER_ANTHROPIC, 0 },
	[CONFIG_ROUTE_PROVIDER_ID + PROVIDER_GEMINI] = {
		"RESPAN_ROUTE_PROVIDER_GEMINI", "route_provider_gemini",
		set_route_provider, PROVIDER_GEMINI, 0 },
	[CONFIG_ROUTE_PROVIDER_ID + PROVIDER_VERTEXAI] = {
		"RESPAN_ROUTE_PROVIDER_VERTEXAI", "route_provider_vertexai",
		set_route_provider, PROVIDER_VERTEXAI, 0 },
	[CONFIG_PARAMS] = { "RESPAN_PARAMS", "params", set_params, 0, 0 },
	[CONFIG_CA_FILE] = { "RESPAN_CA_FILE", "ca_file", set_ca_file, 0, 0 },
	[CONFIG_FAIL] = { "RESPAN_FAIL", "fail", set_fail, 0, 0 },
	[CONFIG_INTERCEPT] = { "RESPAN_INTERCEPT", "intercept", set_intercept, 0, 0 },
	[CONFIG_DEBUG] = { "RESPAN_DEBUG", "debug", set_debug, 0, S_SCALAR },
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Apply one given value and note where it came from, or that it was refused. */
static void apply(struct loader *ld, size_t i, const struct val *v)
{
	struct config_source *src = &ld->cfg->source[i];
	enum config_origin from = v->file ? CONFIG_FROM_FILE : CONFIG_FROM_ENV;

	ld->refused = false;
	settings[i].set(ld, v, settings[i].arg);
	if (ld->refused)
		src->refused = from;
	else
		src->origin = from;
	if (v->file)
		src->in_file = true;
}

static bool host_pattern_ok(char *h)
{
	if (h[0] == '*' && (h[1] == '.' || h[1] == '-'))
		h += 2;
	for (char *p = h; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	size_t n = strspn(h, "abcdefghijklmnopqrstuvwxyz0123456789.-_");
	if (n > 1 && h[n] == '\0' && h[n - 1] == '.')
		h[--n] = '\0';	/* "host." names the same host */
	return n > 0 && n < 254 && h[n] == '\0' && h[0] != '.';
}

static void add_host(struct loader *ld, const char *file, const cJSON *item)
{
	struct config *cfg = ld->cfg;
	char name[300];
	struct val v = { name, file, NULL, item, false };
	enum provider_id id = PROVIDER_NONE;

	snprintf(name, sizeof(name), "providers.\"%.256s\"", item->string);
	for (int i = 0; i < PROVIDER_COUNT && cJSON_IsString(item); i++)
		if (strcasecmp(item->valuestring, provider_names[i]) == 0)
			id = (enum provider_id)i;
	char *pattern = strdup(item->string);
	if (pattern == NULL) {
		ld->err = -ENOMEM;
		return;
	}
	if (id == PROVIDER_NONE)
		warn(ld, &v, "expected openai, anthropic, gemini or vertexai");
	else if (!host_pattern_ok(pattern))
		warn(ld, &v, "expected a host name, optionally starting with \"*.\" or \"*-\"");
	else {
		size_t i = 0;
		while (i < cfg->n_extra_hosts && strcmp(cfg->extra_hosts[i].pattern, pattern))
			i++;
		if (i == CONFIG_MAX_EXTRA_HOSTS) {
			warn(ld, &v, "more than %d hosts: ignored", CONFIG_MAX_EXTRA_HOSTS);
		} else {
			if (i == cfg->n_extra_hosts)
				cfg->n_extra_hosts++;
			else
				free(cfg->extra_hosts[i].pattern);
			cfg->extra_hosts[i].pattern = pattern;
			cfg->extra_hosts[i].provider = id;
			pattern = NULL;
		}
	}
	free(pattern);
}

/* Turn a file value into the text a setter reads. */
static const char *file_text(const cJSON *item, int flags, char *tmp, size_t size)
{
	if (cJSON_IsString(item))
		return item->valuestring;
	if (!(flags & S_SCALAR))
		return NULL;
	if (cJSON_IsBool(item))
		return cJSON_IsTrue(item) ? "true" : "false";
	if (!cJSON_IsNumber(item))
		return NULL;
	/* Whole numbers as digits (huge ones too, to be capped); others fail. */
	double d = item->valuedouble;
	bool whole = d > 1e18 || (d >= 0 && (double)(unsigned long long)d == d);
	snprintf(tmp, size, whole ? "%.0f" : "%g", d);
	return tmp;
}

static void apply_file(struct loader *ld, const char *file, const cJSON *root)
{
	const cJSON *item;
	char tmp[64];

	cJSON_ArrayForEach(item, root) {
		size_t i = 0;
		if (strcmp(item->string, "providers") == 0) {
			struct val v = { "providers", file, NULL, item, false };
			const cJSON *h;
			if (!cJSON_IsObject(item))
				warn(ld, &v, "expected an object of \"host\": \"provider\"");
			else
				cJSON_ArrayForEach(h, item)
					add_host(ld, file, h);
			continue;
		}
		while (i < N_SETTINGS && strcmp(item->string, settings[i].key) != 0)
			i++;
		if (i == N_SETTINGS) {
			add_warning(ld, "respan: %s: unknown key \"%.100s\": ignored",
				    file, item->string);
			continue;
		}
		const struct setting *s = &settings[i];
		struct val v = { s->key, file, file_text(item, s->flags, tmp, sizeof(tmp)),
				 item, (s->flags & S_SECRET) != 0 };
		if (v.str == NULL || v.str[0] != '\0')
			apply(ld, i, &v);
	}
}

static void load_file(struct loader *ld, char *const *env)
{
	const char *path = envget_set(env, "RESPAN_CONFIG");
	const char *xdg = envget_set(env, "XDG_CONFIG_HOME");
	const char *home = envget_set(env, "HOME");
	bool named = path != NULL;
	struct buf userb;	/* heap, not 4 KiB of stack: see set_defaults */
	struct buf text;
	int rc = -ENOENT;

	buf_init(&userb, 4096);
	if (xdg && xdg[0] == '/')
		buf_printf(&userb, "%s/respan/config.json", xdg);
	else if (home && home[0] == '/')
		buf_printf(&userb, "%s/.config/respan/config.json", home);
	const char *user = userb.data ? userb.data : "";
	const char *paths[2] = { user, "/etc/respan/config.json" };

	ld->cfg->config_file_how = named ? CONFIG_FILE_NAMED : CONFIG_FILE_SEARCHED;
	if (named && strcmp(path, "off") == 0) {
		ld->cfg->config_file_how = CONFIG_FILE_OFF;
		buf_free(&userb);
		return;
	}
	if (!named && user[0])
		replace(ld, &ld->cfg->config_user_file, user);
	buf_init(&text, CONFIG_FILE_MAX);
	if (named)
		rc = readfile(path, &text);
	/* A default file that is not there is no news; a named one is. */
	for (size_t i = 0; !named && i < 2 && path == NULL; i++) {
		buf_reset(&text);
		rc = paths[i][0] ? readfile(paths[i], &text) : -ENOENT;
		if (rc != -ENOENT && rc != -ENOTDIR)
			path = paths[i];
	}
	if (path && rc == 0) {
		const char *end = NULL;
		int line = 1;
		replace(ld, &ld->cfg->config_file, path);
		/* With its NUL (buf keeps one), so trailing junk is an error too. */
		cJSON *root = cJSON_ParseWithLengthOpts(text.data ? text.data : "",
							text.len + 1, &end, 1);
		for (const char *p = text.data; root == NULL && p && end && p < end; p++)
			line += *p == '\n';
		if (root == NULL)
			add_warning(ld, "respan: %s: invalid JSON at line %d: ignored",
				    path, line);
		else if (!cJSON_IsObject(root))
			add_warning(ld, "respan: %s: expected a JSON object: ignored", path);
		else
			apply_file(ld, path, root);
		cJSON_Delete(root);
	} else if (rc == -ENOMEM) {
		ld->err = rc;
	} else if (path) {
		add_warning(ld, "respan: %s%s: %s: ignored", named ? "RESPAN_CONFIG=" : "",
			    path, rc == -EISDIR ? "not a regular file" :
			    rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
	}
	buf_free(&text);
	buf_free(&userb);
}

static void apply_env(struct loader *ld, char *const *env)
{
	static const char prefix[] = "RESPAN_ROUTE_PROVIDER_";

	const char *found[N_SETTINGS] = { NULL };

	/*
	 * One pass over the environment, looking closer only at RESPAN_*: this
	 * runs in every process, and a CI job's environment has a hundred
	 * entries. The first of two entries of one name wins, as with getenv().
	 */
	for (; env && *env; env++) {
		const char *eq;
		size_t i = 0;
		if (strncmp(*env, "RESPAN_", 7) != 0 || (eq = strchr(*env, '=')) == NULL)
			continue;
		while (i < N_SETTINGS && (strncmp(*env, settings[i].env, (size_t)(eq - *env)) ||
					  settings[i].env[eq - *env] != '\0'))
			i++;
		if (i < N_SETTINGS) {
			if (found[i] == NULL)
				found[i] = eq + 1;
		} else if (strncmp(*env, prefix, sizeof(prefix) - 1) == 0) {
			/* A misspelt provider suffix would otherwise be silently ignored. */
			add_warning(ld, "respan: %.*s: unknown provider, expected "
				    "RESPAN_ROUTE_PROVIDER_OPENAI, _ANTHROPIC, _GEMINI or _VERTEXAI",
				    (int)(eq - *env > 100 ? 100 : eq - *env), *env);
		}
	}
	/* Applied in the table's order, whatever the environment's. */
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		struct val v = { s->env, NULL, found[i], NULL, (s->flags & S_SECRET) != 0 };
		if (v.str && v.str[0])
			apply(ld, i, &v);
	}
}

static void set_defaults(struct loader *ld, char *const *env)
{
	struct config *cfg = ld->cfg;
	const char *state = envget_set(env, "XDG_STATE_HOME");
	const char *home = envget_set(env, "HOME");
	struct val v = { "default", NULL, CONFIG_DEFAULT_BASE_URL, NULL, false };
	/* On the heap, not in 8 KiB of stack: this runs in every process,
	 * and each stack page it reaches first is a page fault. */
	struct buf dir, path;

	set_base_url(ld, &v, 0);
	cfg->mode = RESPAN_MODE_ROUTE;
	cfg->log_body_max = CONFIG_DEFAULT_BODY_MAX;
	cfg->fail = RESPAN_FAIL_OPEN;
	cfg->debug = false;
	cfg->intercept = RESPAN_INTERCEPT_AUTO;
	int rc = -1;
	buf_init(&dir, 4000);
	buf_init(&path, 4096);
	if (state && state[0] == '/')
		rc = buf_printf(&dir, "%s/respan", state);
	else if (home && home[0] == '/')
		rc = buf_printf(&dir, "%s/.local/state/respan", home);
	if (rc < 0) {		/* neither, or too long a path */
		buf_reset(&dir);
		rc = buf_printf(&dir, "/tmp/respan-%u", (unsigned)getuid());
	}
	if (rc < 0 || buf_printf(&path, "%s/traffic.jsonl", dir.data) < 0) {
		ld->err = -ENOMEM;
	} else {
		replace(ld, &cfg->log_path, path.data);
		buf_reset(&path);
		if (buf_printf(&path, "%s/ca", dir.data) < 0)
			ld->err = -ENOMEM;
		else
			replace(ld, &cfg->ca_dir, path.data);
	}
	buf_free(&dir);
	buf_free(&path);
}

/* Bytes of key at p (at least 16, or the whole of a shorter key), or 0. */
static size_t key_run(const char *p, const char *key)
{
	size_t kn = key ? strlen(key) : 0, m = 0;
	if (kn < 8)
		return 0;
	while (m < kn && p[m] == key[m])
		m++;
	return m >= (kn < 16 ? kn : 16) ? m : 0;
}

/*
 * A key pasted into the wrong variable must not reach stderr either: every
 * run of a key (or of the start of one, as a long value is shortened) in a
 * warning becomes [REDACTED]. The longest run wins where two keys begin alike.
 */
static void scrub_keys(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	for (size_t i = 0; i < cfg->n_warnings; i++) {
		const char *w = cfg->warnings[i];
		bool hit = false;
		struct buf b;
		buf_init(&b, SIZE_MAX);
		for (size_t at = 0; w[at];) {
			size_t m0 = key_run(w + at, ld->keys[0]);
			size_t m1 = key_run(w + at, ld->keys[1]);
			size_t m = m0 > m1 ? m0 : m1;
			if (m) {
				hit = true;
				buf_puts(&b, "[REDACTED]");
				at += m;
			} else {
				buf_append(&b, w + at++, 1);
			}
		}
		/* Key bytes are only ever skipped, so even a short copy is clean. */
		char *clean = hit ? buf_steal(&b) : NULL;
		if (clean) {
			free(cfg->warnings[i]);
			cfg->warnings[i] = clean;
		} else if (hit) {
			cfg->warnings[i][0] = '\0';
		}
		buf_free(&b);
	}
}

/* s holds a run of a key seen (as scrub_keys counts one). */
static bool holds_key(const struct loader *ld, const char *s)
{
	for (; *s; s++)
		if (key_run(s, ld->keys[0]) || key_run(s, ld->keys[1]))
			return true;
	return false;
}

static int load(struct config *cfg, char *const *env, bool defer)
{
	struct loader ld = { .cfg = cfg, .defer_params = defer };

	memset(cfg, 0, sizeof(*cfg));
	set_defaults(&ld, env);
	load_file(&ld, env);
	apply_env(&ld, env);
	/*
	 * A key pasted into RESPAN_PARAMS is parsed now, not deferred: its
	 * warning must be scrubbed of every key seen, and config_settle knows
	 * only the one in effect.
	 */
	if (cfg->params_pending && holds_key(&ld, cfg->params_pending)) {
		struct val v = { settings[CONFIG_PARAMS].env, NULL, cfg->params_pending, NULL,
				 false };
		ld.defer_params = false;
		apply(&ld, CONFIG_PARAMS, &v);
		free(cfg->params_pending);
		cfg->params_pending = NULL;
	}
	scrub_keys(&ld);
	free(ld.keys[0]);
	free(ld.keys[1]);
	if (ld.err == 0)
		return 0;
	/* Out of memory: leave the plain defaults, as far as they fit. */
	config_free(cfg);
	ld.err = 0;
	set_defaults(&ld, env);
	return -ENOMEM;
}

int config_load(struct config *cfg, char *const *env)
{
	return load(cfg, env, false);
}

int config_load_deferred(struct config *cfg, char *const *env)
{
	return load(cfg, env, true);
}

int config_settle(struct config *cfg)
{
	if (cfg->params_pending == NULL)
		return 0;
	struct loader ld = { .cfg = cfg };
	struct val v = { "RESPAN_PARAMS", NULL, cfg->params_pending, NULL, false };
	size_t before = cfg->n_warnings;
	set_params(&ld, &v, 0);
	/* A key pasted into RESPAN_PARAMS is scrubbed from its warning. */
	ld.keys[0] = cfg->api_key;
	scrub_keys(&ld);
	free(cfg->params_pending);
	cfg->params_pending = NULL;
	return ld.err ? ld.err : (int)(cfg->n_warnings - before);
}

void config_free(struct config *cfg)
{
	free(cfg->api_key);
	free(cfg->base_url);
	free(cfg->router_host);
	free(cfg->router_path);
	free(cfg->router_authority);
	free(cfg->log_path);
	free(cfg->route_provider);
	for (size_t i = 0; i < PROVIDER_COUNT; i++)
		free(cfg->route_provider_by_id[i]);
	free(cfg->params_b64);
	free(cfg->params_pending);
	free(cfg->ca_file);
	free(cfg->ca_dir);
	free(cfg->config_file);
	free(cfg->config_user_file);
	for (size_t i = 0; i < cfg->n_extra_hosts; i++)
		free(cfg->extra_hosts[i].pattern);
	for (size_t i = 0; i < cfg->n_warnings; i++)
		free(cfg->warnings[i]);
	memset(cfg, 0, sizeof(*cfg));
}

const char *config_route_provider(const struct config *cfg, enum provider_id id)
{
	if (id >= 0 && id < PROVIDER_COUNT && cfg->route_provider_by_id[id])
		return cfg->route_provider_by_id[id];
	return cfg->route_provider;
}

const char *config_setting_env(enum config_setting s)
{
	return (unsigned)s < CONFIG_SETTING_COUNT ? settings[s].env : NULL;
}

const char *config_setting_key(enum config_setting s)
{
	return (unsigned)s < CONFIG_SETTING_COUNT ? settings[s].key : NULL;
}

const char *config_mode_name(enum respan_mode mode)
{
	switch (mode) {
	case RESPAN_MODE_ROUTE:
		return "route";
	case RESPAN_MODE_CAPTURE:
		return "capture";
	case RESPAN_MODE_OFF:
		return "off";
	}
	return "route";
}
