#include "pathsearch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_out(const char *s, char *out, size_t size)
{
	size_t n = strlen(s);
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(out, s, n + 1);
	return 0;
}

int pathsearch_find(const char *name, const char *path_var, char *out, size_t size)
{
	char cand[PATH_MAX];
	struct stat st;
	int err = -ENOENT;

	if (name[0] == '\0')
		return -ENOENT;
	if (strchr(name, '/'))
		return copy_out(name, out, size);
	/* Every entry, the empty ones too: "/bin:" is /bin, then the current directory. */
	for (const char *p = path_var ? path_var : PATHSEARCH_DEFAULT;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		int len = n ? snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name) :
			      snprintf(cand, sizeof(cand), "%s", name);
		if (len > 0 && (size_t)len < sizeof(cand) && stat(cand, &st) == 0) {
			if (S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
				return copy_out(cand, out, size);
			err = -EACCES;
		}
		if (colon == NULL)
			return err;
		p = colon + 1;
	}
}
