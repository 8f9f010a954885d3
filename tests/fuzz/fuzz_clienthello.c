/*
 * libFuzzer target for preload/clienthello.c: any bytes as the first write
 * of a connection. The answer must not depend on bytes past the input (the
 * input is parsed from a heap copy of exactly its size, so ASan sees any
 * over-read), a found name must be printable lower-case ASCII, and a prefix
 * of an input that gave a name gives that name or CLIENTHELLO_SHORT.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	char name[256];
	enum clienthello_result r = clienthello_sni(copy, size, name, sizeof(name));
	if (r == CLIENTHELLO_SNI) {
		for (const char *c = name; *c; c++)
			if (*c <= 0x20 || *c >= 0x7f || (*c >= 'A' && *c <= 'Z'))
				abort();
		char again[256];
		size_t cut = size / 2;
		enum clienthello_result p = clienthello_sni(copy, cut, again, sizeof(again));
		if (p == CLIENTHELLO_SNI ? strcmp(again, name) != 0 : p != CLIENTHELLO_SHORT)
			abort();
	}
	free(copy);
	return 0;
}
