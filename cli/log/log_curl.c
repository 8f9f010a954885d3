/*
 * respan log curl ID: the request of one exchange as a curl command line
 * that sends it to the router again (docs/respan-log.md#curl).
 *
 * The command is checked whole before a byte of it is printed: a request
 * that cannot be reproduced (its body cut in the log, a header or url no
 * command line can carry) gives status 1 and nothing on stdout. The log is
 * input, so nothing in it may change the command's shape: every value is
 * one single-quoted word (quote_sh), header names and the method must be
 * HTTP tokens, and what curl would read as a file name (a body starting
 * with @) or as a URL pattern ([ ] { }) is kept from it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "log.h"
#include "quote.h"

/* The largest body written as an argument: one argument of a program is
 * limited to 128 KiB on Linux (MAX_ARG_STRLEN); a larger body goes to
 * curl's standard input from printf, a shell builtin, which has no limit. */
#define ARG_BODY_MAX 65536

#define KEY_REF "$RESPAN_API_KEY"

/* Headers curl writes itself, or that belong to one connection. */
static const char *const hop_by_hop[] = {
	"host", "content-length", "connection", "keep-alive", "proxy-connection",
	"transfer-encoding", "te", "trailer", "upgrade",
	/* the log keeps the response decoded; the answer comes uncompressed */
	"accept-encoding",
};

/* Redacted in the log and not a credential the router takes: left out. */
static const char *const unknown_value[] = { "cookie", "proxy-authorization" };

/* Curl sends these unless told not to: -H 'Name:' when the request had none. */
static const char *const curl_defaults[] = { "User-Agent", "Accept" };

static bool in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}
#define IN(name, list) in((name), (list), sizeof(list) / sizeof((list)[0]))

/* A credential header: how the router takes the Respan key there, or NULL. */
static const char *credential(const char *name)
{
	if (strcasecmp(name, "authorization") == 0)
		return "Bearer " KEY_REF;
	if (strcasecmp(name, "x-api-key") == 0 || strcasecmp(name, "x-goog-api-key") == 0 ||
	    strcasecmp(name, "api-key") == 0)
		return KEY_REF;
	return NULL;
}

/* An HTTP token (RFC 9110 section 5.6.2): a method or a header name. */
static bool is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

/* No control character but tab (and, with newline_ok, newline); no C1 control. */
static bool printable(const char *s, bool newline_ok)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\t' && !(newline_ok && *p == '\n')) || *p == 0x7f)
			return false;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return false;
	}
	return true;
}

static bool is_base64(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
	       strlen(s);
}

struct curl {
	const char *id, *name;	/* the log's name, for messages */
	cJSON *req;		/* the first request record with the id */
	unsigned long n_req;	/* request records with the id */
	bool resp_only;		/* a response with the id, and no request */
};

static int say(const struct curl *c, const char *why)
{
	fputs("respan: ", stderr);
	log_put_text(stderr, c->id, NULL);
	fprintf(stderr, ": %s\n", why);
	return 1;
}

/*
 * The url, with every key= query parameter's value as the Respan key (to
 * out; NULL: nothing written). Returns whether what is left of the url has
 * a character curl would take for a pattern ([ ] { }: it needs --globoff).
 */
static bool put_url(FILE *out, const char *url)
{
	const char *q = strchr(url, '?'), *p = url;
	bool pattern = false;
	while (q) {
		const char *param = q + 1;
		size_t n = strcspn(param, "&#");
		if (n >= 4 && strncmp(param, "key=", 4) == 0) {
			size_t len = (size_t)(param + 4 - p);
			pattern = pattern || strcspn(p, "[]{}") < len;
			if (out) {
				quote_sh(out, p, len);
				fputs("\"" KEY_REF "\"", out);
			}
			p = param + n;
		}
		q = param[n] == '&' ? param + n : NULL;
	}
	pattern = pattern || strpbrk(p, "[]{}");
	if (out && (*p || p == url))
		quote_sh(out, p, strlen(p));
	return pattern;
}

