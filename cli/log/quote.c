#include "quote.h"

#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD */

void quote_sh_inner(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			fputs("'\\''", out);
		else
			fputc(s[i], out);
	}
}

void quote_sh(FILE *out, const char *s, size_t n)
{
	fputc('\'', out);
	quote_sh_inner(out, s, n);
	fputc('\'', out);
}

size_t quote_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = n ? s[0] : 0;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;	/* the range of the second byte */

	if (n == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;	/* a continuation byte, or an overlong 0xc0/0xc1, or past 0xf4 */
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* past U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

void quote_md(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left > 0) {
		unsigned char c = *p;
		size_t len = quote_utf8_len(p, left);
		if (len == 0) {
			fputs(REPLACEMENT, out);
			len = 1;
		} else if (len == 2 && c == 0xc2 && p[1] <= 0x9f) {
			fprintf(out, "\\\\u%04x", p[1]);	/* a C1 control */
		} else if (len > 1) {
			fwrite(p, 1, len, out);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			fputc(' ', out);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\\\x%02x", c);
		} else if (c == '<') {
			fputs("&lt;", out);
		} else if (c == '>') {
			fputs("&gt;", out);
		} else if (c == '&') {
			fputs("&amp;", out);
		} else {
			if (strchr("\\`*_[]|~$", c))
				fputc('\\', out);
			fputc(c, out);
		}
		p += len;
		left -= len;
	}
}

char *quote_utf8(const char *s)
{
	size_t n = strlen(s), j = 0;
	/* each bad byte grows to three */
	char *out = malloc(3 * n + 1);
	const unsigned char *p = (const unsigned char *)s;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = quote_utf8_len(p + i, n - i);
		if (len == 0) {
			memcpy(out + j, REPLACEMENT, 3);
			j += 3;
			i++;
		} else {
			memcpy(out + j, p + i, len);
			j += len;
			i += len;
		}
	}
	out[j] = '\0';
	return out;
}
