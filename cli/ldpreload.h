/*
 * ldpreload: LD_PRELOAD and librespan.so. Where the library is, the
 * LD_PRELOAD value that loads it into PROGRAM, the value without it (for
 * respan itself), and whether an entry names it.
 */
#ifndef RESPAN_CLI_LDPRELOAD_H
#define RESPAN_CLI_LDPRELOAD_H

#include <stdbool.h>
#include <stddef.h>

#define LDPRELOAD_LIB_NAME "librespan.so"
#define LDPRELOAD_MAX 8192	/* the longest LD_PRELOAD value respan composes */

/*
 * The library for `respan run`, as an absolute path in out: $RESPAN_LIBRARY
 * when set (it must exist); else PREFIX/lib/librespan.so for a respan in
 * PREFIX/bin (the install layout, from the binary's real path); else
 * librespan.so beside the binary (the build layout). Returns 0, or -1 with
 * the reason in err.
 */
int ldpreload_find_library(const char *env_library, char *out, size_t size,
			   char *err, size_t errsize);

/*
 * LD_PRELOAD with lib first: existing is the current value (NULL or empty
 * for none), its entries (separated by blanks or ':', as ld.so reads them)
 * kept after lib, in order, except other copies of librespan.so (two copies
 * would interpose twice). Sanitizer runtimes at the start of existing stay
 * first, where their runtime checks insist on being. Entries are joined by
 * ':'. Returns 0, or -1 when out is too small or lib cannot be named in
 * LD_PRELOAD (it contains a blank or ':').
 */
int ldpreload_compose(const char *lib, const char *existing, char *out, size_t size);

/*
 * A sanitizer build of respan (ASan, TSan) runs PROGRAM with the sanitizer
 * build of librespan.so beside it, which starts only behind the same
 * runtime, first in LD_PRELOAD. Then, when existing does not start with a
 * sanitizer runtime, this returns out holding the runtime respan runs on
 * followed by existing, ready for ldpreload_compose; otherwise, and in any
 * other build, it returns existing (which may be NULL).
 */
const char *ldpreload_own_runtime(const char *existing, char *out, size_t size);

/* existing without any librespan.so entry (for re-executing respan itself). */
int ldpreload_strip(const char *existing, char *out, size_t size);

/* True when an entry names librespan.so (by its file name). */
bool ldpreload_is_ours(const char *entry, size_t len);

#endif