/* Check the request can be written; 0, or 1 after saying why. */
static int check(const struct curl *c, const char *url, const cJSON *hs)
{
	const cJSON *req = c->req, *h;
	const char *body = logread_str(req, "body"), *b64 = logread_str(req, "body_base64");
	double bytes = 0;

	if (!is_token(logread_str(req, "method")))
		return say(c, "the request has no method a command line can carry");
	if (url == NULL || (strncasecmp(url, "https://", 8) != 0 &&
			    strncasecmp(url, "http://", 7) != 0) ||
	    strpbrk(url, " ") || !printable(url, false))
		return say(c, "the request has no http(s) url a command line can carry");
	cJSON_ArrayForEach(h, hs) {
		const cJSON *n = cJSON_GetArrayItem(h, 0), *v = cJSON_GetArrayItem(h, 1);
		if (!cJSON_IsString(n) || !cJSON_IsString(v) || !is_token(n->valuestring) ||
		    !printable(v->valuestring, false))
			return say(c, "a request header is not one a command line can carry");
	}
	logread_num(req, "body_bytes", &bytes);
	if (logread_true(req, "body_truncated") || (bytes > 0 && !body && !b64)) {
		fputs("respan: ", stderr);
		log_put_text(stderr, c->id, NULL);
		fprintf(stderr, ": the request body was cut in the log (%s bytes sent, %zu kept): "
			"the command would not send the same request (respan run --record keeps "
			"whole bodies)\n", LOG_NUM(bytes),
			body ? strlen(body) : b64 ? strlen(b64) / 4 * 3 : 0);
		return 1;
	}
	if (b64 && !is_base64(b64))
		return say(c, "the request body is not valid base64 in the log");
	return 0;
}

/* Whether the request had a header of that name. */
static bool has_header(const cJSON *hs, const char *name)
{
	const cJSON *h;
	cJSON_ArrayForEach(h, hs)
		if (strcasecmp(cJSON_GetArrayItem(h, 0)->valuestring, name) == 0)
			return true;
	return false;
}

static void put_header(FILE *out, const char *name, const char *value)
{
	const char *key = credential(name);
	fputs(" \\\n  -H ", out);
	if (key) {
		/* the name is one of four known ones: nothing the shell expands */
		fprintf(out, "\"%s: %s\"", name, key);
		return;
	}
	fputc('\'', out);
	quote_sh_inner(out, name, strlen(name));
	if (value[0] == '\0')
		fputc(';', out);	/* curl's way to send an empty header ("Name:" removes it) */
	else
		fputs(": ", out);
	quote_sh_inner(out, value, strlen(value));
	fputc('\'', out);
}

/* Write the command; 0, or 1 when out of memory (nothing written then). */
static int put_command(const struct curl *c, const char *url, const cJSON *hs, FILE *out)
{
	const cJSON *req = c->req, *h;
	const char *method = logread_str(req, "method");
	const char *body = logread_str(req, "body"), *b64 = logread_str(req, "body_base64");
	double bytes = 0;
	bool data, piped = false;
	struct buf encoded;

	logread_num(req, "body_bytes", &bytes);
	/* the log has "body": "" for none: a body is one that was announced */
	data = bytes > 0 || has_header(hs, "content-length") ||
	       has_header(hs, "transfer-encoding");
	if (!data) {
		/* nothing to send */
	} else if (body && !printable(body, true)) {
		/* Control characters would reach the terminal that shows the
		 * command: the body goes as base64 instead. */
		buf_init(&encoded, SIZE_MAX);
		if (b64_encode(body, strlen(body), &encoded) < 0) {
			buf_free(&encoded);
			fputs("respan: out of memory\n", stderr);
			return 1;
		}
		fputs("printf '%s' ", out);
		quote_sh(out, encoded.data, encoded.len);
		fputs(" | base64 -d | ", out);
		buf_free(&encoded);
		piped = true;
	} else if (b64) {
		fputs("printf '%s' ", out);
		quote_sh(out, b64, strlen(b64));
		fputs(" | base64 -d | ", out);
		piped = true;
	} else if (body && (strlen(body) > ARG_BODY_MAX || body[0] == '@')) {
		/* a body starting with @ would be a file name to --data-binary */
		fputs("printf '%s' ", out);
		quote_sh(out, body, strlen(body));
		fputs(" | ", out);
		piped = true;
	}
	fputs("curl --http1.1", out);
	if (put_url(NULL, url))
		fputs(" --globoff", out);
	if (strcmp(method, "HEAD") == 0 && !data) {
		fputs(" --head", out);
	} else if (strcmp(method, data ? "POST" : "GET") != 0) {
		fputs(" -X ", out);
		quote_sh(out, method, strlen(method));
	}
	fputc(' ', out);
	put_url(out, url);
	cJSON_ArrayForEach(h, hs) {
		const char *n = cJSON_GetArrayItem(h, 0)->valuestring;
		if (!IN(n, hop_by_hop) && !IN(n, unknown_value))
			put_header(out, n, cJSON_GetArrayItem(h, 1)->valuestring);
	}
	for (size_t i = 0; i < sizeof(curl_defaults) / sizeof(curl_defaults[0]); i++)
		if (!has_header(hs, curl_defaults[i]))
			fprintf(out, " \\\n  -H '%s:'", curl_defaults[i]);
	if (data) {
		/* curl would add a form type, and Expect: 100-continue for a large body */
		if (!has_header(hs, "content-type"))
			fputs(" \\\n  -H 'Content-Type:'", out);
		if (!has_header(hs, "expect"))
			fputs(" \\\n  -H 'Expect:'", out);
		fputs(" \\\n  --data-binary ", out);
		if (piped)
			fputs("@-", out);
		else
			quote_sh(out, body ? body : "", body ? strlen(body) : 0);
	}
	fputc('\n', out);
	return 0;
}

