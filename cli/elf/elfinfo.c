#include "elfinfo.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Header fields are copied out with memcpy and used as they are. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "elfinfo reads little-endian ELF files on a little-endian host"
#endif

#define MAX_SECTIONS (1u << 20)	/* more is not a program anyone runs */
#define GO_MAGIC "\xff Go buildinf:"
#define GO_MAGIC_LEN 14
#define NT_GO_BUILD_ID 4
#define SCAN_MAX ((size_t)1 << 30)	/* bytes searched for text markers */
#define PHP_API_LEN 8		/* ZEND_MODULE_API_NO is a date: 20220829 */
#define PHP_POWERED "X-Powered-By: PHP/"

/* The header fields used, whatever the class. */
struct ehdr {
	unsigned type, machine;
	uint64_t phoff, shoff, phnum, shnum, shstrndx;
	size_t phentsize, shentsize;
};

struct ph {
	uint32_t type;
	uint64_t off, vaddr, filesz, align;
};

struct sh {
	uint32_t name, type, link, info;
	uint64_t off, size;
};

struct elf {
	const unsigned char *p;
	size_t size;
	bool is64;
	struct ehdr eh;
	struct elfinfo *out;
};

static enum elf_status fail(struct elf *f, enum elf_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum elf_status fail(struct elf *f, enum elf_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->out->error, sizeof(f->out->error), fmt, ap);
	va_end(ap);
	f->out->status = st;
	return st;
}

/* (off, len) lies inside the file; never overflows. */
static bool fits(const struct elf *f, uint64_t off, uint64_t len)
{
	return off <= f->size && len <= f->size - off;
}

static enum elf_status past_end(struct elf *f, const char *what, uint64_t off, uint64_t len)
{
	unsigned long long end = off > UINT64_MAX - len ? UINT64_MAX : off + len;
	return fail(f, ELF_TRUNCATED, "truncated: %s should be at bytes %llu to %llu, "
		    "but the file has %zu bytes", what, (unsigned long long)off, end, f->size);
}

/* The NUL-terminated string at idx of the table (off, size), or NULL. */
static const char *str_at(const struct elf *f, uint64_t off, uint64_t size, uint64_t idx)
{
	if (!fits(f, off, size) || idx >= size)
		return NULL;
	const char *s = (const char *)f->p + off + idx;
	return memchr(s, '\0', (size_t)(size - idx)) ? s : NULL;
}

/* ---- headers ---------------------------------------------------------------- */

static void get_sh(const struct elf *f, uint64_t i, struct sh *s)
{
	const unsigned char *at = f->p + f->eh.shoff + i * f->eh.shentsize;
	if (f->is64) {
		Elf64_Shdr h;
		memcpy(&h, at, sizeof(h));
		*s = (struct sh){ h.sh_name, h.sh_type, h.sh_link, h.sh_info, h.sh_offset,
				   h.sh_size };
	} else {
		Elf32_Shdr h;
		memcpy(&h, at, sizeof(h));
		*s = (struct sh){ h.sh_name, h.sh_type, h.sh_link, h.sh_info, h.sh_offset,
				   h.sh_size };
	}
}

static void get_ph(const struct elf *f, uint64_t i, struct ph *p)
{
	const unsigned char *at = f->p + f->eh.phoff + i * f->eh.phentsize;
	if (f->is64) {
		Elf64_Phdr h;
		memcpy(&h, at, sizeof(h));
		*p = (struct ph){ h.p_type, h.p_offset, h.p_vaddr, h.p_filesz, h.p_align };
	} else {
		Elf32_Phdr h;
		memcpy(&h, at, sizeof(h));
		*p = (struct ph){ h.p_type, h.p_offset, h.p_vaddr, h.p_filesz, h.p_align };
	}
}

static enum elf_status read_ehdr(struct elf *f)
{
	const unsigned char *id = f->p;
	struct ehdr *eh = &f->eh;

