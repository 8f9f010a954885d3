/*
 * libFuzzer target for cli/elf/elfinfo.c: any bytes as an ELF file. The input
 * is parsed from a heap copy of exactly its size, so ASan sees any read
 * past the end; the string scan runs too. A result must be consistent: an
 * error has a reason and nothing allocated, a success has a class and
 * NUL-terminated names.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -Icli \
 *       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -o build/fuzz/fuzz_elfinfo tests/fuzz/fuzz_elfinfo.c \
 *           cli/elf/elfinfo.c
 *   build/fuzz/fuzz_elfinfo -max_total_time=60 build/fuzz/corpus_elfinfo \
 *       tests/fuzz/seeds/elfinfo
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf/elfinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	struct elfinfo e;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	enum elf_status st = elfinfo_parse(copy, size, ELF_SCAN_STRINGS, &e);
	if (st != e.status)
		abort();
	if (st != ELF_OK) {
		if (e.error[0] == '\0' || e.interp || e.n_needed || e.runpath || e.rpath ||
		    e.soname)
			abort();
	} else {
		if (e.bits != 32 && e.bits != 64)
			abort();
		for (size_t i = 0; i < e.n_needed; i++)
			if (strlen(e.needed[i]) >= size)
				abort();
		if (e.interp && strlen(e.interp) >= size)
			abort();
	}
	elfinfo_free(&e);
	free(copy);
	return 0;
}
