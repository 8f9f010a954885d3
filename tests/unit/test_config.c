/*
 * Unit tests for preload/config.c: every variable of docs/contract.md#configuration, good and
 * bad, the config file, precedence, and the exact warning lines.
 *
 * "@D" in a table entry stands for this run's temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char dir[64];
static char label[128];	/* the case being checked, named in failures */

static void expand(char *out, size_t size, const char *in)
{
	size_t o = 0;
	for (; *in && o + 1 < size; in++) {
		if (in[0] == '@' && in[1] == 'D') {
			o += (size_t)snprintf(out + o, size - o, "%s", dir);
			in++;
		} else {
			out[o++] = *in;
		}
	}
	out[o < size ? o : size - 1] = '\0';
}

static void write_file(const char *name, const char *text)
{
	char path[256];
	expand(path, sizeof(path), name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Load with vars (NULL-terminated); RESPAN_CONFIG=off unless vars set it. */
static void load(struct config *cfg, const char *const *vars)
{
	static char store[32][512];
	char *env[34];
	size_t n = 0;
	for (; vars && *vars && n < 32; vars++, n++) {
		expand(store[n], sizeof(store[n]), *vars);
		env[n] = store[n];
	}
	env[n++] = (char *)"RESPAN_CONFIG=off";
	env[n] = NULL;
	assert_int_equal(config_load(cfg, env), 0);
}

static void assert_warnings(const struct config *cfg, const char *const *want)
{
	char w[1024];
	size_t n = 0;
	for (; want && want[n]; n++) {
		expand(w, sizeof(w), want[n]);
		if (n >= cfg->n_warnings || strcmp(cfg->warnings[n], w) != 0)
			fail_msg("%s: warning %zu: want \"%s\", got \"%s\"", label, n, w,
				 n < cfg->n_warnings ? cfg->warnings[n] : "(none)");
	}
	if (cfg->n_warnings != n)
		fail_msg("%s: want %zu warnings, got %zu (first extra: \"%s\")", label,
			 n, cfg->n_warnings, cfg->warnings[n]);
}

enum field {
	F_API_KEY, F_BASE_URL, F_HOST, F_PORT, F_PATH, F_AUTHORITY, F_MODE,
	F_LOG, F_BODY_MAX, F_RP, F_RP_OPENAI, F_RP_ANTHROPIC, F_RP_GEMINI,
	F_RP_VERTEXAI, F_PARAMS, F_CA, F_FAIL, F_INTERCEPT, F_CA_DIR, F_DEBUG, F_FILE,
};

/* Every field as text, so one table can check any of them; NULL is NULL. */
static const char *field(const struct config *cfg, enum field f, char *tmp, size_t n)
{
	switch (f) {
	case F_API_KEY: return cfg->api_key;
	case F_BASE_URL: return cfg->base_url;
	case F_HOST: return cfg->router_host;
	case F_PORT: snprintf(tmp, n, "%u", cfg->router_port); return tmp;
	case F_PATH: return cfg->router_path;
	case F_AUTHORITY: return cfg->router_authority;
	case F_MODE: return config_mode_name(cfg->mode);
	case F_LOG: return cfg->log_path;
	case F_BODY_MAX: snprintf(tmp, n, "%zu", cfg->log_body_max); return tmp;
	case F_RP: return cfg->route_provider;
	case F_RP_OPENAI: return cfg->route_provider_by_id[PROVIDER_OPENAI];
	case F_RP_ANTHROPIC: return cfg->route_provider_by_id[PROVIDER_ANTHROPIC];
	case F_RP_GEMINI: return cfg->route_provider_by_id[PROVIDER_GEMINI];
	case F_RP_VERTEXAI: return cfg->route_provider_by_id[PROVIDER_VERTEXAI];
	case F_PARAMS: return cfg->params_b64;
	case F_CA: return cfg->ca_file;
	case F_FAIL: return cfg->fail == RESPAN_FAIL_CLOSED ? "closed" : "open";
	case F_INTERCEPT: return cfg->intercept == RESPAN_INTERCEPT_OFF ? "off" : "auto";
	case F_CA_DIR: return cfg->ca_dir;
	case F_DEBUG: return cfg->debug ? "1" : "0";
	case F_FILE: return cfg->config_file;
	}
	return NULL;
}

static void assert_field(const struct config *cfg, enum field f, const char *want)
{
	char tmp[64], w[512];
	const char *got = field(cfg, f, tmp, sizeof(tmp));
	if (want == NULL) {
		if (got != NULL)
			fail_msg("%s: field %d: want NULL, got \"%s\"", label, (int)f, got);
		return;
	}
	expand(w, sizeof(w), want);
	if (got == NULL || strcmp(got, w) != 0)
		fail_msg("%s: field %d: want \"%s\", got \"%s\"", label, (int)f, w,
			 got ? got : "NULL");
}

struct env_case {
	const char *vars[3];
	enum field f;
	const char *want;	/* the field afterwards, as text */
	const char *warning;	/* the one warning, or NULL for none */
};

#define PARAMS_B64 "eyJjdXN0b21lcl9pZGVudGlmaWVyIjoidTEiLCJtZXRhZGF0YSI6eyJ0ZWFtIjoiYSJ9fQ=="

static const struct env_case env_cases[] = {
	/* RESPAN_API_KEY: the value is never shown. */
	{ { "RESPAN_API_KEY=rk-abc.123_x" }, F_API_KEY, "rk-abc.123_x", NULL },
	{ { "RESPAN_API_KEY=" }, F_API_KEY, NULL, NULL },
	{ { "RESPAN_API_KEY=rk-abc\r\nX-Evil: 1" }, F_API_KEY, NULL,
	  "respan: RESPAN_API_KEY: expected printable ASCII without spaces: ignored" },
	{ { "RESPAN_API_KEY=rk secret" }, F_API_KEY, NULL,
	  "respan: RESPAN_API_KEY: expected printable ASCII without spaces: ignored" },
	/* RESPAN_MODE */
	{ { NULL }, F_MODE, "route", NULL },
	{ { "RESPAN_MODE=route" }, F_MODE, "route", NULL },
	{ { "RESPAN_MODE=capture" }, F_MODE, "capture", NULL },
	{ { "RESPAN_MODE=off" }, F_MODE, "off", NULL },
	{ { "RESPAN_MODE=Capture" }, F_MODE, "capture", NULL },
	{ { "RESPAN_MODE=" }, F_MODE, "route", NULL },
	{ { "RESPAN_MODE=foo" }, F_MODE, "route",
	  "respan: RESPAN_MODE=foo: expected route, capture or off" },
	{ { "RESPAN_MODE=a\nb" }, F_MODE, "route",
	  "respan: RESPAN_MODE=a?b: expected route, capture or off" },
	{ { "RESPAN_MODE=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	  F_MODE, "route",
	  "respan: RESPAN_MODE=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: "
	  "expected route, capture or off" },
	/* RESPAN_LOG and its defaults */
	{ { "RESPAN_LOG=/var/log/t.jsonl" }, F_LOG, "/var/log/t.jsonl", NULL },
	{ { "RESPAN_LOG=off" }, F_LOG, NULL, NULL },
	{ { "RESPAN_LOG=OFF" }, F_LOG, NULL, NULL },
	{ { "HOME=/home/t" }, F_LOG, "/home/t/.local/state/respan/traffic.jsonl", NULL },
	{ { "HOME=/home/t", "XDG_STATE_HOME=/st" }, F_LOG, "/st/respan/traffic.jsonl", NULL },
	{ { "HOME=/home/t", "XDG_STATE_HOME=rel" }, F_LOG,
	  "/home/t/.local/state/respan/traffic.jsonl", NULL },
	{ { "RESPAN_LOG=", "HOME=/h" }, F_LOG, "/h/.local/state/respan/traffic.jsonl", NULL },
	/* RESPAN_LOG_BODY_MAX */
	{ { NULL }, F_BODY_MAX, "1048576", NULL },
	{ { "RESPAN_LOG_BODY_MAX=0" }, F_BODY_MAX, "0", NULL },
	{ { "RESPAN_LOG_BODY_MAX=4096" }, F_BODY_MAX, "4096", NULL },
	{ { "RESPAN_LOG_BODY_MAX=1073741824" }, F_BODY_MAX, "1073741824", NULL },
	{ { "RESPAN_LOG_BODY_MAX=1073741825" }, F_BODY_MAX, "1073741824",
	  "respan: RESPAN_LOG_BODY_MAX=1073741825: more than 1073741824: 1073741824 used" },
	{ { "RESPAN_LOG_BODY_MAX=99999999999999999999999999" }, F_BODY_MAX, "1073741824",
	  "respan: RESPAN_LOG_BODY_MAX=99999999999999999999999999: more than 1073741824: 1073741824 used" },
	{ { "RESPAN_LOG_BODY_MAX=-1" }, F_BODY_MAX, "1048576",
	  "respan: RESPAN_LOG_BODY_MAX=-1: expected a number of bytes" },
	{ { "RESPAN_LOG_BODY_MAX=1k" }, F_BODY_MAX, "1048576",
	  "respan: RESPAN_LOG_BODY_MAX=1k: expected a number of bytes" },
	{ { "RESPAN_LOG_BODY_MAX= 5" }, F_BODY_MAX, "1048576",
	  "respan: RESPAN_LOG_BODY_MAX= 5: expected a number of bytes" },
	/* RESPAN_ROUTE_PROVIDER[_ID] */
	{ { "RESPAN_ROUTE_PROVIDER=vertex_ai" }, F_RP, "vertex_ai", NULL },
	{ { "RESPAN_ROUTE_PROVIDER=a.b-C_9" }, F_RP, "a.b-C_9", NULL },
	{ { "RESPAN_ROUTE_PROVIDER=bad value" }, F_RP, NULL,
	  "respan: RESPAN_ROUTE_PROVIDER=bad value: expected a name of letters, digits, '_', '.' or '-'" },
	{ { "RESPAN_ROUTE_PROVIDER=x\r\nEvil: 1" }, F_RP, NULL,
	  "respan: RESPAN_ROUTE_PROVIDER=x??Evil: 1: expected a name of letters, digits, '_', '.' or '-'" },
	{ { "RESPAN_ROUTE_PROVIDER_OPENAI=azure" }, F_RP_OPENAI, "azure", NULL },
	{ { "RESPAN_ROUTE_PROVIDER_ANTHROPIC=vertex_ai" }, F_RP_ANTHROPIC, "vertex_ai", NULL },
	{ { "RESPAN_ROUTE_PROVIDER_GEMINI=vertex_ai" }, F_RP_GEMINI, "vertex_ai", NULL },
	{ { "RESPAN_ROUTE_PROVIDER_VERTEXAI=gemini" }, F_RP_VERTEXAI, "gemini", NULL },
	{ { "RESPAN_ROUTE_PROVIDER_VERTEXAI=a/b" }, F_RP_VERTEXAI, NULL,
	  "respan: RESPAN_ROUTE_PROVIDER_VERTEXAI=a/b: expected a name of letters, digits, '_', '.' or '-'" },
	{ { "RESPAN_ROUTE_PROVIDER_MISTRAL=x" }, F_RP, NULL,
	  "respan: RESPAN_ROUTE_PROVIDER_MISTRAL: unknown provider, expected "
	  "RESPAN_ROUTE_PROVIDER_OPENAI, _ANTHROPIC, _GEMINI or _VERTEXAI" },
	/* RESPAN_PARAMS */
	{ { "RESPAN_PARAMS={ \"customer_identifier\": \"u1\", \"metadata\": {\"team\": \"a\"} }" },
	  F_PARAMS, PARAMS_B64, NULL },
	{ { "RESPAN_PARAMS=[1,2]" }, F_PARAMS, NULL,
	  "respan: RESPAN_PARAMS=[1,2]: expected a JSON object" },
	{ { "RESPAN_PARAMS={\"a\":" }, F_PARAMS, NULL,
	  "respan: RESPAN_PARAMS={\"a\":: expected a JSON object" },
	/* RESPAN_CA_FILE */
	{ { "RESPAN_CA_FILE=@D/ca.pem" }, F_CA, "@D/ca.pem", NULL },
	{ { "RESPAN_CA_FILE=/nonexistent/ca.pem" }, F_CA, NULL,
	  "respan: RESPAN_CA_FILE=/nonexistent/ca.pem: No such file or directory" },
	{ { "RESPAN_CA_FILE=@D" }, F_CA, NULL,
	  "respan: RESPAN_CA_FILE=@D: not a regular file" },
	/* A FIFO nobody writes: refused at once, never waited on. */
	{ { "RESPAN_CA_FILE=@D/fifo" }, F_CA, NULL,
	  "respan: RESPAN_CA_FILE=@D/fifo: not a regular file" },
	/* RESPAN_FAIL */
	{ { NULL }, F_FAIL, "open", NULL },
	{ { "RESPAN_FAIL=closed" }, F_FAIL, "closed", NULL },
	{ { "RESPAN_FAIL=open" }, F_FAIL, "open", NULL },
	{ { "RESPAN_FAIL=shut" }, F_FAIL, "open",
	  "respan: RESPAN_FAIL=shut: expected open or closed" },
	/* RESPAN_INTERCEPT, and where the interception CA lives */
	{ { NULL }, F_INTERCEPT, "auto", NULL },
	{ { "RESPAN_INTERCEPT=off" }, F_INTERCEPT, "off", NULL },
	{ { "RESPAN_INTERCEPT=AUTO" }, F_INTERCEPT, "auto", NULL },
	{ { "RESPAN_INTERCEPT=maybe" }, F_INTERCEPT, "auto",
	  "respan: RESPAN_INTERCEPT=maybe: expected auto or off" },
	{ { "XDG_STATE_HOME=/st", "HOME=/h" }, F_CA_DIR, "/st/respan/ca", NULL },
	{ { "HOME=/h" }, F_CA_DIR, "/h/.local/state/respan/ca", NULL },
	/* RESPAN_DEBUG */
	{ { NULL }, F_DEBUG, "0", NULL },
	{ { "RESPAN_DEBUG=1" }, F_DEBUG, "1", NULL },
	{ { "RESPAN_DEBUG=true" }, F_DEBUG, "1", NULL },
	{ { "RESPAN_DEBUG=YES" }, F_DEBUG, "1", NULL },
	{ { "RESPAN_DEBUG=on" }, F_DEBUG, "1", NULL },
	{ { "RESPAN_DEBUG=0" }, F_DEBUG, "0", NULL },
	{ { "RESPAN_DEBUG=false" }, F_DEBUG, "0", NULL },
	{ { "RESPAN_DEBUG=2" }, F_DEBUG, "0", "respan: RESPAN_DEBUG=2: expected 0 or 1" },
	/* RESPAN_CONFIG */
	{ { "RESPAN_CONFIG=/nonexistent/respan.json" }, F_FILE, NULL,
	  "respan: RESPAN_CONFIG=/nonexistent/respan.json: No such file or directory: ignored" },
	{ { "RESPAN_CONFIG=@D" }, F_FILE, NULL,
	  "respan: RESPAN_CONFIG=@D: not a regular file: ignored" },
	{ { "RESPAN_CONFIG=@D/fifo" }, F_FILE, NULL,
	  "respan: RESPAN_CONFIG=@D/fifo: not a regular file: ignored" },
	/* The first of two entries wins, as with getenv. */
	{ { "RESPAN_MODE=off", "RESPAN_MODE=capture" }, F_MODE, "off", NULL },
};

static void test_env_table(void **state)
{
	(void)state;
	write_file("@D/ca.pem", "-----BEGIN CERTIFICATE-----\n");
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		const struct env_case *c = &env_cases[i];
		const char *want_w[] = { c->warning, NULL };
		struct config cfg;
		snprintf(label, sizeof(label), "env case %zu", i);
		load(&cfg, c->vars);
		assert_field(&cfg, c->f, c->want);
		assert_warnings(&cfg, want_w);
		config_free(&cfg);
	}
}

struct url_case {
	const char *url;
	const char *warning;
	const char *base, *host, *port, *path, *authority;
};

#define DEFAULT_URL "https://api.respan.ai/api/", "api.respan.ai", "443", "/api/", "api.respan.ai"
#define URL_FORMAT ": expected https://HOST[:PORT][/PATH]"

static const struct url_case url_cases[] = {
	{ "https://api.respan.ai/api/", NULL, DEFAULT_URL },
	{ "https://Router.Example:8443/api", NULL, "https://router.example:8443/api/",
	  "router.example", "8443", "/api/", "router.example:8443" },
	{ "HTTPS://router.example", NULL, "https://router.example/", "router.example",
	  "443", "/", "router.example" },
	{ "https://router.example:443/a/b/", NULL, "https://router.example/a/b/",
	  "router.example", "443", "/a/b/", "router.example" },
	{ "https://10.0.0.7:9000/", NULL, "https://10.0.0.7:9000/", "10.0.0.7", "9000",
	  "/", "10.0.0.7:9000" },
	{ "https://[::1]:8443/api/", NULL, "https://[::1]:8443/api/", "::1", "8443",
	  "/api/", "[::1]:8443" },
	{ "https://[2001:DB8::1]/v", NULL, "https://[2001:db8::1]/v/", "2001:db8::1",
	  "443", "/v/", "[2001:db8::1]" },
	{ "http://router.example/api/",
	  "respan: RESPAN_BASE_URL=http://router.example/api/: expected an https:// URL", DEFAULT_URL },
	{ "router.example", "respan: RESPAN_BASE_URL=router.example: expected an https:// URL",
	  DEFAULT_URL },
	{ "https://", "respan: RESPAN_BASE_URL=https://" URL_FORMAT, DEFAULT_URL },
	{ "https://user:pw@host/", "respan: RESPAN_BASE_URL=https://user:pw@host/" URL_FORMAT,
	  DEFAULT_URL },
	{ "https://host:0/", "respan: RESPAN_BASE_URL=https://host:0/" URL_FORMAT, DEFAULT_URL },
	{ "https://host:65536/", "respan: RESPAN_BASE_URL=https://host:65536/" URL_FORMAT,
	  DEFAULT_URL },
	{ "https://host:/", "respan: RESPAN_BASE_URL=https://host:/" URL_FORMAT, DEFAULT_URL },
	{ "https://host:12a/", "respan: RESPAN_BASE_URL=https://host:12a/" URL_FORMAT, DEFAULT_URL },
	{ "https://[::1/", "respan: RESPAN_BASE_URL=https://[::1/" URL_FORMAT, DEFAULT_URL },
	{ "https://[zz::1]/", "respan: RESPAN_BASE_URL=https://[zz::1]/" URL_FORMAT, DEFAULT_URL },
	{ "https://host/a?b=1", "respan: RESPAN_BASE_URL=https://host/a?b=1" URL_FORMAT,
	  DEFAULT_URL },
	{ "https://host/a#f", "respan: RESPAN_BASE_URL=https://host/a#f" URL_FORMAT, DEFAULT_URL },
	{ "https://host/a b/", "respan: RESPAN_BASE_URL=https://host/a b/" URL_FORMAT, DEFAULT_URL },
	{ "https://host/\xc3\xa9/", "respan: RESPAN_BASE_URL=https://host/\xc3\xa9/" URL_FORMAT,
	  DEFAULT_URL },
	{ "https://host/%41pi/", NULL, "https://host/%41pi/", "host", "443", "/%41pi/", "host" },
	/* empty labels (found by fuzz_route: a router host "." that no name
	 * matches); a trailing dot alone is an absolute name */
	{ "https://./", "respan: RESPAN_BASE_URL=https://./" URL_FORMAT, DEFAULT_URL },
	{ "https://../", "respan: RESPAN_BASE_URL=https://../" URL_FORMAT, DEFAULT_URL },
	{ "https://.host/", "respan: RESPAN_BASE_URL=https://.host/" URL_FORMAT, DEFAULT_URL },
	{ "https://a..b/", "respan: RESPAN_BASE_URL=https://a..b/" URL_FORMAT, DEFAULT_URL },
	{ "https://router.example./", NULL, "https://router.example./", "router.example.", "443",
	  "/", "router.example." },
};

static void test_base_url_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		const struct url_case *c = &url_cases[i];
		char var[256];
		const char *vars[] = { var, NULL };
		const char *want_w[] = { c->warning, NULL };
		struct config cfg;
		snprintf(label, sizeof(label), "url case %zu (%s)", i, c->url);
		snprintf(var, sizeof(var), "RESPAN_BASE_URL=%s", c->url);
		load(&cfg, vars);
		assert_warnings(&cfg, want_w);
		assert_field(&cfg, F_BASE_URL, c->base);
		assert_field(&cfg, F_HOST, c->host);
		assert_field(&cfg, F_PORT, c->port);
		assert_field(&cfg, F_PATH, c->path);
		assert_field(&cfg, F_AUTHORITY, c->authority);
		config_free(&cfg);
	}
}

