/*
 * elfinfo: what an ELF file says about how it will be loaded, read from its
 * bytes alone (never executed, never handed to ld.so): class, machine and
 * type, PT_INTERP and PT_DYNAMIC (DT_NEEDED, DT_RUNPATH, DT_RPATH,
 * DT_SONAME, DF_1_PIE), a few dynamic symbols that name a TLS stack or a
 * runtime, Go's build information, and, when asked, text markers of TLS
 * libraries compiled into the file (its first GiB) and, in PHP, the
 * extension directory it was built with.
 *
 * elfinfo_parse() reads nothing outside (data, size): every offset, size
 * and count the file gives is checked against size before use, so a
 * corrupt or truncated file yields ELF_TRUNCATED or ELF_CORRUPT with a
 * one-line reason, never a fault. Little-endian ELF32 and ELF64 only (the
 * machines librespan runs on); big-endian files are ELF_UNSUPPORTED.
 */
#ifndef RESPAN_CLI_ELFINFO_H
#define RESPAN_CLI_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>

enum elf_status {
	ELF_OK = 0,
	ELF_NOT_ELF,		/* no ELF magic (a script, text, an empty file) */
	ELF_TRUNCATED,		/* something the headers describe is past the end */
	ELF_CORRUPT,		/* inconsistent headers */
	ELF_UNSUPPORTED		/* big-endian, or an unknown class */
};

#define ELF_MAX_NEEDED 256

/* elfinfo_parse flags. */
#define ELF_SCAN_STRINGS 1	/* look for the ELFSTR_* markers (reads the whole file) */

/* Dynamic symbols seen (struct elfinfo.syms). */
#define ELFSYM_SSL_IMPORT	0x001	/* SSL_write etc. undefined: wants a libssl */
#define ELFSYM_SSL_EXPORT	0x002	/* SSL_write defined and exported: OpenSSL inside */
#define ELFSYM_CURL_IMPORT	0x004	/* curl_easy_setopt undefined */
#define ELFSYM_CURL_EXPORT	0x008	/* curl_easy_setopt defined: libcurl inside */
#define ELFSYM_NODE		0x010	/* node:: C++ symbols exported */
#define ELFSYM_NAPI		0x020	/* napi_* exported: a Node-API host (node, Bun) */
#define ELFSYM_PYTHON		0x040	/* Py_BytesMain / Py_Main exported */
#define ELFSYM_DLOPEN		0x080	/* dlopen imported: may load libraries later */
#define ELFSYM_PHP		0x100	/* php_module_startup exported: php, php-cgi, php-fpm */

/* Text found in the file with ELF_SCAN_STRINGS (struct elfinfo.strs). */
#define ELFSTR_OPENSSL		0x001	/* "OpenSSL 1.x" / "OpenSSL 3.x" version text */
#define ELFSTR_LIBRESSL		0x002	/* "LibreSSL " */
#define ELFSTR_BORINGSSL	0x004	/* "BoringSSL" */
#define ELFSTR_RUSTLS		0x008	/* "rustls" */
#define ELFSTR_GO_TLS		0x010	/* "crypto/tls" (Go's TLS package) */
#define ELFSTR_MBEDTLS		0x020	/* "mbed TLS" */
#define ELFSTR_WOLFSSL		0x040	/* "wolfSSL" */
#define ELFSTR_BUN		0x080	/* "bun:ffi" and "bun:jsc" module names */
#define ELFSTR_GO_MAGIC		0x100	/* Go's build-information magic */

struct elfinfo {
	enum elf_status status;
	char error[200];	/* the reason, when status is not ELF_OK */
	int bits;		/* 32 or 64 */
	unsigned machine;	/* e_machine (EM_X86_64, ...) */
	unsigned type;		/* e_type (ET_EXEC, ET_DYN, ...) */
	bool pie;		/* DT_FLAGS_1 has DF_1_PIE */
	bool dynamic;		/* has PT_DYNAMIC */
	char *interp;		/* PT_INTERP, or NULL */
	char *needed[ELF_MAX_NEEDED];	/* DT_NEEDED, in order */
	size_t n_needed;
	char *runpath;		/* DT_RUNPATH, or NULL */
	char *rpath;		/* DT_RPATH, or NULL */
	char *soname;		/* DT_SONAME, or NULL */
	unsigned syms;		/* ELFSYM_* */
	unsigned strs;		/* ELFSTR_* */
	char openssl_text[64];	/* the OpenSSL/LibreSSL version text found, or "" */
	bool go;		/* a Go binary */
	char go_how[40];	/* what showed it: ".go.buildinfo section", ... */
	char go_version[32];	/* "go1.22.1", or "" when not recorded */
	/* With ELF_SCAN_STRINGS, in a file with ELFSYM_PHP only: */
	char php_version[16];	/* "8.2.36" (from "X-Powered-By: PHP/8.2.36"), or "" */
	char php_ext_dir[256];	/* the extension directory built in, or "" (below) */
};

/*
 * php_ext_dir is PHP_EXTENSION_DIR as the file holds it: a NUL-terminated
 * string of printable bytes that starts with '/' and ends, after a '/' or
 * a '-', in the module API number PHP's build ID gives ("API20220829,NTS"):
 * Debian's "/usr/lib/php/20220829", upstream's
 * ".../no-debug-non-zts-20220829". A candidate longer than the field, not
 * preceded by a NUL or cut short by the end of the file is not taken,
 * never shortened.
 */

/*
 * Parse the ELF file in (data, size) into out (flags: ELF_SCAN_STRINGS).
 * Returns out->status; on anything but ELF_OK out->error says why and no
 * allocated field is set. Free with elfinfo_free() in every case.
 */
enum elf_status elfinfo_parse(const unsigned char *data, size_t size, unsigned flags,
			      struct elfinfo *out);

/*
 * Map the file at path and parse it. Returns the status, or -errno when
 * the file cannot be opened or mapped (out->error says so too).
 */
int elfinfo_load(const char *path, unsigned flags, struct elfinfo *out);

void elfinfo_free(struct elfinfo *info);

/* "x86-64", "i386", "AArch64", ... or "machine N" (into buf). */
const char *elfinfo_machine_name(unsigned machine, char *buf, size_t size);

#endif
