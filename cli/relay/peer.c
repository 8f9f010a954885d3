#include "peer.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PEER_LINE_MAX 512	/* kernel lines are about 150 bytes */

/* A whitespace-separated field of the line. */
struct field {
	const char *p;
	size_t n;
};

/* The next field at or after *pos; false at the end of the line. */
static bool next_field(const char *s, size_t len, size_t *pos, struct field *f)
{
	size_t i = *pos;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len || s[i] == '\n')
		return false;
	size_t start = i;
	while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\n')
		i++;
	f->p = s + start;
	f->n = i - start;
	*pos = i;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly n (1..8) hex digits into *out. */
static bool hex_u32(const char *p, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = hexval(p[i]);
		if (d < 0)
			return false;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return true;
}

/* 1..20 decimal digits, no overflow. */
static bool dec_ul(const struct field *f, unsigned long *out)
{
	unsigned long v = 0;
	if (f->n == 0 || f->n > 20)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		char c = f->p[i];
		if (c < '0' || c > '9')
			return false;
		unsigned long d = (unsigned long)(c - '0');
		if (v > (~0UL - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * "0100007F:1F90" or 32 hex digits ":PORT". The kernel prints each 32-bit
 * word of the address as the number it is in memory, so copying the
 * parsed words back to memory restores the bytes in network order.
 */
static bool parse_addr(const struct field *f, int *family, unsigned char addr[16],
		       uint16_t *port)
{
	const char *colon = memchr(f->p, ':', f->n);
	if (colon == NULL)
		return false;
	size_t alen = (size_t)(colon - f->p), plen = f->n - alen - 1;
	uint32_t port32;
	if (alen != 8 && alen != 32)
		return false;
	if (plen != 4 || !hex_u32(colon + 1, plen, &port32))
		return false;
	memset(addr, 0, 16);
	for (size_t w = 0; w < alen / 8; w++) {
		uint32_t word;
		if (!hex_u32(f->p + 8 * w, 8, &word))
			return false;
		memcpy(addr + 4 * w, &word, 4);
	}
	*family = alen == 8 ? AF_INET : AF_INET6;
	*port = (uint16_t)port32;
	return true;
}

int peer_parse_tcp_line(const char *line, size_t len, struct peer_tcp_line *out)
{
	struct field f[10];
	size_t pos = 0;
	int fam_remote;

	for (size_t i = 0; i < 10; i++)
		if (!next_field(line, len, &pos, &f[i]))
			return -1;
	/* "12:" numbers the line; the header says "sl". */
	if (f[0].n < 2 || f[0].p[f[0].n - 1] != ':')
		return -1;
	if (!parse_addr(&f[1], &out->family, out->local, &out->local_port) ||
	    !parse_addr(&f[2], &fam_remote, out->remote, &out->remote_port) ||
	    fam_remote != out->family)
		return -1;
	uint32_t st;
	if (f[3].n != 2 || !hex_u32(f[3].p, 2, &st))
		return -1;
	out->state = st;
	if (!dec_ul(&f[7], &out->uid) || !dec_ul(&f[9], &out->inode))
		return -1;
	return 0;
}

/* The 16-byte IPv6 form of an address (IPv4 as ::ffff:a.b.c.d), and its port. */
static bool sockaddr_v6(const struct sockaddr *sa, unsigned char out[16], uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(out, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

static void line_v6(int family, const unsigned char addr[16], unsigned char out[16])
{
	if (family == AF_INET6) {
		memcpy(out, addr, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, addr, 4);
}

int peer_line_matches(const struct peer_tcp_line *l, const struct sockaddr *peer,
		      const struct sockaddr *self)
{
	unsigned char pa[16], sa[16], la[16], ra[16];
	uint16_t pp, sp;
	if (!sockaddr_v6(peer, pa, &pp) || !sockaddr_v6(self, sa, &sp))
		return 0;
	line_v6(l->family, l->local, la);
	line_v6(l->family, l->remote, ra);
	return l->local_port == pp && l->remote_port == sp &&
	       memcmp(la, pa, 16) == 0 && memcmp(ra, sa, 16) == 0;
}

/* Search one table. Returns 0 (found), -ENOENT, or -errno. */
static int search(const char *path, const struct sockaddr *peer,
		  const struct sockaddr *self, uid_t *uid)
{
	FILE *fp = fopen(path, "re");
	if (fp == NULL)
		return -errno;
	char line[PEER_LINE_MAX];
	bool rest = false;	/* inside the tail of a line longer than the buffer */
	int rc = -ENOENT;
	while (fgets(line, sizeof(line), fp)) {
		size_t n = strlen(line);
		bool whole = n > 0 && line[n - 1] == '\n';
		bool skip = rest;
		rest = !whole;
		struct peer_tcp_line l;
		if (skip || peer_parse_tcp_line(line, n, &l) < 0)
			continue;
		/* A TIME_WAIT entry is owned by no one (uid 0); the live one counts. */
		if (l.state == PEER_TCP_TIME_WAIT || !peer_line_matches(&l, peer, self))
			continue;
		*uid = (uid_t)l.uid;
		rc = 0;
		break;
	}
	if (rc == -ENOENT && ferror(fp))
		rc = -EIO;
	fclose(fp);
	return rc;
}

int peer_uid(const struct sockaddr *peer, const struct sockaddr *self, uid_t *uid)
{
	int rc = search("/proc/net/tcp", peer, self, uid);
	if (rc == 0)
		return 0;
	/* An AF_INET6 client reaches 127.0.0.1 as ::ffff:127.0.0.1, listed here. */
	int rc6 = search("/proc/net/tcp6", peer, self, uid);
	if (rc6 == 0)
		return 0;
	return rc == -ENOENT || rc6 == -ENOENT ? -ENOENT : rc;
}

const char *peer_request_refusal(const char *host, size_t len, bool has_origin,
				 unsigned port, const char *alias)
{
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };
	if (has_origin)
		return "request from a web page (Origin header)";
	if (host == NULL)
		return NULL;
	if (alias && len == strlen(alias) && memcmp(host, alias, len) == 0)
		return NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (len < n || strncasecmp(host, names[i], n) != 0)
			continue;
		if (len == n)
			return NULL;
		char want[8];
		int w = snprintf(want, sizeof(want), ":%u", port);
		if (w > 0 && len - n == (size_t)w && memcmp(host + n, want, (size_t)w) == 0)
			return NULL;
	}
	return "Host is not the relay's address (DNS rebinding?)";
}

const char *peer_head_refusal(const struct rewriter_head *h, unsigned port,
			      const char *alias)
{
	bool origin = false;
	/* Not http_token_is: test_peer links peer.o after the engine archive. */
	for (size_t i = 0; i < h->n_headers && !origin; i++)
		origin = h->headers[i].name_len == 6 &&
			 strncasecmp(h->headers[i].name, "origin", 6) == 0;
	return peer_request_refusal(h->host, h->host_len, origin, port, alias);
}