static const char full_file[] =
	"{\n"
	"  \"api_key\": \"rk-file\",\n"
	"  \"base_url\": \"https://router.corp.example:8443/respan\",\n"
	"  \"mode\": \"capture\",\n"
	"  \"log\": \"/var/tmp/file.jsonl\",\n"
	"  \"log_body_max\": 2048,\n"
	"  \"route_provider\": \"all_p\",\n"
	"  \"route_provider_anthropic\": \"vertex_ai\",\n"
	"  \"params\": {\"customer_identifier\": \"u1\", \"metadata\": {\"team\": \"a\"}},\n"
	"  \"ca_file\": \"@D/ca.pem\",\n"
	"  \"fail\": \"closed\",\n"
	"  \"debug\": true,\n"
	"  \"providers\": {\"LLM.Corp.Example\": \"openai\", \"*.proxy.example\": \"Anthropic\",\n"
	"                \"*-aiplatform.corp.example.\": \"vertexai\"}\n"
	"}\n";

static void test_file_all_keys(void **state)
{
	(void)state;
	char text[2048];
	struct config cfg;
	const char *vars[] = { "RESPAN_CONFIG=@D/full.json", NULL };

	write_file("@D/ca.pem", "x\n");
	expand(text, sizeof(text), full_file);
	write_file("@D/full.json", text);
	load(&cfg, vars);
	assert_warnings(&cfg, NULL);
	assert_field(&cfg, F_FILE, "@D/full.json");
	assert_field(&cfg, F_API_KEY, "rk-file");
	assert_field(&cfg, F_BASE_URL, "https://router.corp.example:8443/respan/");
	assert_field(&cfg, F_AUTHORITY, "router.corp.example:8443");
	assert_field(&cfg, F_MODE, "capture");
	assert_field(&cfg, F_LOG, "/var/tmp/file.jsonl");
	assert_field(&cfg, F_BODY_MAX, "2048");
	assert_field(&cfg, F_RP, "all_p");
	assert_field(&cfg, F_RP_ANTHROPIC, "vertex_ai");
	assert_field(&cfg, F_PARAMS, PARAMS_B64);
	assert_field(&cfg, F_CA, "@D/ca.pem");
	assert_field(&cfg, F_FAIL, "closed");
	assert_field(&cfg, F_DEBUG, "1");
	assert_string_equal(config_route_provider(&cfg, PROVIDER_ANTHROPIC), "vertex_ai");
	assert_string_equal(config_route_provider(&cfg, PROVIDER_OPENAI), "all_p");
	assert_int_equal(cfg.n_extra_hosts, 3);
	assert_string_equal(cfg.extra_hosts[0].pattern, "llm.corp.example");
	assert_int_equal(cfg.extra_hosts[0].provider, PROVIDER_OPENAI);
	assert_string_equal(cfg.extra_hosts[1].pattern, "*.proxy.example");
	assert_int_equal(cfg.extra_hosts[1].provider, PROVIDER_ANTHROPIC);
	assert_string_equal(cfg.extra_hosts[2].pattern, "*-aiplatform.corp.example");
	assert_int_equal(cfg.extra_hosts[2].provider, PROVIDER_VERTEXAI);
	config_free(&cfg);
}

