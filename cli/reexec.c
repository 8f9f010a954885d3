#include "reexec.h"

#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envv.h"
#include "preloadvar.h"

#define ENVIRON_MAX (16u << 20)
#define PRELOAD_MAX 8192

static int find_ours(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	const char *name = info->dlpi_name;
	if (name && name[0] && preload_is_ours(name, strlen(name))) {
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
	int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 65536;
	char *data = malloc(cap + 1);
	ssize_t n = 0;
	if (fd < 0 || data == NULL)
		goto fail;
	while ((n = read(fd, data + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *grown = cap >= ENVIRON_MAX ? NULL : realloc(data, 2 * cap + 1);
			if (grown == NULL)
				goto fail;
			data = grown;
			cap *= 2;
		}
	}
	if (n < 0)
		goto fail;
	data[len] = '\0';
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		count += data[i] == '\0';
	char **v = calloc(count + 2, sizeof(*v));
	if (v == NULL)
		goto fail;
	size_t k = 0;
	for (size_t i = 0; i < len; i += strlen(data + i) + 1)
		v[k++] = data + i;
	close(fd);
	*blob = data;
	return v;
fail:
	if (fd >= 0)
		close(fd);
	free(data);
	return NULL;
}

void reexec_without_library(char **argv)
{
	bool loaded = false;
	dl_iterate_phdr(find_ours, &loaded);
	if (!loaded || getenv(REEXEC_MARK))
		return;
	char *blob = NULL, stripped[PRELOAD_MAX];
	char **initial = initial_environ(&blob);
	struct envv env;
	if (initial && envv_init(&env, initial) == 0) {
		const char *pre = envv_get(&env, "LD_PRELOAD");
		if (pre && preload_strip(pre, stripped, sizeof(stripped)) == 0) {
			if (stripped[0])
				envv_set(&env, "LD_PRELOAD", stripped);
			else
				envv_unset(&env, "LD_PRELOAD");
			if (envv_set(&env, REEXEC_MARK, "1") == 0)
				execve("/proc/self/exe", argv, env.v);
		}
		envv_free(&env);
	}
	free(initial);
	free(blob);
	fprintf(stderr, "respan: librespan.so is preloaded into respan itself and "
		"respan could not restart without it; the relay's own traffic may be "
		"logged twice\n");
}
