/* Unit tests for preload/pembundle.c: PEM files as one, named by content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "pembundle.h"
#include "readfile.h"

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_bundle(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_pembundle.XXXXXX", a[64], b[64], out[256], again[256];
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.pem", dir);
	snprintf(b, sizeof(b), "%s/b.pem", dir);
	put(a, "AAA");			/* no newline at the end: one is added */
	put(b, "BBB\n");
	const char *files[] = { a, b };
	assert_int_equal(pembundle_write(dir, "x-", files, 2, 1024, out, sizeof(out)), 0);
	assert_memory_equal(out, dir, strlen(dir));
	assert_non_null(strstr(out, "/x-"));
	struct buf got;
	buf_init(&got, 4096);
	assert_int_equal(readfile(out, &got), 0);
	assert_int_equal(got.len, 8);
	assert_memory_equal(got.data, "AAA\nBBB\n", 8);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The same content: the same name, taken as it is. */
	assert_int_equal(pembundle_write(dir, "x-", files, 2, 1024, again, sizeof(again)), 0);
	assert_string_equal(out, again);
	/* Other content, another name. */
	put(b, "CCC\n");
	assert_int_equal(pembundle_write(dir, "x-", files, 2, 1024, again, sizeof(again)), 0);
	assert_string_not_equal(out, again);
	unlink(again);
	/* A file that cannot be read, or no room for the name: nothing. */
	const char *missing[] = { a, "/nonexistent/ca.pem" };
	assert_int_equal(pembundle_write(dir, "x-", missing, 2, 1024, again, sizeof(again)), -1);
	assert_int_equal(pembundle_write(dir, "x-", files, 2, 1024, again, 8), -1);
	buf_free(&got);
	unlink(out);
	unlink(a);
	unlink(b);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
