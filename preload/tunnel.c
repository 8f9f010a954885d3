#include "tunnel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "reqhead.h"

#define TUNNEL_HEAD_MAX 8192	/* a CONNECT head is a few hundred bytes */

/* host:port or [v6]:port, from the request line's target (t, n). */
static int parse_authority(const char *t, size_t n, struct tunnel_target *out)
{
	const char *colon = NULL;
	size_t hlen;
	const char *host = t;

	if (n > 0 && t[0] == '[') {
		const char *close = memchr(t, ']', n);
		if (close == NULL || close + 1 >= t + n || close[1] != ':')
			return -1;
		host = t + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = memrchr(t, ':', n);
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - t);
	}
	size_t plen = (size_t)(t + n - colon - 1);
	if (hlen == 0 || hlen >= sizeof(out->host) || plen == 0 || plen > 5)
		return -1;
	unsigned long port = 0;
	for (size_t i = 0; i < plen; i++) {
		char c = colon[1 + i];
		if (c < '0' || c > '9')
			return -1;
		port = port * 10 + (unsigned long)(c - '0');
	}
	if (port == 0 || port > 65535)
		return -1;
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c <= ' ' || c >= 0x7f || c == '/' || c == '@')
			return -1;
		/* Host names compare in lower case (route_lookup_host does too). */
		out->host[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out->host[hlen] = '\0';
	out->port = (unsigned short)port;
	return 0;
}

enum tunnel_result tunnel_parse(const char *p, size_t n, struct tunnel_target *t)
{
	static const char verb[] = "CONNECT ";
	const size_t vlen = sizeof(verb) - 1;

	if (n < vlen || memcmp(p, verb, vlen) != 0)
		return TUNNEL_NOT;
	const char *target = p + vlen;
	const char *end = memchr(target, ' ', n - vlen);
	if (end == NULL)
		return TUNNEL_NOT;	/* the target is cut: see tunnel.h */
	memset(t, 0, sizeof(*t));
	if (parse_authority(target, (size_t)(end - target), t) < 0)
		return TUNNEL_NOT;

	struct reqhead_scan scan;
	const char *why;
	reqhead_scan_reset(&scan);
	for (size_t i = 0; i < n && i < TUNNEL_HEAD_MAX; i++) {
		int r = reqhead_scan_byte(&scan, (unsigned char)p[i], &why);
		if (r < 0)
			return TUNNEL_NOT;
		if (r == 1) {
			struct reqhead *h = malloc(sizeof(*h));
			int ok = h && reqhead_parse(p, i + 1, h, REQHEAD_MAX_FIELDS, &why) == 0;
			free(h);
			if (!ok)
				return TUNNEL_NOT;
			t->head_len = i + 1;
			return TUNNEL_CONNECT;
		}
	}
	return TUNNEL_PARTIAL;
}

int tunnel_retarget(const char *p, size_t head_len, const char *authority,
		    struct buf *out)
{
	struct reqhead *h = malloc(sizeof(*h));
	const char *why;
	int rc = -EINVAL;

	if (h == NULL)
		return -ENOMEM;
	if (reqhead_parse(p, head_len, h, REQHEAD_MAX_FIELDS, &why) < 0)
		goto out;
	rc = buf_printf(out, "CONNECT %s HTTP/1.%d\r\n", authority, h->minor);
	for (size_t i = 0; rc == 0 && i < h->n; i++) {
		if ((int)i == h->host)
			rc = buf_printf(out, "Host: %s\r\n", authority);
		else if ((rc = buf_append(out, h->h[i].name, h->line_len[i])) == 0)
			rc = buf_append(out, "\r\n", 2);
	}
	if (rc == 0)
		rc = buf_append(out, "\r\n", 2);
out:
	free(h);
	return rc;
}