	if (f->size < SELFMAG || memcmp(id, ELFMAG, SELFMAG) != 0)
		return fail(f, ELF_NOT_ELF, f->size == 0 ? "not an ELF file: the file is empty" :
			    "not an ELF file (no ELF magic number)");
	if (f->size < EI_NIDENT)
		return past_end(f, "the ELF identification", 0, EI_NIDENT);
	if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64)
		return fail(f, ELF_UNSUPPORTED, "unknown ELF class %u", id[EI_CLASS]);
	if (id[EI_DATA] != ELFDATA2LSB)
		return fail(f, ELF_UNSUPPORTED, id[EI_DATA] == ELFDATA2MSB ?
			    "a big-endian ELF file: not for this kind of machine" :
			    "unknown ELF data encoding %u", id[EI_DATA]);
	if (id[EI_VERSION] != EV_CURRENT)
		return fail(f, ELF_CORRUPT, "corrupt: ELF version %u", id[EI_VERSION]);
	f->is64 = id[EI_CLASS] == ELFCLASS64;
	f->out->bits = f->is64 ? 64 : 32;
	size_t phsize, shsize;
	if (f->is64) {
		Elf64_Ehdr h;
		if (f->size < sizeof(h))
			return past_end(f, "the ELF header", 0, sizeof(h));
		memcpy(&h, f->p, sizeof(h));
		*eh = (struct ehdr){ h.e_type, h.e_machine, h.e_phoff, h.e_shoff, h.e_phnum,
				     h.e_shnum, h.e_shstrndx, h.e_phentsize, h.e_shentsize };
		phsize = sizeof(Elf64_Phdr);
		shsize = sizeof(Elf64_Shdr);
	} else {
		Elf32_Ehdr h;
		if (f->size < sizeof(h))
			return past_end(f, "the ELF header", 0, sizeof(h));
		memcpy(&h, f->p, sizeof(h));
		*eh = (struct ehdr){ h.e_type, h.e_machine, h.e_phoff, h.e_shoff, h.e_phnum,
				     h.e_shnum, h.e_shstrndx, h.e_phentsize, h.e_shentsize };
		phsize = sizeof(Elf32_Phdr);
		shsize = sizeof(Elf32_Shdr);
	}
	f->out->type = eh->type;
	f->out->machine = eh->machine;

	if (eh->shoff != 0) {
		if (eh->shentsize != shsize)
			return fail(f, ELF_CORRUPT, "corrupt: section header size %zu, expected %zu",
				    eh->shentsize, shsize);
		if (!fits(f, eh->shoff, shsize))
			return past_end(f, "the section headers", eh->shoff, shsize);
		/* Extended numbering: the real counts live in section 0. */
		struct sh s0;
		get_sh(f, 0, &s0);
		if (eh->shnum == 0)
			eh->shnum = s0.size;
		if (eh->shstrndx == SHN_XINDEX)
			eh->shstrndx = s0.link;
		if (eh->phnum == PN_XNUM)
			eh->phnum = s0.info;
		if (eh->shnum > MAX_SECTIONS)
			return fail(f, ELF_CORRUPT, "corrupt: %llu sections",
				    (unsigned long long)eh->shnum);
		if (!fits(f, eh->shoff, eh->shnum * shsize))
			return past_end(f, "the section headers", eh->shoff, eh->shnum * shsize);
	} else {
		eh->shnum = 0;
	}
	if (eh->phnum != 0) {
		if (eh->phentsize != phsize)
			return fail(f, ELF_CORRUPT, "corrupt: program header size %zu, expected %zu",
				    eh->phentsize, phsize);
		/* phnum is at most 2^32 - 1: the product cannot overflow. */
		if (!fits(f, eh->phoff, eh->phnum * phsize))
			return past_end(f, "the program headers", eh->phoff, eh->phnum * phsize);
	}
	return ELF_OK;
}

/* ---- Go --------------------------------------------------------------------- */

/* Go 1.18+ writes the version inline after a 32-byte header (flag 2). */
static void go_version(struct elfinfo *o, const unsigned char *p, size_t n)
{
	if (n < 32 || memcmp(p, GO_MAGIC, GO_MAGIC_LEN) != 0 || !(p[15] & 2))
		return;
	uint64_t len = 0;
	size_t i = 32;
	bool done = false;
	for (unsigned shift = 0; i < n && shift < 64 && !done; shift += 7) {
		unsigned char b = p[i++];
		len |= (uint64_t)(b & 0x7f) << shift;
		done = !(b & 0x80);
	}
	if (!done || len == 0 || len >= sizeof(o->go_version) || len > n - i)
		return;
	for (size_t k = 0; k < len; k++)
		if (p[i + k] < 0x21 || p[i + k] > 0x7e)
			return;
	memcpy(o->go_version, p + i, (size_t)len);
	o->go_version[len] = '\0';
}

static void mark_go(struct elfinfo *o, const char *how)
{
	if (!o->go)
		snprintf(o->go_how, sizeof(o->go_how), "%s", how);
	o->go = true;
}