/* Environment wins; a bad environment value leaves the file's value. */
static void test_env_wins(void **state)
{
	(void)state;
	struct config cfg;
	const char *vars[] = {
		"RESPAN_CONFIG=@D/prec.json", "RESPAN_MODE=off", "RESPAN_API_KEY=rk-env",
		"RESPAN_FAIL=bogus", "RESPAN_LOG=off", "RESPAN_BASE_URL=http://x/", NULL,
	};
	const char *want_w[] = {
		"respan: RESPAN_BASE_URL=http://x/: expected an https:// URL",
		"respan: RESPAN_FAIL=bogus: expected open or closed",
		NULL,
	};
	write_file("@D/prec.json", "{\"mode\": \"capture\", \"api_key\": \"rk-file\", "
		   "\"fail\": \"closed\", \"log\": \"/f.jsonl\", "
		   "\"base_url\": \"https://file.example/\", \"debug\": 1}");
	load(&cfg, vars);
	assert_warnings(&cfg, want_w);
	assert_field(&cfg, F_MODE, "off");
	assert_field(&cfg, F_API_KEY, "rk-env");
	assert_field(&cfg, F_FAIL, "closed");
	assert_field(&cfg, F_LOG, NULL);
	assert_field(&cfg, F_BASE_URL, "https://file.example/");
	assert_field(&cfg, F_DEBUG, "1");
	config_free(&cfg);
}

