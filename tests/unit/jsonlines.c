#include "jsonlines.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

cJSON *jsonlines_read(const char *path, const char *const *never)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	cJSON *all = cJSON_CreateArray();
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, fp) > 0) {
		for (const char *const *s = never; s && *s; s++)
			assert_null(strstr(line, *s));
		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		cJSON_AddItemToArray(all, j);
	}
	free(line);
	fclose(fp);
	return all;
}

const char *jsonlines_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

double jsonlines_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}
