/*
 * Unit tests for cli/elf/elfinfo.c, respan doctor's ELF reader: the PHP
 * facts (php_module_startup exported, the extension directory and version
 * text found with ELF_SCAN_STRINGS) and the dynamic symbols they sit next
 * to. The ELF files are made here, byte by byte, and parsed from a copy
 * that ends at an unmapped page, so reading one byte past a string at the
 * end of the file faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdbool.h>
#include <string.h>

#include "elf/elfinfo.h"
#include "pageguard.h"

#define IMAGE_MAX 8192

/* A dynamic symbol of the image: defined (exported) or undefined (imported). */
struct sym {
	const char *name;
	bool defined;
};

struct image {
	unsigned char b[IMAGE_MAX];
	size_t len;
};

static size_t put_bytes(struct image *im, const void *p, size_t n)
{
	size_t at = im->len;
	assert_true(n <= sizeof(im->b) - im->len);
	memcpy(im->b + at, p, n);
	im->len += n;
	return at;
}

/*
 * An ELF file of the given class with no program headers and four sections:
 * .dynstr, .dynsym (syms), .shstrtab and .rodata, which holds (payload,
 * plen) and ends the file, so a payload string can be cut short by its end.
 */
static void make_elf(struct image *im, int bits, const struct sym *syms, size_t nsyms,
		     const void *payload, size_t plen)
{
	static const char shstr[] = "\0.dynstr\0.dynsym\0.shstrtab\0.rodata";
	enum { DYNSTR = 1, DYNSYM, SHSTRTAB, RODATA, NSECT };
	const uint32_t names[NSECT] = { 0, 1, 9, 17, 27 };
	bool is64 = bits == 64;
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t shsize = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	uint64_t off[NSECT] = { 0 }, size[NSECT] = { 0 };
	char dynstr[512] = "";
	size_t dynstr_len = 1, name_at[16];

	memset(im, 0, sizeof(*im));
	assert_true(nsyms < 16);
	for (size_t i = 0; i < nsyms; i++) {
		size_t n = strlen(syms[i].name) + 1;
		assert_true(dynstr_len + n <= sizeof(dynstr));
		name_at[i] = dynstr_len;
		memcpy(dynstr + dynstr_len, syms[i].name, n);
		dynstr_len += n;
	}

	/* Headers first (filled in below), then the sections, .rodata last. */
	im->len = ehsize + NSECT * shsize;
	off[DYNSTR] = put_bytes(im, dynstr, dynstr_len);
	size[DYNSTR] = dynstr_len;
	while (im->len % 8)
		im->len++;
	off[DYNSYM] = im->len;
	for (size_t i = 0; i <= nsyms; i++) {
		/* Symbol 0 is the null symbol. */
		uint32_t name = i ? (uint32_t)name_at[i - 1] : 0;
		uint16_t shndx = i && syms[i - 1].defined ? RODATA : SHN_UNDEF;
		unsigned char info = i ? ELF64_ST_INFO(STB_GLOBAL, STT_FUNC) : 0;
		if (is64) {
			Elf64_Sym y = { .st_name = name, .st_info = info, .st_shndx = shndx };
			put_bytes(im, &y, sizeof(y));
		} else {
			Elf32_Sym y = { .st_name = name, .st_info = info, .st_shndx = shndx };
			put_bytes(im, &y, sizeof(y));
		}
	}
	size[DYNSYM] = im->len - off[DYNSYM];
	off[SHSTRTAB] = put_bytes(im, shstr, sizeof(shstr));
	size[SHSTRTAB] = sizeof(shstr);
	off[RODATA] = put_bytes(im, payload, plen);
	size[RODATA] = plen;

	static const uint32_t types[NSECT] = { SHT_NULL, SHT_STRTAB, SHT_DYNSYM, SHT_STRTAB,
					       SHT_PROGBITS };
	for (unsigned i = 0; i < NSECT; i++) {
		unsigned char *at = im->b + ehsize + i * shsize;
		uint32_t link = i == DYNSYM ? DYNSTR : 0;
		if (is64) {
			Elf64_Shdr h = { .sh_name = names[i], .sh_type = types[i],
					 .sh_offset = off[i], .sh_size = size[i], .sh_link = link,
					 .sh_entsize = i == DYNSYM ? sizeof(Elf64_Sym) : 0 };
			memcpy(at, &h, sizeof(h));
		} else {
			Elf32_Shdr h = { .sh_name = names[i], .sh_type = types[i],
					 .sh_offset = (Elf32_Off)off[i], .sh_size = (uint32_t)size[i],
					 .sh_link = link,
					 .sh_entsize = i == DYNSYM ? sizeof(Elf32_Sym) : 0 };
			memcpy(at, &h, sizeof(h));
		}
	}

	unsigned char ident[EI_NIDENT] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3,
					   is64 ? ELFCLASS64 : ELFCLASS32, ELFDATA2LSB,
					   EV_CURRENT };
	if (is64) {
		Elf64_Ehdr h = { .e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
				 .e_shoff = ehsize, .e_ehsize = (uint16_t)ehsize,
				 .e_shentsize = (uint16_t)shsize, .e_shnum = NSECT,
				 .e_shstrndx = SHSTRTAB };
		memcpy(h.e_ident, ident, sizeof(ident));
		memcpy(im->b, &h, sizeof(h));
	} else {
		Elf32_Ehdr h = { .e_type = ET_DYN, .e_machine = EM_386, .e_version = EV_CURRENT,
				 .e_shoff = (Elf32_Off)ehsize, .e_ehsize = (uint16_t)ehsize,
				 .e_shentsize = (uint16_t)shsize, .e_shnum = NSECT,
				 .e_shstrndx = SHSTRTAB };
		memcpy(h.e_ident, ident, sizeof(ident));
		memcpy(im->b, &h, sizeof(h));
	}
}