/* True when the notes in (p, n) hold Go's build ID note ("Go", type 4). */
static bool notes_have_go(const unsigned char *p, size_t n, uint64_t align)
{
	uint64_t a = align == 8 ? 8 : 4;
	size_t i = 0;
	while (n - i >= 12) {
		uint32_t w[3];
		memcpy(w, p + i, sizeof(w));
		i += 12;
		uint64_t name = (w[0] + a - 1) / a * a, desc = ((uint64_t)w[1] + a - 1) / a * a;
		if (name > n - i)
			return false;
		if (w[0] >= 3 && w[2] == NT_GO_BUILD_ID && memcmp(p + i, "Go", 3) == 0)
			return true;
		i += (size_t)name;
		if (desc > n - i)
			return false;
		i += (size_t)desc;
	}
	return false;
}

/* ---- program headers and the dynamic section -------------------------------- */

/* The file offset of virtual address a, through the PT_LOAD segments. */
static bool vaddr_to_off(const struct elf *f, uint64_t a, uint64_t *off)
{
	for (uint64_t i = 0; i < f->eh.phnum; i++) {
		struct ph p;
		get_ph(f, i, &p);
		if (p.type == PT_LOAD && a >= p.vaddr && a - p.vaddr < p.filesz) {
			*off = p.off + (a - p.vaddr);
			return true;
		}
	}
	return false;
}

static char *copy_str(struct elf *f, const char *s)
{
	char *c = strdup(s);
	if (c == NULL)
		fail(f, ELF_CORRUPT, "out of memory");
	return c;
}

static enum elf_status read_dynamic(struct elf *f, const struct ph *dyn)
{
	struct elfinfo *o = f->out;
	size_t entsize = f->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
	uint64_t n = dyn->filesz / entsize, strtab = 0, strsz = 0, stroff = 0;
	bool have_strtab = false, need_str = false;

	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t i = 0; i < n; i++) {
			int64_t tag;
			uint64_t val;
			const unsigned char *at = f->p + dyn->off + i * entsize;
			if (f->is64) {
				Elf64_Dyn d;
				memcpy(&d, at, sizeof(d));
				tag = d.d_tag;
				val = d.d_un.d_val;
			} else {
				Elf32_Dyn d;
				memcpy(&d, at, sizeof(d));
				tag = d.d_tag;
				val = d.d_un.d_val;
			}
			if (tag == DT_NULL)
				break;
			if (pass == 0) {
				if (tag == DT_STRTAB) {
					strtab = val;
					have_strtab = true;
				} else if (tag == DT_STRSZ) {
					strsz = val;
				} else if (tag == DT_FLAGS_1 && (val & DF_1_PIE)) {
					o->pie = true;
				} else if (tag == DT_NEEDED || tag == DT_RUNPATH ||
					   tag == DT_RPATH || tag == DT_SONAME) {
					need_str = true;
				}
				continue;
			}
			char **slot = tag == DT_RUNPATH ? &o->runpath : tag == DT_RPATH ?
				      &o->rpath : tag == DT_SONAME ? &o->soname : NULL;
			if (tag != DT_NEEDED && slot == NULL)
				continue;
			const char *s = str_at(f, stroff, strsz, val);
			if (s == NULL)
				return fail(f, ELF_CORRUPT, "corrupt: a dynamic entry names a string "
					    "outside the dynamic string table");
			if (tag == DT_NEEDED && o->n_needed < ELF_MAX_NEEDED) {
				if ((o->needed[o->n_needed] = copy_str(f, s)) == NULL)
					return o->status;
				o->n_needed++;
			} else if (slot && *slot == NULL && (*slot = copy_str(f, s)) == NULL) {
				return o->status;
			}
		}
		if (pass == 0 && !need_str)
			return ELF_OK;
		if (pass == 0 && (!have_strtab || !vaddr_to_off(f, strtab, &stroff)))
			return fail(f, ELF_CORRUPT, "corrupt: the dynamic string table is not "
				    "inside a loadable segment");
		if (pass == 0 && !fits(f, stroff, strsz))
			return past_end(f, "the dynamic string table", stroff, strsz);
	}
	return ELF_OK;
}

static enum elf_status read_segments(struct elf *f)
{
	struct elfinfo *o = f->out;
	struct ph dyn = { 0, 0, 0, 0, 0 };

