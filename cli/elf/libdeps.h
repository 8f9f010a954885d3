/*
 * libdeps: the shared libraries a dynamic ELF object will load, found the
 * way ld.so finds them, without running anything: DT_NEEDED names
 * breadth-first, each searched in the needing object's DT_RPATH (only
 * when it has no DT_RUNPATH) and the program's, then LD_LIBRARY_PATH, the
 * object's DT_RUNPATH, the directories of /etc/ld.so.conf (and what it
 * includes), then the default directories. $ORIGIN, $LIB and $PLATFORM are
 * expanded; a file of another ELF class or machine is skipped, as ld.so
 * skips it. ld.so.cache itself is not read: the directories it was built
 * from are.
 */
#ifndef RESPAN_CLI_LIBDEPS_H
#define RESPAN_CLI_LIBDEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "elfinfo.h"

#define LIBDEPS_MAX 256

struct libdep {
	char *name;	/* the DT_NEEDED name */
	char *path;	/* where it was found; NULL: not found */
	int parent;	/* index of the library that needs it first; -1: the object itself */
};

struct libdeps {
	struct libdep v[LIBDEPS_MAX];
	size_t n;
	bool capped;	/* more than LIBDEPS_MAX libraries: the rest not followed */
};

/*
 * Resolve the libraries of the object at path, already parsed into obj
 * (an executable or a shared object). ld_library_path is the
 * LD_LIBRARY_PATH it would run with (NULL: none); secure: the object would
 * run in secure-execution mode, where ld.so ignores that variable. Returns
 * 0, or -ENOMEM (out then holds what was found so far). Free with
 * libdeps_free() in every case.
 */
int libdeps_resolve(const char *path, const struct elfinfo *obj,
		    const char *ld_library_path, bool secure, struct libdeps *out);

void libdeps_free(struct libdeps *d);

/* The index of the first library whose name starts with prefix, or -1. */
int libdeps_find(const struct libdeps *d, const char *prefix);

/*
 * libdeps_find() for each of prefixes (NULL-terminated) in turn: the
 * first prefix any library has wins, so the list gives the preference.
 */
int libdeps_find_any(const struct libdeps *d, const char *const *prefixes);

#endif
