#include "clienthello.h"

#include <stdbool.h>
#include <stdint.h>

/* A bounds-checked reader over the bytes seen. */
struct rd {
	const unsigned char *p;
	size_t left;
	bool short_;		/* ran out of bytes */
};

static bool take(struct rd *r, size_t n, const unsigned char **at)
{
	if (r->left < n) {
		r->short_ = true;
		return false;
	}
	if (at)
		*at = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static bool num(struct rd *r, size_t bytes, size_t *out)
{
	const unsigned char *at;
	if (!take(r, bytes, &at))
		return false;
	size_t v = 0;
	for (size_t i = 0; i < bytes; i++)
		v = v << 8 | at[i];
	*out = v;
	return true;
}

/* Skip a vector with a length prefix of lbytes. */
static bool skip_vec(struct rd *r, size_t lbytes)
{
	size_t n;
	return num(r, lbytes, &n) && take(r, n, NULL);
}

static enum clienthello_result copy_name(const unsigned char *name, size_t n, char *out,
				size_t size)
{
	if (n == 0 || n >= size)
		return CLIENTHELLO_NO_SNI;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = name[i];
		if (c <= 0x20 || c >= 0x7f)
			return CLIENTHELLO_NO_SNI;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
	return CLIENTHELLO_SNI;
}

/* server_name extension body: ServerNameList. */
static enum clienthello_result server_name(struct rd *ext, char *out, size_t size)
{
	size_t list_len;
	if (!num(ext, 2, &list_len))
		return CLIENTHELLO_NO_SNI;
	while (ext->left >= 3) {
		size_t type, n;
		const unsigned char *name;
		if (!num(ext, 1, &type) || !num(ext, 2, &n) || !take(ext, n, &name))
			return CLIENTHELLO_NO_SNI;
		if (type == 0)	/* host_name */
			return copy_name(name, n, out, size);
	}
	return CLIENTHELLO_NO_SNI;
}

enum clienthello_result clienthello_sni(const unsigned char *data, size_t len, char *out,
			       size_t size)
{
	struct rd r = { data, len, false };
	size_t type, major, record_len;
	if (!num(&r, 1, &type) || type != 0x16)	/* handshake */
		return r.short_ && len > 0 ? CLIENTHELLO_SHORT : CLIENTHELLO_NOT_TLS;
	if (!num(&r, 1, &major))
		return CLIENTHELLO_SHORT;
	if (major != 3)
		return CLIENTHELLO_NOT_TLS;
	if (!take(&r, 1, NULL) || !num(&r, 2, &record_len))
		return CLIENTHELLO_SHORT;
	if (record_len == 0 || record_len > (1u << 14) + 2048)
		return CLIENTHELLO_NOT_TLS;
	/* Only this record's bytes belong to the handshake fragment. */
	if (r.left > record_len)
		r.left = record_len;
	bool record_cut = r.left < record_len;

	size_t hs_type, hs_len;
	if (!num(&r, 1, &hs_type))
		return CLIENTHELLO_SHORT;
	if (hs_type != 1)	/* client_hello */
		return CLIENTHELLO_NOT_TLS;
	if (!num(&r, 3, &hs_len))
		return CLIENTHELLO_SHORT;
	if (r.left > hs_len)
		r.left = hs_len;

	size_t ext_total;
	if (!take(&r, 2 + 32, NULL) ||	/* legacy_version, random */
	    !skip_vec(&r, 1) ||		/* legacy_session_id */
	    !skip_vec(&r, 2) ||		/* cipher_suites */
	    !skip_vec(&r, 1))		/* legacy_compression_methods */
		return record_cut || hs_len > record_len ? CLIENTHELLO_SHORT : CLIENTHELLO_NO_SNI;
	if (!num(&r, 2, &ext_total))
		return record_cut || hs_len > record_len ? CLIENTHELLO_SHORT : CLIENTHELLO_NO_SNI;
	while (r.left >= 4) {
		size_t ext_type, ext_len;
		const unsigned char *body;
		num(&r, 2, &ext_type);
		num(&r, 2, &ext_len);
		if (!take(&r, ext_len, &body))
			break;
		if (ext_type == 0) {
			struct rd ext = { body, ext_len, false };
			return server_name(&ext, out, size);
		}
	}
	/* The extensions went on past what was seen: the name may follow. */
	return record_cut || hs_len > record_len ? CLIENTHELLO_SHORT : CLIENTHELLO_NO_SNI;
}