/* Parse the image from a copy that ends at an unmapped page. */
static enum elf_status parse(const struct image *im, unsigned flags, struct elfinfo *out)
{
	const char *g = pageguard_copy(im->b, im->len);
	enum elf_status st = elfinfo_parse((const unsigned char *)g, im->len, flags, out);
	pageguard_free(g);
	return st;
}

static const struct sym php_syms[] = {
	{ "php_module_startup", true },
	{ "dlopen", false },
	{ "SSL_write", false },
};

static void test_php_export(void **state)
{
	(void)state;
	static const struct {
		struct sym syms[3];
		size_t n;
		unsigned want, not_want;
	} cases[] = {
		{ { { "php_module_startup", true } }, 1, ELFSYM_PHP, 0 },
		/* imported: a module of PHP, not PHP */
		{ { { "php_module_startup", false } }, 1, 0, ELFSYM_PHP },
		{ { { "php_module_startup_", true }, { "php_module", true } }, 2, 0, ELFSYM_PHP },
		{ { { "dlopen", false }, { "php_module_startup", true }, { "SSL_write", false } }, 3,
		  ELFSYM_PHP | ELFSYM_DLOPEN | ELFSYM_SSL_IMPORT, ELFSYM_SSL_EXPORT },
		/* a defined dlopen is not an import */
		{ { { "dlopen", true } }, 1, 0, ELFSYM_DLOPEN },
		{ { { "Py_BytesMain", true } }, 1, ELFSYM_PYTHON, ELFSYM_PHP },
	};
	static const char text[] = "nothing here";
	struct image im;
	struct elfinfo e;

	for (int bits = 32; bits <= 64; bits += 32) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			make_elf(&im, bits, cases[i].syms, cases[i].n, text, sizeof(text));
			assert_int_equal(parse(&im, ELF_SCAN_STRINGS, &e), ELF_OK);
			assert_int_equal(e.bits, bits);
			assert_int_equal(e.syms & cases[i].want, cases[i].want);
			assert_int_equal(e.syms & cases[i].not_want, 0);
			assert_string_equal(e.php_ext_dir, "");
			elfinfo_free(&e);
		}
	}
}

/* A payload given as a string literal with its NULs, without the final one. */
#define P(s) s, sizeof(s) - 1

/* A payload for the string scan, and what it should yield ("" for nothing). */
struct payload_case {
	const char *payload;
	size_t len;
	const char *want;
};

