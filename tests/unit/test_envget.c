/* Unit tests for preload/envget.c: reading an environment array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "envget.h"

static void test_envget(void **state)
{
	(void)state;
	char a[] = "HOME=/home/u", b[] = "EMPTY=", c[] = "HOME=/second",
	     d[] = "HOMEX=no", e[] = "NOEQUALS";
	char *env[] = { d, e, a, b, c, NULL };

	assert_string_equal(envget(env, "HOME"), "/home/u");	/* the first wins */
	assert_string_equal(envget(env, "EMPTY"), "");
	assert_null(envget_set(env, "EMPTY"));			/* empty is unset */
	assert_string_equal(envget_set(env, "HOME"), "/home/u");
	assert_null(envget(env, "HOM"));			/* a prefix is not a name */
	assert_null(envget(env, "NOEQUALS"));
	assert_null(envget(env, "MISSING"));
	assert_null(envget(NULL, "HOME"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
