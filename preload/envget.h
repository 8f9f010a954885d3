/*
 * envget: read a variable from an environment array (NULL-terminated
 * "NAME=value" strings, as environ), the one way the project does it: the
 * config loader, layer 1, respan run and respan doctor all look at an
 * environment they were given, not only at their own.
 */
#ifndef RESPAN_ENVGET_H
#define RESPAN_ENVGET_H

/* NAME's value, the first entry winning as with getenv(); NULL when absent. */
const char *envget(char *const *env, const char *name);

/* The same, but an empty value counts as unset (NULL), as for settings. */
const char *envget_set(char *const *env, const char *name);

#endif
