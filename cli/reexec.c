#include "reexec.h"

#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "execenv.h"
#include "ldpreload.h"
#include "readfile.h"

#define ENVIRON_MAX (16u << 20)

static int find_ours(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	const char *name = info->dlpi_name;
	if (name && name[0] && ldpreload_is_ours(name, strlen(name))) {
		*(bool *)data = true;
		return 1;
	}
	return 0;
}

/*
 * The environment respan was started with (layer 1, when librespan.so is
 * loaded into respan, has changed environ since): a NULL-terminated array
 * into *blob. NULL when /proc/self/environ cannot be read whole.
 */
static char **initial_environ(char **blob)
{
	struct buf b;
	char **v = NULL;

	buf_init(&b, ENVIRON_MAX);
	if (readfile("/proc/self/environ", &b) == 0) {
		size_t count = 0;
		for (size_t i = 0; i < b.len; i++)
			count += b.data[i] == '\0';
		v = calloc(count + 2, sizeof(*v));
	}
	if (v == NULL) {
		buf_free(&b);
		return NULL;
	}
	/* buf keeps a NUL past len: a last entry without its own ends there. */
	size_t k = 0;
	for (size_t i = 0; i < b.len; i += strlen(b.data + i) + 1)
		v[k++] = b.data + i;
	*blob = buf_steal(&b);
	return v;
}

void reexec_without_library(char **argv)
{
	bool loaded = false;
	dl_iterate_phdr(find_ours, &loaded);
	if (!loaded || getenv(REEXEC_MARK))
		return;
	char *blob = NULL, stripped[LDPRELOAD_MAX];
	char **initial = initial_environ(&blob);
	struct execenv env;
	if (initial && execenv_init(&env, initial) == 0) {
		const char *pre = execenv_get(&env, "LD_PRELOAD");
		if (pre && ldpreload_strip(pre, stripped, sizeof(stripped)) == 0) {
			if (stripped[0])
				execenv_set(&env, "LD_PRELOAD", stripped);
			else
				execenv_unset(&env, "LD_PRELOAD");
			if (execenv_set(&env, REEXEC_MARK, "1") == 0)
				execve("/proc/self/exe", argv, env.v);
		}
		execenv_free(&env);
	}
	free(initial);
	free(blob);
	fprintf(stderr, "respan: librespan.so is preloaded into respan itself and "
		"respan could not restart without it; the relay's own traffic may be "
		"logged twice\n");
}