/* What is worth a word on stderr about the command. */
static void notes(const struct curl *c, const cJSON *hs)
{
	const cJSON *h;
	if (c->n_req > 1) {
		fputs("respan: ", stderr);
		log_put_text(stderr, c->id, NULL);
		fprintf(stderr, ": %lu requests have this id (a process id was used again): "
			"the first is shown\n", c->n_req);
	}
	if (!logread_true(c->req, "routed"))
		say(c, "note: this request was not routed: the command sends it to its own "
		     "url, with $RESPAN_API_KEY as its credential");
	cJSON_ArrayForEach(h, hs) {
		const char *n = cJSON_GetArrayItem(h, 0)->valuestring;
		if (IN(n, unknown_value)) {
			fputs("respan: ", stderr);
			log_put_text(stderr, c->id, NULL);
			fputs(": note: its ", stderr);
			log_put_text(stderr, n, NULL);
			fputs(" header is left out: the log keeps no value for it\n", stderr);
		}
	}
}

static void look_at(struct curl *c, cJSON *rec)
{
	const char *type = logread_str(rec, "type"), *id = logread_str(rec, "id");
	if (type == NULL || id == NULL || strcmp(id, c->id) != 0) {
		cJSON_Delete(rec);
		return;
	}
	if (strcmp(type, "request") == 0) {
		if (c->n_req++ == 0) {
			c->req = rec;
			return;
		}
	} else if (strcmp(type, "response") == 0) {
		c->resp_only = true;
	}
	cJSON_Delete(rec);
}

int log_curl(struct logread *r, const char *id)
{
	struct curl c = { id, strcmp(r->name, "-") == 0 ? "<stdin>" : r->name, NULL, 0, false };
	const cJSON *hs;
	const char *url;
	cJSON *rec, *none = cJSON_CreateArray();
	int rc, status;

	while ((rc = logread_next(r, &rec)) > 0)
		look_at(&c, rec);
	if (rc < 0) {
		status = log_read_error(r, rc);
	} else if (c.req == NULL) {
		fputs("respan: ", stderr);
		log_put_text(stderr, id, NULL);
		fputs(c.resp_only ? ": its request is not in " : ": no exchange with this id in ",
		      stderr);
		log_put_text(stderr, c.name, NULL);
		fputc('\n', stderr);
		status = 1;
	} else {
		hs = cJSON_GetObjectItemCaseSensitive(c.req, "headers");
		if (!cJSON_IsArray(hs))
			hs = none;
		url = logread_str(c.req, "routed_url");
		if (url == NULL)
			url = logread_str(c.req, "url");
		status = check(&c, url, hs);
		if (status == 0) {
			notes(&c, hs);
			status = put_command(&c, url, hs, stdout);
		}
	}
	cJSON_Delete(c.req);
	cJSON_Delete(none);
	return status;
}
