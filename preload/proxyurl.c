/* proxyurl: the relay as a program's HTTPS_PROXY; see proxyurl.h. */
#include "proxyurl.h"

#include <stdio.h>
#include <string.h>

#include "envget.h"

/* Past "scheme://": the authority, its end, and the user part (or len 0). */
static const char *split(const char *url, const char **end, const char **user,
			 size_t *userlen)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	*end = p + strcspn(p, "/?#");
	const char *at = memchr(p, '@', (size_t)(*end - p));
	*user = p;
	*userlen = 0;
	if (at) {
		/* The last '@': a password may hold one, unescaped. */
		const char *more;
		while ((more = memchr(at + 1, '@', (size_t)(*end - at - 1))) != NULL)
			at = more;
		*userlen = (size_t)(at - p);
		p = at + 1;
	}
	return p;
}

const char *proxyurl_own(char *const *env)
{
	const char *had = envget_set(env, "HTTPS_PROXY");
	return had ? had : envget_set(env, "https_proxy");
}

bool proxyurl_authority(const char *url, char *out, size_t size)
{
	if (url == NULL)
		return false;
	const char *end, *user;
	size_t userlen;
	const char *p = split(url, &end, &user, &userlen);
	size_t n = (size_t)(end - p);
	/* The port's colon: after the host, not in a bracketed IPv6 address. */
	const char *close = n ? memrchr(p, ']', n) : NULL, *from = close ? close : p;
	const char *colon = memchr(from, ':', (size_t)(end - from));
	if (n == 0 || p[0] == ':')
		return false;
	int w = colon && colon + 1 < end ?
			snprintf(out, size, "%.*s", (int)n, p) :
			snprintf(out, size, "%.*s:80", (int)((colon ? colon : end) - p), p);
	return w > 0 && (size_t)w < size;
}

bool proxyurl_relay(const char *had, unsigned port, char *out, size_t size)
{
	const char *end, *user = "";
	size_t userlen = 0;
	if (had && had[0])
		split(had, &end, &user, &userlen);
	int w = snprintf(out, size, "http://%.*s%s127.0.0.1:%u", (int)userlen, user,
			 userlen ? "@" : "", port);
	return w > 0 && (size_t)w < size;
}
