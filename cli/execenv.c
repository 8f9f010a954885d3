#include "execenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envget.h"

/* Does entry start with "name="? */
static int is_var(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static int grow(struct execenv *e)
{
	if (e->n + 1 < e->cap)
		return 0;
	size_t cap = e->cap ? e->cap * 2 : 64;
	char **v = realloc(e->v, cap * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	e->v = v;
	e->cap = cap;
	return 0;
}

int execenv_init(struct execenv *e, char *const *env)
{
	memset(e, 0, sizeof(*e));
	if (grow(e) < 0)
		return -ENOMEM;
	e->v[0] = NULL;
	for (size_t i = 0; env && env[i]; i++) {
		char *copy = strdup(env[i]);
		if (copy == NULL || grow(e) < 0) {
			free(copy);
			execenv_free(e);
			return -ENOMEM;
		}
		e->v[e->n++] = copy;
		e->v[e->n] = NULL;
	}
	return 0;
}

const char *execenv_get(const struct execenv *e, const char *name)
{
	return envget(e->v, name);	/* v is kept NULL-terminated */
}

int execenv_set(struct execenv *e, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;
	char *entry = malloc(len);
	if (entry == NULL)
		return -ENOMEM;
	snprintf(entry, len, "%s=%s", name, value);
	for (size_t i = 0; i < e->n; i++) {
		if (is_var(e->v[i], name)) {
			free(e->v[i]);
			e->v[i] = entry;
			/* Only the first counts for getenv(); drop any others. */
			for (size_t j = e->n; j-- > i + 1;)
				if (is_var(e->v[j], name)) {
					free(e->v[j]);
					memmove(&e->v[j], &e->v[j + 1],
						(e->n - j) * sizeof(*e->v));
					e->n--;
				}
			return 0;
		}
	}
	if (grow(e) < 0) {
		free(entry);
		return -ENOMEM;
	}
	e->v[e->n++] = entry;
	e->v[e->n] = NULL;
	return 0;
}

void execenv_unset(struct execenv *e, const char *name)
{
	size_t j = 0;
	for (size_t i = 0; i < e->n; i++) {
		if (is_var(e->v[i], name))
			free(e->v[i]);
		else
			e->v[j++] = e->v[i];
	}
	e->n = j;
	if (e->v)
		e->v[j] = NULL;
}

void execenv_free(struct execenv *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	memset(e, 0, sizeof(*e));
}
