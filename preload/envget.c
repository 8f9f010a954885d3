#include "envget.h"

#include <stddef.h>
#include <string.h>

const char *envget(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

const char *envget_set(char *const *env, const char *name)
{
	const char *v = envget(env, name);
	return v && v[0] ? v : NULL;
}
