/*
 * http: small pieces shared by the request rewriter, the response parser and
 * the log writer.  Views point into a caller's buffer; nothing here owns
 * memory.
 */
#ifndef RESPAN_HTTP_H
#define RESPAN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* One header field as a view into someone else's bytes (not NUL-terminated). */
struct http_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* tchar (RFC 9110 5.6.2): ALPHA, DIGIT and !#$%&'*+-.^_`|~, as a bitmap. */
static inline bool http_is_tchar(unsigned char c)
{
	static const unsigned long long tchar[4] = {
		0x3ff6cfa00000000ull, 0x57ffffffc7fffffeull, 0x0ull, 0x0ull,
	};
	return (tchar[c >> 6] >> (c & 63)) & 1;
}

/* Case-insensitive comparison of a (p, n) token with a NUL-terminated name. */
bool http_token_is(const char *p, size_t n, const char *name);

/*
 * True when a header of this name carries a credential whose value must
 * never be logged: Authorization, Proxy-Authorization, x-api-key,
 * x-goog-api-key, api-key, Cookie, Set-Cookie.
 */
bool http_header_is_secret(const char *name, size_t name_len);

/*
 * Parse a decimal Content-Length value (optional surrounding blanks).
 * Returns 0 and stores the value, or -1 for anything else (including
 * overflow and a comma-separated list).
 */
int http_parse_content_length(const char *v, size_t n, unsigned long long *out);

/*
 * True when a Transfer-Encoding value's last coding is "chunked"
 * (RFC 9112 6.1: chunked must be the final coding).
 */
bool http_te_is_chunked(const char *v, size_t n);

/*
 * Find the value of the query parameter `name` in a request-target's query
 * string. Returns true and a view (value may be empty) or false.
 */
bool http_query_find(const char *target, size_t len, const char *name,
		     const char **value, size_t *value_len);

#endif