	for (uint64_t i = 0; i < f->eh.phnum; i++) {
		struct ph p;
		get_ph(f, i, &p);
		if (p.type != PT_LOAD && p.type != PT_INTERP && p.type != PT_DYNAMIC &&
		    p.type != PT_NOTE)
			continue;
		if (!fits(f, p.off, p.filesz))
			return past_end(f, p.type == PT_LOAD ? "a loadable segment" :
					p.type == PT_INTERP ? "the interpreter name (PT_INTERP)" :
					p.type == PT_DYNAMIC ? "the dynamic section" :
					"a note segment", p.off, p.filesz);
		if (p.type == PT_INTERP && o->interp == NULL) {
			const char *s = (const char *)f->p + p.off;
			if (p.filesz < 2 || memchr(s, '\0', (size_t)p.filesz) == NULL || s[0] == '\0')
				return fail(f, ELF_CORRUPT, "corrupt: PT_INTERP is not a file name");
			if ((o->interp = copy_str(f, s)) == NULL)
				return o->status;
		} else if (p.type == PT_DYNAMIC && !o->dynamic) {
			o->dynamic = true;
			dyn = p;
		} else if (p.type == PT_NOTE &&
			   notes_have_go(f->p + p.off, (size_t)p.filesz, p.align)) {
			mark_go(o, "Go build ID note");
		}
	}
	return o->dynamic ? read_dynamic(f, &dyn) : ELF_OK;
}

/* ---- sections: names, dynamic symbols ---------------------------------------- */

static void classify_symbol(struct elfinfo *o, const char *name, bool defined)
{
	if (strcmp(name, "SSL_write") == 0 || strcmp(name, "SSL_read") == 0 ||
	    strcmp(name, "SSL_connect") == 0)
		o->syms |= defined ? ELFSYM_SSL_EXPORT : ELFSYM_SSL_IMPORT;
	else if (strcmp(name, "curl_easy_setopt") == 0 || strcmp(name, "curl_easy_perform") == 0)
		o->syms |= defined ? ELFSYM_CURL_EXPORT : ELFSYM_CURL_IMPORT;
	else if (defined && strncmp(name, "_ZN4node", 8) == 0)
		o->syms |= ELFSYM_NODE;
	else if (defined && strncmp(name, "napi_", 5) == 0)
		o->syms |= ELFSYM_NAPI;
	else if (defined && (strcmp(name, "Py_BytesMain") == 0 || strcmp(name, "Py_Main") == 0))
		o->syms |= ELFSYM_PYTHON;
	else if (!defined && (strcmp(name, "dlopen") == 0 || strcmp(name, "dlmopen") == 0))
		o->syms |= ELFSYM_DLOPEN;
	else if (defined && strcmp(name, "php_module_startup") == 0)
		o->syms |= ELFSYM_PHP;
}

static enum elf_status read_dynsym(struct elf *f, const struct sh *s)
{
	size_t symsize = f->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
	struct sh str;

	if (s->link == 0 || s->link >= f->eh.shnum)
		return fail(f, ELF_CORRUPT, "corrupt: the dynamic symbols have no string table");
	get_sh(f, s->link, &str);
	if (!fits(f, str.off, str.size))
		return past_end(f, "the dynamic symbol names", str.off, str.size);
	for (uint64_t i = 1; i < s->size / symsize; i++) {
		const unsigned char *at = f->p + s->off + i * symsize;
		uint32_t name;
		uint16_t shndx;
		unsigned char info;
		if (f->is64) {
			Elf64_Sym y;
			memcpy(&y, at, sizeof(y));
			name = y.st_name;
			shndx = y.st_shndx;
			info = y.st_info;
		} else {
			Elf32_Sym y;
			memcpy(&y, at, sizeof(y));
			name = y.st_name;
			shndx = y.st_shndx;
			info = y.st_info;
		}
		unsigned bind = ELF64_ST_BIND(info);
		const char *n = str_at(f, str.off, str.size, name);
		if (n && (bind == STB_GLOBAL || bind == STB_WEAK))
			classify_symbol(f->out, n, shndx != SHN_UNDEF);
	}
	return ELF_OK;
}

static enum elf_status read_sections(struct elf *f)
{
	struct elfinfo *o = f->out;
	struct sh names = { 0, SHT_NULL, 0, 0, 0, 0 };

