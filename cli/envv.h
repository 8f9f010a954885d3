/*
 * envv: an environment being built for a child process, as the
 * NULL-terminated "NAME=value" array execve() takes. Every string is the
 * array's own copy.
 */
#ifndef RESPAN_CLI_ENVV_H
#define RESPAN_CLI_ENVV_H

#include <stddef.h>

struct envv {
	char **v;	/* NULL-terminated; NULL until the first envv_* call succeeds */
	size_t n;
	size_t cap;
};

/* Copy env (NULL-terminated). Returns 0 or -ENOMEM. */
int envv_init(struct envv *e, char *const *env);

/* The value of name, or NULL. */
const char *envv_get(const struct envv *e, const char *name);

/* Set (replace or append) name=value. Returns 0 or -ENOMEM. */
int envv_set(struct envv *e, const char *name, const char *value);

/* Remove every name=... entry. */
void envv_unset(struct envv *e, const char *name);

void envv_free(struct envv *e);

#endif
