/*
 * progcheck: what `respan doctor PROGRAM` learns about a program without
 * running it: where PROGRAM is (found as `respan run` finds it:
 * pathsearch.h), the #! interpreters a script goes through (including
 * `/usr/bin/env NAME`), and for the ELF file that finally runs: its ELF
 * facts (elfinfo.h), the libraries ld.so would load for it (libdeps.h),
 * whether it would run in secure-execution mode, for a Python
 * interpreter where its _ssl module is and what that module loads, and for
 * PHP which of its extensions bring libcurl or a TLS library. Facts only;
 * assess.h says what they mean for each layer.
 *
 * The one exception to "never runs it": with run_python, a Python
 * interpreter is asked where its _ssl module is (`-c 'import _ssl; ...'`,
 * without LD_PRELOAD, 10 s at most).
 */
#ifndef RESPAN_CLI_PROGCHECK_H
#define RESPAN_CLI_PROGCHECK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "envlayer.h"

#include "elf/elfinfo.h"
#include "elf/libdeps.h"

#define PROG_MAX_HOPS 4		/* #! levels followed (Linux allows 4) */
#define PHP_MAX_FILES 256	/* extension files looked at in the directory */
#define PHP_MAX_LISTED 10	/* extensions with libcurl or TLS kept; the rest counted */

/* Library name prefixes: libcurl's builds, and the TLS libraries other than libssl. */
extern const char *const progcheck_curl_libs[];
extern const char *const progcheck_other_tls[];

/* One script of the #! chain. */
struct prog_hop {
	char script[PATH_MAX];	/* the script */
	char line[256];		/* its #! line, without "#!" and trimmed */
	char interp[PATH_MAX];	/* the interpreter that runs it (after env's PATH search) */
	char env_name[256];	/* for "#!/usr/bin/env NAME": NAME, else "" */
};

enum py_how { PY_NOT_FOUND, PY_LOOKED, PY_ASKED };

/* A PHP extension that brings libcurl or TLS (names as DT_NEEDED gives them). */
struct php_ext {
	char file[64];		/* "curl.so" (a longer name is shortened) */
	char curl[64];		/* the libcurl it loads, or "" */
	char tls[64];		/* its libssl, else its other TLS library, or "" */
	bool imports_ssl;	/* SSL_* undefined and no libssl of its own: the program's */
	char missing[64];	/* a library ld.so would not find (it would not load), or "" */
};

struct prog_facts {
	char path[PATH_MAX];	/* PROGRAM as found */
	struct prog_hop hops[PROG_MAX_HOPS];
	size_t n_hops;
	char chain_error[PATH_MAX + 128];	/* a #! line that cannot be followed */
	bool env_drops_preload;	/* "#!/usr/bin/env -S -i ...": LD_PRELOAD removed */

	/* A program layer 1 treats apart (envlayer.h), from its script's real path. */
	enum envlayer_client client;
	char client_script[PATH_MAX];	/* that real path */

	/* The file that finally runs: PROGRAM, or the last interpreter. */
	char exe[PATH_MAX];
	char exe_real[PATH_MAX];	/* its real path ("" when unknown) */
	struct stat st;
	bool executable;	/* executable by the caller */
	int elf_rc;		/* elfinfo_load's result (an elf_status, or -errno) */
	struct elfinfo elf;
	struct libdeps deps;	/* when the file is a dynamic ELF program */
	bool have_deps;

	/* Secure execution (AT_SECURE): librespan does nothing there. */
	bool setuid, setgid, caps, nosuid, secure;

	/* Python: its _ssl module. */
	bool python;
	char py_version[16];	/* "3.11", or "" */
	enum py_how py_how;
	char py_ssl[PATH_MAX];	/* the _ssl extension, or "built-in" (asked), or "" */
	char py_note[300];	/* what the lookup or the question said */
	char py_openssl[128];	/* _ssl.OPENSSL_VERSION (asked only) */
	struct elfinfo py_elf;	/* of py_ssl */
	struct libdeps py_deps;
	bool have_py;

	/* PHP (ELFSYM_PHP): the extensions in the directory it was built with. */
	bool php;
	int php_dir_rc;		/* elf.php_ext_dir: 0 read, -errno could not be opened */
	size_t php_files;	/* *.so files in it */
	size_t php_looked;	/* of those, looked at (PHP_MAX_FILES at most) */
	struct php_ext php_ext[PHP_MAX_LISTED];
	size_t n_php_ext;	/* kept in php_ext, by file name */
	size_t php_ext_more;	/* more that bring libcurl or TLS, not kept */
};

/*
 * Find arg as `respan run` would (pathsearch_find with path_var, the
 * PATH value or NULL) and follow its #! lines into f (zeroed here). Returns 0, or
 * -ENOENT / -EACCES / -EISDIR ... with a one-line reason in err: PROGRAM
 * cannot be looked at. A chain that breaks later (a missing interpreter)
 * is not an error: f->chain_error says so.
 */
int progcheck_find(const char *arg, const char *path_var, struct prog_facts *f,
		   char *err, size_t errsize);

/*
 * Look at f->exe (after progcheck_find): ELF facts, libraries (searched
 * with env's LD_LIBRARY_PATH), secure execution, Python's _ssl (asked when
 * run_python; env is the interpreter's environment without LD_PRELOAD),
 * PHP's extensions (each *.so of its built-in extension directory, its
 * libraries resolved like the program's; php.ini is not read). Returns 0
 * or -ENOMEM.
 */
int progcheck_analyse(struct prog_facts *f, char *const *env, bool run_python);

void progcheck_free(struct prog_facts *f);

#endif