	if (f->eh.shstrndx != SHN_UNDEF && f->eh.shstrndx < f->eh.shnum)
		get_sh(f, f->eh.shstrndx, &names);
	for (uint64_t i = 1; i < f->eh.shnum; i++) {
		struct sh s;
		get_sh(f, i, &s);
		if (s.type == SHT_NOBITS || s.type == SHT_NULL)
			continue;
		const char *name = names.type == SHT_STRTAB ?
				   str_at(f, names.off, names.size, s.name) : NULL;
		if (!fits(f, s.off, s.size)) {
			char what[96];
			snprintf(what, sizeof(what), "section %llu (%.40s)", (unsigned long long)i,
				 name ? name : "?");
			return past_end(f, what, s.off, s.size);
		}
		if (name && strcmp(name, ".go.buildinfo") == 0) {
			mark_go(o, ".go.buildinfo section");
			go_version(o, f->p + s.off, (size_t)s.size);
		} else if (name && strcmp(name, ".note.go.buildid") == 0) {
			mark_go(o, ".note.go.buildid section");
		}
		if (s.type == SHT_DYNSYM && read_dynsym(f, &s) != ELF_OK)
			return o->status;
	}
	return ELF_OK;
}

/* ---- text markers -------------------------------------------------------------- */

/* Digits, a dot, digits, a dot, a digit at p (a version such as 3.0.19). */
static bool is_version(const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == start || i >= n || p[i] != '.')
			return false;
		i++;
	}
	return i < n && p[i] >= '0' && p[i] <= '9';
}

/* The first "PREFIX x.y.z..." text in the file, copied into out. */
static bool find_version(const struct elf *f, const char *prefix, char *out, size_t size)
{
	size_t plen = strlen(prefix), at = 0;
	const unsigned char *p;
	while (at < f->size && (p = memmem(f->p + at, f->size - at, prefix, plen)) != NULL) {
		size_t start = (size_t)(p - f->p), k = 0;
		at = start + plen;
		if (!is_version(f->p + at, f->size - at))
			continue;
		while (k + 1 < size && start + k < f->size && f->p[start + k] >= 0x20 &&
		       f->p[start + k] < 0x7f)
			k++;
		memcpy(out, f->p + start, k);
		out[k] = '\0';
		return true;
	}
	return false;
}