/*
 * config_load records where each value in effect came from, and where a
 * refused one was given: `respan doctor` prints exactly this.
 */
static void test_sources(void **state)
{
	(void)state;
	static const struct {
		enum config_setting s;
		enum config_origin origin, refused;
		bool in_file;
	} want[] = {
		{ CONFIG_MODE, CONFIG_FROM_ENV, CONFIG_FROM_DEFAULT, true },
		{ CONFIG_API_KEY, CONFIG_FROM_ENV, CONFIG_FROM_DEFAULT, true },
		{ CONFIG_FAIL, CONFIG_FROM_FILE, CONFIG_FROM_ENV, true },
		{ CONFIG_LOG, CONFIG_FROM_ENV, CONFIG_FROM_DEFAULT, true },
		{ CONFIG_BASE_URL, CONFIG_FROM_FILE, CONFIG_FROM_ENV, true },
		{ CONFIG_DEBUG, CONFIG_FROM_DEFAULT, CONFIG_FROM_FILE, true },
		{ CONFIG_LOG_BODY_MAX, CONFIG_FROM_ENV, CONFIG_FROM_DEFAULT, false },
		{ CONFIG_CA_FILE, CONFIG_FROM_DEFAULT, CONFIG_FROM_DEFAULT, false },
		{ CONFIG_ROUTE_PROVIDER_ID + PROVIDER_GEMINI, CONFIG_FROM_FILE,
		  CONFIG_FROM_DEFAULT, true },
	};
	struct config cfg;
	const char *vars[] = {
		"RESPAN_CONFIG=@D/src.json", "RESPAN_MODE=off", "RESPAN_API_KEY=rk-env",
		"RESPAN_FAIL=bogus", "RESPAN_LOG=off", "RESPAN_BASE_URL=http://x/",
		/* capped, and used: not refused */
		"RESPAN_LOG_BODY_MAX=99999999999", NULL,
	};
	write_file("@D/src.json", "{\"mode\": \"capture\", \"api_key\": \"rk-file\", "
		   "\"fail\": \"closed\", \"log\": \"/f.jsonl\", "
		   "\"base_url\": \"https://file.example/\", \"debug\": \"maybe\", "
		   "\"route_provider_gemini\": \"vertex_ai\"}");
	load(&cfg, vars);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct config_source *src = &cfg.source[want[i].s];
		snprintf(label, sizeof(label), "source of %s", config_setting_env(want[i].s));
		if (src->origin != want[i].origin || src->refused != want[i].refused ||
		    src->in_file != want[i].in_file)
			fail_msg("%s: origin %d refused %d in_file %d", label, src->origin,
				 src->refused, src->in_file);
	}
	assert_int_equal(cfg.config_file_how, CONFIG_FILE_NAMED);
	assert_null(cfg.config_user_file);
	config_free(&cfg);

	/* The names come from the one table. */
	assert_string_equal(config_setting_env(CONFIG_ROUTE_PROVIDER_ID + PROVIDER_VERTEXAI),
			    "RESPAN_ROUTE_PROVIDER_VERTEXAI");
	assert_string_equal(config_setting_key(CONFIG_LOG_BODY_MAX), "log_body_max");
	assert_null(config_setting_env(CONFIG_SETTING_COUNT));

	const char *off[] = { "RESPAN_CONFIG=off", "HOME=/home/u", NULL };
	load(&cfg, off);
	assert_int_equal(cfg.config_file_how, CONFIG_FILE_OFF);
	config_free(&cfg);
}

