/* relayname: the stand-in address of the library's relay; see relayname.h. */
#include "relayname.h"

#include <stdio.h>
#include <string.h>

bool relayname_new(uint64_t random, const char *path, struct relayname *out, char *url,
		   size_t size)
{
	size_t len = path ? strlen(path) : 0;
	if (len == 0 || path[0] != '/' || path[len - 1] != '/')
		return false;
	out->addr[0] = 127;
	out->addr[1] = (unsigned char)(128 | (random & 0x7f));
	out->addr[2] = (unsigned char)(random >> 8);
	out->addr[3] = (unsigned char)(random >> 16);
	out->port = (uint16_t)(1024 + (random >> 24) % (65536 - 1024));
	char host[32];
	relayname_host(out, host, sizeof(host));
	int n = snprintf(url, size, "http://%s%s", host, path);
	return n > 0 && (size_t)n < size;
}

/* A decimal number of at most digits digits and at most max; advances *p. */
static bool number(const char **p, size_t digits, unsigned long max, unsigned long *v)
{
	size_t k = strspn(*p, "0123456789");
	if (k == 0 || k > digits || ((*p)[0] == '0' && k > 1))
		return false;
	*v = 0;
	for (size_t i = 0; i < k; i++)
		*v = *v * 10 + (unsigned long)((*p)[i] - '0');
	*p += k;
	return *v <= max;
}

bool relayname_parse(const char *url, struct relayname *out)
{
	static const char prefix[] = "http://127.";
	if (url == NULL || strncmp(url, prefix, sizeof(prefix) - 1) != 0)
		return false;
	const char *p = url + sizeof(prefix) - 1;
	unsigned long a, b, c, port;
	if (!number(&p, 3, 255, &a) || a < 128 || *p++ != '.' || !number(&p, 3, 255, &b) ||
	    *p++ != '.' || !number(&p, 3, 255, &c) || *p++ != ':' ||
	    !number(&p, 5, 65535, &port) || port < 1024 || *p != '/')
		return false;
	out->addr[0] = 127;
	out->addr[1] = (unsigned char)a;
	out->addr[2] = (unsigned char)b;
	out->addr[3] = (unsigned char)c;
	out->port = (uint16_t)port;
	return true;
}

bool relayname_direct(const char *url, uint16_t *port)
{
	static const char prefix[] = "http://127.0.0.1:";
	if (url == NULL || strncmp(url, prefix, sizeof(prefix) - 1) != 0)
		return false;
	const char *p = url + sizeof(prefix) - 1;
	unsigned long v;
	if (!number(&p, 5, 65535, &v) || v == 0 || *p != '/')
		return false;
	*port = (uint16_t)v;
	return true;
}

void relayname_host(const struct relayname *n, char *out, size_t size)
{
	snprintf(out, size, "%u.%u.%u.%u:%u", n->addr[0], n->addr[1], n->addr[2], n->addr[3],
		 (unsigned)n->port);
}

void relayname_socket(const struct relayname *n, uid_t uid, char *out, size_t size)
{
	char host[32];
	relayname_host(n, host, sizeof(host));
	char *colon = strchr(host, ':');
	if (colon)
		*colon = '-';
	snprintf(out, size, "respan-relay-%lu-%s", (unsigned long)uid, host);
}