static bool has(const struct elf *f, const char *text)
{
	return memmem(f->p, f->size, text, strlen(text)) != NULL;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* PHP's module API number from its build ID ("API20220829,NTS"), into api. */
static bool php_api(const struct elf *f, char api[PHP_API_LEN + 1])
{
	size_t at = 0;
	const unsigned char *p;
	while (at < f->size && (p = memmem(f->p + at, f->size - at, "API", 3)) != NULL) {
		size_t i = (size_t)(p - f->p) + 3, k = 0;
		at = i;
		while (k <= PHP_API_LEN && i + k < f->size && is_digit(f->p[i + k]))
			k++;
		/* Exactly eight digits: the extension API's "API420220829" has nine. */
		if (k == PHP_API_LEN && i + k < f->size && f->p[i + k] == ',') {
			memcpy(api, f->p + i, PHP_API_LEN);
			api[PHP_API_LEN] = '\0';
			return true;
		}
	}
	return false;
}

/*
 * The extension directory (elfinfo.h says what counts) into out: the first
 * whole string that ends in "/API" or "-API". Nothing is copied from a
 * candidate until all of it has been checked.
 */
static bool php_ext_dir(const struct elf *f, const char *api, char *out, size_t size)
{
	size_t at = 0;
	const unsigned char *p;
	while (at < f->size && (p = memmem(f->p + at, f->size - at, api, PHP_API_LEN)) != NULL) {
		size_t start = (size_t)(p - f->p), end = start + PHP_API_LEN, from = start;
		at = start + 1;
		if (end >= f->size || f->p[end] != '\0' || start == 0 ||
		    (f->p[start - 1] != '/' && f->p[start - 1] != '-'))
			continue;
		/* Back to the string's first byte, while it would still fit out. */
		while (from > 0 && end - from + 1 < size && f->p[from - 1] >= 0x20 &&
		       f->p[from - 1] < 0x7f)
			from--;
		if (end - from >= size || (from > 0 && f->p[from - 1] != '\0') ||
		    f->p[from] != '/')
			continue;
		memcpy(out, f->p + from, end - from);
		out[end - from] = '\0';
		return true;
	}
	return false;
}

/* PHP's version from its X-Powered-By header text: digits and dots only. */
static void php_version(const struct elf *f, char *out, size_t size)
{
	size_t plen = strlen(PHP_POWERED), k = 0;
	const unsigned char *p = memmem(f->p, f->size, PHP_POWERED, plen);
	if (p == NULL)
		return;
	size_t at = (size_t)(p - f->p) + plen;
	if (!is_version(f->p + at, f->size - at))
		return;
	while (k + 1 < size && at + k < f->size && (is_digit(f->p[at + k]) || f->p[at + k] == '.'))
		k++;
	memcpy(out, f->p + at, k);
	out[k] = '\0';
}

static void scan_strings(struct elf *whole)
{
	static const struct { const char *text; unsigned flag; } marks[] = {
		{ "BoringSSL", ELFSTR_BORINGSSL },
		{ "rustls", ELFSTR_RUSTLS },
		{ "crypto/tls", ELFSTR_GO_TLS },
		{ "mbed TLS", ELFSTR_MBEDTLS },
		{ "wolfSSL", ELFSTR_WOLFSSL },
	};
	/* Programs run to a few hundred MiB; a larger file is looked at in part. */
	struct elf part = *whole, *f = &part;
	struct elfinfo *o = f->out;

	if (part.size > SCAN_MAX)
		part.size = SCAN_MAX;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (has(f, marks[i].text))
			o->strs |= marks[i].flag;
	if (has(f, "bun:ffi") && has(f, "bun:jsc"))
		o->strs |= ELFSTR_BUN;
	if (find_version(f, "OpenSSL ", o->openssl_text, sizeof(o->openssl_text)))
		o->strs |= ELFSTR_OPENSSL;
	else if (find_version(f, "LibreSSL ", o->openssl_text, sizeof(o->openssl_text)))
		o->strs |= ELFSTR_LIBRESSL;
	const unsigned char *g = memmem(f->p, f->size, GO_MAGIC, GO_MAGIC_LEN);
	if (g) {
		o->strs |= ELFSTR_GO_MAGIC;
		mark_go(o, "Go build information");
		if (o->go_version[0] == '\0')
			go_version(o, g, f->size - (size_t)(g - f->p));
	}
	char api[PHP_API_LEN + 1];
	if (o->syms & ELFSYM_PHP) {
		php_version(f, o->php_version, sizeof(o->php_version));
		if (php_api(f, api))
			php_ext_dir(f, api, o->php_ext_dir, sizeof(o->php_ext_dir));
	}
}

/* ---- the interface ------------------------------------------------------------ */

enum elf_status elfinfo_parse(const unsigned char *data, size_t size, unsigned flags,
			      struct elfinfo *out)
{
	struct elf f = { data, size, false, { 0, 0, 0, 0, 0, 0, 0, 0, 0 }, out };

	memset(out, 0, sizeof(*out));
	if (read_ehdr(&f) != ELF_OK || read_segments(&f) != ELF_OK ||
	    read_sections(&f) != ELF_OK) {
		enum elf_status st = out->status;
		char error[sizeof(out->error)];
		memcpy(error, out->error, sizeof(error));
		elfinfo_free(out);
		out->status = st;
		memcpy(out->error, error, sizeof(error));
		return st;
	}
	if (flags & ELF_SCAN_STRINGS)
		scan_strings(&f);
	return ELF_OK;
}

int elfinfo_load(const char *path, unsigned flags, struct elfinfo *out)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO must not hang (it is refused below). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || fstat(fd, &st) != 0) {
		err = errno;
	} else if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	} else if (st.st_size == 0) {
		close(fd);
		return (int)elfinfo_parse((const unsigned char *)"", 0, flags, out);
	} else {
		size_t size = (size_t)st.st_size;
		void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			err = errno;
		} else {
			close(fd);
			enum elf_status rc = elfinfo_parse(map, size, flags, out);
			munmap(map, size);
			return (int)rc;
		}
	}
	if (fd >= 0)
		close(fd);
	snprintf(out->error, sizeof(out->error), "%s",
		 err == EINVAL ? "not a regular file" : strerror(err));
	return -err;
}

void elfinfo_free(struct elfinfo *info)
{
	free(info->interp);
	for (size_t i = 0; i < info->n_needed; i++)
		free(info->needed[i]);
	free(info->runpath);
	free(info->rpath);
	free(info->soname);
	memset(info, 0, sizeof(*info));
}

const char *elfinfo_machine_name(unsigned machine, char *buf, size_t size)
{
	switch (machine) {
	case EM_X86_64:
		return "x86-64";
	case EM_386:
		return "i386";
	case EM_AARCH64:
		return "AArch64";
	case EM_ARM:
		return "ARM";
	case EM_RISCV:
		return "RISC-V";
	case EM_PPC64:
		return "PowerPC64";
	case EM_S390:
		return "s390";
	}
	snprintf(buf, size, "machine %u", machine);
	return buf;
}
