/*
 * jsonlines: reading a traffic log back in the unit tests (test_exchange,
 * test_logfile). Failures are cmocka assertions.
 */
#ifndef RESPAN_TEST_JSONLINES_H
#define RESPAN_TEST_JSONLINES_H

#include <cjson/cJSON.h>

/*
 * Every line of the file at path as one JSON array, in order. Each line must
 * parse, and none may contain any of the NULL-terminated strings in never
 * (the keys that must not reach the log). The caller frees with cJSON_Delete.
 */
cJSON *jsonlines_read(const char *path, const char *const *never);

/* o[k], which must be a string / a number. */
const char *jsonlines_str(const cJSON *o, const char *k);
double jsonlines_num(const cJSON *o, const char *k);

#endif
