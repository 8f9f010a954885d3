/*
 * Unit tests for cli/ldpreload.c: the LD_PRELOAD value `respan run` gives
 * PROGRAM (librespan.so first, sanitizer runtimes before it, other copies
 * of it dropped) and the one respan re-runs itself with (without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ldpreload.h"

static void test_compose(void **state)
{
	(void)state;
	static const struct {
		const char *lib, *existing, *want;
	} cases[] = {
		{ "/l/librespan.so", NULL, "/l/librespan.so" },
		{ "/l/librespan.so", "", "/l/librespan.so" },
		{ "/l/librespan.so", "  : ", "/l/librespan.so" },
		{ "/l/librespan.so", "libz.so.1", "/l/librespan.so:libz.so.1" },
		{ "/l/librespan.so", "libz.so.1 /x/liba.so:libm.so.6",
		  "/l/librespan.so:libz.so.1:/x/liba.so:libm.so.6" },
		/* other copies of the library go */
		{ "/l/librespan.so", "/old/librespan.so libz.so.1 librespan.so",
		  "/l/librespan.so:libz.so.1" },
		{ "/l/librespan.so", "/l/librespan.so", "/l/librespan.so" },
		/* not ours: only the exact file name counts */
		{ "/l/librespan.so", "/x/librespan.so.1 /x/xlibrespan.so",
		  "/l/librespan.so:/x/librespan.so.1:/x/xlibrespan.so" },
		/* sanitizer runtimes stay first */
		{ "/l/librespan.so", "/usr/lib/libasan.so.8 libz.so.1",
		  "/usr/lib/libasan.so.8:/l/librespan.so:libz.so.1" },
		{ "/l/librespan.so", "/c/libclang_rt.asan-x86_64.so libubsan.so.1 libz.so.1 libtsan.so.2",
		  "/c/libclang_rt.asan-x86_64.so:libubsan.so.1:/l/librespan.so:libz.so.1:libtsan.so.2" },
	};
	char out[512];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ldpreload_compose(cases[i].lib, cases[i].existing, out,
						   sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
	/* A library path LD_PRELOAD cannot hold, and an output too small. */
	assert_int_equal(ldpreload_compose("/a b/librespan.so", NULL, out, sizeof(out)), -1);
	assert_int_equal(ldpreload_compose("/a:b/librespan.so", NULL, out, sizeof(out)), -1);
	assert_int_equal(ldpreload_compose("/l/librespan.so", "libz.so.1", out, 20), -1);
	assert_int_equal(ldpreload_compose("/l/librespan.so", NULL, out, 16), 0);
	assert_int_equal(ldpreload_compose("/l/librespan.so", NULL, out, 15), -1);
}

static void test_strip(void **state)
{
	(void)state;
	char out[512];
	assert_int_equal(ldpreload_strip("/a/librespan.so libz.so.1:/b/librespan.so", out,
					 sizeof(out)), 0);
	assert_string_equal(out, "libz.so.1");
	assert_int_equal(ldpreload_strip("librespan.so", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_strip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