static void test_php_ext_dir(void **state)
{
	(void)state;
	static const struct payload_case cases[] = {
		/* Debian's layout, the build ID before or after it */
		{ P("\0API20220829,NTS\0/usr/lib/php/20220829\0"), "/usr/lib/php/20220829" },
		{ P("\0/usr/lib/php/20220829\0PHP_EXTENSION_DIR\0API20220829,NTS\0"),
		  "/usr/lib/php/20220829" },
		/* upstream's */
		{ P("\0API20230831,TS,debug\0/opt/php/lib/php/extensions/debug-zts-20230831\0"),
		  "/opt/php/lib/php/extensions/debug-zts-20230831" },
		{ P("\0API20220829,NTS\0/srv/my php/20220829\0"), "/srv/my php/20220829" },
		/* no build ID, or only the Zend extension one (nine digits) */
		{ P("\0/usr/lib/php/20220829\0"), "" },
		{ P("\0API420220829,NTS\0/usr/lib/php/20220829\0"), "" },
		{ P("\0API2022082,NTS\0/usr/lib/php/2022082\0"), "" },
		/* the build ID cut short by the end of the file */
		{ P("\0/usr/lib/php/20220829\0API20220829"), "" },
		/* not an absolute path */
		{ P("\0API20220829,NTS\0usr/lib/php/20220829\0"), "" },
		{ P("\0API20220829,NTS\0" "20220829\0"), "" },
		/* the number is not the end of the string, or not a name of its own */
		{ P("\0API20220829,NTS\0/usr/lib/php/20220829x\0"), "" },
		{ P("\0API20220829,NTS\0/usr/lib/php/202208290\0"), "" },
		{ P("\0API20220829,NTS\0/usr/lib/php20220829\0"), "" },
		/* garbage: not printable, or not after a NUL */
		{ P("\0API20220829,NTS\0/usr/l\x07ib/php/20220829\0"), "" },
		{ P("\0API20220829,NTS\x01/usr/lib/php/20220829\0"), "" },
		{ P("\0API20220829,NTS\0/usr/lib/\xe9t\xe9/20220829\0"), "" },
		/* cut short by the end of the file: no NUL after it */
		{ P("\0API20220829,NTS\0/usr/lib/php/20220829"), "" },
		{ P("\0API20220829,NTS\0/usr/lib/php/2022"), "" },
		/* a bad candidate, then a good one */
		{ P("\0API20220829,NTS\0\x02/bad/20220829\0rel/20220829\0/good/20220829\0"),
		  "/good/20220829" },
		{ P("API20220829,NTS\0/x/20220829\0"), "/x/20220829" },
	};
	struct image im;
	struct elfinfo e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_elf(&im, 64, php_syms, 3, cases[i].payload, cases[i].len);
		assert_int_equal(parse(&im, ELF_SCAN_STRINGS, &e), ELF_OK);
		assert_true(e.syms & ELFSYM_PHP);
		if (strcmp(e.php_ext_dir, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, e.php_ext_dir,
				 cases[i].want);
		elfinfo_free(&e);
	}

	/* Without ELF_SCAN_STRINGS, or in a file that is not PHP: not looked for. */
	static const char debian[] = "\0API20220829,NTS\0/usr/lib/php/20220829\0";
	make_elf(&im, 64, php_syms, 3, debian, sizeof(debian));
	assert_int_equal(parse(&im, 0, &e), ELF_OK);
	assert_string_equal(e.php_ext_dir, "");
	elfinfo_free(&e);
	make_elf(&im, 64, php_syms + 1, 2, debian, sizeof(debian));
	assert_int_equal(parse(&im, ELF_SCAN_STRINGS, &e), ELF_OK);
	assert_string_equal(e.php_ext_dir, "");
	elfinfo_free(&e);
	make_elf(&im, 32, php_syms, 3, debian, sizeof(debian));
	assert_int_equal(parse(&im, ELF_SCAN_STRINGS, &e), ELF_OK);
	assert_string_equal(e.php_ext_dir, "/usr/lib/php/20220829");
	elfinfo_free(&e);
}

/* The longest directory that fits is taken whole; one byte more, none. */
static void test_php_ext_dir_length(void **state)
{
	(void)state;
	struct elfinfo e;
	struct image im;
	const size_t room = sizeof(e.php_ext_dir) - 1;
	static const char api[] = "\0API20220829,NTS\0";
	char payload[1024];

	for (size_t want = room - 2; want <= room + 2; want++) {
		/* "/aaa...a/20220829" of want bytes, then a NUL. */
		size_t n = 0;
		memcpy(payload, api, sizeof(api) - 1);
		n = sizeof(api) - 1;
		payload[n++] = '/';
		memset(payload + n, 'a', want - 10);
		n += want - 10;
		memcpy(payload + n, "/20220829", 10);
		n += 10;
		make_elf(&im, 64, php_syms, 3, payload, n);
		assert_int_equal(parse(&im, ELF_SCAN_STRINGS, &e), ELF_OK);
		if (want <= room) {
			assert_int_equal(strlen(e.php_ext_dir), want);
			assert_memory_equal(e.php_ext_dir, payload + sizeof(api) - 1, want);
		} else {
			assert_string_equal(e.php_ext_dir, "");
		}
		elfinfo_free(&e);
	}
}

static void test_php_version(void **state)
{
	(void)state;
	static const struct payload_case cases[] = {
		{ P("\0X-Powered-By: PHP/8.2.36\0"), "8.2.36" },
		{ P("\0X-Powered-By: PHP/8.3.0-dev\0"), "8.3.0" },
		{ P("\0X-Powered-By: PHP/8.2.36"), "8.2.36" },
		{ P("\0X-Powered-By: PHP/8.2."), "" },
		{ P("\0X-Powered-By: PHP/8.x\0"), "" },
		{ P("\0X-Powered-By: PHP/"), "" },
		{ P("\0X-Powered-By: PHP/1.2.345678901234567890\0"), "1.2.34567890123" },
		{ P("\0PHP 8.2.36\0"), "" },
	};
	struct image im;
	struct elfinfo e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_elf(&im, 64, php_syms, 3, cases[i].payload, cases[i].len);
		assert_int_equal(parse(&im, ELF_SCAN_STRINGS, &e), ELF_OK);
		if (strcmp(e.php_version, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, e.php_version,
				 cases[i].want);
		elfinfo_free(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_php_export),
		cmocka_unit_test(test_php_ext_dir),
		cmocka_unit_test(test_php_ext_dir_length),
		cmocka_unit_test(test_php_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
