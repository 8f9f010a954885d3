#include "b64.h"

#include <stdint.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_encode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	char quad[4];
	size_t i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		quad[0] = b64_alphabet[v >> 18 & 63];
		quad[1] = b64_alphabet[v >> 12 & 63];
		quad[2] = b64_alphabet[v >> 6 & 63];
		quad[3] = b64_alphabet[v & 63];
		int rc = buf_append(out, quad, 4);
		if (rc < 0)
			return rc;
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		quad[0] = b64_alphabet[v >> 18 & 63];
		quad[1] = b64_alphabet[v >> 12 & 63];
		quad[2] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		quad[3] = '=';
		return buf_append(out, quad, 4);
	}
	return 0;
}
