/*
 * preloadvar: where librespan.so is, and the LD_PRELOAD value that loads it.
 */
#ifndef RESPAN_CLI_PRELOADVAR_H
#define RESPAN_CLI_PRELOADVAR_H

#include <stdbool.h>
#include <stddef.h>

#define PRELOAD_LIB_NAME "librespan.so"

/*
 * The library for `respan run`, as an absolute path in out: $RESPAN_LIBRARY
 * when set (it must exist); else PREFIX/lib/librespan.so for a respan in
 * PREFIX/bin (the install layout, from the binary's real path); else
 * librespan.so beside the binary (the build layout). Returns 0, or -1 with
 * the reason in err.
 */
int preload_find_library(const char *env_library, char *out, size_t size,
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
int preload_compose(const char *lib, const char *existing, char *out, size_t size);

/* existing without any librespan.so entry (for re-executing respan itself). */
int preload_strip(const char *existing, char *out, size_t size);

/* True when an entry names librespan.so (by its file name). */
bool preload_is_ours(const char *entry, size_t len);

#endif