struct file_case {
	const char *json;
	enum field f;
	const char *want;
	const char *warning;
};

#define F "respan: @D/case.json: "
#define F_MANY "respan: @D/many.json: "

static const struct file_case file_cases[] = {
	{ "{\"mode\": \"foo\"}", F_MODE, "route", F "mode=\"foo\": expected route, capture or off" },
	{ "{\"mode\": 3}", F_MODE, "route", F "mode=3: expected route, capture or off" },
	{ "{\"mode\": \"\"}", F_MODE, "route", NULL },
	{ "{\"log_body_max\": \"4096\"}", F_BODY_MAX, "4096", NULL },
	{ "{\"log_body_max\": 0}", F_BODY_MAX, "0", NULL },
	{ "{\"log_body_max\": -1}", F_BODY_MAX, "1048576", F "log_body_max=-1: expected a number of bytes" },
	{ "{\"log_body_max\": 1.5}", F_BODY_MAX, "1048576", F "log_body_max=1.5: expected a number of bytes" },
	{ "{\"log_body_max\": 1e30}", F_BODY_MAX, "1073741824",
	  F "log_body_max=1e+30: more than 1073741824: 1073741824 used" },
	{ "{\"log_body_max\": true}", F_BODY_MAX, "1048576", F "log_body_max=true: expected a number of bytes" },
	{ "{\"debug\": 1}", F_DEBUG, "1", NULL },
	{ "{\"debug\": \"yes\"}", F_DEBUG, "1", NULL },
	{ "{\"debug\": false}", F_DEBUG, "0", NULL },
	{ "{\"debug\": 7}", F_DEBUG, "0", F "debug=7: expected 0 or 1" },
	{ "{\"api_key\": 12345}", F_API_KEY, NULL, F "api_key: expected a string" },
	{ "{\"api_key\": \"rk file\"}", F_API_KEY, NULL,
	  F "api_key: expected printable ASCII without spaces: ignored" },
	{ "{\"base_url\": \"http://h/\"}", F_BASE_URL, "https://api.respan.ai/api/",
	  F "base_url=\"http://h/\": expected an https:// URL" },
	{ "{\"log\": \"off\"}", F_LOG, NULL, NULL },
	{ "{\"log\": null}", F_LOG, "/tmp/respan-@U/traffic.jsonl", F "log=null: expected a file name or off" },
	{ "{\"params\": \"{\\\"customer_identifier\\\":\\\"u1\\\",\\\"metadata\\\":{\\\"team\\\":\\\"a\\\"}}\"}",
	  F_PARAMS, PARAMS_B64, NULL },
	{ "{\"params\": [1]}", F_PARAMS, NULL, F "params=[1]: expected a JSON object" },
	{ "{\"route_provider_gemini\": \"no way\"}", F_RP_GEMINI, NULL,
	  F "route_provider_gemini=\"no way\": expected a name of letters, digits, '_', '.' or '-'" },
	{ "{\"ca_file\": \"/nonexistent\"}", F_CA, NULL, F "ca_file=\"/nonexistent\": No such file or directory" },
	{ "{\"colour\": \"blue\"}", F_MODE, "route", F "unknown key \"colour\": ignored" },
	{ "{\"MODE\": \"off\"}", F_MODE, "route", F "unknown key \"MODE\": ignored" },
	{ "{\"providers\": [\"x\"]}", F_MODE, "route",
	  F "providers=[\"x\"]: expected an object of \"host\": \"provider\"" },
	{ "{\"providers\": {\"a.example\": \"mistral\"}}", F_MODE, "route",
	  F "providers.\"a.example\"=\"mistral\": expected openai, anthropic, gemini or vertexai" },
	{ "{\"providers\": {\"bad host\": \"openai\"}}", F_MODE, "route",
	  F "providers.\"bad host\"=\"openai\": expected a host name, optionally starting with \"*.\" or \"*-\"" },
	{ "{\"providers\": {\"*\": \"openai\"}}", F_MODE, "route",
	  F "providers.\"*\"=\"openai\": expected a host name, optionally starting with \"*.\" or \"*-\"" },
	{ "{\n  \"mode\": \"off\",\n  \"log\": }\n", F_MODE, "route", F "invalid JSON at line 3: ignored" },
	{ "", F_MODE, "route", F "invalid JSON at line 1: ignored" },
	{ "{\"mode\": \"off\"}\n\nx", F_MODE, "route", F "invalid JSON at line 3: ignored" },
	{ "\n {\"mode\": \"off\"} \n\n", F_MODE, "off", NULL },
	{ "[1, 2]", F_MODE, "route", F "expected a JSON object: ignored" },
	/* Later duplicates win, as JSON readers usually do. */
	{ "{\"mode\": \"off\", \"mode\": \"capture\"}", F_MODE, "capture", NULL },
};

