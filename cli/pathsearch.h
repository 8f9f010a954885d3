/*
 * pathsearch: the file a program name runs, found in PATH the way glibc's
 * execvp() and posix_spawnp() find it. `respan run` starts PROGRAM with
 * posix_spawnp(), and names it in the log's "exe" through this search;
 * `respan doctor PROGRAM` looks at the file this search finds: so both
 * name the file that would really run.
 *
 * A name with a '/' is not searched. Otherwise each entry of PATH is tried
 * in order (PATH unset: PATHSEARCH_DEFAULT, glibc's default). An empty
 * entry, at the start, between two ':' or at the end, means the current
 * directory (POSIX; glibc then tries the bare name), and so does an empty
 * PATH. The first candidate that is a regular file the caller may execute
 * wins; a candidate that exists but cannot be executed (execve() would
 * fail with EACCES: not executable, or not a regular file) does not stop
 * the search, but is what is reported when nothing later is found.
 */
#ifndef RESPAN_CLI_PATHSEARCH_H
#define RESPAN_CLI_PATHSEARCH_H

#include <stddef.h>

#define PATHSEARCH_DEFAULT "/bin:/usr/bin"

/*
 * Find name with path_var (the PATH value; NULL: unset) into out (name
 * itself when it has a '/'). Returns 0; -ENOENT when no entry has it (or
 * name is empty); -EACCES when an entry has it, but not as an executable
 * regular file; -ENAMETOOLONG when the result does not fit in out.
 */
int pathsearch_find(const char *name, const char *path_var, char *out, size_t size);

#endif
