#include "http.h"

#include <string.h>
#include <strings.h>

bool http_token_is(const char *p, size_t n, const char *name)
{
	/* n == 0 may come with p == NULL: never hand that to strncasecmp. */
	return strlen(name) == n && (n == 0 || strncasecmp(p, name, n) == 0);
}

bool http_header_is_secret(const char *name, size_t name_len)
{
	static const char *const secret[] = {
		"authorization", "proxy-authorization", "x-api-key",
		"x-goog-api-key", "api-key", "cookie", "set-cookie",
	};
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (http_token_is(name, name_len, secret[i]))
			return true;
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int http_parse_content_length(const char *v, size_t n, unsigned long long *out)
{
	size_t i = 0;
	unsigned long long x = 0;
	bool any = false;

	while (i < n && is_blank(v[i]))
		i++;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		unsigned d = (unsigned)(v[i] - '0');
		if (x > (~0ULL - d) / 10)
			return -1;
		x = x * 10 + d;
		any = true;
	}
	while (i < n && is_blank(v[i]))
		i++;
	if (!any || i != n)
		return -1;
	*out = x;
	return 0;
}

bool http_te_is_chunked(const char *v, size_t n)
{
	if (n == 0)
		return false;
	/* Find the last coding, drop its parameters and blanks, compare. */
	size_t start = n;
	while (start > 0 && v[start - 1] != ',')
		start--;
	const char *semi = memchr(v + start, ';', n - start);
	size_t end = semi ? (size_t)(semi - v) : n;
	while (end > start && is_blank(v[end - 1]))
		end--;
	while (start < end && is_blank(v[start]))
		start++;
	return http_token_is(v + start, end - start, "chunked");
}

bool http_query_find(const char *target, size_t len, const char *name,
		     const char **value, size_t *value_len)
{
	const char *q = len ? memchr(target, '?', len) : NULL;
	if (q == NULL)
		return false;
	size_t nlen = strlen(name);
	const char *end = target + len;
	const char *p = q + 1;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
			*value = eq ? eq + 1 : stop;
			*value_len = (size_t)(stop - *value);
			return true;
		}
		if (amp == NULL)
			break;	/* stop + 1 would point past the end */
		p = amp + 1;
	}
	return false;
}