static void test_file_table(void **state)
{
	(void)state;
	char uid[32];
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct file_case *c = &file_cases[i];
		const char *vars[] = { "RESPAN_CONFIG=@D/case.json", NULL };
		const char *want_w[] = { c->warning, NULL };
		char want[256] = "";
		struct config cfg;
		snprintf(label, sizeof(label), "file case %zu", i);
		write_file("@D/case.json", c->json);
		load(&cfg, vars);
		assert_warnings(&cfg, want_w);
		if (c->want && strstr(c->want, "@U")) {
			/* The no-HOME default log path carries the uid. */
			snprintf(want, sizeof(want), "/tmp/respan-%s/traffic.jsonl", uid);
			assert_field(&cfg, c->f, want);
		} else {
			assert_field(&cfg, c->f, c->want);
		}
		config_free(&cfg);
	}
}

static void test_providers_dedup_and_cap(void **state)
{
	(void)state;
	char text[8192];
	size_t o = 0;
	struct config cfg;
	const char *vars[] = { "RESPAN_CONFIG=@D/many.json", NULL };

	o += (size_t)snprintf(text + o, sizeof(text) - o,
			      "{\"providers\": {\"dup.example\": \"openai\", "
			      "\"DUP.example\": \"gemini\"");
	for (int i = 0; i < CONFIG_MAX_EXTRA_HOSTS + 2; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      ", \"h%d.example\": \"openai\"", i);
	snprintf(text + o, sizeof(text) - o, "}}");
	write_file("@D/many.json", text);
	load(&cfg, vars);
	assert_int_equal(cfg.n_extra_hosts, CONFIG_MAX_EXTRA_HOSTS);
	assert_string_equal(cfg.extra_hosts[0].pattern, "dup.example");
	assert_int_equal(cfg.extra_hosts[0].provider, PROVIDER_GEMINI);
	const char *want_w[] = {
		F_MANY "providers.\"h63.example\"=\"openai\": more than 64 hosts: ignored",
		F_MANY "providers.\"h64.example\"=\"openai\": more than 64 hosts: ignored",
		F_MANY "providers.\"h65.example\"=\"openai\": more than 64 hosts: ignored",
		NULL,
	};
	assert_warnings(&cfg, want_w);
	config_free(&cfg);
}

