/*
 * execenv: the environment of a program respan is about to execute
 * (PROGRAM, Python asked by doctor, respan itself), built as the
 * NULL-terminated "NAME=value" array execve() takes. Every string is the
 * array's own copy.
 */
#ifndef RESPAN_CLI_EXECENV_H
#define RESPAN_CLI_EXECENV_H

#include <stddef.h>

struct execenv {
	char **v;	/* NULL-terminated; NULL until the first execenv_* call succeeds */
	size_t n;
	size_t cap;
};

/* Copy env (NULL-terminated). Returns 0 or -ENOMEM. */
int execenv_init(struct execenv *e, char *const *env);

/* The value of name, or NULL. */
const char *execenv_get(const struct execenv *e, const char *name);

/* Set (replace or append) name=value. Returns 0 or -ENOMEM. */
int execenv_set(struct execenv *e, const char *name, const char *value);

/* Remove every name=... entry. */
void execenv_unset(struct execenv *e, const char *name);

void execenv_free(struct execenv *e);

#endif