/* The default file locations: XDG_CONFIG_HOME, then HOME/.config. */
static void test_default_file(void **state)
{
	(void)state;
	char path[256];
	struct config cfg;
	char *env[4];
	char e0[256], e1[256];

	static const char *const dirs[] = {
		"@D/xdg", "@D/xdg/respan", "@D/home", "@D/home/.config",
		"@D/home/.config/respan",
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		expand(path, sizeof(path), dirs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	write_file("@D/xdg/respan/config.json", "{\"mode\": \"capture\"}");
	write_file("@D/home/.config/respan/config.json", "{\"mode\": \"off\"}");

	expand(e0, sizeof(e0), "XDG_CONFIG_HOME=@D/xdg");
	expand(e1, sizeof(e1), "HOME=@D/home");
	env[0] = e0, env[1] = e1, env[2] = NULL;
	assert_int_equal(config_load(&cfg, env), 0);
	assert_field(&cfg, F_MODE, "capture");
	assert_field(&cfg, F_FILE, "@D/xdg/respan/config.json");
	assert_int_equal(cfg.n_warnings, 0);
	config_free(&cfg);

	env[0] = e1, env[1] = NULL;
	assert_int_equal(config_load(&cfg, env), 0);
	assert_field(&cfg, F_MODE, "off");
	assert_field(&cfg, F_FILE, "@D/home/.config/respan/config.json");
	config_free(&cfg);

	/* No user file: silent (unless this machine has /etc/respan). */
	expand(e0, sizeof(e0), "XDG_CONFIG_HOME=@D/nothing");
	env[0] = e0, env[1] = NULL;
	assert_int_equal(config_load(&cfg, env), 0);
	if (access("/etc/respan/config.json", F_OK) != 0) {
		assert_field(&cfg, F_FILE, NULL);
		assert_int_equal(cfg.n_warnings, 0);
	}
	config_free(&cfg);
}

static void test_warning_cap_and_secrets(void **state)
{
	(void)state;
	char text[4096];
	size_t o = 0;
	struct config cfg;
	const char *vars[] = {
		"RESPAN_CONFIG=@D/noisy.json", "RESPAN_API_KEY=rk-very secret-key", NULL,
	};

	o += (size_t)snprintf(text + o, sizeof(text) - o,
			      "{\"api_key\": \"rk-file secret\"");
	for (int i = 0; i < CONFIG_MAX_WARNINGS + 4; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, ", \"k%d\": 1", i);
	snprintf(text + o, sizeof(text) - o, "}");
	write_file("@D/noisy.json", text);
	load(&cfg, vars);
	assert_int_equal(cfg.n_warnings, CONFIG_MAX_WARNINGS);
	assert_null(cfg.api_key);
	for (size_t i = 0; i < cfg.n_warnings; i++) {
		assert_null(strstr(cfg.warnings[i], "secret"));
		assert_null(strchr(cfg.warnings[i], '\n'));
	}
	config_free(&cfg);
	/* config_free leaves an empty struct: freeing again is harmless. */
	config_free(&cfg);
}

/* A key pasted into another variable is cut out of the warning. */
static void test_key_scrubbed(void **state)
{
	(void)state;
	struct config cfg;
	const char *vars[] = {
		"RESPAN_CONFIG=@D/keyfile.json",
		"RESPAN_API_KEY=rk-0123456789abcdefXYZ",
		"RESPAN_MODE=rk-0123456789abcdefXYZ",
		"RESPAN_FAIL=a rk-0123456789abcdefXYZ b rk-0123456789abcdefXYZ",
		"RESPAN_LOG_BODY_MAX=rk-0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0123456789abcdef",
		NULL,
	};
	const char *want_w[] = {
		"respan: @D/keyfile.json: base_url=\"https://[REDACTED]@h/\": "
		"expected https://HOST[:PORT][/PATH]",
		"respan: RESPAN_MODE=[REDACTED]: expected route, capture or off",
		"respan: RESPAN_LOG_BODY_MAX=[REDACTED]...: expected a number of bytes",
		"respan: RESPAN_FAIL=a [REDACTED] b [REDACTED]: expected open or closed",
		NULL,
	};
	write_file("@D/keyfile.json", "{\"api_key\": \"rk-0123456789abcdef0123456789abcdef"
		   "0123456789abcdef0123456789abcdef0123456789abcdef\", "
		   "\"base_url\": \"https://rk-0123456789abcdefXYZ@h/\"}");
	load(&cfg, vars);
	assert_warnings(&cfg, want_w);
	assert_string_equal(cfg.api_key, "rk-0123456789abcdefXYZ");
	config_free(&cfg);
}

static void test_names(void **state)
{
	(void)state;
	struct config cfg;
	const char *vars[] = { "RESPAN_ROUTE_PROVIDER_GEMINI=g", NULL };
	assert_string_equal(config_mode_name(RESPAN_MODE_ROUTE), "route");
	assert_string_equal(config_mode_name(RESPAN_MODE_CAPTURE), "capture");
	assert_string_equal(config_mode_name(RESPAN_MODE_OFF), "off");
	load(&cfg, vars);
	assert_string_equal(config_route_provider(&cfg, PROVIDER_GEMINI), "g");
	assert_null(config_route_provider(&cfg, PROVIDER_OPENAI));
	assert_null(config_route_provider(&cfg, PROVIDER_NONE));
	config_free(&cfg);
	assert_int_equal(config_load(&cfg, NULL), 0);	/* no environment at all */
	assert_field(&cfg, F_BASE_URL, CONFIG_DEFAULT_BASE_URL);
	config_free(&cfg);
}

static int reset_label(void **state)
{
	(void)state;
	snprintf(label, sizeof(label), "single test");
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	char fifo[96];
	snprintf(dir, sizeof(dir), "/tmp/respan-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	alarm(60);	/* an open() that waits on the FIFO fails the run, not hangs it */
	return mkfifo(fifo, 0600);
}

static int group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_env_table, reset_label),
		cmocka_unit_test_setup(test_base_url_table, reset_label),
		cmocka_unit_test_setup(test_file_all_keys, reset_label),
		cmocka_unit_test_setup(test_env_wins, reset_label),
		cmocka_unit_test_setup(test_sources, reset_label),
		cmocka_unit_test_setup(test_file_table, reset_label),
		cmocka_unit_test_setup(test_providers_dedup_and_cap, reset_label),
		cmocka_unit_test_setup(test_default_file, reset_label),
		cmocka_unit_test_setup(test_warning_cap_and_secrets, reset_label),
		cmocka_unit_test_setup(test_key_scrubbed, reset_label),
		cmocka_unit_test_setup(test_names, reset_label),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
